"""Celery tasks of the diary app: thin wrappers that take ids and call one service."""

from celery import shared_task
from django.conf import settings

from diary import notifications, selectors, services
from diary.trends import services as trend_services


@shared_task(
    acks_late=True,
    autoretry_for=(notifications.NotificationFailed,),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=settings.ALERT_NOTIFY_MAX_RETRIES,
    soft_time_limit=60,
    time_limit=90,
)
def notify_alert(alert_id: str) -> bool:
    """Send an alert's e-mail and webhook; safe to run twice (the lease and sent marks)."""
    return notifications.alert_notify(alert_id=alert_id)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def sweep_alert_notifications() -> int:
    """Enqueue notifications that never left (broker down at commit, or retries exhausted)."""
    alert_ids = selectors.alerts_awaiting_notification()
    for alert_id in alert_ids:
        notify_alert.delay(str(alert_id))
    return len(alert_ids)


@shared_task(acks_late=True, soft_time_limit=300, time_limit=360)
def pump_refill_reminders() -> int:
    """Daily: remind the clinic of pump refills falling due, and of reservoirs at their alarm volume."""
    return services.raise_pump_refill_reminders()


# --- Trends -----------------------------------------------------------------------------------
# A chunk of patients takes seconds; the limits stop a stuck query long before the lease lapses.
TREND_TASK_LIMITS = {"acks_late": True, "soft_time_limit": 240, "time_limit": 300}


@shared_task(**TREND_TASK_LIMITS)
def recompute_patient_trends(patient_id: str) -> int:
    """Recompute one patient's waiting trends (debounced after uploads); safe to run twice."""
    return recompute_trends_for([patient_id])


@shared_task(**TREND_TASK_LIMITS)
def recompute_trends_for(patient_ids: list[str]) -> int:
    """Recompute the waiting trends of these patients that nobody else holds; re-enqueue any
    patient whose diary changed meanwhile. Returns how many were enqueued again."""
    again = trend_services.trends_recompute_waiting(patient_ids=patient_ids)
    for patient_id in again:
        recompute_patient_trends.apply_async((str(patient_id),), countdown=settings.TREND_DEBOUNCE_SECONDS)
    return len(again)


@shared_task(acks_late=True, soft_time_limit=120, time_limit=180)
def recompute_all_trends() -> int:
    """Nightly: mark every patient's trends stale and fan out one task per chunk of patients."""
    ids = [str(pk) for pk in trend_services.trends_mark_all_stale()]
    size = settings.TREND_CHUNK_PATIENTS
    for offset in range(0, len(ids), size):
        recompute_trends_for.delay(ids[offset : offset + size])
    return len(ids)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def sweep_trend_recomputes() -> int:
    """Enqueue recomputes that have waited too long (their task was lost with the broker)."""
    patient_ids = selectors.trend_recomputes_overdue()
    for patient_id in patient_ids:
        recompute_patient_trends.delay(str(patient_id))
    return len(patient_ids)
