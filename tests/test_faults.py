"""Faults against the real services: Redis goes down while diaries are posted.

A Redis of the test's own (on a spare port), serving as broker, rate-limit counter and cache at
once, is stopped while patients post red-flag entries, then started again; a real Celery worker
process takes the notifications from it. The machine's Redis is never touched. Run by .ci/run
with PostgreSQL; the embedded run leaves it out.
"""

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from pytest_httpserver import HTTPServer

from diary import tasks
from diary.models import Alert, DiaryEntry
from tests.conftest import bearer_client, enroll
from tests.factories import ClinicFactory, PatientFactory
from tests.test_live_worker import start_worker, wait_for

pytestmark = [pytest.mark.live_worker, pytest.mark.django_db(transaction=True)]


class PrivateRedis:
    """A redis-server process of the test's own, which the test may stop and start again."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is needed for this test"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def keys(self, pattern: str) -> list[bytes]:
        return redis.Redis.from_url(self.url).keys(pattern)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    redis = PrivateRedis()
    redis.start()
    yield redis
    redis.stop()


def test_entries_and_alerts_survive_a_redis_outage_and_are_notified_once_it_is_back(
    private_redis, httpserver: HTTPServer, entry_payload, settings
):
    settings.ALERT_SWEEP_GRACE_SECONDS = 0
    # One Redis for everything, as the README's deployment has it: broker, rate limits, cache.
    settings.REDIS_URL = private_redis.url
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": private_redis.url}}
    clinic = ClinicFactory(webhook_url=httpserver.url_for("/alerts"))
    patients = [PatientFactory(clinic=clinic) for _ in range(3)]
    apps = [bearer_client(enroll(patient)) for patient in patients]
    httpserver.expect_request("/alerts", method="POST").respond_with_data("ok")

    with start_worker(broker_url=private_redis.url, REDIS_URL=private_redis.url):
        assert apps[0].get("/api/v1/me").status_code == 200  # the rate limits count in that Redis
        assert private_redis.keys("throttle:*")
        private_redis.stop()
        answers = [
            app.post("/api/v1/diary/entries", entry_payload(red_flags=["fever"]), format="json")
            for app in apps
            for _ in range(4)
        ]

        assert [a.status_code for a in answers] == [201] * 12
        assert all(a.json()["urgent"]["alert_ids"] for a in answers)
        assert DiaryEntry.objects.count() == 12
        assert Alert.objects.filter(notified_at__isnull=True).count() == 12

        private_redis.start()
        sent = tasks.sweep_alert_notifications()  # what beat runs every minute

        assert sent == 12
        assert wait_for(lambda: not Alert.objects.filter(notified_at__isnull=True).exists())
    delivered = [request.json["alert_id"] for request, _ in httpserver.log]
    assert sorted(delivered) == sorted(str(pk) for pk in Alert.objects.values_list("pk", flat=True))


def test_a_task_delivered_twice_notifies_once(private_redis, httpserver: HTTPServer, entry_payload):
    clinic = ClinicFactory(webhook_url=httpserver.url_for("/alerts"))
    app = bearer_client(enroll(PatientFactory(clinic=clinic)))
    httpserver.expect_request("/alerts", method="POST").respond_with_data("ok")

    with start_worker(broker_url=private_redis.url):
        first = app.post("/api/v1/diary/entries", entry_payload(red_flags=["fever"]), format="json").json()
        alert_id = first["urgent"]["alert_ids"][0]
        assert wait_for(lambda: Alert.objects.filter(pk=alert_id, notified_at__isnull=False).exists())
        for _ in range(3):  # the same task again, as a broker redelivering it would
            tasks.notify_alert.apply_async(args=[alert_id], task_id=str(uuid.uuid4()))
        # One worker takes tasks in order: once a later alert is notified, the repeats were handled.
        later = app.post("/api/v1/diary/entries", entry_payload(red_flags=["fever"]), format="json").json()
        later_id = later["urgent"]["alert_ids"][0]
        assert wait_for(lambda: Alert.objects.filter(pk=later_id, notified_at__isnull=False).exists())

    assert sorted(request.json["alert_id"] for request, _ in httpserver.log) == sorted([alert_id, later_id])
    assert Alert.objects.get(pk=alert_id).notify_attempts == 1
