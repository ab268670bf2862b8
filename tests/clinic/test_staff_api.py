"""Clinic admins add, change and deactivate staff; nobody else can; staff lists are per clinic."""

import pytest
from django.contrib.sessions.models import Session
from django.test import Client

from clinic.models import AccessToken, AuditEvent, User
from tests.conftest import bearer_client, enroll
from tests.factories import PASSWORD

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


def member_url(user: User) -> str:
    return f"/api/v1/staff/{user.pk}"


def test_a_clinic_admin_deactivates_someone_who_left_and_their_access_ends_at_once(api_as, admin_user, nurse):
    nurse_api = api_as(nurse)
    browser = Client()
    browser.login(username=nurse.username, password=PASSWORD)
    assert browser.get("/dashboard/").status_code == 200

    response = api_as(admin_user).patch(member_url(nurse), {"is_active": False}, format="json")

    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert nurse_api.get("/api/v1/me").status_code == 401
    assert AccessToken.objects.filter(user=nurse, revoked_at__isnull=True).count() == 0
    assert browser.get("/dashboard/").status_code == 302  # back to sign in
    assert not [s for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") == str(nurse.pk)]
    login = bearer_client("").post(
        "/api/v1/auth/token", {"username": nurse.username, "password": PASSWORD}, format="json"
    )
    assert login.status_code == 401
    event = AuditEvent.objects.get(resource_type="staff", action="update")
    assert (event.actor, event.resource_id, event.clinic_id) == (admin_user, str(nurse.pk), nurse.clinic_id)
    assert event.detail == {
        "fields": ["is_active"],
        "is_active": False,
        "tokens_revoked": 1,
        "sessions_ended": 1,
    }


def test_a_deactivated_member_can_be_reactivated_and_sign_in_again(api_as, admin_user, nurse):
    api = api_as(admin_user)
    api.patch(member_url(nurse), {"is_active": False}, format="json")

    response = api.patch(member_url(nurse), {"is_active": True}, format="json")

    assert response.json()["is_active"] is True
    assert api_as(nurse).get("/api/v1/me").status_code == 200


def test_a_clinic_admin_changes_a_role(api_as, admin_user, clinician):
    api = api_as(admin_user)

    as_admin = api.patch(member_url(clinician), {"role": "admin"}, format="json")
    clinician.refresh_from_db()
    promoted = clinician.is_staff
    as_nurse = api.patch(member_url(clinician), {"role": "nurse"}, format="json")
    clinician.refresh_from_db()

    assert (as_admin.status_code, as_nurse.status_code) == (200, 200)
    assert promoted is True  # admins manage the clinic in the Django admin too
    assert (clinician.role, clinician.is_staff) == ("nurse", False)


def test_the_last_active_admin_cannot_be_removed(api_as, admin_user, staff):
    api = api_as(admin_user)

    deactivate = api.patch(member_url(admin_user), {"is_active": False}, format="json")
    demote = api.patch(member_url(admin_user), {"role": "clinician"}, format="json")
    second = staff(User.Role.ADMIN, username="admin2")
    after_second = api.patch(member_url(admin_user), {"role": "clinician"}, format="json")

    assert (deactivate.status_code, demote.status_code) == (400, 400)
    assert list(deactivate.json()["errors"]) == ["is_active"]
    assert after_second.status_code == 200
    assert second.is_active


@pytest.mark.parametrize("role", ["clinician", "nurse", "therapist"])
def test_only_admins_change_staff(api_as, staff, nurse, role):
    response = api_as(staff(role, username=f"x-{role}")).patch(member_url(nurse), {"is_active": False}, format="json")

    nurse.refresh_from_db()
    assert response.status_code == 403
    assert nurse.is_active
    assert AuditEvent.objects.filter(outcome="denied", resource_type="staff_member").count() == 1


def test_staff_of_another_clinic_and_patient_accounts_are_404(api_as, admin_user, staff, other_clinic, patient):
    elsewhere = staff(User.Role.NURSE, clinic=other_clinic, username="elsewhere")
    enroll(patient)
    patient.refresh_from_db()
    api = api_as(admin_user)

    statuses = [
        api.patch(member_url(elsewhere), {"is_active": False}, format="json").status_code,
        api.patch(member_url(patient.user), {"is_active": False}, format="json").status_code,
    ]

    elsewhere.refresh_from_db()
    assert statuses == [404, 404]
    assert elsewhere.is_active
    assert AuditEvent.objects.filter(outcome="denied", resource_type="staff").count() == 2


@pytest.mark.parametrize(
    ("body", "field"), [({"role": "patient"}, "role"), ({"is_active": "maybe"}, "is_active"), ({"clinic": 2}, "clinic")]
)
def test_bad_staff_changes_are_400(api_as, admin_user, nurse, body, field):
    response = api_as(admin_user).patch(member_url(nurse), body, format="json")

    assert response.status_code == 400
    assert field in response.json()["errors"]
