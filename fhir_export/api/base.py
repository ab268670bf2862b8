"""What every ``/fhir/`` view shares: FHIR JSON in and out, who may call, OperationOutcome errors."""

import logging
from typing import Any

import orjson
from django.http import Http404
from rest_framework import exceptions, parsers, renderers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from clinic.api.throttling import UserRateThrottle
from clinic.models import AuditEvent
from fhir_export import services
from fhir_export.auth import FhirAuthentication, FhirCaller
from fhir_export.outcome import operation_outcome
from fhir_export.search import SearchError

logger = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
NDJSON = "application/fhir+ndjson"
# What _format and Accept may ask for: FHIR's JSON under any of its names.
JSON_FORMATS = {"json", "application/json", FHIR_JSON, "application/json+fhir", "*/*", "application/*"}
# What an export file's Accept may name: the _outputFormat names of NDJSON, or anything.
NDJSON_FORMATS = {NDJSON, "application/ndjson", "application/x-ndjson", "ndjson", "*/*", "application/*", ""}


class FhirError(exceptions.APIException):
    """An error with its HTTP status, answered as an OperationOutcome."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        self.headers = headers or {}
        super().__init__(detail)


class FhirJSONRenderer(renderers.BaseRenderer):
    media_type = FHIR_JSON
    format = "json"
    charset = None

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if data is None:
            return b""
        return data if isinstance(data, bytes) else orjson.dumps(data)


class FhirJSONParser(parsers.JSONParser):
    media_type = FHIR_JSON


class FhirNegotiation(BaseContentNegotiation):
    """JSON only: ``_format`` (json, application/fhir+json, ...) wins over ``Accept``; XML is a 406."""

    def select_parser(self, request: Request, parsers: Any) -> Any:
        content_type = request.content_type.split(";")[0].strip()
        return next((p for p in parsers if p.media_type == content_type), None)

    def select_renderer(self, request: Request, renderers: Any, format_suffix: str | None = None) -> Any:
        wanted = request.query_params.get("_format")
        if wanted is not None:
            wanted = wanted.replace(" ", "+")  # an unencoded + in application/fhir+json arrives as a space
            if wanted.split(";")[0].strip() not in JSON_FORMATS:
                raise exceptions.NotAcceptable(f"_format={wanted}: this server speaks FHIR JSON only.")
        else:
            accept = [a.split(";")[0].strip() for a in request.headers.get("Accept", "*/*").split(",")]
            if not any(a in JSON_FORMATS or a == NDJSON or a == "" for a in accept):
                raise exceptions.NotAcceptable("This server answers application/fhir+json only.")
        return renderers[0], renderers[0].media_type


class NdjsonNegotiation(FhirNegotiation):
    """An export file is NDJSON, whichever of its names the client accepts; errors stay FHIR JSON."""

    def select_renderer(self, request: Request, renderers: Any, format_suffix: str | None = None) -> Any:
        accept = [a.split(";")[0].strip() for a in request.headers.get("Accept", "*/*").split(",")]
        if not any(a in NDJSON_FORMATS or a in JSON_FORMATS for a in accept):
            raise exceptions.NotAcceptable("Export files are application/fhir+ndjson.")
        return renderers[0], renderers[0].media_type


class IsFhirCaller(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.user, FhirCaller)


class FhirThrottle(UserRateThrottle):
    """The API's per-caller rate limit, keyed by backend client or staff member."""


def fhir_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """Every error as an OperationOutcome with the right status; a bug is logged, never shown."""
    if isinstance(exc, SearchError):
        exc = FhirError(400, str(exc))
    elif isinstance(exc, Http404):
        exc = FhirError(404, str(exc) or "Not found.")
    if getattr(exc, "status_code", None) == 403:
        _audit_forbidden(context.get("request"), context.get("view"), exc)
    response = exception_handler(exc, context)
    if response is None:
        logger.exception("FHIR request failed", exc_info=exc)
        return Response(operation_outcome(500, "The server failed to answer; the error was logged."), status=500)
    detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
    if isinstance(detail, dict | list):
        detail = "; ".join(str(v) for v in (detail.values() if isinstance(detail, dict) else detail))
    response.data = operation_outcome(response.status_code, str(detail))
    for name, value in getattr(exc, "headers", {}).items():
        response[name] = value
    return response


def _audit_forbidden(request: Request | None, view: Any, exc: Exception) -> None:
    """Record a refused FHIR request: a token whose scopes do not cover what it asked for.

    A token that may not use the FHIR API at all (a patient's app) is recorded where it is
    refused, in ``FhirAuthentication``, since no caller exists here for it.
    """
    caller = getattr(request, "user", None)
    if request is None or not isinstance(caller, FhirCaller):
        return
    kwargs = getattr(view, "kwargs", None) or {}
    match = request.resolver_match
    services.fhir_access_record(
        caller=caller,
        action="export" if match is not None and "export" in (match.url_name or "") else "read",
        resource_type=kwargs.get("resource_type") or (match.url_name if match else "") or "",
        resource_id=next((str(v) for k, v in kwargs.items() if k != "resource_type"), ""),
        outcome=AuditEvent.Outcome.DENIED,
        path=request.path,
        reason=str(getattr(exc, "detail", exc))[:200],
    )


class FhirView(APIView):
    """A ``/fhir/`` endpoint: bearer auth (backend client or staff), FHIR JSON, OperationOutcome errors."""

    authentication_classes = [FhirAuthentication]
    permission_classes = [IsFhirCaller]
    renderer_classes = [FhirJSONRenderer]
    parser_classes = [FhirJSONParser, parsers.JSONParser, parsers.FormParser]
    content_negotiation_class = FhirNegotiation
    throttle_classes = [FhirThrottle]
    schema = None  # the FHIR API is described by its CapabilityStatement, not the OpenAPI schema

    def get_exception_handler(self) -> Any:
        return fhir_exception_handler

    @staticmethod
    def caller(request: Request) -> FhirCaller:
        user = request.user
        if not isinstance(user, FhirCaller):
            raise exceptions.NotAuthenticated
        return user

    def require(self, request: Request, resource_type: str, letters: str) -> FhirCaller:
        """The caller, if its scopes allow ``letters`` (r read, s search) on the type; else 403."""
        caller = self.caller(request)
        if not caller.may(resource_type, letters):
            raise FhirError(403, f"The access token's scopes do not allow this on {resource_type}.")
        return caller


def prefers_strict(request: Request) -> bool:
    return "handling=strict" in request.headers.get("Prefer", "").replace(" ", "")


def prefers_lenient(request: Request) -> bool:
    return "handling=lenient" in request.headers.get("Prefer", "").replace(" ", "")


def query_pairs(request: Request) -> list[tuple[str, str]]:
    return [(key, value) for key in request.query_params for value in request.query_params.getlist(key)]
