"""Limits on wrong passwords, for every way staff sign in: the API token, the dashboard, the admin.

Each failed sign-in counts against the client's address and against the username tried. Once
either has failed ``THROTTLE_LOGIN`` times (10 a minute) in the current window, sign-ins for it
answer 429 with ``Retry-After`` until the window ends, even with the right password, so a guess
that happens to be right is worth nothing. Per address stops one client trying many accounts;
per username stops many addresses (a botnet, or forged ``X-Forwarded-For`` headers) trying one.
The price is that anyone can keep one account from signing in for a minute at a time by failing
on purpose, which is the usual trade for stopping password guessing.
"""

import math
import time
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from clinic.api.throttling import count_in_window, peek_in_window


def _limit() -> tuple[int, int]:
    """How many failures, in how many seconds (``THROTTLE_LOGIN``)."""
    # DRF's parser of "10/minute"; it uses nothing of the instance, which needs a view to build.
    rate = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["login"]
    limit, window = SimpleRateThrottle.parse_rate(None, rate)  # type: ignore[arg-type]
    return int(limit or 0), int(window or 60)


def _keys(request: Any, username: str) -> list[str]:
    # The client's address as the rate limits see it (REMOTE_ADDR, or X-Forwarded-For as far as
    # NUM_PROXIES trusts it); usernames compare case-insensitively, as staff_create keeps them.
    address = BaseThrottle().get_ident(request)
    return [f"login-failed:address:{address}", f"login-failed:username:{username.strip().casefold()}"]


def signin_retry_after(request: Any, username: str) -> int | None:
    """Seconds until this address and username may try again, or None if they may now."""
    limit, window = _limit()
    if all(peek_in_window(key, window) < limit for key in _keys(request, username)):
        return None
    return max(1, math.ceil(window - time.time() % window))


def signin_failed(request: Any, username: str) -> None:
    """Count a wrong password (or unknown username) against the address and the username."""
    _, window = _limit()
    for key in _keys(request, username):
        count_in_window(key, window)


def too_many_attempts(request: HttpRequest, retry_after: int) -> HttpResponse:
    """The page a sign-in form shows instead of checking the password: 429, with Retry-After."""
    response = render(request, "clinic/too_many_attempts.html", {"retry_after": retry_after}, status=429)
    response["Retry-After"] = str(retry_after)
    return response


class LimitedLoginView(auth_views.LoginView):
    """Django's sign-in form, behind the failed sign-in limits (the dashboard and the admin)."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        username = str(request.POST.get("username", ""))
        retry_after = signin_retry_after(request, username)
        if retry_after is not None:
            return too_many_attempts(request, retry_after)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        signin_failed(self.request, str(self.request.POST.get("username", "")))
        return super().form_invalid(form)
