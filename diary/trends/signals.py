"""Clinical signals from the stored trends: the rules that raise clinic alerts.

Each alert carries the numbers behind it in ``details`` and a ``dedupe_key`` naming the week,
session or silence it is about, so recomputing (nightly, or twice at once) never raises it twice.
Pump-refill reminders are raised by the care-plan reminders, not here.
"""

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction

from clinic.audit import audit_record
from clinic.models import Patient
from clinic.patient_time import local_today
from config.celery_app import enqueue_on_commit
from diary.models import Alert, Direction, TrendEventComparison, TrendSummary
from diary.trends import events, sql
from diary.trends.selectors import patients_for_signals


def _severity_worsening(patient: Patient, weeks: list[TrendSummary]) -> Alert | None:
    """Mean severity worse than the week before in each of the last two complete weeks."""
    if len(weeks) < 2:
        return None
    last, before = weeks[0], weeks[1]
    if before.period_start != last.period_start - timedelta(days=7):
        return None
    if last.direction != Direction.WORSE or before.direction != Direction.WORSE:
        return None
    means = [before.figures["change"]["severity"]["before"], before.severity_mean, last.severity_mean]
    return Alert(
        clinic_id=patient.clinic_id,
        patient=patient,
        kind=Alert.Kind.SEVERITY_WORSENING,
        priority=Alert.Priority.HIGH,
        title=f"Severity worse two weeks running ({means[0]:g} → {means[1]:g} → {means[2]:g})",
        details={
            "weeks": [before.figures["change"]["previous_period"], before.figures["label"], last.figures["label"]],
            "severity_means": means,
            "relative_changes": [
                before.figures["change"]["severity"]["relative"],
                last.figures["change"]["severity"]["relative"],
            ],
            "threshold_relative": settings.TREND_CHANGE_RELATIVE,
            "threshold_points": settings.TREND_CHANGE_MIN_POINTS,
        },
        dedupe_key=f"severity_worsening:{patient.pk}:{last.period_start}",
    )


def _spasms_doubled(patient: Patient, weeks: list[TrendSummary]) -> Alert | None:
    """Spasms per diary day in the last complete week at least double the week before."""
    if not weeks:
        return None
    last = weeks[0]
    ratio = last.figures["change"]["spasms_per_day"]["ratio"]
    if ratio is None or ratio < settings.TREND_SPASM_RATIO_ALERT:
        return None
    before = last.figures["change"]["spasms_per_day"]["before"]
    return Alert(
        clinic_id=patient.clinic_id,
        patient=patient,
        kind=Alert.Kind.SPASMS_DOUBLED,
        priority=Alert.Priority.HIGH,
        title=f"Spasms per day up {ratio:g}x in {last.figures['label']} ({before:g} → {last.spasms_per_day:g})",
        details={
            "weeks": [last.figures["change"]["previous_period"], last.figures["label"]],
            "spasms_per_day": [before, last.spasms_per_day],
            "ratio": ratio,
            "threshold_ratio": settings.TREND_SPASM_RATIO_ALERT,
            "baseline_floor": settings.TREND_SPASM_BASELINE_FLOOR,
            "days_with_entries": last.days_with_entries,
            "days_with_spasm_counts": last.figures["days_with_spasm_counts"],
        },
        dedupe_key=f"spasms_doubled:{patient.pk}:{last.period_start}",
    )


def _wear_off(patient: Patient, event: events.PlanEvent, figures: dict[str, Any]) -> Alert | None:
    """The latest injection wore off before the earliest allowed re-injection date."""
    wear = figures.get("wear_off") or {}
    if not wear.get("detected") or not wear.get("before_allowed"):
        return None
    return Alert(
        clinic_id=patient.clinic_id,
        patient=patient,
        kind=Alert.Kind.INJECTION_WEAR_OFF,
        priority=Alert.Priority.HIGH,
        title=(
            f"Injection of {event.day} wearing off from week {wear['week']} "
            f"(re-injection allowed from {wear['next_injection_allowed_on']})"
        ),
        details={
            "session_id": event.ref,
            "injected_on": event.day.isoformat(),
            "severity_before": figures["before"]["severity_mean"],
            "best_week": wear["best_week"],
            "best_mean": wear["best_mean"],
            "threshold_mean": wear["threshold_mean"],
            "wear_off_week": wear["week"],
            "wear_off_from": wear["from_day"],
            "next_injection_allowed_on": wear["next_injection_allowed_on"],
        },
        dedupe_key=f"injection_wear_off:{event.ref}",
    )


def _silent(patient: Patient, last: tuple[date, datetime] | None, today: date) -> Alert | None:
    """An active patient with an enrolled phone and no diary entry for ``TREND_SILENT_DAYS`` days.

    Silence runs from the latest of the last diary day, the last upload received and the phone's
    enrollment, each as a day of the patient's own calendar: a phone that was offline and has
    just sent its backlog belongs to a patient who kept the diary, and a phone enrolled today has
    had no time to say anything yet.
    """
    if not patient.is_active or patient.user_id is None:
        return None
    last_day, received = last if last is not None else (None, None)
    enrolled = patient.phone_enrolled_at  # type: ignore[attr-defined]
    heard_days = [
        last_day,
        local_today(patient.time_zone, received) if received else None,
        local_today(patient.time_zone, enrolled) if enrolled else None,
    ]
    heard = max((d for d in heard_days if d is not None), default=local_today(patient.time_zone, patient.created_at))
    silent_days = (today - heard).days
    if silent_days < settings.TREND_SILENT_DAYS:
        return None
    return Alert(
        clinic_id=patient.clinic_id,
        patient=patient,
        kind=Alert.Kind.DIARY_SILENT,
        priority=Alert.Priority.ROUTINE,
        title=f"No diary entries for {silent_days} days",
        details={
            "last_entry_day": last_day.isoformat() if last_day else None,
            "last_received_at": received.isoformat() if received else None,
            "phone_enrolled_at": enrolled.isoformat() if enrolled else None,
            "days_without_entries": silent_days,
            "threshold_days": settings.TREND_SILENT_DAYS,
        },
        dedupe_key=f"diary_silent:{patient.pk}:{heard.isoformat()}",
    )


def raise_signals(
    *,
    patient_ids: Sequence[uuid.UUID],
    todays: dict[uuid.UUID, date],
    comparisons: Sequence[tuple[events.PlanEvent, dict[str, Any]]],
) -> list[Alert]:
    """Raise the alerts the patients' current trends call for; returns the alerts that are new."""
    patients = patients_for_signals(patient_ids)
    if not patients:
        return []
    earliest = min(todays.values()) - timedelta(days=21)
    recent: dict[uuid.UUID, list[TrendSummary]] = defaultdict(list)
    weeks = TrendSummary.objects.filter(
        patient_id__in=patients, granularity=TrendSummary.Granularity.WEEK, complete=True, period_start__gte=earliest
    ).order_by("patient_id", "-period_start")
    for week in weeks:
        recent[week.patient_id].append(week)
    latest_session: dict[uuid.UUID, tuple[events.PlanEvent, dict[str, Any]]] = {}
    for event, figures in comparisons:
        if event.kind == TrendEventComparison.EventKind.BOTULINUM_SESSION:
            current = latest_session.get(event.patient_id)
            if current is None or event.day >= current[0].day:
                latest_session[event.patient_id] = (event, figures)
    last = sql.last_entries(list(patients))
    candidates: list[Alert | None] = []
    for pk, patient in patients.items():
        candidates += [
            _severity_worsening(patient, recent[pk]),
            _spasms_doubled(patient, recent[pk]),
            _silent(patient, last.get(pk), todays[pk]),
        ]
        if pk in latest_session:
            candidates.append(_wear_off(patient, *latest_session[pk]))
    alerts = [a for a in candidates if a is not None]
    return _store_new(alerts)


@transaction.atomic
def _store_new(alerts: list[Alert]) -> list[Alert]:
    """Store the alerts not raised before (by dedupe key); audit each as raised by the system, and
    have the urgent and high ones sent to staff once the transaction commits."""
    if not alerts:
        return []
    # Imported here: the diary services and tasks import the trends, which import this module.
    from diary import tasks
    from diary.services import NOTIFIED_PRIORITIES

    known = set(
        Alert.objects.filter(dedupe_key__in=[a.dedupe_key for a in alerts]).values_list("dedupe_key", flat=True)
    )
    new = [a for a in alerts if a.dedupe_key not in known]
    for alert in new:
        alert.needs_notification = alert.priority in NOTIFIED_PRIORITIES
    # ignore_conflicts: a recompute racing this one may have stored the same key since the read.
    # Those rows are skipped without an error, so read back which of ours were really stored:
    # only they are audited and notified (the other run does that for its own).
    Alert.objects.bulk_create(new, ignore_conflicts=True)
    stored = set(Alert.objects.filter(pk__in=[a.pk for a in new]).values_list("pk", flat=True))
    new = [a for a in new if a.pk in stored]
    for alert in new:
        audit_record(
            actor=None,
            patient=alert.patient,
            action="create",
            resource_type="alert",
            resource_id=alert.pk,
            detail={"kind": alert.kind, "dedupe_key": alert.dedupe_key},
        )
        if alert.needs_notification:
            enqueue_on_commit(tasks.notify_alert, str(alert.pk))
    return new
