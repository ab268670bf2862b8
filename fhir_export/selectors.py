"""Scoped reads of FHIR resources: one resource, a patient's everything, included patients.

The clinic comes from the caller (``auth.FhirCaller``): a backend client's clinic, or a staff
member's. Nothing outside it is ever loaded.
"""

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from django.db.models import Model, prefetch_related_objects
from django.utils import timezone

from clinic.models import Patient
from fhir_export.mapping.common import JSON
from fhir_export.mapping.patient import patient_resource
from fhir_export.search import Search, filtered
from fhir_export.sources import PATIENT_TYPES, Source, source_for_id, sources_of


@dataclass
class Found:
    resource: JSON
    patient_id: UUID | None
    deleted: bool = False


def resource_read(clinic_id: int, resource_type: str, resource_id: str) -> Found | None:
    """One resource of the clinic by id; a deleted diary entry or log is ``deleted`` (410)."""
    routed = source_for_id(resource_type, resource_id)
    if routed is None:
        return None
    source, condition = routed
    # Read past the source's own filter once, so that a deleted row answers 410, not 404.
    qs = source.model._default_manager.filter(**{source.clinic_path: clinic_id}).filter(condition)
    if source.select:
        qs = qs.select_related(*source.select)
    row = next(iter(source.base(qs)), None)
    if row is None:
        gone = next(iter(qs), None)
        if gone is not None and getattr(gone, "deleted_at", None) is not None:
            return Found({}, _patient_of(source, gone), deleted=True)
        return None
    resource = map_rows(source, [row], timezone.localdate())[0]
    return Found(resource, _patient_of(source, row))


def _patient_of(source: Source, row: Model) -> Any:
    if source.patient_path is None:
        return None
    value: Any = row
    for part in source.patient_path.split("__"):
        value = getattr(value, part)
    return value


def map_rows(source: Source, rows: Sequence[Model], today: date) -> list[JSON]:
    if source.prefetch:
        prefetch_related_objects(list(rows), *source.prefetch)
    return source.map_rows(rows, today)


def patients_by_id(clinic_id: int, patient_ids: Iterable[UUID]) -> list[JSON]:
    """The clinic's patients among ``patient_ids`` (for ``_include``), one query."""
    ids = sorted(set(patient_ids))
    if not ids:
        return []
    return [patient_resource(p) for p in Patient.objects.filter(clinic_id=clinic_id, pk__in=ids).order_by("pk")]


def patient_everything(
    clinic_id: int, patient: Patient, *, since: datetime | None, types: Sequence[str] | None
) -> Iterator[JSON]:
    """The patient and every resource in their compartment, type by type (``$everything``)."""
    wanted = [t for t in PATIENT_TYPES if types is None or t in types]
    today = timezone.localdate()
    if "Patient" in wanted and (since is None or patient.updated_at >= since):
        yield patient_resource(patient)
    for resource_type in wanted:
        if resource_type == "Patient":
            continue
        for source in sources_of(resource_type):
            qs = filtered(source, Search(resource_type), clinic_id, patient_ids=[patient.pk])
            if qs is None:
                continue
            if since is not None:
                qs = qs.filter(**{f"{source.updated_field}__gte": since})
            rows = list(qs.order_by("pk"))
            yield from map_rows(source, rows, today)
