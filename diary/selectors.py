"""Reads of the diary app, scoped to what the caller may see."""

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from clinic import plan_selectors
from clinic.models import Patient, User
from config.db import json_object_sums
from diary.models import AdherenceLog, Alert, DiaryEntry, DiaryEntryRevision, TrendRecompute
from diary.trends.adherence import plans_of

# Alerts most urgent first, in SQL (the priorities are words, not numbers).
PRIORITY_RANK = Case(
    When(priority=Alert.Priority.URGENT, then=Value(0)),
    When(priority=Alert.Priority.HIGH, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)


def diary_entries_of(patient: Patient) -> QuerySet[DiaryEntry]:
    """The patient's entries, without deleted ones, newest first."""
    return DiaryEntry.objects.filter(patient=patient, deleted_at__isnull=True).order_by("-occurred_at", "-id")


def diary_entry_for_user(user: User, entry_id: UUID | str) -> DiaryEntry | None:
    """One entry (deleted ones too, for their history) if the user may see its patient."""
    entries = DiaryEntry.objects.select_related("patient__clinic")
    if user.is_patient:
        entries = entries.filter(patient__user_id=user.pk)
    elif user.is_clinic_staff and user.clinic_id is not None:
        entries = entries.filter(patient__clinic_id=user.clinic_id)
    else:
        return None
    return entries.filter(pk=entry_id).first()


def diary_entry_history(entry: DiaryEntry) -> QuerySet[DiaryEntryRevision]:
    return entry.revisions.select_related("changed_by").order_by("-version")


def adherence_logs_of(patient: Patient) -> QuerySet[AdherenceLog]:
    return AdherenceLog.objects.filter(patient=patient, deleted_at__isnull=True).order_by("-date", "-created_at")


def adherence_log_for_user(user: User, log_id: UUID | str) -> AdherenceLog | None:
    if not user.is_patient:
        return None
    return AdherenceLog.objects.select_related("patient").filter(pk=log_id, patient__user_id=user.pk).first()


def alerts_for_user(user: User) -> QuerySet[Alert]:
    """Alerts of the staff member's clinic, with what the list shows in the same query."""
    if not user.is_clinic_staff or user.clinic_id is None:
        return Alert.objects.none()
    return Alert.objects.filter(clinic_id=user.clinic_id).select_related("patient", "acknowledged_by", "resolved_by")


def unresolved_red_flag_alerts(entry_ids: list[UUID]) -> list[Alert]:
    """The red-flag alerts of these diary entries that the clinic has not resolved (one query)."""
    if not entry_ids:
        return []
    return list(
        Alert.objects.filter(diary_entry_id__in=entry_ids, kind=Alert.Kind.RED_FLAG)
        .exclude(status=Alert.Status.RESOLVED)
        .order_by("created_at", "id")
    )


def alerts_awaiting_notification() -> list[UUID]:
    """Alerts whose notification has not gone out and that nobody is working on now."""
    now = timezone.now()
    return list(
        Alert.objects.filter(
            needs_notification=True,
            notified_at__isnull=True,
            created_at__lt=now - timedelta(seconds=settings.ALERT_SWEEP_GRACE_SECONDS),
            notify_attempts__lt=settings.ALERT_NOTIFY_MAX_ATTEMPTS,
        )
        .filter(Q(notify_lease_until__isnull=True) | Q(notify_lease_until__lt=now))
        .filter(
            Q(notify_last_attempt_at__isnull=True)
            | Q(notify_last_attempt_at__lt=now - timedelta(minutes=settings.ALERT_SWEEP_RETRY_MINUTES))
        )
        .order_by("created_at")
        .values_list("pk", flat=True)[:1000]
    )


# --- Adherence against the plan ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AdherenceLine:
    what: str  # a therapy activity, an orthotic device, or a drug
    planned: float
    done: float
    unit: str

    @property
    def share(self) -> float | None:
        return round(self.done / self.planned, 3) if self.planned else None


def adherence_against_plan(patient: Patient, start: date, end: date) -> dict[str, list[AdherenceLine]]:
    """Planned against logged, from ``start`` to ``end`` inclusive: therapy minutes, orthosis hours,
    and doses taken (scheduled minus those reported missed). Logged amounts are summed in SQL."""
    plans = plans_of([patient.pk])[patient.pk]
    planned = {kind: plans.planned(kind, start, end) for kind in ("therapy", "orthoses", "medications")}
    logs = AdherenceLog.objects.filter(patient=patient, deleted_at__isnull=True, date__gte=start, date__lte=end)
    minutes = json_object_sums(logs, "therapy_minutes")
    hours = json_object_sums(logs, "orthosis_hours")
    missed = json_object_sums(logs, "missed_doses")
    return {
        "therapy": [
            AdherenceLine(kind, round(amount, 1), minutes.get(kind, 0.0), "min")
            for kind, amount in sorted(planned["therapy"].items())
        ],
        "orthoses": [
            AdherenceLine(device, round(amount, 1), hours.get(device, 0.0), "h")
            for device, amount in sorted(planned["orthoses"].items())
        ],
        "medications": [
            AdherenceLine(drug, amount, max(amount - missed.get(drug, 0.0), 0.0), "doses")
            for drug, amount in sorted(planned["medications"].items())
        ],
    }


@dataclass
class PatientRecord:
    """Everything held about one patient, each part loaded with what its shape needs."""

    entries: list[DiaryEntry]
    revisions: list[DiaryEntryRevision]
    adherence_logs: list[AdherenceLog]
    alerts: list[Alert]
    medications: list[Any]
    pumps: list[Any]
    sessions: list[Any]
    therapy_plans: list[Any]
    orthotic_plans: list[Any]
    goals: list[Any]


def patient_record(patient: Patient) -> PatientRecord:
    """The patient's whole record, deleted diary entries and earlier versions included."""
    return PatientRecord(
        entries=list(DiaryEntry.objects.filter(patient=patient).order_by("occurred_at", "id")),
        revisions=list(DiaryEntryRevision.objects.filter(entry__patient=patient).order_by("entry_id", "version")),
        adherence_logs=list(AdherenceLog.objects.filter(patient=patient).order_by("date", "created_at")),
        alerts=list(Alert.objects.filter(patient=patient).select_related("patient", "acknowledged_by", "resolved_by")),
        medications=list(plan_selectors.medication_regimens_of(patient)),
        pumps=list(plan_selectors.itb_pumps_of(patient)),
        sessions=list(plan_selectors.botulinum_sessions_of(patient)),
        therapy_plans=list(plan_selectors.therapy_plans_of(patient)),
        orthotic_plans=list(plan_selectors.orthotic_plans_of(patient)),
        goals=list(plan_selectors.goals_of(patient)),
    )


def trend_recomputes_overdue() -> list[UUID]:
    """Patients whose trends have waited well past the debounce and are not being computed."""
    now = timezone.now()
    return list(
        TrendRecompute.objects.filter(
            dirty_from__isnull=False,
            requested_at__lt=now - timedelta(minutes=settings.TREND_SWEEP_AFTER_MINUTES),
        )
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .order_by("requested_at")
        .values_list("patient_id", flat=True)[:1000]
    )
