"""Every write of the FHIR export: backend clients and tokens, export jobs, access audit."""

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from clinic import tokens
from clinic.audit import MAX_PATIENT_IDS_IN_DETAIL, audit_record
from clinic.models import AuditEvent, Clinic
from config.celery_app import enqueue_on_commit
from fhir_export import tasks
from fhir_export.auth import (
    ALGORITHMS,
    BACKEND_TOKEN_PREFIX,
    READ_PERMISSIONS,
    FhirCaller,
    TokenRequestRefused,
    parse_scopes,
    scopes_within,
    verify_client_assertion,
)
from fhir_export.models import BackendAccessToken, BackendClient, ExportJob, UsedClientAssertion

# --- Backend clients and their tokens ---------------------------------------------------------


@transaction.atomic
def backend_client_register(
    *, clinic: Clinic, name: str, scopes: str, jwks: dict[str, Any] | None = None, jwks_url: str = ""
) -> BackendClient:
    """Register an EHR for SMART Backend Services (an operator's command); read-only scopes only."""
    if (jwks is None) == (not jwks_url):
        raise ValidationError({"jwks": "Give the client's public keys as a JWKS file or as a JWKS URL, not both."})
    try:
        granted = parse_scopes(scopes)
    except ValueError as exc:
        raise ValidationError({"scope": str(exc)}) from exc
    if not granted:
        raise ValidationError({"scope": "Give at least one scope, e.g. system/*.rs."})
    if any(not letters <= READ_PERMISSIONS for letters in granted.values()):
        raise ValidationError({"scope": "This FHIR API is read-only: register read and search scopes (.rs, .read)."})
    if jwks is not None:
        _check_jwks(jwks)
    elif urlsplit(jwks_url).scheme not in ("https", "http"):
        raise ValidationError({"jwks_url": "The JWKS URL must be an http(s) URL."})
    client = BackendClient.objects.create(
        client_id=secrets.token_urlsafe(24), clinic=clinic, name=name, jwks=jwks, jwks_url=jwks_url, scopes=scopes
    )
    audit_record(
        actor=None,
        clinic_id=clinic.pk,
        action="create",
        resource_type="backend_client",
        resource_id=client.client_id,
        detail={"name": name, "scopes": scopes},
    )
    return client


def _check_jwks(jwks: dict[str, Any]) -> None:
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys:
        raise ValidationError({"jwks": 'A JWK Set is {"keys": [...]} with at least one key.'})
    for key in keys:
        if not isinstance(key, dict) or not key.get("kid") or key.get("kty") not in ALGORITHMS.values():
            raise ValidationError({"jwks": "Every key needs a kid and must be an RSA or EC key (RS384, ES384)."})
        if "d" in key:
            raise ValidationError({"jwks": f"Key {key['kid']} is a private key: register only public keys."})


@dataclass(frozen=True)
class IssuedToken:
    secret: str
    scope: str
    expires_in: int


def backend_token_issue(*, assertion: str, scope: str) -> IssuedToken:
    """Exchange a valid client assertion for an access token with the scopes asked for (RFC 6749 errors)."""
    verified = verify_client_assertion(assertion)
    client = verified.client
    try:
        requested = parse_scopes(scope)
    except ValueError as exc:
        raise TokenRequestRefused("invalid_scope", str(exc)) from None
    if not requested:
        raise TokenRequestRefused("invalid_scope", "Ask for at least one scope, e.g. system/*.rs.")
    if not scopes_within(requested, parse_scopes(client.scopes)):
        raise TokenRequestRefused("invalid_scope", f"This client may ask for at most: {client.scopes}.")
    secret = BACKEND_TOKEN_PREFIX + tokens.new_token()
    lifetime = settings.FHIR_ACCESS_TOKEN_TTL_SECONDS
    granted = " ".join(scope.split())
    try:
        with transaction.atomic():
            # The unique (client, jti) row is what makes a replayed assertion fail, even when two
            # copies of it arrive at once.
            UsedClientAssertion.objects.create(client=client, jti=verified.jti, expires_at=verified.expires_at)
            BackendAccessToken.objects.create(
                client=client,
                digest=tokens.digest(secret),
                scopes=granted,
                expires_at=timezone.now() + timedelta(seconds=lifetime),
            )
            audit_record(
                actor=None,
                label=client.name,
                clinic_id=client.clinic_id,
                action="token",
                resource_type="backend_client",
                resource_id=client.client_id,
                detail={"scope": granted},
            )
    except IntegrityError:
        raise TokenRequestRefused("invalid_client", "This client_assertion jti was already used.") from None
    return IssuedToken(secret, granted, lifetime)


# --- Audit of reads -----------------------------------------------------------------------------


def fhir_access_record(
    *,
    caller: FhirCaller,
    action: str,
    resource_type: str,
    resource_id: object = "",
    patient_ids: Iterable[UUID] = (),
    outcome: str = AuditEvent.Outcome.SUCCESS,
    **detail: Any,
) -> AuditEvent:
    """Record a FHIR read, search or export by a backend client (named by its label) or a staff member."""
    ids = sorted({str(i) for i in patient_ids})
    info: dict[str, Any] = {"count": len(ids), **detail}
    if len(ids) <= MAX_PATIENT_IDS_IN_DETAIL:
        info["patient_ids"] = ids
    return audit_record(
        actor=caller.user,
        label=caller.label,
        clinic_id=caller.clinic_id,
        patient_id=UUID(ids[0]) if len(ids) == 1 else None,
        action=action,
        resource_type=f"fhir:{resource_type}",
        resource_id=resource_id,
        outcome=outcome,
        detail=info,
    )


# --- Bulk export jobs ---------------------------------------------------------------------------


class ExportLimitReached(Exception):
    """The client already has as many exports running as it may (HTTP 429)."""


@transaction.atomic
def export_start(
    *,
    caller: FhirCaller,
    level: str,
    resource_types: Sequence[str],
    since: datetime | None,
    type_filters: Sequence[str],
    request_url: str,
    group_id: str = "",
    ignored_parameters: Sequence[str] = (),
) -> ExportJob:
    """Accept a ``$export`` kick-off; a worker writes the files once this commits (and takes the
    transaction time then, from its own snapshot)."""
    assert caller.client is not None  # noqa: S101  the view lets only backend clients export
    # Lock the client's row so two kick-offs at once cannot both pass the limit.
    client = BackendClient.objects.select_for_update().get(pk=caller.client.pk)
    running = ExportJob.objects.filter(client=client, status__in=[ExportJob.Status.ACCEPTED, ExportJob.Status.RUNNING])
    if running.count() >= settings.FHIR_EXPORT_MAX_CONCURRENT_PER_CLIENT:
        raise ExportLimitReached
    job = ExportJob.objects.create(
        client=client,
        clinic_id=client.clinic_id,
        level=level,
        group_id=group_id,
        resource_types=list(resource_types),
        since=since,
        type_filters=list(type_filters),
        ignored_parameters=list(ignored_parameters),
        request_url=request_url,
    )
    fhir_access_record(
        caller=caller, action="export", resource_type=level, resource_id=job.pk, types=list(resource_types)
    )
    enqueue_on_commit(tasks.run_export, str(job.pk))
    return job


@transaction.atomic
def export_cancel(*, caller: FhirCaller, job: ExportJob) -> None:
    """Cancel an export (running or done): its files are deleted and its status URL then answers 404."""
    updated = (
        ExportJob.objects.filter(pk=job.pk)
        .exclude(status=ExportJob.Status.CANCELLED)
        .update(status=ExportJob.Status.CANCELLED, finished_at=timezone.now(), lease_until=None)
    )
    if updated:
        fhir_access_record(caller=caller, action="export_cancel", resource_type=job.level, resource_id=job.pk)
        enqueue_on_commit(tasks.delete_export_files, str(job.pk))
