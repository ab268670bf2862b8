"""End to end with the real broker and a real Celery worker process (PostgreSQL and Redis).

.ci/run provides both; the embedded run leaves these tests out (see conftest).
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.db import connection, transaction
from pytest_httpserver import HTTPServer
from rest_framework.test import APIClient

from clinic.models import Clinic, Patient
from config.celery_app import app as celery_app
from config.db import bulk_insert
from diary.models import Alert, DiaryEntry
from fhir_export import services
from fhir_export.auth import token_url
from fhir_export.bulk import export_files_delete
from fhir_export.models import ExportJob
from fhir_export.tasks import sweep_exports
from tests.conftest import bearer_client, enroll
from tests.factories import ClinicFactory, PatientFactory
from tests.fhir_export.conftest import diary_entry, post_form, public_jwk, token_request

pytestmark = [pytest.mark.live_worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@contextmanager
def start_worker(
    *, broker_url: str | None = None, queue: str | None = None, **settings_env: str
) -> Iterator[subprocess.Popen[bytes]]:
    """A worker process on a queue of its own (or the one given), reading the test database, with
    this process's Celery publishing to the same broker: tasks really go through Redis.
    ``settings_env`` adds environment settings for the worker."""
    broker_url = broker_url or settings.CELERY_BROKER_URL
    queue = queue or f"test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker_url,
        "CELERY_QUEUE": queue,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        **settings_env,
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
            "-Q",
            queue,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    saved = (celery_app.conf.task_always_eager, celery_app.conf.task_default_queue)
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_default_queue = queue
    # broker_write_url, because a CELERY_BROKER_URL in the environment outranks conf.broker_url.
    celery_app.conf.broker_write_url = broker_url
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    try:
        yield worker
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.task_default_queue = saved
        celery_app.conf.broker_write_url = None
        celery_app._pool = None
        celery_app.amqp._producer_pool = None
        worker.terminate()
        output, _ = worker.communicate(timeout=30)
        print(output.decode(errors="replace")[-4000:])  # noqa: T201  shown when the test fails


@pytest.fixture
def celery_worker_process(transactional_db) -> Iterator[subprocess.Popen[bytes]]:
    with start_worker() as worker:
        yield worker


def wait_for(predicate, timeout: float = 45.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_worker_delivers_a_red_flag_notification_end_to_end(
    celery_worker_process, httpserver: HTTPServer, entry_payload
):
    clinic = ClinicFactory(webhook_url=httpserver.url_for("/alerts"), webhook_secret="k")
    patient = PatientFactory(clinic=clinic)
    httpserver.expect_request("/alerts", method="POST").respond_with_data("ok")
    api = bearer_client(enroll(patient))

    response = api.post("/api/v1/diary/entries", entry_payload(red_flags=["fever"]), format="json")

    assert response.status_code == 201
    alert = Alert.objects.get()
    assert wait_for(lambda: Alert.objects.filter(pk=alert.pk, notified_at__isnull=False).exists())
    request, _ = httpserver.log[0]
    assert request.json["alert_id"] == str(alert.pk)
    alert.refresh_from_db()
    assert (alert.notify_attempts, alert.email_sent_at is not None) == (1, True)


def ehr_api_for(clinic: Clinic) -> APIClient:
    """An API client holding a backend-services token of a new EHR client of the clinic."""
    key = ec.generate_private_key(ec.SECP384R1())
    client = services.backend_client_register(
        clinic=clinic, name="EHR", scopes="system/*.rs", jwks={"keys": [public_jwk(key, "k1")]}
    )
    now = int(time.time())
    claims = {"iss": client.client_id, "sub": client.client_id, "aud": token_url(), "exp": now + 120}
    assertion = jwt.encode({**claims, "jti": str(uuid.uuid4())}, key, algorithm="ES384", headers={"kid": "k1"})
    token = post_form("/fhir/auth/token", token_request(assertion)).json()["access_token"]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


def test_worker_writes_a_bulk_export_that_the_client_downloads(celery_worker_process):
    """The worker path proper: one REPEATABLE READ snapshot, a streaming cursor, and a heartbeat
    on its own connection; the manifest appears only when the files are complete."""
    # The worker and this process share the default export folder (the worker's settings come from its environment).
    job_id = None
    try:
        clinic = ClinicFactory()
        patient = PatientFactory(clinic=clinic)
        for _ in range(30):
            diary_entry(patient)
        api = ehr_api_for(clinic)

        started = api.get("/fhir/$export?_type=Patient,Observation", HTTP_PREFER="respond-async")
        status_url = urlsplit(started["Content-Location"]).path
        assert wait_for(lambda: api.get(status_url).status_code == 200)

        manifest = api.get(status_url).json()
        assert [(o["type"], o["count"]) for o in manifest["output"]] == [("Patient", 1), ("Observation", 30)]
        body = b"".join(api.get(urlsplit(manifest["output"][1]["url"]).path).streaming_content)
        assert len([orjson.loads(line) for line in body.splitlines()]) == 30
        job_id = ExportJob.objects.get().pk
        assert ExportJob.objects.get().attempt == 1
    finally:
        if job_id is not None:
            export_files_delete(job_id=job_id)


def many_entries(patient: Patient, count: int) -> None:
    """A long diary, written by COPY: one entry an hour going back from the start of November."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    rows = []
    for n in range(count):
        when = start - timedelta(hours=n)
        rows.append(
            DiaryEntry(
                id=uuid.uuid4(),
                patient=patient,
                occurred_at=when,
                utc_offset_minutes=0,
                local_date=when.date(),
                local_hour=when.hour,
                severity=n % 11,
                spasm_count=n % 7,
                body_regions=["left_calf", "right_thigh"],
                triggers=["cold"],
                relief={"stretching": 2},
                impact_walking=2,
            )
        )
    with transaction.atomic():
        bulk_insert(rows)


def test_a_worker_killed_mid_export_is_replaced_and_the_export_redone_without_half_files(tmp_path, settings):
    """SIGKILL, not a simulation: the worker dies while writing, its lease runs out, the sweep
    hands the job to a new worker, and the manifest lists only the new attempt's whole files."""
    entries = 40_000
    settings.FHIR_EXPORT_DIR = tmp_path
    worker_settings = {
        "FHIR_EXPORT_DIR": str(tmp_path),
        "FHIR_EXPORT_LEASE_SECONDS": "3",
        "FHIR_EXPORT_FILE_MAX_BYTES": str(2 * 1024 * 1024),  # many files, so some are whole when it dies
    }
    clinic = ClinicFactory()
    many_entries(PatientFactory(clinic=clinic), entries)
    api = ehr_api_for(clinic)
    queue = f"test-{uuid.uuid4().hex[:8]}"

    with start_worker(queue=queue, **worker_settings) as doomed:
        started = api.get("/fhir/$export?_type=Observation", HTTP_PREFER="respond-async")
        status_url = urlsplit(started["Content-Location"]).path
        job = ExportJob.objects.get()
        first_attempt = tmp_path / str(job.pk) / "attempt-1"
        # Killed once a file is whole and the next one is being written.
        assert wait_for(lambda: any(first_attempt.glob("*.ndjson")), timeout=60)
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=10)

    job.refresh_from_db()
    assert (job.status, job.attempt) == (ExportJob.Status.RUNNING, 1)
    assert api.get(status_url).status_code == 202
    assert any(first_attempt.glob("*.ndjson.part")), "the worker died before its export was half done"

    time.sleep(3.5)  # the dead worker's lease runs out
    with start_worker(queue=queue, **worker_settings):
        sweep_exports.delay()
        assert wait_for(lambda: api.get(status_url).status_code == 200, timeout=90)

    job.refresh_from_db()
    manifest = api.get(status_url).json()
    lines = [
        orjson.loads(line)
        for output in manifest["output"]
        for line in b"".join(api.get(urlsplit(output["url"]).path).streaming_content).splitlines()
    ]
    assert (job.status, job.attempt) == (ExportJob.Status.COMPLETED, 2)
    assert sum(output["count"] for output in manifest["output"]) == len(lines) == entries
    assert len({line["id"] for line in lines}) == entries
    assert not first_attempt.exists()
    assert not list(tmp_path.rglob("*.part"))
