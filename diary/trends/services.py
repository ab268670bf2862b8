"""Writes of trends: asking for a recompute, claiming it, running it, and the nightly run.

The queue is one ``TrendRecompute`` row per patient. An upload marks the row in its own
transaction and enqueues a task only if the row was not already waiting, so a batch of 500
entries, or several batches within ``TREND_DEBOUNCE_SECONDS``, make one recompute. Workers
claim rows with a conditional UPDATE that sets a lease (two workers never compute the same
patient at once) and clear them only if no upload marked them again meanwhile; otherwise the
patient is enqueued again. Summaries are derived data written with no person acting, so the
recompute writes no audit events; the alerts it raises are audited (actor "system").
"""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db.models import F, Min, Q
from django.utils import timezone

from clinic.models import Patient
from config.celery_app import enqueue_on_commit
from diary.models import TrendRecompute
from diary.trends import compute, signals, sql

# Longer than a chunk task may run (its hard time limit), so a lease only lapses for a dead worker.
LEASE = timedelta(minutes=10)


def trends_request_recompute(*, patient_id: uuid.UUID, days: Iterable[date]) -> None:
    """Mark a patient's trends stale from the earliest of ``days``; enqueue once per waiting period.

    Called inside the transaction that stores or corrects entries, so the mark commits with them.
    """
    first = min(days, default=None)
    if first is None:
        return
    now = timezone.now()
    # Already waiting: move the mark earlier if need be, and the task already due picks it up.
    if sql.mark_waiting_stale(patient_id, first):
        return
    sql.mark_stale(patient_id, first, now)
    # Two uploads racing here may both enqueue; the second task then finds nothing to claim.
    from diary import tasks  # tasks import this module

    enqueue_on_commit(tasks.recompute_patient_trends, str(patient_id), countdown=settings.TREND_DEBOUNCE_SECONDS)


def trends_mark_all_stale() -> list[uuid.UUID]:
    """The nightly start: every patient's trends stale from the horizon. Returns the patient ids."""
    horizon = timezone.now().date() - timedelta(days=settings.TREND_HORIZON_DAYS)
    ids = list(Patient.objects.order_by("pk").values_list("pk", flat=True))
    missing = set(ids) - set(TrendRecompute.objects.values_list("patient_id", flat=True))
    TrendRecompute.objects.bulk_create(
        [TrendRecompute(patient_id=pk) for pk in missing], ignore_conflicts=True, batch_size=1000
    )
    TrendRecompute.objects.update(dirty_from=horizon, generation=F("generation") + 1, requested_at=timezone.now())
    return ids


@dataclass(frozen=True)
class Claim:
    token: uuid.UUID
    generations: dict[uuid.UUID, int]
    since: date | None


def _claim(patient_ids: Sequence[uuid.UUID | str]) -> Claim | None:
    """Take the lease on the patients' waiting rows that nobody holds (one conditional UPDATE)."""
    token, now = uuid.uuid4(), timezone.now()
    claimed = (
        TrendRecompute.objects.filter(patient_id__in=patient_ids, dirty_from__isnull=False)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_token=token, lease_until=now + LEASE)
    )
    if not claimed:
        return None
    rows = TrendRecompute.objects.filter(lease_token=token)
    generations = dict(rows.values_list("patient_id", "generation"))
    since = rows.aggregate(since=Min("dirty_from"))["since"]
    return Claim(token, generations, since)


def trends_recompute_waiting(*, patient_ids: Sequence[uuid.UUID | str]) -> list[uuid.UUID]:
    """Recompute the patients whose trends are waiting and not being computed elsewhere.

    Returns the patients that were marked again while computing: they need another run.
    """
    claim = _claim(patient_ids)
    if claim is None:
        return []
    return _run(claim)


def _run(claim: Claim) -> list[uuid.UUID]:
    """Recompute the claimed patients and raise their signals; returns those marked meanwhile."""
    ids = sorted(claim.generations)
    try:
        result = compute.recompute(ids, since=claim.since)
        signals.raise_signals(patient_ids=ids, todays=result.todays, comparisons=result.comparisons)
    except BaseException:
        # Still stale, but free: a retry or the sweep need not wait for the lease to lapse.
        TrendRecompute.objects.filter(lease_token=claim.token).update(lease_token=None, lease_until=None)
        raise
    return _finish(claim)


def _finish(claim: Claim) -> list[uuid.UUID]:
    """Clear the rows nobody marked again since the claim; release the rest. Returns the rest."""
    again = []
    for patient_id, generation in claim.generations.items():
        done = TrendRecompute.objects.filter(
            patient_id=patient_id, lease_token=claim.token, generation=generation
        ).update(dirty_from=None, lease_token=None, lease_until=None, last_completed_at=timezone.now())
        if not done:
            again.append(patient_id)
    TrendRecompute.objects.filter(lease_token=claim.token).update(lease_token=None, lease_until=None)
    return again


def trends_recompute_now(*, patient: Patient) -> bool:
    """Recompute one patient at once, whatever their queue row says (demo loading, operators).

    Marks the row the way an upload does, generation and all, so if another worker holds the
    patient its run ends by leaving the patient waiting (and enqueued again) instead of clearing
    the mark: the recompute asked for here still happens once that worker lets go. Returns
    whether it ran here and now (False: it was held elsewhere and will run after).
    """
    TrendRecompute.objects.get_or_create(patient=patient)
    TrendRecompute.objects.filter(patient=patient).update(
        dirty_from=date.min, generation=F("generation") + 1, requested_at=timezone.now()
    )
    claim = _claim([patient.pk])
    if claim is None:
        return False
    if _run(claim):  # an upload marked the patient while this ran: its recompute is still due
        from diary import tasks  # tasks import this module

        enqueue_on_commit(tasks.recompute_patient_trends, str(patient.pk), countdown=settings.TREND_DEBOUNCE_SECONDS)
    return True
