"""Enrolling a patient's phone with a one-time, expiring code."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from clinic.models import AccessToken, EnrollmentCode
from tests.conftest import bearer_client


def issue_code(api, patient) -> str:
    response = api.post(f"/api/v1/patients/{patient.pk}/enrollment-codes")
    assert response.status_code == 201, response.json()
    return response.json()["code"]


def redeem(code: str, device: str = "Pixel 8") -> tuple[int, dict]:
    response = APIClient().post("/api/v1/auth/enroll", {"code": code, "device_name": device}, format="json")
    return response.status_code, response.json()


def test_nurse_issues_a_code_the_app_redeems_for_a_patient_token(api_as, nurse, patient):
    code = issue_code(api_as(nurse), patient)

    status, body = redeem(code)

    assert status == 201
    assert body["patient_id"] == str(patient.pk)
    me = bearer_client(body["token"]).get("/api/v1/me").json()
    assert me == {**me, "role": "patient", "patient_id": str(patient.pk)}
    assert AccessToken.objects.get(kind="patient").device_name == "Pixel 8"
    assert EnrollmentCode.objects.get().digest != code


def test_code_works_only_once(api_as, nurse, patient):
    code = issue_code(api_as(nurse), patient)
    redeem(code)

    status, body = redeem(code)

    assert status == 400
    assert "code" in body["errors"]
    assert AccessToken.objects.filter(kind="patient").count() == 1


def test_code_expires(api_as, nurse, patient):
    code = issue_code(api_as(nurse), patient)

    with time_machine.travel(timezone.now() + timedelta(hours=72, seconds=1)):
        status, _ = redeem(code)

    assert status == 400


def test_code_is_accepted_as_people_type_it(api_as, nurse, patient):
    code = issue_code(api_as(nurse), patient)

    status, _ = redeem(code.replace("-", " ").lower())

    assert status == 201


def test_second_phone_shares_the_patient_account(api_as, nurse, patient):
    api = api_as(nurse)
    _, first = redeem(issue_code(api, patient), "phone")
    _, second = redeem(issue_code(api, patient), "tablet")

    patient.refresh_from_db()
    assert first["patient_id"] == second["patient_id"]
    assert AccessToken.objects.filter(user=patient.user).count() == 2


def test_discharged_patient_gets_no_code(api_as, nurse, patient):
    patient.is_active = False
    patient.save()

    response = api_as(nurse).post(f"/api/v1/patients/{patient.pk}/enrollment-codes")

    assert response.status_code == 400
    assert "discharged" in response.json()["detail"]


def test_therapist_may_not_enroll(api_as, therapist, patient):
    response = api_as(therapist).post(f"/api/v1/patients/{patient.pk}/enrollment-codes")

    assert response.status_code == 403


def test_staff_of_another_clinic_cannot_enroll_the_patient(api_as, staff, other_clinic, patient):
    stranger = staff("nurse", clinic=other_clinic)

    response = api_as(stranger).post(f"/api/v1/patients/{patient.pk}/enrollment-codes")

    assert response.status_code == 404


def test_staff_list_and_revoke_a_lost_phone(api_as, nurse, patient):
    api = api_as(nurse)
    _, body = redeem(issue_code(api, patient), "lost phone")
    devices = api.get(f"/api/v1/patients/{patient.pk}/devices").json()

    response = api.delete(f"/api/v1/patients/{patient.pk}/devices/{devices[0]['id']}")

    assert [d["device_name"] for d in devices] == ["lost phone"]
    assert response.status_code == 204
    assert bearer_client(body["token"]).get("/api/v1/me").status_code == 401
    assert api.get(f"/api/v1/patients/{patient.pk}/devices").json() == []


def test_patient_token_expires_after_its_lifetime(api_as, nurse, patient):
    _, body = redeem(issue_code(api_as(nurse), patient))

    with time_machine.travel(timezone.now() + timedelta(days=181)):
        assert bearer_client(body["token"]).get("/api/v1/me").status_code == 401


@pytest.mark.parametrize("payload", [{}, {"code": "ABCD"}, {"code": 12, "device_name": "x"}, {"device_name": "x"}])
def test_malformed_enrollment_is_400(db, payload):
    response = APIClient().post("/api/v1/auth/enroll", payload, format="json")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
