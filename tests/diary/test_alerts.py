"""Red-flag alerts: notification by e-mail and webhook, retries, the sweep, and staff handling."""

import hashlib
import hmac
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone
from pytest_httpserver import HTTPServer

from clinic.models import AuditEvent
from config.celery_app import app as celery_app
from diary import notifications, tasks
from diary.models import Alert, DiaryEntry
from tests.factories import PatientFactory

URL = "/api/v1/diary/entries"


@pytest.fixture
def report_red_flag(patient_api, entry_payload, django_capture_on_commit_callbacks):
    """Post an entry with a red flag, running what the commit enqueues (tasks run eagerly)."""

    def report(flags=("fever",)) -> dict:
        with django_capture_on_commit_callbacks(execute=True):
            response = patient_api.post(URL, entry_payload(red_flags=list(flags)), format="json")
        assert response.status_code == 201
        return response.json()

    return report


@pytest.fixture
def unreachable_broker():
    """Celery publishing to a port where no broker listens, as when Redis is down."""
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    # broker_write_url, because a CELERY_BROKER_URL in the environment outranks conf.broker_url.
    celery_app.conf.broker_write_url = "redis://127.0.0.1:1/0"
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    yield
    celery_app.conf.task_always_eager = eager
    celery_app.conf.broker_write_url = None
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def test_red_flag_emails_clinicians_nurses_and_the_clinic_address(report_red_flag, staff, patient):
    staff("clinician", email="doc@c.test")
    staff("nurse", email="nurse@c.test")
    staff("therapist", email="pt@c.test")

    report_red_flag(["fever"])

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert {"doc@c.test", "nurse@c.test", patient.clinic.notification_email} <= set(message.to)
    assert "pt@c.test" not in message.to
    assert "Fever" in message.subject
    assert patient.mrn in message.body
    assert patient.family_name not in message.body
    assert Alert.objects.get().notified_at is not None


def test_clinic_webhook_receives_a_signed_alert(report_red_flag, patient, httpserver: HTTPServer):
    clinic = patient.clinic
    clinic.webhook_url = httpserver.url_for("/hook")
    clinic.webhook_secret = "s3cret"
    clinic.save()
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")

    report_red_flag(["new_weakness"])

    request, _ = httpserver.log[0]
    body = request.get_data()
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert request.headers["X-Signature-SHA256"] == expected
    alert = Alert.objects.get()
    assert request.json["alert_id"] == str(alert.pk)
    assert request.json["priority"] == "urgent"
    assert alert.webhook_sent_at is not None


def test_failed_webhook_is_retried_without_resending_the_email(report_red_flag, patient, httpserver, settings):
    settings.ALERT_NOTIFY_MAX_RETRIES = 2
    tasks.notify_alert.max_retries = 2
    patient.clinic.webhook_url = httpserver.url_for("/hook")
    patient.clinic.save()
    httpserver.expect_request("/hook").respond_with_data("down", status=503)

    try:
        report_red_flag(["fever"])
    finally:
        tasks.notify_alert.max_retries = settings.ALERT_NOTIFY_MAX_RETRIES

    alert = Alert.objects.get()
    assert len(httpserver.log) == 3  # the first attempt and two retries
    assert len(mail.outbox) == 1
    assert alert.notified_at is None
    assert "503" in alert.last_notify_error

    httpserver.clear()
    httpserver.expect_request("/hook").respond_with_data("ok")
    with time_machine.travel(timezone.now() + timedelta(minutes=20)):
        assert tasks.sweep_alert_notifications() == 1

    alert.refresh_from_db()
    assert alert.notified_at is not None
    assert len(mail.outbox) == 1


def test_notification_runs_once_even_if_delivered_twice(report_red_flag):
    report_red_flag(["fever"])
    alert = Alert.objects.get()

    assert tasks.notify_alert(str(alert.pk)) is False
    assert len(mail.outbox) == 1


def test_a_held_lease_keeps_a_second_worker_from_sending(report_red_flag, patient, entry_payload):
    alert_id = report_red_flag(["fever"])["urgent"]["alert_ids"][0]
    Alert.objects.filter(pk=alert_id).update(
        notified_at=None, email_sent_at=None, notify_lease_until=timezone.now() + timedelta(minutes=1)
    )

    assert notifications.alert_notify(alert_id=alert_id) is False
    assert len(mail.outbox) == 1


def test_entry_and_alert_are_kept_when_the_broker_is_down_and_sent_later(
    patient_api, entry_payload, django_capture_on_commit_callbacks, unreachable_broker
):
    payload = entry_payload(red_flags=["severe_pain"])
    with django_capture_on_commit_callbacks(execute=True):
        response = patient_api.post(URL, payload, format="json")

    assert response.status_code == 201
    assert response.json()["urgent"]
    assert DiaryEntry.objects.filter(pk=payload["id"]).exists()
    alert = Alert.objects.get()
    assert alert.notified_at is None
    assert mail.outbox == []

    celery_app.conf.task_always_eager = True  # the broker is back
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert tasks.sweep_alert_notifications() == 1

    alert.refresh_from_db()
    assert alert.notified_at is not None
    assert len(mail.outbox) == 1


def test_sweep_leaves_alerts_that_are_too_new_or_done(report_red_flag):
    report_red_flag(["fever"])

    assert tasks.sweep_alert_notifications() == 0


def test_staff_list_open_alerts_most_urgent_first(report_red_flag, api_as, clinician, patient):
    report_red_flag(["fever"])
    report_red_flag(["itching"])

    body = api_as(clinician).get("/api/v1/alerts").json()

    assert body["count"] == 2
    assert {a["title"] for a in body["results"]} == {"Red flag: Fever", "Red flag: Itching without a rash"}
    assert body["results"][0]["patient_mrn"] == patient.mrn


def test_acknowledge_then_resolve(report_red_flag, api_as, nurse):
    alert_id = report_red_flag()["urgent"]["alert_ids"][0]
    api = api_as(nurse)

    acknowledged = api.post(f"/api/v1/alerts/{alert_id}/acknowledge").json()
    again = api.post(f"/api/v1/alerts/{alert_id}/acknowledge").json()
    resolved = api.post(f"/api/v1/alerts/{alert_id}/resolve", {"note": "Phoned; UTI treated."}, format="json").json()

    assert (acknowledged["status"], acknowledged["acknowledged_by"]) == ("acknowledged", nurse.username)
    assert again["acknowledged_at"] == acknowledged["acknowledged_at"]
    assert (resolved["status"], resolved["resolution_note"]) == ("resolved", "Phoned; UTI treated.")
    assert api.get("/api/v1/alerts").json()["count"] == 0
    assert api.get("/api/v1/alerts?status=resolved").json()["count"] == 1
    assert AuditEvent.objects.filter(resource_type="alert", action__in=["acknowledge", "resolve"]).count() == 2


def test_resolving_an_open_alert_also_acknowledges_it(report_red_flag, api_as, nurse):
    alert_id = report_red_flag()["urgent"]["alert_ids"][0]

    resolved = api_as(nurse).post(f"/api/v1/alerts/{alert_id}/resolve", {}, format="json").json()

    assert resolved["acknowledged_by"] == nurse.username
    assert resolved["acknowledged_at"] == resolved["resolved_at"]


def test_alerts_of_another_clinic_are_invisible(report_red_flag, api_as, staff, other_clinic):
    alert_id = report_red_flag()["urgent"]["alert_ids"][0]
    stranger = api_as(staff("nurse", clinic=other_clinic))

    assert stranger.get("/api/v1/alerts").json()["count"] == 0
    assert stranger.get(f"/api/v1/alerts/{alert_id}").status_code == 404
    assert stranger.post(f"/api/v1/alerts/{alert_id}/acknowledge").status_code == 404
    assert Alert.objects.get().status == "open"


def test_patients_cannot_see_the_alert_list(report_red_flag, patient_api):
    report_red_flag()

    assert patient_api.get("/api/v1/alerts").status_code == 403


def test_alert_list_costs_a_fixed_number_of_queries(
    report_red_flag, api_as, clinician, clinic, entry_payload, django_assert_num_queries
):
    for _ in range(5):
        report_red_flag()
    other = PatientFactory(clinic=clinic)
    Alert.objects.create(clinic=clinic, patient=other, kind="red_flag", priority="urgent", title="x")
    api = api_as(clinician)

    # token, count, page (with patients joined), audit insert
    with django_assert_num_queries(4):
        body = api.get("/api/v1/alerts").json()

    assert body["count"] == 6
