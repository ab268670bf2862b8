"""SMART Backend Services endpoints: discovery and the token endpoint (RFC 6749 errors)."""

from typing import Any

from rest_framework import parsers
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from clinic.api.throttling import AnonRateThrottle
from fhir_export import services
from fhir_export.api.base import FhirView
from fhir_export.auth import ALGORITHMS, ASSERTION_TYPE, TokenRequestRefused, token_url
from fhir_export.sources import RESOURCE_TYPES

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class SmartConfiguration(FhirView):
    """``GET /fhir/.well-known/smart-configuration``."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer]

    def get(self, request: Request) -> Response:
        return Response(
            {
                "token_endpoint": token_url(),
                "grant_types_supported": ["client_credentials"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                "token_endpoint_auth_signing_alg_values_supported": sorted(ALGORITHMS),
                "scopes_supported": ["system/*.rs", "system/*.read"]
                + [f"system/{t}.{p}" for t in RESOURCE_TYPES for p in ("rs", "read")],
                "capabilities": ["client-confidential-asymmetric", "permission-v1", "permission-v2"],
            }
        )


class Token(FhirView):
    """``POST /fhir/auth/token``: client_credentials with a signed client assertion."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer]
    parser_classes = [parsers.FormParser]
    throttle_classes = [AnonRateThrottle]

    def post(self, request: Request) -> Response:
        form: Any = request.data
        try:
            if form.get("grant_type") != "client_credentials":
                raise TokenRequestRefused("unsupported_grant_type", "grant_type must be client_credentials.")
            if form.get("client_assertion_type") != ASSERTION_TYPE:
                raise TokenRequestRefused("invalid_request", f"client_assertion_type must be {ASSERTION_TYPE}.")
            if not form.get("client_assertion"):
                raise TokenRequestRefused("invalid_request", "client_assertion is missing.")
            if not form.get("scope"):
                raise TokenRequestRefused("invalid_scope", "scope is missing (e.g. system/*.rs).")
            issued = services.backend_token_issue(assertion=form["client_assertion"], scope=form["scope"])
        except TokenRequestRefused as refused:
            refusal = {"error": refused.error, "error_description": refused.description}
            return Response(refusal, status=400, headers=NO_STORE)
        body: dict[str, Any] = {
            "access_token": issued.secret,
            "token_type": "bearer",
            "expires_in": issued.expires_in,
            "scope": issued.scope,
        }
        return Response(body, headers=NO_STORE)

    def handle_exception(self, exc: Exception) -> Response:
        """A body that is not a form is an RFC 6749 invalid_request, not an OperationOutcome."""
        from rest_framework.exceptions import ParseError, UnsupportedMediaType

        if isinstance(exc, UnsupportedMediaType | ParseError):
            body = {"error": "invalid_request", "error_description": "Send application/x-www-form-urlencoded."}
            return Response(body, status=400, headers=NO_STORE)
        return super().handle_exception(exc)
