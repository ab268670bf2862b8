"""Celery tasks of the diary app: thin wrappers that take ids and call one service."""

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from diary import notifications, selectors, services


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
    """Daily: remind the clinic of pump refills falling due (one reminder per refill cycle)."""
    return services.raise_pump_refill_reminders(today=timezone.localdate())
