"""Bundles: searchsets for the REST API, and the stored monthly Observation bundles.

An Observation bundle holds one patient's Observations of one calendar month of their own
days (diary entries, adherence logs, GAS levels and T-scores, the month's trend summary and
its weeks that lie wholly inside it), with the Patient, so every reference resolves inside it.
Celery builds it ahead of time, so dashboards and EHRs fetch it ready
(``GET /fhir/Bundle/observations-{patient}-{YYYY-MM}``).
It is rebuilt when anything it shows changes (entries, logs, ratings, trend summaries, goals,
the patient), once quiet for FHIR_BUNDLE_DEBOUNCE_SECONDS (a sweep reads change times past a
watermark, so no write path needs a hook), and nightly for this month and the last.
"""

import hashlib
import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

import orjson
from django.conf import settings
from django.db import transaction
from django.db.models import Min, Q, QuerySet
from django.db.models.functions import TruncMonth
from django.utils import timezone

from clinic.models import Goal, GoalRating, Patient
from clinic.patient_time import local_today
from diary.models import AdherenceLog, DiaryEntry, TrendSummary
from fhir_export.mapping.common import JSON, instant
from fhir_export.mapping.patient import patient_resource
from fhir_export.models import ObservationBundle, SweepMark
from fhir_export.search import Search, filtered
from fhir_export.selectors import map_rows
from fhir_export.sources import Source, source_named, sources_of

BUNDLE_ID = re.compile(r"observations-(?P<patient>[0-9a-f-]{36})-(?P<year>\d{4})-(?P<month>\d{2})")
SWEEP_NAME = "observation-bundles"
# What a stored Observation bundle holds: a reader needs to be allowed to read all of it.
OBSERVATION_BUNDLE_TYPES = ("Observation", "Patient", "Goal")


def full_url(resource: JSON) -> str:
    return f"{settings.FHIR_BASE_URL}/{resource['resourceType']}/{resource['id']}"


def searchset(
    resources: list[JSON],
    *,
    total: int | None,
    links: dict[str, str],
    included: Sequence[JSON] = (),
    outcomes: Sequence[JSON] = (),
) -> JSON:
    """A searchset Bundle: matches first, then included resources, then OperationOutcomes about
    the search (R4's search mode ``outcome``), with paging links."""
    bundle: JSON = {"resourceType": "Bundle", "type": "searchset", "timestamp": instant(timezone.now())}
    if total is not None:
        bundle["total"] = total
    bundle["link"] = [{"relation": relation, "url": url} for relation, url in links.items()]
    entries = [{"fullUrl": full_url(r), "resource": r, "search": {"mode": "match"}} for r in resources]
    entries += [{"fullUrl": full_url(r), "resource": r, "search": {"mode": "include"}} for r in included]
    entries += [{"resource": r, "search": {"mode": "outcome"}} for r in outcomes]
    if entries:
        bundle["entry"] = entries
    return bundle


def observation_bundle_id(patient_id: UUID | str, month: date) -> str:
    return f"observations-{patient_id}-{month:%Y-%m}"


def parse_bundle_id(bundle_id: str) -> tuple[UUID, date] | None:
    match = BUNDLE_ID.fullmatch(bundle_id)
    if not match:
        return None
    try:
        return UUID(match["patient"]), date(int(match["year"]), int(match["month"]), 1)
    except ValueError:
        return None


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def month_observations(patient: Patient, month: date) -> list[JSON]:
    """The patient's Observations on their own days of ``month``, source by source, in date order,
    then the Goals their GAS levels are about, with those goals' other ratings, so that every
    reference resolves inside the bundle."""
    resources: list[JSON] = []
    today = timezone.localdate()
    goal_ids: set[UUID] = set()
    for source in sources_of("Observation"):
        if source.day_field is None:
            continue
        qs = _patients_rows(source, patient)
        qs = qs.filter(
            **{
                f"{source.day_field}__gte": month,
                f"{(source.last_day_field or source.day_field)}__lt": _next_month(month),
            }
        )
        rows = list(qs.order_by(source.date_field or "pk", "pk"))
        if source.name == "gas-level":
            goal_ids.update(row.goal_id for row in rows)
        resources += map_rows(source, rows, today)
    if goal_ids:
        shown = {r["id"] for r in resources}
        ratings = source_named("gas-level")
        others = _patients_rows(ratings, patient).filter(goal_id__in=goal_ids).order_by("rated_on", "pk")
        resources += [r for r in map_rows(ratings, list(others), today) if r["id"] not in shown]
        goals = source_named("goal")
        goal_rows = _patients_rows(goals, patient).filter(pk__in=goal_ids).order_by("pk")
        resources += map_rows(goals, list(goal_rows), today)
    return resources


def _patients_rows(source: Source, patient: Patient) -> QuerySet[Any]:
    qs = filtered(source, Search(source.resource_type), patient.clinic_id, patient_ids=[patient.pk])
    if qs is None:
        raise ValueError(f"{source.name} rows do not belong to patients")
    return qs


def observation_bundle_build(*, patient_id: UUID | str, month: date | str) -> bool:
    """Build and store a month's bundle; True if its content changed (a new ETag)."""
    month = date.fromisoformat(month) if isinstance(month, str) else month.replace(day=1)
    patient = Patient.objects.filter(pk=patient_id).first()
    if patient is None:
        return False
    entries = [
        {"fullUrl": full_url(r), "resource": r}
        for r in [patient_resource(patient), *month_observations(patient, month)]
    ]
    fingerprint = hashlib.sha256(orjson.dumps(entries)).hexdigest()[:32]
    now = timezone.now()
    with transaction.atomic():
        stored = ObservationBundle.objects.select_for_update().filter(patient=patient, month=month).first()
        if stored is not None and stored.etag == fingerprint:
            ObservationBundle.objects.filter(pk=stored.pk).update(built_at=now)
            return False
        bundle = {
            "resourceType": "Bundle",
            "id": observation_bundle_id(patient.pk, month),
            "meta": {"lastUpdated": instant(now)},
            "type": "collection",
            "timestamp": instant(now),
            "entry": entries,
        }
        ObservationBundle.objects.update_or_create(
            patient=patient,
            month=month,
            defaults={
                "content": orjson.dumps(bundle),
                "etag": fingerprint,
                "entry_count": len(entries),
                "built_at": now,
                "changed_at": now,
            },
        )
    return True


def observation_bundle_get(patient: Patient, month: date) -> ObservationBundle | None:
    """The stored bundle; a month never built yet is built now, the same way Celery would, if it
    lies between the patient's first Observation and this month of their own days (else None:
    asking for 1900 or 9999 stores nothing)."""
    stored = ObservationBundle.objects.filter(patient=patient, month=month).first()
    if stored is None:
        first, last = bundle_months(patient)
        if not first <= month <= last:
            return None
        observation_bundle_build(patient_id=patient.pk, month=month)
        stored = ObservationBundle.objects.get(patient=patient, month=month)
    return stored


def bundle_months(patient: Patient) -> tuple[date, date]:
    """The first and last month a bundle of the patient can hold anything: from their earliest
    Observation day (this month if none) to this month where they live."""
    this_month = local_today(patient.time_zone).replace(day=1)
    days = [
        _patients_rows(source, patient).aggregate(first=Min(source.day_field))["first"]
        for source in sources_of("Observation")
        if source.day_field is not None
    ]
    first = min((day for day in days if day is not None), default=this_month)
    return min(first.replace(day=1), this_month), this_month


def months_changed(now: datetime | None = None) -> list[tuple[UUID, date]]:
    """(patient, month) pairs with rows changed since the last sweep and quiet for the debounce time.

    Changes newer than the debounce window wait for a later sweep: a patient uploading a
    batch of entries, then correcting one, costs one rebuild rather than one per request.
    """
    now = now or timezone.now()
    up_to = now - timedelta(seconds=settings.FHIR_BUNDLE_DEBOUNCE_SECONDS)
    with transaction.atomic():
        mark, _ = SweepMark.objects.select_for_update().get_or_create(
            name=SWEEP_NAME, defaults={"up_to": up_to - timedelta(days=1)}
        )
        if mark.up_to >= up_to:
            return []
        changed = _months_changed_between(mark.up_to, up_to)
        mark.up_to = up_to
        mark.save()
    return sorted(changed)


def _months_changed_between(after: datetime, up_to: datetime) -> set[tuple[UUID, date]]:
    """Every (patient, month) whose bundle content may have changed in (after, up_to]: its
    entries, logs, ratings or trend summaries; the goals it shows (a rating, or closing one,
    changes the Goal and its list of levels in every month that holds one of its ratings);
    the patient (in every month already built)."""

    def within(changed_at: str) -> Q:
        return Q(**{f"{changed_at}__gt": after, f"{changed_at}__lte": up_to})

    rated_goals = GoalRating.objects.filter(within("created_at")).values("goal_id")
    watched: list[tuple[QuerySet[Any], str, str]] = [
        (DiaryEntry.objects.filter(within("updated_at")), "local_date", "patient_id"),
        (AdherenceLog.objects.filter(within("updated_at")), "date", "patient_id"),
        (TrendSummary.objects.filter(within("updated_at")), "period_start", "patient_id"),
        (GoalRating.objects.filter(goal_id__in=rated_goals), "rated_on", "goal__patient_id"),
        (GoalRating.objects.filter(goal__in=Goal.objects.filter(within("updated_at"))), "rated_on", "goal__patient_id"),
        (ObservationBundle.objects.filter(within("patient__updated_at")), "month", "patient_id"),
    ]
    changed: set[tuple[UUID, date]] = set()
    for rows, day, patient in watched:
        months = rows.annotate(bundle_month=TruncMonth(day)).values_list(patient, "bundle_month").distinct()
        changed.update((patient_id, month) for patient_id, month in months)
    return changed


def months_recent(today: date | None = None) -> list[tuple[UUID, date]]:
    """This month and the last, for every active patient."""
    today = today or timezone.localdate()
    this_month = today.replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    patient_ids = Patient.objects.filter(is_active=True).values_list("pk", flat=True)
    return [(pid, month) for pid in patient_ids for month in (last_month, this_month)]
