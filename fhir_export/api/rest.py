"""Read, search, ``$everything``, the stored Observation bundles and the CapabilityStatement."""

import hashlib
import re
from datetime import UTC, datetime
from typing import Any, NoReturn
from urllib.parse import urlencode

import orjson
from django.conf import settings
from django.utils.http import http_date, parse_http_date_safe
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from clinic.models import AuditEvent, Patient
from fhir_export import bundles, selectors, services
from fhir_export.api.base import FhirError, FhirView, prefers_strict, query_pairs
from fhir_export.auth import FhirCaller
from fhir_export.capability import capability_statement
from fhir_export.mapping.common import JSON
from fhir_export.outcome import operation_outcome
from fhir_export.paging import search_page
from fhir_export.search import Cursor, Search, parse_search
from fhir_export.sources import PATIENT_TYPES, RESOURCE_TYPES, primary_key

# Types a client reads and searches; the stored Bundles are read only.
READABLE = {*RESOURCE_TYPES, "Bundle"}
# A FHIR id (R4 datatypes, "id"): anything else names no resource, and is never looked up.
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


class Metadata(FhirView):
    """``GET /fhir/metadata``: open to anyone, as FHIR requires."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response(capability_statement())


def _known(resource_type: str, allowed: set[str] | list[str]) -> None:
    if resource_type not in allowed:
        raise FhirError(404, f"This server does not serve {resource_type} resources.")


def conditional(request: Request, body: JSON | bytes, etag: str, last_modified: datetime, cache: str) -> Response:
    """Answer with validators, or 304 / 412 when the client's copy decides it (RFC 9110 §13)."""
    if_match = request.headers.get("If-Match")
    if if_match and if_match.strip() != "*" and etag not in [t.strip() for t in if_match.split(",")]:
        raise FhirError(412, "The resource has changed since the version given in If-Match.")
    headers = {"ETag": etag, "Last-Modified": http_date(last_modified.timestamp()), "Cache-Control": cache}
    if_none_match = request.headers.get("If-None-Match")
    since = parse_http_date_safe(request.headers.get("If-Modified-Since", ""))
    weak = etag.removeprefix("W/")
    if if_none_match is not None:
        if weak in [t.strip().removeprefix("W/") for t in if_none_match.split(",")] or if_none_match.strip() == "*":
            return Response(None, status=304, headers=headers)
    elif since is not None and int(last_modified.timestamp()) <= since:
        return Response(None, status=304, headers=headers)
    return Response(body, headers=headers)


def content_etag(resource: JSON) -> str:
    return f'W/"{hashlib.sha256(orjson.dumps(resource)).hexdigest()[:20]}"'


class Read(FhirView):
    """``GET /fhir/{type}/{id}`` with ETag and Last-Modified; 304, 410 (deleted), 412."""

    def get(self, request: Request, resource_type: str, resource_id: str) -> Response:
        _known(resource_type, READABLE)
        if resource_type == "Bundle":
            return self.bundle(request, resource_id)
        caller = self.require(request, resource_type, "r")
        found = (
            selectors.resource_read(caller.clinic_id, resource_type, resource_id)
            if FHIR_ID.fullmatch(resource_id)
            else None
        )
        if found is None:
            _not_known(caller, resource_type, resource_id)
        patients = [found.patient_id] if found.patient_id else []
        services.fhir_access_record(
            caller=caller, action="read", resource_type=resource_type, resource_id=resource_id, patient_ids=patients
        )
        if found.deleted:
            raise FhirError(410, f"{resource_type}/{resource_id} was deleted.")
        resource = found.resource
        last_modified = datetime.fromisoformat(resource["meta"]["lastUpdated"])
        return conditional(request, resource, content_etag(resource), last_modified, "private, no-cache")

    def bundle(self, request: Request, bundle_id: str) -> Response:
        """A stored monthly Observation bundle, built by Celery (or now, the first time it is asked for).

        It holds the patient and the goals its GAS levels are about besides the Observations,
        so the token must allow reading all three.
        """
        caller = self.caller(request)
        denied = [t for t in bundles.OBSERVATION_BUNDLE_TYPES if not caller.may(t, "r")]
        if denied:
            raise FhirError(403, f"An Observation bundle holds {', '.join(denied)} too: the token may not read them.")
        parsed = bundles.parse_bundle_id(bundle_id)
        patient = (
            Patient.objects.filter(clinic_id=caller.clinic_id, pk=parsed[0]).first() if parsed is not None else None
        )
        stored = bundles.observation_bundle_get(patient, parsed[1]) if parsed and patient else None
        if parsed is None or patient is None:
            _not_known(caller, "Bundle", bundle_id)
        if stored is None:
            raise FhirError(404, f"Bundle/{bundle_id}: the patient has no data that month, nor can it have yet.")
        services.fhir_access_record(
            caller=caller, action="read", resource_type="Bundle", resource_id=bundle_id, patient_ids=[patient.pk]
        )
        cache = f"private, max-age={settings.FHIR_BUNDLE_MAX_AGE_SECONDS}"
        return conditional(request, bytes(stored.content), f'"{stored.etag}"', stored.changed_at, cache)


def _not_known(caller: FhirCaller, resource_type: str, resource_id: str) -> NoReturn:
    """404 for a resource the caller cannot see or that does not exist; the attempt is audited."""
    services.fhir_access_record(
        caller=caller,
        action="read",
        resource_type=resource_type,
        # As sent, but printable and within the column: an id that is no FHIR id may hold anything.
        resource_id=resource_id.encode("unicode_escape").decode("ascii")[:100],
        outcome=AuditEvent.Outcome.DENIED,
    )
    shown = resource_id if FHIR_ID.fullmatch(resource_id) else "(not a FHIR id)"
    raise FhirError(404, f"{resource_type}/{shown} is not known.")


def page_link(resource_type: str, search: Search, cursor: Cursor | None) -> str:
    pairs = [*search.used, ("_count", str(search.count))]
    if cursor is not None:
        pairs.append(("_page", cursor.encode()))
    return f"{settings.FHIR_BASE_URL}/{resource_type}?{urlencode(pairs)}"


class SearchType(FhirView):
    """``GET /fhir/{type}?...`` (and ``POST /fhir/{type}/_search``): a searchset Bundle, keyset-paged."""

    def get(self, request: Request, resource_type: str) -> Response:
        return self.search(request, resource_type, query_pairs(request))

    def post(self, request: Request, resource_type: str) -> Response:
        form = (
            [(k, v) for k in request.data for v in request.data.getlist(k)] if hasattr(request.data, "getlist") else []
        )
        return self.search(request, resource_type, [*query_pairs(request), *form])

    def search(self, request: Request, resource_type: str, pairs: list[tuple[str, str]]) -> Response:
        _known(resource_type, RESOURCE_TYPES)
        caller = self.require(request, resource_type, "s")
        search = parse_search(
            resource_type, [(k, v) for k, v in pairs if k != "_format"], strict=prefers_strict(request)
        )
        page = search_page(search, caller.clinic_id)
        included: list[JSON] = []
        outcomes: list[JSON] = []
        if search.include_patients and caller.may("Patient", "r"):
            included = selectors.patients_by_id(caller.clinic_id, page.patient_ids)
        elif search.include_patients:
            # The matches are still what was asked for; the token just cannot read Patients.
            message = "The patients were not included: the access token's scopes do not allow reading Patient."
            outcomes.append(operation_outcome(403, message, severity="warning"))
        links = {"self": page_link(resource_type, search, search.cursor)}
        if page.next is not None:
            links["next"] = page_link(resource_type, search, page.next)
        if page.previous is not None:
            links["previous"] = page_link(resource_type, search, page.previous)
        services.fhir_access_record(
            caller=caller,
            action="search",
            resource_type=resource_type,
            patient_ids=page.patient_ids,
            query=urlencode(search.used),
        )
        return Response(
            bundles.searchset(page.resources, total=page.total, links=links, included=included, outcomes=outcomes)
        )


def _types_parameter(value: str | None, allowed: list[str]) -> list[str] | None:
    if value is None:
        return None
    types = [t for t in value.split(",") if t]
    unknown = [t for t in types if t not in allowed]
    if unknown:
        raise FhirError(400, f"_type names types this server does not export: {', '.join(unknown)}.")
    return types


def instant_parameter(name: str, value: str | None) -> datetime | None:
    """A FHIR instant (``_since``), in UTC."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise FhirError(400, f"{name} must be a FHIR instant, e.g. 2026-11-01T00:00:00Z.") from None
    if moment.tzinfo is None:
        raise FhirError(400, f"{name} must carry a time zone, e.g. 2026-11-01T00:00:00Z.")
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-05:00 is in the year 10000 in UTC
        raise FhirError(400, f"{name} is past the end of the calendar.") from None


class Everything(FhirView):
    """``GET /fhir/Patient/{id}/$everything`` with ``_since`` and ``_type``: one searchset Bundle."""

    def get(self, request: Request, patient_id: str) -> Response:
        caller = self.require(request, "Patient", "r")
        patient = _patient_of_clinic(caller, patient_id)
        types = _types_parameter(request.query_params.get("_type"), PATIENT_TYPES) or PATIENT_TYPES
        types = [t for t in types if caller.may(t, "r")]
        since = instant_parameter("_since", request.query_params.get("_since"))
        resources = list(selectors.patient_everything(caller.clinic_id, patient, since=since, types=types))
        services.fhir_access_record(
            caller=caller,
            action="everything",
            resource_type="Patient",
            resource_id=patient.pk,
            patient_ids=[patient.pk],
        )
        self_link = f"{settings.FHIR_BASE_URL}/Patient/{patient.pk}/$everything"
        if request.query_params:
            self_link += "?" + urlencode(query_pairs(request))
        return Response(bundles.searchset(resources, total=len(resources), links={"self": self_link}))


def _patient_of_clinic(caller: FhirCaller, patient_id: str) -> Patient:
    pk = primary_key(Patient, patient_id) if FHIR_ID.fullmatch(patient_id) else None
    patient = Patient.objects.filter(clinic_id=caller.clinic_id, pk=pk).first() if pk is not None else None
    if patient is None:
        _not_known(caller, "Patient", patient_id)
    return patient


class NotFound(FhirView):
    """Anything else under /fhir/: a 404 OperationOutcome (never the HTML or problem+json 404)."""

    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []

    def dispatch_404(self) -> None:
        raise FhirError(404, "There is nothing at this address in the FHIR API.")

    def get(self, request: Any, *args: Any, **kwargs: Any) -> None:
        self.dispatch_404()

    post = put = patch = delete = get
