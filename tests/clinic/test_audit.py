"""The audit trail: every read and write of patient data, denials included, append-only."""

import uuid

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from clinic.models import AuditEvent


def test_writes_reads_and_denials_are_all_recorded_with_the_request_id(
    api_as, clinician, patient, other_patient, patient_api, entry_payload
):
    patient_api.post("/api/v1/diary/entries", entry_payload(), format="json", HTTP_X_REQUEST_ID="a" * 32)
    api = api_as(clinician)
    api.get("/api/v1/diary/entries", {"patient": str(patient.pk)})
    api.get(f"/api/v1/patients/{other_patient.pk}")

    events = list(AuditEvent.objects.exclude(action__in=["login", "enroll", "create"]).order_by("id"))
    write = AuditEvent.objects.get(resource_type="diary_entry", action="create")

    assert write.request_id == "a" * 32
    assert write.patient == patient
    assert write.actor == patient.user
    assert [(e.action, e.outcome, e.patient_id) for e in events] == [
        ("read", "success", patient.pk),
        ("read", "denied", None),
    ]
    assert events[1].resource_id == str(other_patient.pk)
    assert all(e.request_id for e in events)


def test_response_carries_the_request_id(patient_api):
    response = patient_api.get("/api/v1/me", HTTP_X_REQUEST_ID="b" * 32)

    assert response["X-Request-ID"] == "b" * 32


def test_audit_rows_cannot_be_changed_or_deleted_through_the_orm(api_as, clinician, patient):
    api_as(clinician).get(f"/api/v1/patients/{patient.pk}")
    event = AuditEvent.objects.filter(action="read").get()

    event.action = "nothing to see"
    with pytest.raises(TypeError, match="append-only"):
        event.save()
    with pytest.raises(TypeError, match="append-only"):
        event.delete()
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.all().delete()


@pytest.mark.postgres
def test_postgres_refuses_changes_to_audit_rows_even_in_raw_sql(api_as, clinician, patient):
    api_as(clinician).get(f"/api/v1/patients/{patient.pk}")

    for statement in ("UPDATE clinic_auditevent SET action = 'x'", "DELETE FROM clinic_auditevent"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)

    assert AuditEvent.objects.filter(action="read").count() == 1


def denials() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(outcome="denied").order_by("id"))


def test_writes_refused_for_the_callers_role_are_recorded_once_each(
    api_as, therapist, patient, patient_api, entry_payload
):
    entry = entry_payload()
    patient_api.post("/api/v1/diary/entries", entry, format="json")
    therapist_api = api_as(therapist)

    statuses = [
        therapist_api.patch(f"/api/v1/patients/{patient.pk}", {"given_name": "X"}, format="json").status_code,
        patient_api.patch(f"/api/v1/patients/{patient.pk}", {"given_name": "X"}, format="json").status_code,
        therapist_api.delete(f"/api/v1/diary/entries/{entry['id']}", HTTP_X_REQUEST_ID="c" * 32).status_code,
        therapist_api.post(f"/api/v1/patients/{patient.pk}/enrollment-codes").status_code,
    ]

    events = denials()
    assert statuses == [403] * 4
    assert [(e.action, e.resource_type, e.patient_id) for e in events] == [
        ("update", "patient", patient.pk),
        ("update", "patient", patient.pk),
        ("delete", "diary_entry", patient.pk),
        ("create", "enrollment_codes", patient.pk),
    ]
    assert [e.actor for e in events] == [therapist, patient.user, therapist, therapist]
    assert events[2].request_id == "c" * 32
    assert events[2].resource_id == entry["id"]
    assert all(e.request_id and e.detail["reason"] for e in events)


def test_a_patient_reaching_for_staff_endpoints_is_recorded(patient_api, patient):
    response = patient_api.post("/api/v1/patients", {"mrn": "X"}, format="json")

    assert response.status_code == 403
    [event] = denials()
    assert (event.action, event.resource_type, event.actor, event.clinic_id) == (
        "create",
        "patients",
        patient.user,
        patient.clinic_id,
    )


def test_withdrawing_someone_elses_adherence_log_is_recorded_as_denied(patient_api, other_patient_api):
    log = {"id": str(uuid.uuid4()), "date": timezone.localdate().isoformat()}
    assert other_patient_api.post("/api/v1/diary/adherence", log, format="json").status_code == 201

    response = patient_api.delete(f"/api/v1/diary/adherence/{log['id']}")

    assert response.status_code == 404
    [event] = denials()
    assert (event.resource_type, event.resource_id) == ("adherence_log", log["id"])
