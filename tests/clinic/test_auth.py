"""Signing in, who-am-I, token expiry and revocation, and brute-force throttling."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from clinic import tokens
from clinic.models import AccessToken, AuditEvent
from tests.conftest import bearer_client
from tests.factories import PASSWORD


def login(username: str, password: str = PASSWORD) -> tuple[int, dict]:
    response = APIClient().post("/api/v1/auth/token", {"username": username, "password": password}, format="json")
    return response.status_code, response.json()


def test_staff_login_returns_a_token_that_works_and_is_stored_hashed(clinician):
    status, body = login(clinician.username)

    assert status == 201
    assert set(body) == {"token", "expires_at"}
    stored = AccessToken.objects.get(user=clinician)
    assert stored.digest == tokens.digest(body["token"])
    assert body["token"] not in stored.digest
    me = bearer_client(body["token"]).get("/api/v1/me").json()
    assert me["username"] == clinician.username
    assert me["role"] == "clinician"
    assert me["clinic_id"] == clinician.clinic_id
    assert me["patient_id"] is None


def test_wrong_password_is_401_problem_and_issues_nothing(clinician):
    status, body = login(clinician.username, "wrong password!")

    assert status == 401
    assert body["title"] == "Unauthorized"
    assert "password" in body["detail"]
    assert not AccessToken.objects.exists()


def test_patient_account_cannot_log_in_with_password(patient_api, patient):
    patient.user.set_password(PASSWORD)
    patient.user.save()

    status, _ = login(patient.user.username)

    assert status == 401


def test_login_records_an_audit_event(clinician):
    login(clinician.username)

    event = AuditEvent.objects.get(action="login")
    assert event.actor == clinician
    assert event.request_id


def test_me_for_a_patient_names_the_patient(patient_api, patient):
    me = patient_api.get("/api/v1/me").json()

    assert me["role"] == "patient"
    assert me["patient_id"] == str(patient.pk)


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer not-a-token", "Bearer a b", "Token abc", "Basic dXNlcjpwYXNz"],
)
def test_missing_or_bad_credentials_are_401(db, header):
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get("/api/v1/me")

    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"


def test_unauthenticated_request_answers_401_with_bearer_challenge(db):
    response = APIClient().get("/api/v1/patients")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_expired_staff_token_is_refused(clinician):
    _, body = login(clinician.username)

    with time_machine.travel(timezone.now() + timedelta(hours=12, minutes=1)):
        response = bearer_client(body["token"]).get("/api/v1/me")

    assert response.status_code == 401


def test_logout_revokes_the_token(clinician):
    _, body = login(clinician.username)
    client = bearer_client(body["token"])

    assert client.delete("/api/v1/auth/token").status_code == 204
    assert client.get("/api/v1/me").status_code == 401
    assert AccessToken.objects.get().revoked_at is not None


def test_deactivated_staff_member_token_stops_working(clinician):
    _, body = login(clinician.username)
    clinician.is_active = False
    clinician.save()

    assert bearer_client(body["token"]).get("/api/v1/me").status_code == 401


@pytest.mark.usefixtures("one_rate_window")
def test_login_attempts_are_throttled_with_retry_after(clinician):
    statuses = [login(clinician.username, "wrong password!")[0] for _ in range(10)]
    response = APIClient().post(
        "/api/v1/auth/token", {"username": clinician.username, "password": PASSWORD}, format="json"
    )

    assert statuses == [401] * 10
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert response["Content-Type"] == "application/problem+json"


def test_login_rejects_unknown_fields(clinician):
    response = APIClient().post(
        "/api/v1/auth/token", {"username": clinician.username, "password": PASSWORD, "admin": True}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["errors"] == {"admin": ["This field is not known."]}
