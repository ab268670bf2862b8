"""Errors as ``application/problem+json`` (RFC 9457) on every ``/api/`` response.

Field errors are flattened into one ``errors`` object keyed by the path of the bad field
(``relief.0.helped``), so a client can put each message beside its input.
"""

from http import HTTPStatus
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, JsonResponse
from django_guid import get_guid
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler

from clinic.api.exceptions import PayloadTooLarge

PROBLEM_CONTENT_TYPE = "application/problem+json"


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """``{"relief": [{"helped": ["..."]}]}`` → ``{"relief.0.helped": ["..."]}``."""
    flat: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = "" if key in ("non_field_errors", "__all__") else str(key)
            path = f"{prefix}.{name}" if prefix and name else (prefix or name)
            flat.update(_merge(flat, flatten_errors(value, path)))
    elif isinstance(detail, list) and detail and all(isinstance(item, str) for item in detail):
        flat[prefix] = [str(item) for item in detail]
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            if value:
                flat.update(_merge(flat, flatten_errors(value, f"{prefix}.{index}" if prefix else str(index))))
    elif detail:
        flat[prefix] = [str(detail)]
    return flat


def _merge(into: dict[str, list[str]], new: dict[str, list[str]]) -> dict[str, list[str]]:
    return {key: into.get(key, []) + messages for key, messages in new.items()}


def problem_body(status: int, detail: str, instance: str = "", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    request_id = get_guid()
    if request_id:
        body["request_id"] = request_id
    return body


def describe_field_errors(errors: dict[str, list[str]]) -> str:
    fields = [name or "(request)" for name in errors]
    if len(fields) == 1:
        return f"{fields[0]}: {errors[next(iter(errors))][0]}"
    return f"{len(fields)} fields are not valid: {', '.join(fields)}."


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's exception handler, rewritten into problem details; unknown errors stay 500s."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages})
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    response = exception_handler(exc, context)
    if response is None:
        return None
    request = context.get("request")
    instance = request.path if request is not None else ""
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_errors(exc.detail)
        body = problem_body(response.status_code, describe_field_errors(errors), instance, errors=errors)
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        body = problem_body(response.status_code, str(detail), instance)
    response.data = body
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def problem_response(request: HttpRequest, status: int, detail: str) -> JsonResponse:
    """A problem response outside DRF views (unknown URLs, server errors)."""
    return JsonResponse(problem_body(status, detail, request.path), status=status, content_type=PROBLEM_CONTENT_TYPE)
