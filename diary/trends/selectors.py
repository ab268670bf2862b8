"""Reads of trends: stored summaries, event comparisons, the clinic's attention list, chart data.

Callers scope the patient first (``clinic.selectors.patient_get_for_user``); the attention list
is scoped here to the staff member's clinic.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import (
    Case,
    Count,
    DateField,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.utils import timezone

from clinic.models import AccessToken, BotulinumSession, EnrollmentCode, ItbDose, MedicationDose, Patient, User
from clinic.patient_time import local_today
from diary.models import Alert, DiaryEntry, Direction, TrendEventComparison, TrendSummary
from diary.selectors import PRIORITY_RANK
from diary.trends.events import dose_text
from diary.trends.figures import plain


def patients_for_signals(patient_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Patient]:
    """The patients, each with ``phone_enrolled_at``: when a phone was last enrolled for them.

    That is the latest of the enrollment codes redeemed, the patient-app tokens issued (one per
    redemption) and the patient account's creation (at the first enrollment). Codes and tokens
    are purged a while after they expire; the account stays, so there is always an answer.
    """
    last_code = EnrollmentCode.objects.filter(patient=OuterRef("pk"), redeemed_at__isnull=False).order_by(
        "-redeemed_at"
    )
    last_token = AccessToken.objects.filter(user=OuterRef("user_id"), kind=AccessToken.Kind.PATIENT).order_by(
        "-created_at"
    )
    patients = Patient.objects.filter(pk__in=patient_ids).annotate(
        last_redeemed_at=Subquery(last_code.values("redeemed_at")[:1]),
        last_token_at=Subquery(last_token.values("created_at")[:1]),
        account_created_at=F("user__date_joined"),
    )
    found: dict[uuid.UUID, Patient] = {}
    for patient in patients:
        times = [patient.last_redeemed_at, patient.last_token_at, patient.account_created_at]
        patient.phone_enrolled_at = max((t for t in times if t is not None), default=None)  # type: ignore[attr-defined]
        found[patient.pk] = patient
    return found


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
    patients = Patient.objects.filter(clinic_id=user.clinic_id, is_active=True)
    # The last complete week is the one before the patient's own current week: an older week is
    # history, not a reason for attention today. Patients' time zones differ, and near midnight
    # on a Sunday so does that week; the clinic's patients live in a handful of zones.
    now = timezone.now()
    zones = sorted(patients.order_by().values_list("time_zone", flat=True).distinct())
    last_week_start = Case(
        *(When(time_zone=zone, then=Value(_last_complete_week_start(zone, now))) for zone in zones),
        default=Value(None),
        output_field=DateField(),
    )
    latest_week = TrendSummary.objects.filter(
        patient=OuterRef("pk"),
        granularity=TrendSummary.Granularity.WEEK,
        complete=True,
        period_start=OuterRef("last_week_start"),
    )
    last_entry = DiaryEntry.objects.filter(patient=OuterRef("pk"), deleted_at__isnull=True).order_by("-local_date")
    open_alerts = Alert.objects.filter(status=Alert.Status.OPEN).order_by(PRIORITY_RANK, "-created_at")
    return (
        patients.annotate(last_week_start=last_week_start)
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


def _last_complete_week_start(time_zone: str, now: datetime) -> date:
    """The Monday of the last complete ISO week on the patient's own calendar."""
    today = local_today(time_zone, now)
    return today - timedelta(days=today.weekday() + 7)


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


def chart_weeks(patient: Patient, weeks: int, *, today: date) -> list[TrendSummary]:
    """The patient's weekly summaries of the last ``weeks`` weeks to ``today``, oldest first."""
    since = today - timedelta(weeks=weeks)
    summaries = trend_summaries_of(patient, TrendSummary.Granularity.WEEK)
    return list(summaries.filter(period_start__gte=since, period_start__lte=today).reverse())


def chart_events(patient: Patient, since: date, until: date) -> list[EventMark]:
    """Regimen changes, pump dose changes and injections from ``since`` to ``until``, for the time axis.

    Only the plan as it stands: versions a later change cancelled before they took effect
    (superseded) never happened, and changes scheduled after ``until`` have not happened yet.
    """
    doses = MedicationDose.objects.in_force().filter(
        regimen__patient=patient, effective_from__gte=since, effective_from__lte=until
    )
    marks = [
        EventMark(d.effective_from, "medication", f"{d.regimen.get_drug_display()} {dose_text(d)}")
        for d in doses.select_related("regimen")
    ]
    pump_doses = ItbDose.objects.in_force().filter(
        pump__patient=patient, effective_from__gte=since, effective_from__lte=until
    )
    marks += [EventMark(d.effective_from, "pump", f"ITB {plain(d.daily_dose_mcg)} mcg/day") for d in pump_doses]
    sessions = BotulinumSession.objects.filter(
        patient=patient, injected_on__gte=since, injected_on__lte=until, voided_at__isnull=True
    )
    marks += [EventMark(s.injected_on, "injection", s.get_product_display()) for s in sessions]
    return sorted(marks, key=lambda m: m.day)
