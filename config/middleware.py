"""Middleware of our own: a clean 503 when the database is unreachable."""

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

from clinic.api.problems import problem_response

logger = logging.getLogger(__name__)

# How long clients should wait before retrying; PostgreSQL restarts in seconds.
RETRY_AFTER_SECONDS = 5


class DatabaseUnavailableMiddleware:
    """Answer 503 (with ``Retry-After``) instead of a 500 when the database cannot be reached.

    Django closes the broken connection at the end of the request, so the next request opens
    a fresh one: when PostgreSQL restarts, requests fail cleanly for a moment and then recover.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.warning("database unavailable: %s", exception)
        response = problem_response(request, 503, "The service cannot reach its database; retry shortly.")
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
