"""End to end with the real broker and a real Celery worker process (PostgreSQL and Redis).

.ci/run provides both; the embedded run leaves these tests out (see conftest).
"""

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from pytest_httpserver import HTTPServer

from config.celery_app import app as celery_app
from diary.models import Alert
from tests.conftest import bearer_client, enroll
from tests.factories import ClinicFactory, PatientFactory

pytestmark = [pytest.mark.live_worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@contextmanager
def start_worker(*, broker_url: str | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """A worker process on a queue of its own, reading the test database, with this process's
    Celery publishing to the same broker: tasks really go through Redis."""
    broker_url = broker_url or settings.CELERY_BROKER_URL
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker_url,
        "CELERY_QUEUE": queue,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
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


def test_worker_writes_a_bulk_export_that_the_client_downloads(celery_worker_process, settings):
    """The worker path proper: one REPEATABLE READ snapshot, a streaming cursor, and a heartbeat
    on its own connection; the manifest appears only when the files are complete."""
    from urllib.parse import urlsplit

    import orjson
    from rest_framework.test import APIClient

    from fhir_export import services
    from fhir_export.models import ExportJob
    from tests.fhir_export.conftest import diary_entry, post_form, public_jwk, token_request

    # The worker and this process share the default export folder (the worker's settings come from its environment).
    job_id = None
    try:
        import jwt
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP384R1())
        clinic = ClinicFactory()
        patient = PatientFactory(clinic=clinic)
        for _ in range(30):
            diary_entry(patient)
        client = services.backend_client_register(
            clinic=clinic, name="EHR", scopes="system/*.rs", jwks={"keys": [public_jwk(key, "k1")]}
        )
        now = int(time.time())
        assertion = jwt.encode(
            {
                "iss": client.client_id,
                "sub": client.client_id,
                "aud": f"{settings.FHIR_BASE_URL}/auth/token",
                "exp": now + 120,
                "jti": str(uuid.uuid4()),
            },
            key,
            algorithm="ES384",
            headers={"kid": "k1"},
        )
        token = post_form("/fhir/auth/token", token_request(assertion)).json()["access_token"]
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

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
            from fhir_export.bulk import export_files_delete

            export_files_delete(job_id=job_id)
