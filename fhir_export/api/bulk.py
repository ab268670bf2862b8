"""Bulk Data Access v2 ``$export``: kick-off, status polling, cancel, and the NDJSON files."""

from pathlib import Path
from typing import Any
from uuid import UUID

from django.conf import settings
from django.http import FileResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import http_date
from rest_framework.request import Request
from rest_framework.response import Response

from fhir_export import services
from fhir_export.api.base import NDJSON, FhirError, FhirView, NdjsonNegotiation, prefers_lenient
from fhir_export.api.rest import instant_parameter
from fhir_export.auth import FhirCaller
from fhir_export.bulk import parse_type_filters
from fhir_export.mapping.common import instant
from fhir_export.mapping.patient import group_id
from fhir_export.models import ExportFile, ExportJob
from fhir_export.outcome import operation_outcome
from fhir_export.search import SearchError
from fhir_export.sources import PATIENT_TYPES, RESOURCE_TYPES

OUTPUT_FORMATS = {"application/fhir+ndjson", "application/ndjson", "ndjson"}
# The manifest's error files hold OperationOutcomes (the only type Bulk Data v2 allows there).
ERRORS = "OperationOutcome"
KNOWN_PARAMETERS = {"_outputFormat", "_since", "_type", "_typeFilter"}
POLL_SECONDS = 3


def kickoff_parameters(request: Request) -> list[tuple[str, str]]:
    """Parameters from the query (GET) or from a Parameters resource (POST)."""
    pairs = [(k, v) for k in request.query_params for v in request.query_params.getlist(k) if k != "_format"]
    if request.method != "POST":
        return pairs
    body = request.data
    if not body:
        return pairs
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise FhirError(422, "A POST kick-off sends a Parameters resource.")
    for parameter in body.get("parameter", []):
        values = [v for k, v in parameter.items() if k.startswith("value")] if isinstance(parameter, dict) else []
        if not values or not isinstance(parameter.get("name"), str) or not isinstance(values[0], str):
            raise FhirError(422, "Every parameter needs a name and one string-like value (valueString, valueInstant).")
        pairs.append((parameter["name"], values[0]))
    return pairs


class Kickoff(FhirView):
    """``$export`` at system, Patient or Group level (GET or POST); answers 202 with Content-Location."""

    level = ExportJob.Level.SYSTEM

    def get(self, request: Request, group: str = "") -> Response:
        return self.kickoff(request, group)

    def post(self, request: Request, group: str = "") -> Response:
        return self.kickoff(request, group)

    def kickoff(self, request: Request, group: str) -> Response:
        caller = self.caller(request)
        if caller.client is None:
            raise FhirError(403, "Bulk export is for registered EHR clients (SMART Backend Services).")
        if "respond-async" not in request.headers.get("Prefer", ""):
            raise FhirError(400, "A bulk export needs the header Prefer: respond-async.")
        if self.level == ExportJob.Level.GROUP and group != group_id(caller.clinic_id):
            raise FhirError(404, f"Group/{group} is not known.")
        values: dict[str, list[str]] = {}
        ignored: list[str] = []
        for name, value in kickoff_parameters(request):
            if name in KNOWN_PARAMETERS:
                values.setdefault(name, []).append(value)
            elif not prefers_lenient(request):
                # Bulk Data v2: an export that silently drops a parameter (say _elements, or a
                # patient list) is not what was asked for; the client may resend it without.
                raise FhirError(
                    400,
                    f"The export parameter {name} is not supported: leave it out, "
                    "or send Prefer: handling=lenient to have it ignored.",
                )
            elif name not in ignored:
                ignored.append(name)
        # An unencoded + in application/fhir+ndjson arrives as a space, as with _format.
        output_format = values.get("_outputFormat", ["application/fhir+ndjson"])[0].replace(" ", "+")
        if output_format not in OUTPUT_FORMATS:
            raise FhirError(400, f"_outputFormat {output_format} is not supported; use application/fhir+ndjson.")
        types = self.resource_types(caller, values.get("_type"))
        since = instant_parameter("_since", values.get("_since", [None])[0])
        type_filters = values.get("_typeFilter", [])
        try:
            parse_type_filters(type_filters, types)
        except SearchError as exc:
            raise FhirError(400, str(exc)) from None
        try:
            job = services.export_start(
                caller=caller,
                level=self.level,
                group_id=group,
                resource_types=types,
                since=since,
                type_filters=type_filters,
                request_url=request_url(request),
                ignored_parameters=ignored,
            )
        except services.ExportLimitReached:
            raise FhirError(
                429,
                f"At most {settings.FHIR_EXPORT_MAX_CONCURRENT_PER_CLIENT} exports may run at once for a client.",
                {"Retry-After": "60"},
            ) from None
        status_url = f"{settings.FHIR_BASE_URL}/$export-status/{job.pk}"
        body = operation_outcome(
            202, f"Export accepted; poll {status_url}.", severity="information", code="informational"
        )
        return Response(body, status=202, headers={"Content-Location": status_url})

    def resource_types(self, caller: FhirCaller, requested: list[str] | None) -> list[str]:
        level_types = RESOURCE_TYPES if self.level == ExportJob.Level.SYSTEM else PATIENT_TYPES
        if requested is None:
            types = [t for t in level_types if caller.may(t, "r")]
            if not types:
                raise FhirError(403, "The access token's scopes allow reading none of the exported types.")
            return types
        types = list(dict.fromkeys(t for value in requested for t in value.split(",") if t))
        unknown = [t for t in types if t not in level_types]
        if unknown:
            raise FhirError(400, f"_type names types this export does not include: {', '.join(unknown)}.")
        denied = [t for t in types if not caller.may(t, "r")]
        if denied:
            raise FhirError(403, f"The access token's scopes do not allow reading {', '.join(denied)}.")
        return types


def request_url(request: Request) -> str:
    """The kick-off URL under FHIR_BASE_URL (what the client called, whatever proxy it came through)."""
    base_path = reverse("fhir:metadata").removesuffix("metadata")
    return f"{settings.FHIR_BASE_URL}/{request.get_full_path().removeprefix(base_path)}"


class PatientKickoff(Kickoff):
    level = ExportJob.Level.PATIENT


class GroupKickoff(Kickoff):
    level = ExportJob.Level.GROUP


def _own_job(caller: FhirCaller, job_id: UUID) -> ExportJob:
    """A job of this client that is not cancelled nor past its expiry; anything else is a 404.

    The token must also allow reading every type the job exports (Bulk Data v2: a status or file
    request needs scopes covering the exported types), else 403.
    """
    job = ExportJob.objects.filter(pk=job_id, client=caller.client).exclude(status=ExportJob.Status.CANCELLED).first()
    if caller.client is None or job is None or _expired(job):
        raise FhirError(404, "There is no such export (it may have been cancelled or have expired).")
    denied = [t for t in job.resource_types if not caller.may(t, "r")]
    if denied:
        raise FhirError(403, f"The access token's scopes do not allow reading {', '.join(denied)}, which it exports.")
    return job


def _expired(job: ExportJob) -> bool:
    """Past its expiry the export is gone, whether or not the hourly sweep has deleted it yet."""
    return job.expires_at is not None and job.expires_at <= timezone.now()


class Status(FhirView):
    """Poll an export (202 with Retry-After and X-Progress, then 200 with the manifest); DELETE cancels."""

    def get(self, request: Request, job_id: UUID) -> Response:
        job = _own_job(self.caller(request), job_id)
        if job.is_active:
            headers = {"Retry-After": str(POLL_SECONDS), "X-Progress": job.progress or "Waiting for a worker"}
            return Response(None, status=202, headers=headers)
        if job.status == ExportJob.Status.FAILED:
            raise FhirError(500, job.error or "The export failed.")
        order = {resource_type: index for index, resource_type in enumerate(job.resource_types)}
        files = sorted(job.files.all(), key=lambda f: (order.get(f.resource_type, len(order)), f.part))

        def item(f: ExportFile) -> dict[str, Any]:
            return {"type": f.resource_type, "url": f"{settings.FHIR_BASE_URL}/$export-file/{f.pk}", "count": f.count}

        assert job.transaction_time is not None  # noqa: S101  a completed job has its snapshot's time
        manifest: dict[str, Any] = {
            "transactionTime": instant(job.transaction_time),
            "request": job.request_url,
            "requiresAccessToken": True,
            "output": [item(f) for f in files if f.resource_type != ERRORS],
            "error": [item(f) for f in files if f.resource_type == ERRORS],
        }
        headers = {"Expires": http_date(job.expires_at.timestamp())} if job.expires_at else {}
        # The manifest is plain JSON, not a FHIR resource (Bulk Data v2, "Response - Complete Status").
        return Response(manifest, headers=headers, content_type="application/json")

    def delete(self, request: Request, job_id: UUID) -> Response:
        caller = self.caller(request)
        services.export_cancel(caller=caller, job=_own_job(caller, job_id))
        return Response(None, status=202)


class File(FhirView):
    """One NDJSON output file, only to the client that started the export, streamed from disk."""

    content_negotiation_class = NdjsonNegotiation

    def get(self, request: Request, file_id: UUID) -> FileResponse:
        caller = self.caller(request)
        exported = ExportFile.objects.select_related("job").filter(pk=file_id, job__client=caller.client).first()
        if (
            caller.client is None
            or exported is None
            or exported.job.status != ExportJob.Status.COMPLETED
            or _expired(exported.job)
        ):
            raise FhirError(404, "There is no such file (it may have expired).")
        if exported.resource_type != ERRORS and not caller.may(exported.resource_type, "r"):
            raise FhirError(403, f"The access token's scopes do not allow reading {exported.resource_type}.")
        path = Path(settings.FHIR_EXPORT_DIR) / exported.path
        if not path.exists():
            raise FhirError(404, "This file has expired.")
        services.fhir_access_record(
            caller=caller,
            action="export_download",
            resource_type=exported.resource_type,
            resource_id=exported.pk,
            job=str(exported.job_id),
            resources=exported.count,
        )
        return FileResponse(path.open("rb"), content_type=NDJSON)
