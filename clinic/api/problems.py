"""Errors as ``application/problem+json`` (RFC 9457) on every ``/api/`` response.

Field errors are flattened into one ``errors`` object keyed by the path of the bad field
(``relief.0.helped``), so a client can put each message beside its input.
"""

from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, JsonResponse
from django_guid import get_guid
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler

from clinic.api.exceptions import PayloadTooLarge
from clinic.audit import audit_record
from clinic.models import AuditEvent, User
from clinic.selectors import patients_for_user

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
    if isinstance(exc, DjangoPermissionDenied | exceptions.PermissionDenied):
        audit_forbidden(context.get("request"), context.get("view"), exc)
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


# What a refused request tried to do, by its method.
ACTIONS = {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}


def audit_forbidden(request: Any, view: Any, exc: Exception) -> None:
    """Record a request refused with 403, once, with its request id.

    The services that refuse (a role that may not prescribe, a patient changing their own
    registration) do so inside their transaction, which rolls back every audit row written in
    it; this runs after, outside it. The patient is recorded when the caller may see them: a
    view that looked the row up says whose it is (``audit_patient_id``), else the patient in
    the URL if they are within the caller's reach.
    """
    user = getattr(request, "user", None)
    if request is None or not isinstance(user, User):
        return
    kwargs = getattr(view, "kwargs", None) or {}
    patient_id = getattr(view, "audit_patient_id", None)
    if patient_id is None and "patient_id" in kwargs:
        try:
            patient_id = patients_for_user(user).filter(pk=kwargs["patient_id"]).values_list("pk", flat=True).first()
        except (ValueError, DjangoValidationError):  # not a UUID (a URL pattern looser than <uuid:>)
            patient_id = None
    resource_id = next((value for name, value in kwargs.items() if name != "patient_id"), kwargs.get("patient_id", ""))
    match = getattr(request, "resolver_match", None)
    reason = exc.detail if isinstance(exc, exceptions.APIException) else " ".join(getattr(exc, "args", ()))
    audit_record(
        actor=user,
        action=ACTIONS.get(request.method, "read"),
        resource_type=(match.url_name or "").replace("-", "_") if match else "",
        resource_id=resource_id,
        patient_id=patient_id,
        outcome=AuditEvent.Outcome.DENIED,
        detail={"method": request.method, "path": request.path, "reason": str(reason)[:200]},
    )


def problem_response(request: HttpRequest, status: int, detail: str) -> JsonResponse:
    """A problem response outside DRF views (unknown URLs, server errors)."""
    return JsonResponse(problem_body(status, detail, request.path), status=status, content_type=PROBLEM_CONTENT_TYPE)
