"""The audit trail: every read and write of patient data, denials included, append-only."""

import pytest
from django.db import DatabaseError, connection, transaction

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
