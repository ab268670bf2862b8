"""Diaries with known numbers for the trend tests, stored through the diary service."""

import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import time_machine

from clinic.models import Patient
from diary import services
from tests.conftest import enroll

# "Now" for trend tests: Wednesday 25 November 2026, noon UTC (ISO week 2026-W48).
NOW = datetime.fromisoformat("2026-11-25T12:00:00+00:00")


def entry(at: str, severity: int, **fields: Any) -> dict[str, Any]:
    """A validated diary entry as the service takes it; ``at`` carries the phone's UTC offset."""
    return {
        "id": uuid.uuid4(),
        "occurred_at": datetime.fromisoformat(at),
        "severity": severity,
        "spasm_count": fields.pop("spasms", None),
        "body_regions": [],
        "triggers": [],
        "relief": {},
        "impact": {},
        "red_flags": [],
        "side_effects": [],
        "notes": "",
        **fields,
    }


def daily(first: date, last: date, severity: int, *, offset: str = "-05:00", hour: int = 9, **fields: Any) -> list:
    """One entry a day from ``first`` to ``last`` inclusive."""
    days = (last - first).days + 1
    return [entry(f"{first + timedelta(days=n)}T{hour:02d}:00:00{offset}", severity, **fields) for n in range(days)]


@pytest.fixture
def now() -> Iterator[datetime]:
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def record(django_capture_on_commit_callbacks) -> Callable[..., None]:
    """Store entries for a patient as one upload, and run the recompute it enqueues (eager Celery)."""

    def store(patient: Patient, entries: list[dict[str, Any]]) -> None:
        if patient.user_id is None:
            enroll(patient)
        with django_capture_on_commit_callbacks(execute=True):
            services.record_diary_entries(actor=patient.user, patient=patient, entries=list(enumerate(entries)))

    return store
