"""The Django admin's site: Django's own, with its sign-in form behind the failed sign-in limits.

Installed as the default site (``clinic.apps.ClinicAdminConfig``), so ``admin.site`` and every
``@admin.register`` use it. Kept apart from ``clinic/admin.py``, which registers models on it.
"""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from clinic.signin import signin_failed, signin_retry_after, too_many_attempts


class ClinicAdminSite(admin.AdminSite):
    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if request.method != "POST":
            return super().login(request, extra_context)
        username = str(request.POST.get("username", ""))
        retry_after = signin_retry_after(request, username)
        if retry_after is not None:
            return too_many_attempts(request, retry_after)
        response = super().login(request, extra_context)
        # A sign-in that worked redirects; the form shown again (200) was refused.
        if response.status_code == 200:
            signin_failed(request, username)
        return response
