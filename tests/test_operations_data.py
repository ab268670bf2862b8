"""Data lifecycle: the audit trail export, a patient's whole record, retention of credentials,
and a clean 503 when the database goes away."""

import csv
import io
import os
import subprocess
from datetime import timedelta

import psycopg
import pytest
import time_machine
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.db import connection
from django.test import RequestFactory
from django.utils import timezone

from clinic import services
from clinic.models import AccessToken, AuditEvent, EnrollmentCode
from clinic.tasks import purge_expired_credentials
from tests.factories import (
    BotulinumSessionFactory,
    InjectionSiteFactory,
    MedicationDoseFactory,
    MedicationRegimenFactory,
)
from tests.fhir_export.fhir import parsed


def test_clinic_admin_reads_and_exports_the_audit_trail(
    api_as, admin_user, clinician, patient, patient_api, entry_payload
):
    patient_api.post("/api/v1/diary/entries", entry_payload(), format="json")
    api_as(clinician).get(f"/api/v1/patients/{patient.pk}")
    api = api_as(admin_user)

    listed = api.get("/api/v1/audit-events", {"patient": str(patient.pk)}).json()
    exported = api.get("/api/v1/audit-events.csv", {"patient": str(patient.pk)})

    actions = [(e["action"], e["resource_type"]) for e in listed["results"]]
    assert ("read", "patient") in actions
    assert ("create", "diary_entry") in actions
    rows = list(csv.DictReader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert exported["Content-Type"].startswith("text/csv")
    assert {(r["action"], r["resource_type"]) for r in rows} == set(actions)
    assert all(r["patient_id"] == str(patient.pk) for r in rows)
    assert AuditEvent.objects.filter(action="export", resource_type="audit_event").exists()


def test_the_audit_trail_exports_as_fhir_audit_events(
    api_as, admin_user, clinician, patient, other_patient, patient_api, entry_payload
):
    patient_api.post("/api/v1/diary/entries", entry_payload(), format="json")
    api_as(clinician).get(f"/api/v1/patients/{patient.pk}")
    api_as(clinician).get(f"/api/v1/patients/{other_patient.pk}")  # another clinic's: refused, and recorded

    response = api_as(admin_user).get("/api/v1/audit-events.ndjson")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+ndjson"
    events = [parsed(line) for line in b"".join(response.streaming_content).splitlines()]
    assert len(events) == AuditEvent.objects.filter(clinic=admin_user.clinic).count()  # the export's own too
    assert [e.recorded for e in events] == sorted(e.recorded for e in events)
    by_action = {next(c.code for c in e.subtype if c.system.endswith("/audit-action")): e for e in events}
    created, read = by_action["create"], by_action["read"]
    denied = next(e for e in events if e.outcome == "4")
    assert (created.type.code, created.action, created.outcome) == ("rest", "C", "0")
    assert [c.code for c in created.subtype] == ["create", "create"]
    assert created.entity[0].what.reference == f"Patient/{patient.pk}"
    assert (read.action, read.agent[0].who.display) == ("R", f"{clinician.username} (clinician)")
    assert (denied.action, denied.entity[-1].what.identifier.value) == ("R", str(other_patient.pk))
    patients = {entity.what.reference for e in events for entity in e.entity if entity.what and entity.what.reference}
    assert patients == {f"Patient/{patient.pk}"}
    assert AuditEvent.objects.filter(action="export", resource_type="audit_event", detail__format="fhir").exists()


def test_audit_trail_exports_cost_the_same_whatever_their_size(
    api_as, admin_user, clinician, patient, django_assert_num_queries
):
    api = api_as(clinician)
    for _ in range(5):
        api.get(f"/api/v1/patients/{patient.pk}")
    admin = api_as(admin_user)

    with django_assert_num_queries(3):  # the token, the export's own audit event, one SELECT of the events
        small = b"".join(admin.get("/api/v1/audit-events.ndjson").streaming_content)
    for _ in range(20):
        api.get(f"/api/v1/patients/{patient.pk}")
    with django_assert_num_queries(3):
        large = b"".join(admin.get("/api/v1/audit-events.ndjson").streaming_content)

    assert len(large.splitlines()) > len(small.splitlines()) + 20


@pytest.mark.parametrize("role", ["clinician", "nurse", "therapist"])
def test_only_clinic_admins_read_the_audit_trail(api_as, staff, role):
    api = api_as(staff(role))

    assert api.get("/api/v1/audit-events").status_code == 403
    assert api.get("/api/v1/audit-events.csv").status_code == 403
    assert api.get("/api/v1/audit-events.ndjson").status_code == 403


def test_patients_cannot_read_the_audit_trail(patient_api):
    for path in ("/api/v1/audit-events", "/api/v1/audit-events.csv", "/api/v1/audit-events.ndjson"):
        assert patient_api.get(path).status_code == 403


def test_the_audit_trail_cannot_be_changed_through_any_endpoint(api_as, admin_user):
    api = api_as(admin_user)
    event = AuditEvent.objects.first()

    for method in ("post", "put", "patch", "delete"):
        assert getattr(api, method)("/api/v1/audit-events", {}, format="json").status_code == 405
    assert api.delete(f"/api/v1/audit-events/{event.pk}").status_code == 404


def test_an_admin_sees_only_their_clinics_trail(api_as, admin_user, staff, other_clinic, other_patient):
    api_as(staff("clinician", clinic=other_clinic)).get(f"/api/v1/patients/{other_patient.pk}")

    events = api_as(admin_user).get("/api/v1/audit-events").json()["results"]

    assert all(e["patient_id"] != str(other_patient.pk) for e in events)


def test_a_patient_downloads_their_whole_record(patient_api, patient, entry_payload):
    first = entry_payload()
    patient_api.post("/api/v1/diary/entries", {"entries": [first, entry_payload(red_flags=["fever"])]}, format="json")
    patient_api.patch(f"/api/v1/diary/entries/{first['id']}", {"severity": 2}, format="json")
    MedicationDoseFactory(regimen=MedicationRegimenFactory(patient=patient))
    InjectionSiteFactory(session=BotulinumSessionFactory(patient=patient))

    response = patient_api.get(f"/api/v1/patients/{patient.pk}/record")

    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    record = response.json()
    assert record["patient"]["id"] == str(patient.pk)
    assert len(record["diary_entries"]) == 2
    assert record["diary_entry_versions"][0]["snapshot"]["severity"] == 6
    assert len(record["alerts"]) == 1
    assert record["medications"][0]["drug"] == "baclofen"
    assert record["botulinum_sessions"][0]["total_units"] == "100.0"
    assert AuditEvent.objects.filter(action="export", resource_type="patient_record", patient=patient).exists()


def test_nobody_else_gets_a_patients_record(
    patient_api, other_patient_api, other_patient, api_as, staff, other_clinic, patient
):
    assert patient_api.get(f"/api/v1/patients/{other_patient.pk}/record").status_code == 404
    assert (
        api_as(staff("clinician", clinic=other_clinic)).get(f"/api/v1/patients/{patient.pk}/record").status_code == 404
    )


def test_expired_and_revoked_credentials_are_deleted_after_the_retention_period(clinician, nurse, patient):
    stale = services.staff_token_issue(username=clinician.username, password="correct horse battery staple")
    services.token_revoke(actor=clinician, token=stale.row)
    services.enrollment_code_create(actor=nurse, patient=patient)

    with time_machine.travel(timezone.now() + timedelta(days=settings.CREDENTIAL_RETENTION_DAYS - 1)):
        assert purge_expired_credentials() == (0, 0)
        fresh = services.staff_token_issue(username=clinician.username, password="correct horse battery staple")
    with time_machine.travel(timezone.now() + timedelta(days=settings.CREDENTIAL_RETENTION_DAYS + 4)):
        assert purge_expired_credentials() == (1, 1)

    assert list(AccessToken.objects.all()) == [fresh.row]
    assert not EnrollmentCode.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_requests_fail_cleanly_while_the_database_is_gone_and_then_recover(clinician):
    token = services.staff_token_issue(username=clinician.username, password="correct horse battery staple").secret
    app = WSGIHandler()

    def get(path: str) -> tuple[int, dict[str, str]]:
        request = RequestFactory().get(path, HTTP_AUTHORIZATION=f"Bearer {token}")
        statuses = []
        response = app(request.environ, lambda status, headers: statuses.append((status, dict(headers))))
        b"".join(response)
        status, headers = statuses[0]
        return int(status.split()[0]), headers

    assert get("/api/v1/me")[0] == 200
    # What a PostgreSQL restart looks like from here: every open connection is dropped.
    settings_dict = connection.settings_dict
    with psycopg.connect(
        dbname=settings_dict["NAME"],
        user=settings_dict["USER"],
        host=settings_dict["HOST"],
        port=settings_dict["PORT"] or 5432,
        autocommit=True,
    ) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )

    status, headers = get("/api/v1/me")
    assert (status, headers["Content-Type"], headers["Retry-After"]) == (503, "application/problem+json", "5")
    assert get("/api/v1/me")[0] == 200


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_backup_restores_with_every_row(tmp_path, monkeypatch, django_capture_on_commit_callbacks):
    """The documented backup (pg_dump -Fc) and restore (pg_restore) of a seeded database."""
    monkeypatch.setenv("DEMO_PASSWORD", "demo passphrase 2026")
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", "--patients", "3", "--days", "60", stdout=io.StringIO())
    db = connection.settings_dict
    base = {"host": db["HOST"] or "127.0.0.1", "port": str(db["PORT"] or 5432), "user": db["USER"]}
    dump = tmp_path / "clinic.dump"
    restored = f"{db['NAME']}_restored"
    env = {**os.environ, "PGHOST": base["host"], "PGPORT": base["port"], "PGUSER": base["user"]}

    subprocess.run(["pg_dump", "--format=custom", f"--file={dump}", db["NAME"]], env=env, check=True)
    subprocess.run(["dropdb", "--if-exists", restored], env=env, check=True)
    subprocess.run(["createdb", restored], env=env, check=True)
    try:
        subprocess.run(["pg_restore", "--no-owner", f"--dbname={restored}", str(dump)], env=env, check=True)
        assert table_counts(base, restored) == table_counts(base, db["NAME"])
    finally:
        subprocess.run(["dropdb", "--if-exists", restored], env=env, check=True)


def table_counts(base: dict[str, str], dbname: str) -> dict[str, int]:
    with psycopg.connect(dbname=dbname, autocommit=True, **base) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename ~ '^(clinic|diary)_'"
            )
        ]
        counts = {table: conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in tables}  # noqa: S608
    assert counts["diary_diaryentry"] > 0
    return counts
