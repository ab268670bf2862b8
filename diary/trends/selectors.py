"""Reads of trends: stored summaries, event comparisons, the clinic's attention list, chart data.

Callers scope the patient first (``clinic.selectors.patient_get_for_user``); the attention list
is scoped here to the staff member's clinic.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db.models import Case, Count, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery, Value, When

from clinic.models import BotulinumSession, ItbDose, MedicationDose, Patient, User
from diary.models import Alert, DiaryEntry, Direction, TrendEventComparison, TrendSummary
from diary.selectors import PRIORITY_RANK
from diary.trends.events import dose_text
from diary.trends.figures import plain


def trend_summaries_of(patient: Patient, granularity: str) -> QuerySet[TrendSummary]:
    """The patient's stored summaries of one granularity, newest first."""
    return TrendSummary.objects.filter(patient=patient, granularity=granularity).order_by("-period_start")


def event_comparisons_of(patient: Patient) -> QuerySet[TrendEventComparison]:
    """Before/after comparisons of the patient's plan events, newest first."""
    return TrendEventComparison.objects.filter(patient=patient).order_by("-event_date", "-created_at")


def _open(priority: str) -> Count:
    return Count("alerts", filter=Q(alerts__status=Alert.Status.OPEN, alerts__priority=priority))


def clinic_overview(user: User) -> QuerySet[Patient]:
    """The staff member's active patients, most in need of attention first.

    Order: open urgent alerts, open high alerts, a worse latest complete week, open routine
    alerts, then name. Each patient carries ``open_alerts`` (prefetched, most urgent first),
    the latest complete week's id and direction, and the last diary day.
    """
    if not user.is_clinic_staff or user.clinic_id is None:
        return Patient.objects.none()
    latest_week = TrendSummary.objects.filter(
        patient=OuterRef("pk"), granularity=TrendSummary.Granularity.WEEK, complete=True
    ).order_by("-period_start")
    last_entry = DiaryEntry.objects.filter(patient=OuterRef("pk"), deleted_at__isnull=True).order_by("-local_date")
    open_alerts = Alert.objects.filter(status=Alert.Status.OPEN).order_by(PRIORITY_RANK, "-created_at")
    return (
        Patient.objects.filter(clinic_id=user.clinic_id, is_active=True)
        .annotate(
            urgent_alerts=_open(Alert.Priority.URGENT),
            high_alerts=_open(Alert.Priority.HIGH),
            routine_alerts=_open(Alert.Priority.ROUTINE),
            latest_week_id=Subquery(latest_week.values("pk")[:1]),
            latest_week_direction=Subquery(latest_week.values("direction")[:1]),
            last_entry_day=Subquery(last_entry.values("local_date")[:1]),
        )
        .annotate(
            worse=Case(
                When(latest_week_direction=Direction.WORSE, then=Value(1)),
                default=Value(0),
                output_field=IntegerField(),
            )
        )
        .order_by("-urgent_alerts", "-high_alerts", "-worse", "-routine_alerts", "family_name", "given_name", "pk")
        .prefetch_related(Prefetch("alerts", queryset=open_alerts, to_attr="open_alerts"))
    )


def attention_reasons(patients: list[Patient]) -> dict[Any, list[dict[str, Any]]]:
    """Why each patient of an overview page needs attention: open alerts, then a worse week."""
    weeks = TrendSummary.objects.in_bulk([p.latest_week_id for p in patients if p.latest_week_id])  # type: ignore[attr-defined]
    reasons: dict[Any, list[dict[str, Any]]] = {}
    for patient in patients:
        items = [
            {"kind": a.kind, "priority": a.priority, "title": a.title, "alert_id": str(a.pk)}
            for a in patient.open_alerts  # type: ignore[attr-defined]
        ]
        week = weeks.get(patient.latest_week_id)  # type: ignore[attr-defined]
        if week is not None and week.direction == Direction.WORSE:
            change = week.figures["change"]["severity"]
            items.append(
                {
                    "kind": "trend_worse",
                    "priority": Alert.Priority.ROUTINE,
                    "title": f"Severity worse in {week.figures['label']} ({change['before']:g} → {change['after']:g})",
                    "alert_id": None,
                }
            )
        reasons[patient.pk] = items
    return reasons


@dataclass(frozen=True)
class EventMark:
    """A plan event drawn on a chart's time axis."""

    day: date
    kind: str  # "medication", "pump" or "injection"
    label: str


def chart_weeks(patient: Patient, weeks: int) -> list[TrendSummary]:
    """The patient's weekly summaries of the last ``weeks`` weeks, oldest first."""
    since = date.today() - timedelta(weeks=weeks)  # noqa: DTZ011 (a day's slack at the edge is fine)
    return list(trend_summaries_of(patient, TrendSummary.Granularity.WEEK).filter(period_start__gte=since).reverse())


def chart_events(patient: Patient, since: date) -> list[EventMark]:
    """Regimen changes, pump dose changes and injections from ``since``, for the time axis."""
    marks = [
        EventMark(d.effective_from, "medication", f"{d.regimen.get_drug_display()} {dose_text(d)}")
        for d in MedicationDose.objects.filter(regimen__patient=patient, effective_from__gte=since).select_related(
            "regimen"
        )
    ]
    marks += [
        EventMark(d.effective_from, "pump", f"ITB {plain(d.daily_dose_mcg)} mcg/day")
        for d in ItbDose.objects.filter(pump__patient=patient, effective_from__gte=since)
    ]
    marks += [
        EventMark(s.injected_on, "injection", s.get_product_display())
        for s in BotulinumSession.objects.filter(patient=patient, injected_on__gte=since, voided_at__isnull=True)
    ]
    return sorted(marks, key=lambda m: m.day)
