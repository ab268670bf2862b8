"""Telling staff about an urgent alert: e-mail to the clinic, and its webhook if it has one.

Delivery is at-least-once per channel and never twice at the same time: a lease claimed with
a conditional UPDATE keeps two workers (a retry and a sweep) from sending together, and each
channel records when it succeeded so a retry only repeats what failed.
"""

import hashlib
import hmac
import logging
import smtplib
from datetime import timedelta
from uuid import UUID

import orjson
import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db.models import F, Q
from django.utils import timezone

from clinic.models import User
from clinic.webhooks import WebhookRefused, post_to_webhook
from diary.models import Alert

logger = logging.getLogger(__name__)

# Longer than one delivery attempt can take (webhook timeout plus SMTP).
LEASE = timedelta(minutes=2)


class NotificationFailed(Exception):
    """A channel failed; the task retries with backoff."""


def alert_notify(*, alert_id: UUID | str) -> bool:
    """Deliver an alert's notifications if nobody else is; True when all channels are done."""
    now = timezone.now()
    claimed = (
        Alert.objects.filter(pk=alert_id, needs_notification=True, notified_at__isnull=True)
        .filter(Q(notify_lease_until__isnull=True) | Q(notify_lease_until__lt=now))
        .update(notify_lease_until=now + LEASE, notify_last_attempt_at=now, notify_attempts=F("notify_attempts") + 1)
    )
    if not claimed:
        return False
    alert = Alert.objects.select_related("clinic", "patient").get(pk=alert_id)
    errors = []
    if alert.email_sent_at is None:
        try:
            _send_email(alert)
            Alert.objects.filter(pk=alert.pk).update(email_sent_at=timezone.now())
        except (smtplib.SMTPException, OSError) as exc:
            errors.append(f"e-mail: {exc}")
    if alert.webhook_sent_at is None and alert.clinic.webhook_url:
        try:
            _post_webhook(alert)
            Alert.objects.filter(pk=alert.pk).update(webhook_sent_at=timezone.now())
        except (WebhookRefused, requests.RequestException) as exc:
            # Clinic admins read this error; a refused or unreachable host is named only in
            # the server's log, so the field cannot be used to map the server's network.
            logger.warning("alert %s: webhook of clinic %s failed: %s", alert.pk, alert.clinic_id, exc)
            errors.append(f"webhook: {webhook_failure(exc)}")
    if errors:
        Alert.objects.filter(pk=alert.pk).update(notify_lease_until=None, last_notify_error="; ".join(errors))
        raise NotificationFailed("; ".join(errors))
    Alert.objects.filter(pk=alert.pk).update(notified_at=timezone.now(), notify_lease_until=None, last_notify_error="")
    return True


def alert_recipients(alert: Alert) -> list[str]:
    """The clinic's alert address and its clinicians' and nurses' e-mail addresses."""
    staff = User.objects.filter(
        clinic_id=alert.clinic_id, is_active=True, role__in=[User.Role.CLINICIAN, User.Role.NURSE]
    ).exclude(email="")
    addresses = [alert.clinic.notification_email, *staff.values_list("email", flat=True)]
    return sorted({address for address in addresses if address})


def alert_url(alert: Alert) -> str:
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/api/v1/alerts/{alert.pk}"


def _send_email(alert: Alert) -> None:
    recipients = alert_recipients(alert)
    if not recipients:
        logger.warning("alert %s: clinic %s has no e-mail recipients", alert.pk, alert.clinic_id)
        return
    # Minimum necessary: the MRN and what was reported, not the patient's name.
    body = (
        f"{alert.get_priority_display()} alert for patient MRN {alert.patient.mrn}.\n\n"
        f"{alert.title}\n"
        f"Reported for: {alert.details.get('occurred_at', alert.created_at.isoformat())}\n\n"
        f"Open it: {alert_url(alert)}\n"
    )
    send_mail(
        subject=f"[{alert.get_priority_display()}] {alert.title} (MRN {alert.patient.mrn})",
        message=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=recipients,
    )


def webhook_payload(alert: Alert) -> bytes:
    return orjson.dumps(
        {
            "event": "alert.created",
            "alert_id": str(alert.pk),
            "clinic_id": alert.clinic_id,
            "patient_id": str(alert.patient_id),
            "patient_mrn": alert.patient.mrn,
            "kind": alert.kind,
            "priority": alert.priority,
            "title": alert.title,
            "created_at": alert.created_at.isoformat(),
            "url": alert_url(alert),
        }
    )


def webhook_signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookAnswered(requests.RequestException):
    """The webhook answered, but not with 2xx (a redirect included: it is not followed)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"answered HTTP {status}")
        self.status = status


def webhook_failure(exc: Exception) -> str:
    """A short reason for a failed webhook, without the target's address or the library's text."""
    if isinstance(exc, WebhookRefused):
        return f"refused: {exc}"
    if isinstance(exc, WebhookAnswered):
        return f"answered HTTP {exc.status}"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS failed"
    if isinstance(exc, requests.ConnectionError):
        return "could not connect"
    return "failed"


def _post_webhook(alert: Alert) -> None:
    body = webhook_payload(alert)
    headers = {"Content-Type": "application/json", "X-Alert-Id": str(alert.pk)}
    if alert.clinic.webhook_secret:
        headers["X-Signature-SHA256"] = webhook_signature(alert.clinic.webhook_secret, body)
    response = post_to_webhook(
        alert.clinic.webhook_url, body=body, headers=headers, timeout=settings.ALERT_WEBHOOK_TIMEOUT_SECONDS
    )
    if not 200 <= response.status_code < 300:
        raise WebhookAnswered(response.status_code)
