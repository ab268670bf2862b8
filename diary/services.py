"""Every write of the diary app: entries, corrections, adherence logs, red-flag alerts."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, models, transaction
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from clinic import patient_time, plan_selectors
from clinic.audit import audit_record
from clinic.models import AuditEvent, ItbRefill, Patient, User
from config.celery_app import enqueue_on_commit
from config.db import bulk_insert, insert_new
from diary import selectors, tasks
from diary.models import IMPACT_COLUMNS, AdherenceLog, Alert, DiaryEntry, DiaryEntryRevision
from diary.trends.services import trends_request_recompute
from diary.vocabulary import RED_FLAGS

Row = TypeVar("Row", DiaryEntry, AdherenceLog)


@dataclass
class ItemOutcome:
    """What happened to one item of an upload."""

    index: int
    id: UUID | None
    status: str  # "created", "replayed" or "rejected"
    row: Any = None
    errors: dict[str, list[str]] | None = None


@dataclass
class Upload:
    """What an upload did, item by item, and the red-flag alerts the patient must be told about
    now: the ones it raised, and those of entries it replayed that the clinic has not resolved
    yet (a phone retrying after a lost answer must show the same advice)."""

    outcomes: list[ItemOutcome]
    alerts: list[Alert] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)


# Up to this many rows an upload is one INSERT ... ON CONFLICT DO NOTHING RETURNING: one round
# trip for the common case of a single new entry. Larger batches look their ids up first and
# COPY the new rows (500 rows: 8 ms by COPY against 40 ms through INSERT parameters).
SMALL_UPLOAD = 10


def _store_new(
    model: type[Row], *, patient: Patient, items: Sequence[tuple[int, Row]]
) -> tuple[list[ItemOutcome], list[Row]]:
    """Insert the rows whose ids are new; an id already stored is a replay, or a conflict if
    it belongs to another patient. Returns the outcomes in item order and the new rows."""
    unique: dict[UUID, Row] = {}
    for _, row in items:
        unique.setdefault(row.id, row)
    if len(unique) <= SMALL_UPLOAD:
        inserted = insert_new(list(unique.values()))
        already = set(unique) - inserted
    else:
        already = set(model.objects.filter(id__in=unique).values_list("id", flat=True))
        inserted = set(unique) - already
        bulk_insert([row for row_id, row in unique.items() if row_id in inserted])
    # Only replays and conflicts (rare) need the stored rows.
    stored = {row.id: row for row in model.objects.filter(id__in=already)} if already else {}
    outcomes, new_rows, answered = [], [], set()
    for index, row in items:
        if row.id in inserted and row.id not in answered:
            answered.add(row.id)
            new_rows.append(row)
            outcomes.append(ItemOutcome(index, row.id, "created", row))
        elif row.id in inserted:  # the same id twice in one upload: the second is a replay
            outcomes.append(ItemOutcome(index, row.id, "replayed", unique[row.id]))
        elif stored[row.id].patient_id != patient.pk:
            outcomes.append(ItemOutcome(index, row.id, "rejected", errors={"id": ["This id is already in use."]}))
        else:
            outcomes.append(ItemOutcome(index, row.id, "replayed", stored[row.id]))
    return outcomes, new_rows


def _retrying_once_on_race(store: Callable[[], Upload]) -> Upload:
    """Run an upload; if a concurrent upload of the same ids won the insert, run it again.

    Two retries of one batch can arrive together (a phone that timed out and retried). Both
    see the ids as new; the second insert fails on the primary key once the first commits.
    The second attempt then finds them stored and answers them as replays.
    """
    try:
        with transaction.atomic():
            return store()
    except IntegrityError:
        with transaction.atomic():
            return store()


def entry_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Model fields of an entry from validated input (see ``DiaryEntryInput``)."""
    fields = {name: value for name, value in data.items() if name not in ("id", "impact")}
    if "occurred_at" in data:
        occurred: datetime = data["occurred_at"]
        fields["utc_offset_minutes"] = int(occurred.utcoffset().total_seconds() // 60)  # type: ignore[union-attr]
        fields["local_date"] = occurred.date()
        fields["local_hour"] = occurred.hour
    if "impact" in data:
        for domain, column in IMPACT_COLUMNS.items():
            fields[column] = data["impact"].get(domain)
    return fields


def record_diary_entries(*, actor: User, patient: Patient, entries: Sequence[tuple[int, dict[str, Any]]]) -> Upload:
    """Store a patient's new diary entries; replays create nothing. Red flags raise urgent alerts
    in the same transaction, and staff are notified once it commits."""

    def store() -> Upload:
        rows = [(index, DiaryEntry(id=data["id"], patient=patient, **entry_fields(data))) for index, data in entries]
        outcomes, created = _store_new(DiaryEntry, patient=patient, items=rows)
        alerts = [_red_flag_alert(entry, patient, entry.red_flags) for entry in created if entry.red_flags]
        Alert.objects.bulk_create(alerts)
        if created:
            trends_request_recompute(patient_id=patient.pk, days=[entry.local_date for entry in created])
            audit_record(
                actor=actor,
                patient=patient,
                action="create",
                resource_type="diary_entry",
                detail={"ids": [str(entry.id) for entry in created]},
            )
        replayed = _audit_replays_and_conflicts(actor, patient, "diary_entry", outcomes, created)
        for alert in alerts:
            enqueue_on_commit(tasks.notify_alert, str(alert.pk))
        return Upload(outcomes, alerts + selectors.unresolved_red_flag_alerts(replayed))

    return _retrying_once_on_race(store)


def _audit_replays_and_conflicts(
    actor: User, patient: Patient, resource_type: str, outcomes: list[ItemOutcome], created: Sequence[Row]
) -> list[UUID]:
    """Audit what an upload did besides storing: stored rows it answered with (a read) and ids
    it refused because another patient's row has them (denied). Returns the replayed ids."""
    new_ids = {row.id for row in created}
    replayed = sorted({o.id for o in outcomes if o.status == "replayed" and o.id not in new_ids and o.id}, key=str)
    refused = sorted({o.id for o in outcomes if o.status == "rejected" and o.id}, key=str)
    if replayed:
        audit_record(
            actor=actor,
            patient=patient,
            action="read",
            resource_type=resource_type,
            detail={"ids": [str(i) for i in replayed], "replayed": True},
        )
    if refused:
        audit_record(
            actor=actor,
            patient=patient,
            action="create",
            resource_type=resource_type,
            outcome=AuditEvent.Outcome.DENIED,
            detail={"ids": [str(i) for i in refused], "reason": "id in use by another patient"},
        )
    return replayed


def _red_flag_alert(entry: DiaryEntry, patient: Patient, flags: list[str]) -> Alert:
    labels = [RED_FLAGS[flag].label for flag in flags]
    return Alert(
        clinic_id=patient.clinic_id,
        patient=patient,
        kind=Alert.Kind.RED_FLAG,
        priority=Alert.Priority.URGENT,
        title=f"Red flag: {', '.join(labels)}",
        details={
            "red_flags": flags,
            "labels": labels,
            "contexts": sorted({RED_FLAGS[flag].attrs["context"] for flag in flags}),
            "occurred_at": entry.local_occurred_at.isoformat(),
            "severity": entry.severity,
        },
        diary_entry=entry,
        needs_notification=True,
        dedupe_key=f"red_flag:{entry.id}:{entry.version}",
    )


# Alerts of these priorities are also sent to staff by e-mail and webhook.
NOTIFIED_PRIORITIES = frozenset({Alert.Priority.URGENT, Alert.Priority.HIGH})


def alert_raise(
    *,
    patient: Patient,
    kind: str,
    priority: str,
    title: str,
    details: dict[str, Any],
    dedupe_key: str,
) -> tuple[Alert, bool]:
    """Raise an alert once per ``dedupe_key``: a repeat (a job run twice) returns the first one.

    Returns the alert and whether it is new. Urgent and high alerts are notified on commit.
    """
    existing = Alert.objects.filter(dedupe_key=dedupe_key).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                clinic_id=patient.clinic_id,
                patient=patient,
                kind=kind,
                priority=priority,
                title=title,
                details=details,
                dedupe_key=dedupe_key,
                needs_notification=priority in NOTIFIED_PRIORITIES,
            )
    except IntegrityError:  # a concurrent run raised it first
        return Alert.objects.get(dedupe_key=dedupe_key), False
    if alert.needs_notification:
        enqueue_on_commit(tasks.notify_alert, str(alert.pk))
    return alert, True


def raise_pump_refill_reminders(*, now: datetime | None = None) -> int:
    """Remind the clinic of pump refills falling due within ITB_REMINDER_DAYS_AHEAD, on each
    patient's own calendar day. Safe to run any number of times; returns how many alerts it raised.

    Per pump and refill cycle (the last refill):

    - a high reminder once the refill is due, keyed by the projected alarm date. A dose or
      alarm change that brings the alarm date earlier raises a new reminder with the new dates
      and resolves the stale one, so staff never work from dates that are too late; a change
      that moves it later leaves the earlier dates standing, the safe side;
    - an urgent alert once the alarm date has come with no refill: the reservoir is at its
      alarm volume, and an empty pump means baclofen withdrawal [ITBL]. It has its own key, so
      a reminder raised earlier in the cycle does not stand in for it, and it resolves that one.
    """
    now = now or timezone.now()
    open_reminders: dict[str, list[Alert]] = {}
    for reminder in Alert.objects.filter(
        kind=Alert.Kind.PUMP_REFILL_DUE, dedupe_key__startswith="pump_refill_due:"
    ).exclude(status=Alert.Status.RESOLVED):
        cycle = ":".join((reminder.dedupe_key or "").split(":")[1:3])  # pump and last refill
        open_reminders.setdefault(cycle, []).append(reminder)
    raised = 0
    for pump in plan_selectors.active_pumps_with_refills(timezone.localdate(now)):
        today = patient_time.patient_today(pump.patient, now)
        status = plan_selectors.pump_status(pump, today)
        alarm_on, due_on, refill = status.projected_alarm_date, status.refill_due_date, status.last_refill
        if refill is None or alarm_on is None or due_on is None:
            continue
        if (due_on - today).days > settings.ITB_REMINDER_DAYS_AHEAD:
            continue
        cycle = f"{pump.pk}:{refill.pk}"
        reminders = open_reminders.get(cycle, [])
        if alarm_on <= today:
            priority, key = Alert.Priority.URGENT, f"pump_refill_overdue:{cycle}"
            title = f"Pump reservoir at its alarm volume since {alarm_on}: refill now"
        elif any(r.details.get("projected_alarm_date", "") <= alarm_on.isoformat() for r in reminders):
            continue  # an open reminder already gives this date or an earlier one
        else:
            priority, key = Alert.Priority.HIGH, f"pump_refill_due:{cycle}:{alarm_on.isoformat()}"
            title = f"Pump refill due by {due_on} (alarm projected {alarm_on})"
        alert, created = alert_raise(
            patient=pump.patient,
            kind=Alert.Kind.PUMP_REFILL_DUE,
            priority=priority,
            title=title,
            details=_pump_reminder_details(status, refill, alarm_on, due_on),
            dedupe_key=key,
        )
        _supersede_reminders(reminders, by=alert, now=now)
        raised += created
    return raised


def _pump_reminder_details(
    status: plan_selectors.PumpStatus, refill: ItbRefill, alarm_on: date, due_on: date
) -> dict[str, Any]:
    return {
        "pump_id": str(status.pump.pk),
        "last_refill_on": refill.refilled_on.isoformat(),
        "refill_due_date": due_on.isoformat(),
        "projected_alarm_date": alarm_on.isoformat(),
        "remaining_ml": str(status.remaining_ml),
        "daily_dose_mcg": str(status.dose.daily_dose_mcg) if status.dose else None,
        "booked_refill_on": refill.next_refill_booked_on.isoformat() if refill.next_refill_booked_on else None,
        "booked_refill_after_alarm": status.booked_refill_after_alarm,
    }


def _supersede_reminders(reminders: Sequence[Alert], *, by: Alert, now: datetime) -> None:
    """Resolve reminders whose dates a newer alert replaces, saying which, in the audit trail too."""
    note = f"Superseded by the alert of {by.created_at:%Y-%m-%d}: {by.title}"
    for reminder in reminders:
        if reminder.pk == by.pk:
            continue
        updated = (
            Alert.objects.filter(pk=reminder.pk)
            .exclude(status=Alert.Status.RESOLVED)
            .update(status=Alert.Status.RESOLVED, resolved_at=now, resolution_note=note)
        )
        if updated:
            audit_record(
                actor=None,
                label="pump refill reminders",
                patient_id=reminder.patient_id,
                clinic_id=reminder.clinic_id,
                action="resolve",
                resource_type="alert",
                resource_id=reminder.pk,
                detail={"superseded_by": str(by.pk)},
            )


def urgent_advice(patient: Patient, alerts: Sequence[Alert]) -> dict[str, Any] | None:
    """What the app shows at once after a red flag: contact the clinic now."""
    if not alerts:
        return None
    phone = patient.clinic.phone
    call = f"Call {patient.clinic.name} now on {phone}." if phone else f"Contact {patient.clinic.name} now."
    return {
        "alert_ids": [alert.pk for alert in alerts],
        "message": (
            f"What you reported can be a sign of a problem that needs care today. {call} "
            "If you cannot reach the clinic and feel very unwell, call your local emergency number."
        ),
        "clinic_phone": phone,
    }


def _check_can_change(actor: User, entry: DiaryEntry | AdherenceLog, expected_version: int | None) -> None:
    if not actor.is_patient or entry.patient.user_id != actor.pk:
        raise PermissionDenied("Only the patient can correct their own diary.")
    if entry.deleted_at is not None:
        raise PermissionDenied("This entry was deleted.")
    window = timedelta(days=settings.DIARY_EDIT_WINDOW_DAYS)
    if entry.created_at < timezone.now() - window:
        raise PermissionDenied(
            f"Entries can be corrected for {settings.DIARY_EDIT_WINDOW_DAYS} days after they were sent."
        )
    if expected_version is not None and getattr(entry, "version", expected_version) != expected_version:
        raise VersionMismatch


class VersionMismatch(Exception):
    """The client changed an entry from an out-of-date copy (If-Match did not match)."""


def entry_snapshot(entry: DiaryEntry) -> dict[str, Any]:
    """The content of one version of an entry, kept in its history."""
    return {
        "occurred_at": entry.local_occurred_at.isoformat(),
        "severity": entry.severity,
        "spasm_count": entry.spasm_count,
        "duration_minutes": entry.duration_minutes,
        "body_regions": entry.body_regions,
        "triggers": entry.triggers,
        "relief": entry.relief,
        "impact": entry.impact,
        "red_flags": entry.red_flags,
        "side_effects": entry.side_effects,
        "notes": entry.notes,
    }


def _lock(entry: DiaryEntry) -> DiaryEntry:
    return DiaryEntry.objects.select_for_update().select_related("patient__clinic").get(pk=entry.pk)


@transaction.atomic
def diary_entry_update(
    *, actor: User, entry: DiaryEntry, changes: dict[str, Any], expected_version: int | None = None
) -> Upload:
    """Correct a recent entry; the previous version is kept. Newly reported red flags alert."""
    entry = _lock(entry)
    _check_can_change(actor, entry, expected_version)
    fields = entry_fields(changes)
    # A correction that reports red flags answers with the advice for every one of the entry's
    # red-flag alerts still unresolved, so a retried correction shows what the first answer did.
    reports_red_flags = bool(changes.get("red_flags"))
    if all(getattr(entry, name) == value for name, value in fields.items()):
        still_open = selectors.unresolved_red_flag_alerts([entry.id]) if reports_red_flags else []
        return Upload([ItemOutcome(0, entry.id, "replayed", entry)], still_open)
    DiaryEntryRevision.objects.create(
        entry=entry,
        version=entry.version,
        snapshot=entry_snapshot(entry),
        change=DiaryEntryRevision.Change.UPDATE,
        changed_by=actor,
    )
    new_flags = [flag for flag in fields.get("red_flags", []) if flag not in entry.red_flags]
    trends_request_recompute(
        patient_id=entry.patient_id, days=[entry.local_date, fields.get("local_date", entry.local_date)]
    )
    for name, value in fields.items():
        setattr(entry, name, value)
    entry.version += 1
    entry.save()
    if new_flags:
        alert = _red_flag_alert(entry, entry.patient, new_flags)
        alert.save()
        enqueue_on_commit(tasks.notify_alert, str(alert.pk))
    alerts = selectors.unresolved_red_flag_alerts([entry.id]) if reports_red_flags else []
    audit_record(
        actor=actor,
        patient=entry.patient,
        action="update",
        resource_type="diary_entry",
        resource_id=entry.pk,
        detail={"fields": sorted(fields), "version": entry.version},
    )
    return Upload([ItemOutcome(0, entry.id, "updated", entry)], alerts)


@transaction.atomic
def diary_entry_delete(*, actor: User, entry: DiaryEntry, expected_version: int | None = None) -> None:
    """Delete a recent entry: it leaves lists and trends, and stays in the history."""
    entry = _lock(entry)
    _check_can_change(actor, entry, expected_version)
    DiaryEntryRevision.objects.create(
        entry=entry,
        version=entry.version,
        snapshot=entry_snapshot(entry),
        change=DiaryEntryRevision.Change.DELETE,
        changed_by=actor,
    )
    trends_request_recompute(patient_id=entry.patient_id, days=[entry.local_date])
    entry.deleted_at = timezone.now()
    entry.version += 1
    entry.save(update_fields=["deleted_at", "version", "updated_at"])
    audit_record(actor=actor, patient=entry.patient, action="delete", resource_type="diary_entry", resource_id=entry.pk)


def record_adherence_logs(*, actor: User, patient: Patient, logs: Sequence[tuple[int, dict[str, Any]]]) -> Upload:
    """Store a patient's new adherence logs; replays create nothing."""

    def store() -> Upload:
        rows = [
            (
                index,
                AdherenceLog(
                    id=data["id"],
                    patient=patient,
                    date=data["date"],
                    therapy_minutes=data["therapy"],
                    orthosis_hours=data["orthoses"],
                    missed_doses=data["missed_doses"],
                    notes=data["notes"],
                ),
            )
            for index, data in logs
        ]
        outcomes, created = _store_new(AdherenceLog, patient=patient, items=rows)
        if created:
            trends_request_recompute(patient_id=patient.pk, days=[log.date for log in created])
            audit_record(
                actor=actor,
                patient=patient,
                action="create",
                resource_type="adherence_log",
                detail={"ids": [str(log.id) for log in created]},
            )
        _audit_replays_and_conflicts(actor, patient, "adherence_log", outcomes, created)
        return Upload(outcomes)

    return _retrying_once_on_race(store)


@transaction.atomic
def adherence_log_delete(*, actor: User, log: AdherenceLog) -> None:
    """Withdraw a recent adherence log (it leaves adherence figures; the row is kept)."""
    _check_can_change(actor, log, None)
    trends_request_recompute(patient_id=log.patient_id, days=[log.date])
    AdherenceLog.objects.filter(pk=log.pk, deleted_at__isnull=True).update(deleted_at=timezone.now())
    audit_record(actor=actor, patient=log.patient, action="delete", resource_type="adherence_log", resource_id=log.pk)


def _alert_transition(*, actor: User, alert: Alert, allowed_from: list[str], action: str, **changes: Any) -> Alert:
    if not actor.is_clinic_staff or actor.clinic_id != alert.clinic_id:
        raise PermissionDenied("Only staff of the patient's clinic can change an alert.")
    # Conditional UPDATE: two nurses pressing the button at once change the alert once.
    updated = Alert.objects.filter(pk=alert.pk, status__in=allowed_from).update(**changes)
    alert.refresh_from_db()
    if updated:
        audit_record(
            actor=actor,
            patient_id=alert.patient_id,
            clinic_id=alert.clinic_id,
            action=action,
            resource_type="alert",
            resource_id=alert.pk,
        )
    return alert


@transaction.atomic
def alert_acknowledge(*, actor: User, alert: Alert) -> Alert:
    """Mark an open alert as seen by a member of staff; acknowledging twice changes nothing."""
    return _alert_transition(
        actor=actor,
        alert=alert,
        allowed_from=[Alert.Status.OPEN],
        action="acknowledge",
        status=Alert.Status.ACKNOWLEDGED,
        acknowledged_at=timezone.now(),
        acknowledged_by=actor,
    )


@transaction.atomic
def alert_resolve(*, actor: User, alert: Alert, note: str = "") -> Alert:
    """Close an alert with what was done; an open alert is acknowledged by the same act."""
    now = timezone.now()
    return _alert_transition(
        actor=actor,
        alert=alert,
        allowed_from=[Alert.Status.OPEN, Alert.Status.ACKNOWLEDGED],
        action="resolve",
        status=Alert.Status.RESOLVED,
        resolved_at=now,
        resolved_by=actor,
        resolution_note=note,
        acknowledged_at=Coalesce("acknowledged_at", Value(now, output_field=models.DateTimeField())),
        acknowledged_by_id=Coalesce("acknowledged_by_id", Value(actor.pk, output_field=models.BigIntegerField())),
    )
