"""Where a clinic webhook may point: https to public addresses only, checked when the URL is saved
and again at every POST, without following redirects, and with only a short reason recorded.

The tests' receiver (pytest-httpserver) listens on http://localhost, which tests/settings.py
allows (ALERT_WEBHOOK_ALLOW_PRIVATE); the tests here turn that off to see production's rules.
"""

import socket

import pytest
from django.core import mail
from django.test import Client
from pytest_httpserver import HTTPServer

from clinic import webhooks
from clinic.webhooks import WebhookRefused, check_webhook_url
from diary import notifications
from diary.models import Alert
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def production_rules(settings):
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = False


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://203.0.113.9/hook", "must be https"),
        ("ftp://203.0.113.9/hook", "must be https"),
        ("https:///hook", "must be https"),
        ("https://127.0.0.1/hook", "not public"),
        ("https://localhost:8000/hook", "not public"),
        ("https://10.1.2.3/hook", "not public"),
        ("https://192.168.0.10/hook", "not public"),
        ("https://169.254.169.254/latest/meta-data/", "not public"),  # cloud metadata
        ("https://100.64.0.1/hook", "not public"),
        ("https://0.0.0.0/hook", "not public"),
        ("https://[::1]/hook", "not public"),
        ("https://[::ffff:127.0.0.1]/hook", "not public"),
        ("https://[fe80::1]/hook", "not public"),
        ("https://no-such-host.invalid/hook", "does not resolve"),
    ],
)
def test_webhooks_to_anything_but_public_https_are_refused(production_rules, url, reason):
    with pytest.raises(WebhookRefused, match=reason):
        check_webhook_url(url)


def test_a_public_https_address_is_accepted(production_rules):
    check_webhook_url("https://93.184.215.14/alerts")


def test_local_http_is_allowed_only_when_private_targets_are(settings):
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = True
    check_webhook_url("http://127.0.0.1:9000/hook")
    with pytest.raises(WebhookRefused, match="https"):
        check_webhook_url("http://203.0.113.9/hook")


def new_alert(patient) -> Alert:
    return Alert.objects.create(
        clinic=patient.clinic,
        patient=patient,
        kind="red_flag",
        priority="urgent",
        title="Red flag: Fever",
        needs_notification=True,
    )


def notify(alert: Alert) -> Alert:
    with pytest.raises(notifications.NotificationFailed):
        notifications.alert_notify(alert_id=alert.pk)
    alert.refresh_from_db()
    return alert


def set_webhook(patient, url: str) -> None:
    patient.clinic.webhook_url = url
    patient.clinic.save()


def test_a_webhook_to_the_servers_own_network_is_never_called(production_rules, patient, httpserver: HTTPServer):
    httpserver.expect_request("/hook").respond_with_data("ok")
    set_webhook(patient, httpserver.url_for("/hook").replace("localhost", "127.0.0.1").replace("http:", "https:"))

    alert = notify(new_alert(patient))

    assert httpserver.log == []
    assert alert.webhook_sent_at is None
    assert alert.email_sent_at is not None  # the other channel still went out
    assert len(mail.outbox) == 1
    assert alert.last_notify_error == "webhook: refused: the host has an address that is not public"


def test_a_name_that_resolves_elsewhere_at_connect_time_is_refused(
    production_rules, patient, httpserver: HTTPServer, monkeypatch
):
    """DNS rebinding: public when the URL is checked, the server's own address a moment later."""
    httpserver.expect_request("/hook").respond_with_data("ok")
    real = socket.getaddrinfo
    answers = iter([[(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", httpserver.port))]])

    def rebinding(host, port, *args, **kwargs):
        if host == "rebind.example":
            return next(answers, None) or real("127.0.0.1", port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(webhooks.socket, "getaddrinfo", rebinding)
    set_webhook(patient, f"https://rebind.example:{httpserver.port}/hook")

    alert = notify(new_alert(patient))

    assert httpserver.log == []
    assert alert.last_notify_error == "webhook: refused: the host has an address that is not public"


def test_redirects_are_not_followed(patient, httpserver: HTTPServer):
    httpserver.expect_request("/hook").respond_with_data("", status=302, headers={"Location": "/internal"})
    httpserver.expect_request("/internal").respond_with_data("ok")
    set_webhook(patient, httpserver.url_for("/hook"))

    alert = notify(new_alert(patient))

    assert [request.path for request, _ in httpserver.log] == ["/hook"]
    assert alert.webhook_sent_at is None
    assert alert.last_notify_error == "webhook: answered HTTP 302"


def test_a_failed_connection_is_recorded_without_the_hosts_address(patient):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once the socket closes
    set_webhook(patient, f"http://127.0.0.1:{port}/hook")

    alert = notify(new_alert(patient))

    assert alert.last_notify_error == "webhook: could not connect"


def test_proxies_from_the_environment_are_not_used(patient, httpserver: HTTPServer, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://10.255.255.1:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://10.255.255.1:3128")
    httpserver.expect_request("/hook").respond_with_data("ok")
    set_webhook(patient, httpserver.url_for("/hook"))

    assert notifications.alert_notify(alert_id=new_alert(patient).pk) is True
    assert len(httpserver.log) == 1


def test_the_admin_refuses_to_save_a_private_webhook(production_rules, admin_user, clinic):
    admin_user.is_staff = True
    admin_user.save()
    browser = Client()
    browser.login(username=admin_user.username, password=PASSWORD)
    url = f"/admin/clinic/clinic/{clinic.pk}/change/"
    form = {"name": clinic.name, "phone": "555-0100", "notification_email": "", "webhook_secret": ""}

    refused = browser.post(url, {**form, "webhook_url": "https://169.254.169.254/latest/meta-data/"})
    clinic.refresh_from_db()
    kept = clinic.webhook_url
    accepted = browser.post(url, {**form, "webhook_url": "https://93.184.215.14/alerts"})
    clinic.refresh_from_db()

    assert refused.status_code == 200
    assert b"This webhook cannot be used" in refused.content
    assert kept != "https://169.254.169.254/latest/meta-data/"
    assert accepted.status_code == 302
    assert clinic.webhook_url == "https://93.184.215.14/alerts"
