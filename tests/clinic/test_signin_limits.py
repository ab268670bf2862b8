"""Password guessing is limited on every sign-in: the API token, the dashboard and the Django admin.

Wrong passwords count per client address and per username (THROTTLE_LOGIN, 10 a minute);
a forged X-Forwarded-For changes neither.
"""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.factories import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("one_rate_window")]

FORMS = ["/dashboard/login/", "/admin/login/"]


def api_login(username: str, password: str, **headers: str) -> int:
    response = APIClient().post(
        "/api/v1/auth/token", {"username": username, "password": password}, format="json", **headers
    )
    return response.status_code


def test_a_forged_forwarded_for_does_not_escape_the_api_login_limit(admin_user):
    statuses = [
        api_login(admin_user.username, f"guess number {i}", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}") for i in range(12)
    ]

    assert statuses[:10] == [401] * 10
    assert statuses[10:] == [429, 429]


def test_a_forged_forwarded_for_does_not_escape_the_enrollment_limit(db):
    statuses = [
        APIClient()
        .post(
            "/api/v1/auth/enroll",
            {"code": "AAAA-BBBB-CCCC", "device_name": "phone"},
            format="json",
            HTTP_X_FORWARDED_FOR=f"1.2.3.{i}",
        )
        .status_code
        for i in range(12)
    ]

    assert statuses[:10] == [400] * 10
    assert statuses[10:] == [429, 429]


def test_many_addresses_guessing_one_username_are_stopped_even_with_the_right_password(admin_user):
    guesses = [api_login(admin_user.username, f"guess {i}", REMOTE_ADDR=f"192.0.2.{i}") for i in range(10)]
    response = APIClient().post(
        "/api/v1/auth/token",
        {"username": admin_user.username.upper(), "password": PASSWORD},
        format="json",
        REMOTE_ADDR="198.51.100.7",
    )

    assert guesses == [401] * 10
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert response["Content-Type"] == "application/problem+json"


def test_other_usernames_still_sign_in_while_one_is_limited(admin_user, clinician):
    for i in range(10):
        api_login(admin_user.username, f"guess {i}", REMOTE_ADDR=f"192.0.2.{i}")

    assert api_login(clinician.username, PASSWORD, REMOTE_ADDR="198.51.100.7") == 201


def test_behind_one_proxy_the_address_it_forwarded_is_counted(admin_user, clinician, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    # The client wrote the first address; the proxy appended the one it saw.
    for i in range(10):
        api_login(f"someone-{i}", "wrong", HTTP_X_FORWARDED_FOR=f"10.9.9.{i}, 203.0.113.5")
    blocked = api_login(clinician.username, PASSWORD, HTTP_X_FORWARDED_FOR="10.9.9.99, 203.0.113.5")
    elsewhere = api_login(clinician.username, PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.6")

    assert (blocked, elsewhere) == (429, 201)


@pytest.mark.parametrize("url", FORMS)
def test_session_sign_in_forms_stop_password_guessing_with_429(admin_user, url):
    admin_user.is_staff = True
    admin_user.save()
    browser = Client()
    guesses = [browser.post(url, {"username": admin_user.username, "password": f"guess {i}"}) for i in range(10)]
    right = browser.post(url, {"username": admin_user.username, "password": PASSWORD})

    assert [g.status_code for g in guesses] == [200] * 10  # the form again, saying it was wrong
    assert right.status_code == 429
    assert int(right["Retry-After"]) > 0
    assert b"Too many sign-in attempts" in right.content
    assert "_auth_user_id" not in browser.session


@pytest.mark.parametrize("url", FORMS)
def test_session_sign_in_forms_count_per_username_across_addresses(admin_user, url):
    admin_user.is_staff = True
    admin_user.save()
    for i in range(10):
        Client(REMOTE_ADDR=f"192.0.2.{i}").post(url, {"username": admin_user.username, "password": "wrong"})

    response = Client(REMOTE_ADDR="198.51.100.7").post(url, {"username": admin_user.username, "password": PASSWORD})

    assert response.status_code == 429


@pytest.mark.parametrize("url", FORMS)
def test_session_sign_in_forms_still_sign_in_below_the_limit(admin_user, url):
    admin_user.is_staff = True
    admin_user.save()
    browser = Client()
    for i in range(3):
        browser.post(url, {"username": admin_user.username, "password": f"guess {i}"})

    response = browser.post(url, {"username": admin_user.username, "password": PASSWORD})

    assert response.status_code == 302
    assert browser.session["_auth_user_id"] == str(admin_user.pk)


def test_the_admin_form_asks_for_the_password_when_not_limited(db):
    assert Client().get("/admin/login/").status_code == 200
