"""Clinic admins add staff; nobody else can; staff lists are per clinic."""

import pytest

from clinic.models import User
from tests.conftest import bearer_client, enroll

NEW_STAFF = {"username": "dr.new", "password": "a long enough passphrase", "role": "clinician", "email": "new@c.test"}


def test_admin_adds_a_staff_member_who_can_then_sign_in(api_as, admin_user):
    response = api_as(admin_user).post("/api/v1/staff", NEW_STAFF, format="json")

    assert response.status_code == 201
    assert "password" not in response.json()
    user = User.objects.get(username="dr.new")
    assert (user.clinic, user.role) == (admin_user.clinic, "clinician")
    login = bearer_client("").post(
        "/api/v1/auth/token", {"username": "dr.new", "password": NEW_STAFF["password"]}, format="json"
    )
    assert login.status_code == 201


@pytest.mark.parametrize("role", ["clinician", "nurse", "therapist"])
def test_only_admins_add_staff(api_as, staff, role):
    response = api_as(staff(role)).post("/api/v1/staff", NEW_STAFF, format="json")

    assert response.status_code == 403
    assert not User.objects.filter(username="dr.new").exists()


def test_patient_cannot_add_staff(patient_api):
    assert patient_api.post("/api/v1/staff", NEW_STAFF, format="json").status_code == 403


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"password": "short"}, "password"),
        ({"password": "password123456"}, "password"),
        ({"role": "patient"}, "role"),
        ({"role": "superuser"}, "role"),
        ({"username": "has space"}, "username"),
        ({"email": "not-an-email"}, "email"),
    ],
)
def test_bad_staff_input_is_400(api_as, admin_user, changes, field):
    response = api_as(admin_user).post("/api/v1/staff", {**NEW_STAFF, **changes}, format="json")

    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_usernames_are_unique_across_clinics(api_as, admin_user, staff, other_clinic):
    staff("nurse", clinic=other_clinic, username="dr.new")

    response = api_as(admin_user).post("/api/v1/staff", NEW_STAFF, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"username": ["This username is taken."]}


def test_staff_list_shows_only_own_clinic_and_no_patient_accounts(api_as, admin_user, staff, other_clinic, patient):
    staff("nurse", username="nurse.ours")
    staff("nurse", clinic=other_clinic, username="nurse.theirs")
    enroll(patient, by=admin_user)

    names = [row["username"] for row in api_as(admin_user).get("/api/v1/staff").json()["results"]]

    assert names == ["admin1", "nurse.ours"]
