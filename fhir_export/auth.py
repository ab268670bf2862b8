"""SMART Backend Services: client assertions, system scopes, and who is calling ``/fhir/``.

An EHR proves who it is with a JWT signed by a key from the JWKS it registered
(``register_backend_client``), and gets a short-lived bearer token for the scopes it asked for
within those it was registered for. Staff bearer tokens of the JSON API also read ``/fhir/``,
within their clinic. Everything here is checking; what is written (the ``jti``, the token)
is written by ``services.backend_token_issue``.
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import requests
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from clinic import tokens
from clinic.audit import audit_record
from clinic.models import AuditEvent, User
from clinic.selectors import active_token_by_digest
from fhir_export.models import BackendAccessToken, BackendClient
from fhir_export.sources import RESOURCE_TYPES

# The algorithms SMART Backend Services requires servers to support.
ALGORITHMS = {"RS384": "RSA", "ES384": "EC"}
# "exp: no more than five minutes in the future" (SMART Backend Services, authentication).
MAX_ASSERTION_LIFETIME = timedelta(minutes=5)
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Backend tokens carry a prefix, so one lookup finds either kind of token.
BACKEND_TOKEN_PREFIX = "fhir_"  # noqa: S105  a prefix, not a secret
READ_PERMISSIONS = frozenset("rs")
_SCOPE = re.compile(r"^system/(?P<type>\*|[A-Z][A-Za-z]+)\.(?P<permissions>read|write|\*|c?r?u?d?s?)$")
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}


class TokenRequestRefused(Exception):
    """A token request refused with an RFC 6749 error code."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def parse_scopes(text: str) -> dict[str, frozenset[str]]:
    """``system/Observation.rs system/*.read`` → {"Observation": {r, s}, "*": {r, s}}; v1 and v2 syntax."""
    granted: dict[str, set[str]] = {}
    for scope in text.split():
        match = _SCOPE.match(scope)
        if not match or not match["permissions"]:
            raise ValueError(
                f"'{scope}' is not a SMART system scope this server knows (system/Type.rs, system/*.read)."
            )
        resource_type = match["type"]
        if resource_type != "*" and resource_type not in RESOURCE_TYPES:
            raise ValueError(f"'{scope}': this server does not serve {resource_type}.")
        granted.setdefault(resource_type, set()).update(_V1.get(match["permissions"], match["permissions"]))
    return {resource_type: frozenset(letters) for resource_type, letters in granted.items()}


def allows(permissions: dict[str, frozenset[str]], resource_type: str, letters: str) -> bool:
    held = permissions.get(resource_type, frozenset()) | permissions.get("*", frozenset())
    return set(letters) <= held


def scopes_within(requested: dict[str, frozenset[str]], registered: dict[str, frozenset[str]]) -> bool:
    return all(
        all(allows(registered, t, letter) for letter in letters)
        if t != "*"
        else letters <= registered.get("*", frozenset())
        for t, letters in requested.items()
    )


def token_url() -> str:
    """The token endpoint's URL: what a client assertion's ``aud`` must be."""
    return f"{settings.FHIR_BASE_URL}/auth/token"


@dataclass(frozen=True)
class VerifiedAssertion:
    client: BackendClient
    jti: str
    expires_at: datetime


def verify_client_assertion(assertion: str, *, now: datetime | None = None) -> VerifiedAssertion:
    """Check a client assertion JWT: algorithm, ``kid``, signature, ``iss`` = ``sub`` = client_id,
    ``aud`` = the token URL, ``exp`` within 5 minutes. The ``jti`` is checked when it is stored."""
    now = now or timezone.now()
    try:
        header = jwt.get_unverified_header(assertion)
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        raise TokenRequestRefused("invalid_client", "client_assertion is not a JWT.") from None
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS:
        raise TokenRequestRefused("invalid_client", "client_assertion must be signed with RS384 or ES384.")
    kid = header.get("kid")
    if not kid:
        raise TokenRequestRefused("invalid_client", "client_assertion has no kid in its header.")
    client = BackendClient.objects.filter(client_id=str(unverified.get("iss", "")), is_active=True).first()
    if client is None:
        raise TokenRequestRefused("invalid_client", "No active client has this iss as its client_id.")
    key = _signing_key(client, kid, algorithm)
    try:
        claims = jwt.decode(
            assertion,
            key,
            algorithms=[algorithm],
            audience=token_url(),
            issuer=client.client_id,
            options={"require": ["iss", "sub", "aud", "exp", "jti"]},
        )
    except jwt.ExpiredSignatureError:
        raise TokenRequestRefused("invalid_client", "client_assertion has expired.") from None
    except jwt.InvalidAudienceError:
        raise TokenRequestRefused("invalid_client", f"client_assertion aud must be {token_url()}.") from None
    except jwt.InvalidTokenError as exc:
        raise TokenRequestRefused("invalid_client", f"client_assertion is not valid: {exc}.") from None
    if claims["sub"] != client.client_id:
        raise TokenRequestRefused("invalid_client", "client_assertion sub must equal iss (the client_id).")
    expires_at = datetime.fromtimestamp(claims["exp"], tz=UTC)
    if expires_at > now + MAX_ASSERTION_LIFETIME:
        raise TokenRequestRefused("invalid_client", "client_assertion exp may be at most 5 minutes ahead.")
    if not isinstance(claims["jti"], str) or not claims["jti"] or len(claims["jti"]) > 255:
        raise TokenRequestRefused("invalid_client", "client_assertion jti must be a string of 1 to 255 characters.")
    return VerifiedAssertion(client, claims["jti"], expires_at)


def _signing_key(client: BackendClient, kid: str, algorithm: str) -> Any:
    for refresh in (False, True):
        for jwk in client_keys(client, refresh=refresh).get("keys", []):
            if jwk.get("kid") == kid and jwk.get("kty") == ALGORITHMS[algorithm]:
                try:
                    return jwt.PyJWK(jwk, algorithm=algorithm).key
                except jwt.PyJWKError:
                    raise TokenRequestRefused("invalid_client", f"The registered key {kid} cannot be used.") from None
        if not client.jwks_url:
            break
    raise TokenRequestRefused("invalid_client", f"No {ALGORITHMS[algorithm]} key with kid {kid} in the client's JWKS.")


def client_keys(client: BackendClient, *, refresh: bool = False) -> dict[str, Any]:
    """The client's JWKS: as registered, or fetched from its URL (cached; fetched again for a new kid)."""
    if not client.jwks_url:
        return client.jwks or {}
    cache_key = f"fhir:jwks:{client.pk}"
    keys = None if refresh else cache.get(cache_key)
    if keys is None:
        try:
            response = requests.get(client.jwks_url, timeout=5, headers={"Accept": "application/json"})
            response.raise_for_status()
            keys = response.json()
        except (requests.RequestException, ValueError):
            raise TokenRequestRefused("invalid_client", "The client's JWKS URL could not be read.") from None
        if not isinstance(keys, dict):
            raise TokenRequestRefused("invalid_client", "The client's JWKS URL does not serve a JWK Set.")
        cache.set(cache_key, keys, settings.FHIR_JWKS_CACHE_SECONDS)
    return keys


# --- Who is calling -------------------------------------------------------------------------


@dataclass(frozen=True)
class FhirCaller:
    """A backend client or a staff member, with their clinic and what they may read."""

    clinic_id: int
    label: str
    permissions: dict[str, frozenset[str]] = field(default_factory=dict)
    user: User | None = None
    client: BackendClient | None = None
    is_authenticated: bool = True

    @property
    def pk(self) -> str:
        """Identity for throttling."""
        return f"client:{self.client.pk}" if self.client else f"user:{self.user.pk if self.user else ''}"

    def may(self, resource_type: str, letters: str) -> bool:
        return allows(self.permissions, resource_type, letters)


class FhirAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer``: a backend client's token, or a staff member's API token."""

    def authenticate(self, request: Request) -> tuple[FhirCaller, FhirCaller] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("The Authorization header must be 'Bearer <token>'.")
        try:
            secret = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The token is not valid.") from None
        caller = backend_caller(secret) if secret.startswith(BACKEND_TOKEN_PREFIX) else staff_caller(secret)
        return caller, caller

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="fhir"'


def backend_caller(secret: str) -> FhirCaller:
    token = (
        BackendAccessToken.objects.select_related("client")
        .filter(digest=tokens.digest(secret), expires_at__gt=timezone.now(), client__is_active=True)
        .first()
    )
    if token is None:
        raise exceptions.AuthenticationFailed("The access token is not valid or has expired; request a new one.")
    client = token.client
    return FhirCaller(client.clinic_id, client.name, parse_scopes(token.scopes), client=client)


def staff_caller(secret: str) -> FhirCaller:
    token = active_token_by_digest(tokens.digest(secret))
    if token is None:
        raise exceptions.AuthenticationFailed("The token is not valid, has expired, or was revoked.")
    user = token.user
    if not user.is_clinic_staff or user.clinic_id is None:
        # Recorded here: the refusal happens before DRF has a caller to hand the error handler.
        audit_record(
            actor=user,
            patient=getattr(user, "patient", None),  # loaded with the token; a patient's app
            action="read",
            resource_type="fhir",
            outcome=AuditEvent.Outcome.DENIED,
            detail={"reason": "not clinic staff or an EHR client"},
        )
        raise exceptions.PermissionDenied("Only clinic staff and registered EHR clients may use the FHIR API.")
    return FhirCaller(user.clinic_id, "", {"*": READ_PERMISSIONS}, user=user)
