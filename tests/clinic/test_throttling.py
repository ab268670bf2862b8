"""Fixed-window request counting behind every rate limit (Redis in CI, the process here), and
requests going on without Redis when it is down."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.core.cache import cache
from rest_framework.test import APIClient

from clinic.api.throttling import count_in_window
from diary.models import Alert, DiaryEntry
from tests.factories import PASSWORD


def test_counts_grow_within_a_window_and_start_again_in_the_next():
    with time_machine.travel(datetime(2026, 3, 2, 9, 0, 5, tzinfo=UTC), tick=False) as clock:
        first_window = [count_in_window("user:7", 60) for _ in range(3)]
        clock.move_to(datetime(2026, 3, 2, 9, 0, 59, tzinfo=UTC))
        same_window = count_in_window("user:7", 60)
        clock.move_to(datetime(2026, 3, 2, 9, 1, 0, tzinfo=UTC))
        next_window = count_in_window("user:7", 60)

    assert first_window == [1, 2, 3]
    assert same_window == 4
    assert next_window == 1


def test_keys_are_counted_apart():
    with time_machine.travel(datetime(2026, 3, 2, 9, 0, 5, tzinfo=UTC), tick=False):
        count_in_window("user:7", 60)
        count_in_window("user:7", 60)
        other = count_in_window("user:8", 60)

    assert other == 1


# Nothing listens on port 1: every Redis call fails at once, as when Redis is down.
DEAD_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def redis_down(settings):
    settings.REDIS_URL = DEAD_REDIS
    settings.CACHES = {
        "default": {
            "BACKEND": "config.cache.FailSafeRedisCache",
            "LOCATION": DEAD_REDIS,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }


def test_diaries_and_red_flag_alerts_are_stored_while_redis_is_down(redis_down, patient_api, entry_payload, caplog):
    answers = [patient_api.post("/api/v1/diary/entries", entry_payload(red_flags=["fever"])) for _ in range(3)]

    assert [a.status_code for a in answers] == [201] * 3
    assert all(a.json()["urgent"]["alert_ids"] for a in answers)
    assert DiaryEntry.objects.count() == 3
    assert Alert.objects.filter(kind=Alert.Kind.RED_FLAG).count() == 3
    warnings = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
    assert len(warnings) == 1  # once, not once per request


def test_staff_reads_work_while_redis_is_down(redis_down, api_as, clinician):
    assert api_as(clinician).get("/api/v1/alerts").status_code == 200


def test_login_guessing_is_still_limited_while_redis_is_down(redis_down, clinician):
    def attempt(password: str) -> int:
        return (
            APIClient()
            .post("/api/v1/auth/token", {"username": clinician.username, "password": password}, format="json")
            .status_code
        )

    statuses = [attempt(f"guess {i}") for i in range(10)]

    assert statuses == [401] * 10
    assert attempt(PASSWORD) == 429


def test_the_cache_misses_instead_of_failing_while_redis_is_down(redis_down):
    cache.set("key", "value")

    assert cache.get("key", "missing") == "missing"
    assert cache.add("key", "value") is False
