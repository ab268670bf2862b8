"""Bulk Data $export: the whole flow with a token from a signed assertion, and every way it can go wrong."""

from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit

import orjson
import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from clinic.models import AuditEvent
from diary.models import DiaryEntry
from fhir_export import bulk, services, tasks
from fhir_export.models import ExportFile, ExportJob
from fhir_export.sources import PATIENT_TYPES, RESOURCE_TYPES
from tests.fhir_export.conftest import diary_entry
from tests.fhir_export.fhir import parsed, valid, valid_manifest

ASYNC = {"HTTP_PREFER": "respond-async", "HTTP_ACCEPT": "application/fhir+json"}


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path) -> Path:
    settings.FHIR_EXPORT_DIR = tmp_path / "exports"
    return settings.FHIR_EXPORT_DIR


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


@pytest.fixture
def kickoff(django_capture_on_commit_callbacks):
    """Kick off an export; the worker runs when the kick-off commits (eager Celery) unless ``run=False``."""

    def start(api, url="/fhir/$export", *, run=True, method="get", **extra):
        with django_capture_on_commit_callbacks(execute=run):
            response = getattr(api, method)(url, **{**ASYNC, **extra})
        return response

    return start


def download(api, manifest) -> dict[str, list[dict]]:
    lines: dict[str, list[dict]] = {}
    valid_manifest(manifest)
    for output in manifest["output"]:
        response = api.get(path_of(output["url"]))
        assert response.status_code == 200
        assert response["Content-Type"] == "application/fhir+ndjson"
        body = b"".join(response.streaming_content)
        resources = [orjson.loads(line) for line in body.splitlines()]
        assert len(resources) == output["count"]
        for resource in resources:
            assert resource["resourceType"] == output["type"]
            parsed(resource)
        lines.setdefault(output["type"], []).extend(resources)
    return lines


def test_full_bulk_flow_token_kickoff_poll_manifest_download_cancel(
    ehr_api, full_patient, kickoff, export_dir, django_capture_on_commit_callbacks
):
    api = ehr_api()

    started = kickoff(api, run=False)
    assert started.status_code == 202
    parsed(started.content)
    status_url = path_of(started["Content-Location"])
    waiting = api.get(status_url)
    assert waiting.status_code == 202
    assert int(waiting["Retry-After"]) > 0
    assert waiting["X-Progress"]

    job = ExportJob.objects.get()
    assert tasks.run_export(str(job.pk)) == "completed"
    done = api.get(status_url)
    assert done.status_code == 200
    assert done["Content-Type"] == "application/json"  # the manifest is plain JSON, not a FHIR resource
    manifest = valid_manifest(done.json())
    assert manifest["requiresAccessToken"] is True
    assert manifest["request"] == "http://127.0.0.1:8000/fhir/$export"  # FHIR_BASE_URL, not the Host header
    job.refresh_from_db()
    assert manifest["transactionTime"] == job.transaction_time.isoformat()
    assert manifest["error"] == []
    assert done["Expires"]
    exported = download(api, manifest)
    assert set(exported) == set(RESOURCE_TYPES)
    assert {r["id"] for r in exported["Patient"]} == {str(full_patient.pk)}

    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(status_url).status_code == 202
    assert api.get(status_url).status_code == 404
    assert api.delete(status_url).status_code == 404
    assert api.get(path_of(manifest["output"][0]["url"])).status_code == 404
    assert not any(export_dir.rglob("*.ndjson"))


def test_patient_and_group_exports_hold_the_patient_compartment(ehr_api, full_patient, kickoff, clinic):
    api = ehr_api()
    for url in ("/fhir/Patient/$export", f"/fhir/Group/clinic-{clinic.pk}/$export"):
        response = kickoff(api, url)
        assert response.status_code == 202
        manifest = api.get(path_of(response["Content-Location"])).json()
        assert set(download(api, manifest)) == set(PATIENT_TYPES)


def test_another_clinics_group_is_404(ehr_api, other_clinic, kickoff):
    assert kickoff(ehr_api(), f"/fhir/Group/clinic-{other_clinic.pk}/$export").status_code == 404


def test_an_export_holds_only_the_clients_clinic(ehr_api, patient, other_patient, kickoff):
    mine = diary_entry(patient)
    diary_entry(other_patient)
    api = ehr_api()

    manifest = api.get(path_of(kickoff(api, "/fhir/$export?_type=Observation,Patient")["Content-Location"])).json()

    exported = download(api, manifest)
    assert [r["id"] for r in exported["Observation"]] == [str(mine.pk)]
    assert [r["id"] for r in exported["Patient"]] == [str(patient.pk)]


def test_type_typefilter_and_since(ehr_api, full_patient, kickoff):
    api = ehr_api()
    activity = quote("Observation?category=activity")
    manifest = api.get(
        path_of(kickoff(api, f"/fhir/$export?_type=Observation&_typeFilter={activity}")["Content-Location"])
    ).json()
    exported = download(api, manifest)
    assert [r["id"][:10] for r in exported["Observation"]] == ["adherence-"]

    later = (timezone.now() + timedelta(seconds=1)).isoformat()
    manifest = api.get(path_of(kickoff(api, f"/fhir/$export?_since={quote(later)}")["Content-Location"])).json()
    assert manifest["output"] == []


def test_post_kickoff_takes_a_parameters_resource(ehr_api, full_patient, kickoff):
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "_type", "valueString": "Patient"},
            {"name": "_outputFormat", "valueString": "application/ndjson"},
        ],
    }
    api = ehr_api()

    response = kickoff(api, method="post", data=orjson.dumps(body), content_type="application/fhir+json")

    assert response.status_code == 202
    manifest = api.get(path_of(response["Content-Location"])).json()
    assert [o["type"] for o in manifest["output"]] == ["Patient"]


@pytest.mark.parametrize(
    ("url", "extra", "status"),
    [
        ("/fhir/$export", {"HTTP_PREFER": ""}, 400),
        ("/fhir/$export?_outputFormat=text/csv", {}, 400),
        ("/fhir/$export?_type=Medication", {}, 400),
        ("/fhir/Patient/$export?_type=Group", {}, 400),
        ("/fhir/$export?_since=yesterday", {}, 400),
        ("/fhir/$export?_since=2026-01-01T00:00:00", {}, 400),
        ("/fhir/$export?_typeFilter=Observation%3Fcolour%3Dblue", {}, 400),
        ("/fhir/$export?_typeFilter=category%3Dsurvey", {}, 400),
        # Unsupported parameters are refused unless the client asks for them to be ignored.
        ("/fhir/$export?includeAssociatedData=LatestProvenanceResources", {}, 400),
        ("/fhir/$export?_elements=id", {"HTTP_PREFER": "respond-async, handling=strict"}, 400),
        ("/fhir/Patient/$export?patient=Patient/x", {}, 400),
        # A filter for a type the export does not hold is refused, not read into another type's filter.
        ("/fhir/$export?_type=Observation&_typeFilter=Observation%3Fcategory%3Dsurvey,Flag%3Fcode%3Dred_flag", {}, 400),
        ("/fhir/$export?_type=Observation&_typeFilter=Observation%3Fcategory%3Dsurvey,Medication%3Fcode%3Dx", {}, 400),
        ("/fhir/$export?_since=9999-12-31T23:59:59-05:00", {}, 400),
    ],
)
def test_bad_kickoffs_are_refused_and_create_nothing(ehr_api, kickoff, url, extra, status):
    response = kickoff(ehr_api(), url, **extra)

    assert response.status_code == status
    parsed(response.content)
    assert not ExportJob.objects.exists()


def test_post_kickoff_with_a_bad_body_is_422(ehr_api, kickoff):
    response = kickoff(
        ehr_api(), method="post", data=b'{"resourceType": "Patient"}', content_type="application/fhir+json"
    )

    assert response.status_code == 422
    parsed(response.content)


def test_scopes_limit_what_an_export_may_hold(ehr_api, kickoff, patient):
    api = ehr_api(scope="system/Observation.rs")

    assert kickoff(api, "/fhir/$export?_type=Patient").status_code == 403
    response = kickoff(api, "/fhir/$export")
    assert ExportJob.objects.get().resource_types == ["Observation"]
    assert response.status_code == 202


def test_concurrent_exports_per_client_are_limited(ehr_api, kickoff, settings, patient):
    settings.FHIR_EXPORT_MAX_CONCURRENT_PER_CLIENT = 1
    api = ehr_api()

    first = kickoff(api, run=False)
    second = kickoff(api, run=False)

    assert (first.status_code, second.status_code) == (202, 429)
    assert second["Retry-After"]
    assert parsed(second.content).issue[0].code == "throttled"


def test_only_the_client_that_started_an_export_sees_it(ehr_api, clinic, jwks, kickoff, patient):
    api = ehr_api()
    manifest_url = path_of(kickoff(api)["Content-Location"])
    file_url = path_of(api.get(manifest_url).json()["output"][0]["url"])
    sibling = ehr_api(
        services.backend_client_register(clinic=clinic, name="Other EHR", scopes="system/*.rs", jwks=jwks)
    )

    assert sibling.get(manifest_url).status_code == 404
    assert sibling.get(file_url).status_code == 404
    assert APIClient().get(file_url).status_code == 401


def test_files_split_at_the_configured_size_with_whole_lines(ehr_api, patient, kickoff, settings):
    for _ in range(12):
        diary_entry(patient)
    settings.FHIR_EXPORT_FILE_MAX_BYTES = 4000
    api = ehr_api()

    manifest = api.get(path_of(kickoff(api, "/fhir/$export?_type=Observation")["Content-Location"])).json()

    assert len(manifest["output"]) > 2
    assert sum(o["count"] for o in manifest["output"]) == 12
    assert len(download(api, manifest)["Observation"]) == 12
    assert all(f.size_bytes <= 4000 for f in ExportFile.objects.all())


def test_worker_killed_mid_export_is_rerun_from_scratch(ehr_api, patient, kickoff, export_dir):
    diary_entry(patient)
    api = ehr_api()
    status_url = path_of(kickoff(api, run=False)["Content-Location"])
    job = ExportJob.objects.get()
    # What a worker killed half way leaves: a running attempt with a lapsed lease and a partial file.
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportJob.Status.RUNNING, attempt=1, lease_until=timezone.now() - timedelta(seconds=1)
    )
    dead = export_dir / str(job.pk) / "attempt-1"
    dead.mkdir(parents=True)
    (dead / "Observation-1.ndjson.part").write_bytes(b'{"resourceType": "Observ')

    assert api.get(status_url).status_code == 202
    assert tasks.sweep_exports() == 1

    manifest = api.get(status_url).json()
    assert [o["type"] for o in manifest["output"]] == ["Patient", "Group", "Observation"]
    download(api, manifest)
    assert not dead.exists()
    assert ExportJob.objects.get().attempt == 2
    assert not any(export_dir.rglob("*.part"))


def test_a_running_export_with_a_live_lease_is_left_alone(ehr_api, patient, kickoff):
    kickoff(ehr_api(), run=False)
    ExportJob.objects.update(
        status=ExportJob.Status.RUNNING, attempt=1, lease_until=timezone.now() + timedelta(minutes=1)
    )

    assert tasks.sweep_exports() == 0
    assert tasks.run_export(str(ExportJob.objects.get().pk)) == "not claimed"


def test_an_export_that_keeps_dying_fails_cleanly(ehr_api, patient, kickoff, settings, export_dir):
    api = ehr_api()
    status_url = path_of(kickoff(api, run=False)["Content-Location"])
    job = ExportJob.objects.get()
    ExportJob.objects.update(
        status=ExportJob.Status.RUNNING,
        attempt=settings.FHIR_EXPORT_MAX_ATTEMPTS,
        lease_until=timezone.now() - timedelta(seconds=1),
    )
    (export_dir / str(job.pk) / "attempt-3").mkdir(parents=True)

    assert tasks.sweep_exports() == 0

    response = api.get(status_url)
    assert response.status_code == 500
    assert "stopped" in parsed(response.content).issue[0].diagnostics
    assert not (export_dir / str(job.pk)).exists()


def test_a_cancelled_export_is_not_published(ehr_api, patient, kickoff, export_dir):
    api = ehr_api()
    status_url = path_of(kickoff(api, run=False)["Content-Location"])
    job = ExportJob.objects.get()

    api.delete(status_url)

    assert tasks.run_export(str(job.pk)) == "not claimed"
    assert not ExportFile.objects.exists()


def test_publishing_checks_the_attempt_still_owns_the_job(ehr_api, patient, kickoff, export_dir):
    kickoff(ehr_api(), run=False)
    job = ExportJob.objects.get()
    ExportJob.objects.update(status=ExportJob.Status.RUNNING, attempt=1)
    job.refresh_from_db()
    folder = export_dir / str(job.pk) / "attempt-1"
    folder.mkdir(parents=True)
    ExportJob.objects.update(attempt=2)  # another attempt took the job over

    assert bulk._publish(job, timezone.now(), []) == "stopped"
    assert ExportJob.objects.get().status == ExportJob.Status.RUNNING


def test_files_expire_and_the_job_is_forgotten(ehr_api, patient, kickoff, settings, export_dir):
    api = ehr_api()
    status_url = path_of(kickoff(api)["Content-Location"])
    assert any(export_dir.rglob("*.ndjson"))

    with time_machine.travel(timezone.now() + timedelta(hours=settings.FHIR_EXPORT_RETENTION_HOURS, minutes=1)):
        assert tasks.expire_exports() == 1

    assert not ExportJob.objects.exists()
    assert not any(export_dir.rglob("*.ndjson"))
    assert ehr_api().get(status_url).status_code == 404


def test_export_and_downloads_are_audited_under_the_clients_name(ehr_api, patient, kickoff):
    api = ehr_api()
    manifest = api.get(path_of(kickoff(api, "/fhir/$export?_type=Patient")["Content-Location"])).json()
    download(api, manifest)

    actions = set(AuditEvent.objects.filter(actor_label="Riverside EHR").values_list("action", flat=True))
    assert {"export", "export_download"} <= actions


def test_export_queries_do_not_grow_with_the_rows(ehr_api, full_patient, kickoff):
    def run_one() -> int:
        kickoff(ehr_api(), run=False)
        job = ExportJob.objects.filter(status=ExportJob.Status.ACCEPTED).get()
        with CaptureQueriesContext(connection) as context:
            bulk.export_run(job_id=job.pk)
        ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.CANCELLED)
        return len(context.captured_queries)

    few = run_one()
    for _ in range(40):
        diary_entry(full_patient)
    assert run_one() == few


def test_export_lines_are_the_resources_search_returns(ehr_api, full_patient, kickoff):
    api = ehr_api()
    manifest = api.get(path_of(kickoff(api, "/fhir/$export?_type=Observation")["Content-Location"])).json()
    exported = {r["id"]: r for r in download(api, manifest)["Observation"]}

    searched = valid(api.get("/fhir/Observation?_count=100").json())

    assert exported == {e["resource"]["id"]: e["resource"] for e in searched["entry"]}
    assert DiaryEntry.objects.count() == 1


def exported_ids(api, kickoff, url: str) -> dict[str, list[str]]:
    response = kickoff(api, url)
    assert response.status_code == 202, response.content
    manifest = api.get(path_of(response["Content-Location"])).json()
    return {t: sorted(r["id"] for r in resources) for t, resources in download(api, manifest).items()}


def test_comma_joined_type_filters_are_each_their_own_filter(ehr_api, full_patient, kickoff):
    api = ehr_api()
    one = quote("Observation?category=activity")
    other = quote("Observation?category=survey&code=spasticity_nrs")

    joined = exported_ids(api, kickoff, f"/fhir/$export?_type=Observation&_typeFilter={one},{other}")
    repeated = exported_ids(api, kickoff, f"/fhir/$export?_type=Observation&_typeFilter={one}&_typeFilter={other}")
    two_types = exported_ids(
        api, kickoff, f"/fhir/$export?_type=Observation,Flag&_typeFilter={one},{quote('Flag?code=red_flag')}"
    )
    # Inside one filter, commas still separate a parameter's values.
    both = exported_ids(
        api, kickoff, f"/fhir/$export?_type=Observation&_typeFilter={quote('Observation?category=')}activity,survey"
    )

    assert joined == repeated
    assert [i[:10] for i in joined["Observation"]].count("adherence-") == 1
    assert len(joined["Observation"]) == 2  # the adherence log and the diary entry
    assert [i[:10] for i in two_types["Observation"]] == ["adherence-"]
    assert len(two_types["Flag"]) == 1
    assert len(both["Observation"]) > len(joined["Observation"])  # every survey Observation too


def test_lenient_handling_ignores_an_unsupported_parameter_and_says_so_in_the_manifest(ehr_api, patient, kickoff):
    api = ehr_api()
    response = kickoff(api, "/fhir/$export?_type=Patient&_elements=id", HTTP_PREFER="respond-async, handling=lenient")

    assert response.status_code == 202
    manifest = api.get(path_of(response["Content-Location"])).json()
    assert [o["type"] for o in manifest["output"]] == ["Patient"]
    (error,) = manifest["error"]
    assert error["type"] == "OperationOutcome"
    body = b"".join(api.get(path_of(error["url"])).streaming_content)
    (outcome,) = [parsed(line) for line in body.splitlines()]
    assert outcome.issue[0].severity == "warning"
    assert "_elements" in outcome.issue[0].diagnostics


def test_an_unencoded_plus_in_the_output_format_is_accepted(ehr_api, patient, kickoff):
    response = kickoff(ehr_api(), "/fhir/$export?_type=Patient&_outputFormat=application/fhir+ndjson")

    assert response.status_code == 202


@pytest.mark.parametrize("accept", ["application/fhir+ndjson", "application/ndjson", "ndjson", "*/*"])
def test_files_are_served_to_every_ndjson_accept_header(ehr_api, patient, kickoff, accept):
    api = ehr_api()
    manifest = api.get(path_of(kickoff(api, "/fhir/$export?_type=Patient")["Content-Location"])).json()

    response = api.get(path_of(manifest["output"][0]["url"]), HTTP_ACCEPT=accept)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+ndjson"


def test_the_transaction_time_is_taken_when_the_worker_starts(ehr_api, patient, kickoff):
    entry = diary_entry(patient)
    api = ehr_api()
    status_url = path_of(kickoff(api, "/fhir/$export?_type=Observation", run=False)["Content-Location"])
    # The patient corrects the entry while the export waits for a worker.
    entry.severity = 2
    entry.save()

    assert tasks.run_export(str(ExportJob.objects.get().pk)) == "completed"

    manifest = api.get(status_url).json()
    (exported,) = download(api, manifest)["Observation"]
    assert exported["valueInteger"] == 2
    assert manifest["transactionTime"] >= exported["meta"]["lastUpdated"]


def test_status_and_files_need_scopes_covering_the_exported_types(ehr_api, patient, kickoff):
    diary_entry(patient)
    api = ehr_api()
    status_url = path_of(kickoff(api, "/fhir/$export?_type=Observation,Patient")["Content-Location"])
    manifest = api.get(status_url).json()
    observations = next(o["url"] for o in manifest["output"] if o["type"] == "Observation")
    patients = next(o["url"] for o in manifest["output"] if o["type"] == "Patient")

    narrow = ehr_api(scope="system/Observation.rs")

    assert narrow.get(status_url).status_code == 403
    assert narrow.get(path_of(observations)).status_code == 200
    forbidden = narrow.get(path_of(patients))
    assert forbidden.status_code == 403
    assert parsed(forbidden.content).issue[0].code == "forbidden"
    assert ehr_api(scope="system/Device.rs").get(path_of(observations)).status_code == 403


def test_files_are_refused_once_expired_even_before_the_sweep(ehr_api, patient, kickoff, settings):
    api = ehr_api()
    status_url = path_of(kickoff(api, "/fhir/$export?_type=Patient")["Content-Location"])
    file_url = path_of(api.get(status_url).json()["output"][0]["url"])

    with time_machine.travel(timezone.now() + timedelta(hours=settings.FHIR_EXPORT_RETENTION_HOURS, minutes=1)):
        later = ehr_api()
        assert later.get(file_url).status_code == 404
        assert later.get(status_url).status_code == 404
    assert ExportJob.objects.exists()  # the sweep has not run


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_on_postgresql_takes_the_transaction_time_in_its_own_snapshot(ehr_api, patient, kickoff, settings):
    entry = diary_entry(patient)
    api = ehr_api()
    status_url = path_of(kickoff(api, "/fhir/$export?_type=Observation", run=False)["Content-Location"])
    # Committed kick-offs run at once here (eager Celery); make the job wait for a worker again.
    ExportFile.objects.all().delete()
    ExportJob.objects.update(status=ExportJob.Status.ACCEPTED, attempt=0, transaction_time=None, expires_at=None)
    # Corrected while the export waits for a worker, longer ago than the overlap.
    waited = timedelta(seconds=settings.FHIR_EXPORT_SINCE_OVERLAP_SECONDS + 5)
    with time_machine.travel(timezone.now() - waited):
        entry.severity = 1
        entry.save()
    job = ExportJob.objects.get()

    assert bulk.uses_snapshot()  # outside any transaction, as a worker runs
    assert bulk.export_run(job_id=job.pk) == "completed"

    job.refresh_from_db()
    assert job.transaction_time > DiaryEntry.objects.get().updated_at
    manifest = api.get(status_url).json()
    (exported,) = download(api, manifest)["Observation"]
    assert exported["valueInteger"] == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_transaction_time_is_the_overlap_before_a_write_still_in_flight(ehr_api, patient, kickoff, settings):
    import psycopg

    settings.FHIR_EXPORT_SINCE_OVERLAP_SECONDS = 10
    api = ehr_api()
    kickoff(api, "/fhir/$export?_type=Observation", run=False)
    ExportJob.objects.update(status=ExportJob.Status.ACCEPTED, attempt=0, transaction_time=None, expires_at=None)
    database = connection.settings_dict
    params = {"dbname": database["NAME"], "host": database["HOST"], "port": database["PORT"], "user": database["USER"]}
    with psycopg.connect(**params) as writer:  # a request that stamped a row and has not committed
        writer.execute("SELECT txid_current()")  # as its first INSERT or UPDATE does
        (began,) = writer.execute("SELECT xact_start FROM pg_stat_activity WHERE pid = pg_backend_pid()").fetchone()

        assert bulk.export_run(job_id=ExportJob.objects.get().pk) == "completed"

        writer.rollback()
    assert ExportJob.objects.get().transaction_time <= began - timedelta(seconds=10)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_transaction_time_stays_the_overlap_behind_the_snapshot(ehr_api, patient, kickoff, settings):
    settings.FHIR_EXPORT_SINCE_OVERLAP_SECONDS = 30
    api = ehr_api()
    kickoff(api, "/fhir/$export?_type=Observation", run=False)
    ExportJob.objects.update(status=ExportJob.Status.ACCEPTED, attempt=0, transaction_time=None, expires_at=None)
    overlap = timedelta(seconds=30)
    started = timezone.now()

    assert bulk.export_run(job_id=ExportJob.objects.get().pk) == "completed"

    assert started - overlap <= ExportJob.objects.get().transaction_time <= timezone.now() - overlap
