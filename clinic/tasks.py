"""Celery tasks of the clinic app: thin wrappers over services."""

from celery import shared_task
from django.utils import timezone

from clinic import services


@shared_task(acks_late=True, soft_time_limit=300, time_limit=360)
def purge_expired_credentials() -> tuple[int, int]:
    """Daily: delete tokens and enrollment codes past their retention period (idempotent)."""
    return services.purge_expired_credentials(now=timezone.now())
