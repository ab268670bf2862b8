"""Registering, listing and changing patients; clinic scoping; roles."""

import pytest

from clinic.models import AuditEvent, Patient
from tests.factories import PatientFactory

NEW_PATIENT = {
    "mrn": "A-1001",
    "given_name": "Maria",
    "family_name": "Lopez",
    "birth_date": "1968-03-02",
    "sex": "female",
    "time_zone": "America/Toronto",
    "diagnosis": "stroke",
}


@pytest.mark.parametrize("role", ["admin", "clinician", "nurse"])
def test_staff_who_may_register_patients_can(api_as, staff, role):
    response = api_as(staff(role)).post("/api/v1/patients", NEW_PATIENT, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body == {**body, **NEW_PATIENT, "is_active": True, "enrolled": False}
    patient = Patient.objects.get(pk=body["id"])
    assert AuditEvent.objects.filter(patient=patient, action="create", resource_type="patient").exists()


def test_therapist_cannot_register_patients(api_as, therapist):
    response = api_as(therapist).post("/api/v1/patients", NEW_PATIENT, format="json")

    assert response.status_code == 403
    assert not Patient.objects.exists()


def test_mrn_is_unique_within_a_clinic_but_not_across_clinics(api_as, staff, clinic, other_clinic):
    ours = api_as(staff("nurse"))
    theirs = api_as(staff("nurse", clinic=other_clinic))
    assert ours.post("/api/v1/patients", NEW_PATIENT, format="json").status_code == 201

    duplicate = ours.post("/api/v1/patients", {**NEW_PATIENT, "given_name": "Other"}, format="json")
    elsewhere = theirs.post("/api/v1/patients", NEW_PATIENT, format="json")

    assert duplicate.status_code == 400
    assert duplicate.json()["errors"] == {"mrn": ["Another patient of this clinic has this MRN."]}
    assert elsewhere.status_code == 201
    assert Patient.objects.count() == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("time_zone", "Mars/Olympus_Mons"),
        ("time_zone", "EST5EDT-ish"),
        ("sex", "robot"),
        ("diagnosis", "flu"),
        ("birth_date", "2999-01-01"),
        ("birth_date", "not a date"),
        ("mrn", "has spaces"),
        ("mrn", ""),
        ("given_name", None),
    ],
)
def test_bad_patient_fields_are_named_in_a_400(api_as, nurse, field, value):
    response = api_as(nurse).post("/api/v1/patients", {**NEW_PATIENT, field: value}, format="json")

    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Patient.objects.exists()


def test_client_cannot_choose_the_id_or_clinic(api_as, nurse, other_clinic):
    response = api_as(nurse).post(
        "/api/v1/patients",
        {**NEW_PATIENT, "id": "0b6d1c4e-0000-4000-8000-000000000000", "clinic": other_clinic.pk},
        format="json",
    )

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"id", "clinic"}


def test_staff_list_only_their_clinic_patients(api_as, clinician, clinic, other_clinic):
    PatientFactory.create_batch(3, clinic=clinic)
    PatientFactory.create_batch(2, clinic=other_clinic)

    body = api_as(clinician).get("/api/v1/patients").json()

    assert body["count"] == 3
    assert {row["id"] for row in body["results"]} == {str(p.pk) for p in Patient.objects.filter(clinic=clinic)}


def test_patient_list_costs_a_fixed_number_of_queries(api_as, clinician, clinic, django_assert_num_queries):
    PatientFactory.create_batch(30, clinic=clinic)
    api = api_as(clinician)

    # token lookup, count, page, audit insert
    with django_assert_num_queries(4):
        response = api.get("/api/v1/patients?page_size=30")

    assert len(response.json()["results"]) == 30


def test_patient_list_page_size_is_capped(api_as, clinician, clinic):
    PatientFactory.create_batch(205, clinic=clinic)

    body = api_as(clinician).get("/api/v1/patients?page_size=100000").json()

    assert len(body["results"]) == 200


def test_search_by_name_or_mrn(api_as, clinician, clinic):
    PatientFactory(clinic=clinic, family_name="Okafor", mrn="X-77")
    PatientFactory(clinic=clinic, family_name="Rossi", mrn="X-78")
    api = api_as(clinician)

    assert [p["family_name"] for p in api.get("/api/v1/patients?search=oka").json()["results"]] == ["Okafor"]
    assert [p["mrn"] for p in api.get("/api/v1/patients?search=x-78").json()["results"]] == ["X-78"]


def test_patient_of_another_clinic_is_404_and_the_attempt_is_audited(api_as, clinician, other_patient):
    response = api_as(clinician).get(f"/api/v1/patients/{other_patient.pk}")

    assert response.status_code == 404
    denied = AuditEvent.objects.get(outcome="denied")
    assert denied.actor == clinician
    assert denied.resource_id == str(other_patient.pk)


def test_patient_reads_only_their_own_record(patient_api, patient, clinic):
    neighbour = PatientFactory(clinic=clinic)

    assert patient_api.get(f"/api/v1/patients/{patient.pk}").status_code == 200
    assert patient_api.get(f"/api/v1/patients/{neighbour.pk}").status_code == 404
    assert patient_api.get("/api/v1/patients").status_code == 403


def test_patch_changes_only_the_fields_sent_and_audits_them(api_as, nurse, patient):
    response = api_as(nurse).patch(
        f"/api/v1/patients/{patient.pk}", {"time_zone": "Europe/Paris", "is_active": False}, format="json"
    )

    assert response.status_code == 200
    patient.refresh_from_db()
    assert (patient.time_zone, patient.is_active, patient.family_name) == ("Europe/Paris", False, "Ient")
    event = AuditEvent.objects.get(action="update", resource_type="patient")
    assert event.detail == {"fields": ["is_active", "time_zone"]}


def test_patient_cannot_change_their_record(patient_api, patient):
    response = patient_api.patch(f"/api/v1/patients/{patient.pk}", {"given_name": "X"}, format="json")

    assert response.status_code == 403


def test_reading_a_patient_is_audited(api_as, clinician, patient):
    api_as(clinician).get(f"/api/v1/patients/{patient.pk}")

    event = AuditEvent.objects.get(action="read", resource_type="patient")
    assert (event.actor, event.patient, event.outcome) == (clinician, patient, "success")


def test_discharging_a_patient_stops_their_phone_at_once(api_as, nurse, patient, patient_api, entry_payload):
    response = api_as(nurse).patch(f"/api/v1/patients/{patient.pk}", {"is_active": False}, format="json")

    upload = patient_api.post("/api/v1/diary/entries", entry_payload(), format="json")
    devices = api_as(nurse).get(f"/api/v1/patients/{patient.pk}/devices").json()
    event = AuditEvent.objects.filter(action="update", resource_type="patient").get()
    assert response.status_code == 200
    assert upload.status_code == 401
    assert devices == []
    assert event.detail == {"fields": ["is_active"], "tokens_revoked": 1}


def test_a_token_of_a_discharged_patient_is_refused_even_if_not_revoked(patient, patient_api):
    Patient.objects.filter(pk=patient.pk).update(is_active=False)

    response = patient_api.get("/api/v1/me")

    assert response.status_code == 401


def test_readmitting_a_patient_needs_a_new_enrollment(api_as, nurse, patient, patient_api):
    api = api_as(nurse)
    api.patch(f"/api/v1/patients/{patient.pk}", {"is_active": False}, format="json")
    api.patch(f"/api/v1/patients/{patient.pk}", {"is_active": True}, format="json")

    assert patient_api.get("/api/v1/me").status_code == 401
    assert api.post(f"/api/v1/patients/{patient.pk}/enrollment-codes").status_code == 201
