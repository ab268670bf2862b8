"""Reads of the diary app, scoped to what the caller may see."""

from datetime import timedelta
from uuid import UUID

from django.conf import settings
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from clinic.models import Patient, User
from diary.models import AdherenceLog, Alert, DiaryEntry, DiaryEntryRevision, TrendRecompute

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
