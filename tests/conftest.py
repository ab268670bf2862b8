"""Shared fixtures: clinics, staff and patients, and API clients holding real bearer tokens."""

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from clinic import services
from clinic.api import throttling
from clinic.models import Clinic, Patient, User
from config import cache as config_cache
from tests.factories import PASSWORD, ClinicFactory, PatientFactory, StaffFactory


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out tests that need services this run does not have; .ci/run provides them."""
    missing = set()
    if not settings.CELERY_BROKER_URL:
        missing.add("live_worker")
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        missing.update({"postgres", "live_worker"})
    if not Path("/usr/bin/chromium").exists():
        missing.add("browser")
    if not missing:
        return
    selected, deselected = [], []
    for item in items:
        (deselected if missing & {m.name for m in item.iter_markers()} else selected).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"{len(deselected)} tests need {', '.join(sorted(missing))} "
                "(PostgreSQL, Redis, a Celery worker, Chromium): run .ci/run for them."
            )


@pytest.fixture(autouse=True)
def _fresh_throttle_counters() -> None:
    cache.clear()
    throttling.process_counts.clear()
    throttling.outage.reset()
    config_cache.outage.reset()


@pytest.fixture
def one_rate_window() -> Iterator[None]:
    """Start the test just after a rate-limit window opens (windows are fixed minutes), so the
    requests it counts never straddle two windows, whatever the clock says when it runs."""
    window_start = time.time() // 60 * 60
    with time_machine.travel(window_start + 1, tick=True):
        yield


@pytest.fixture
def clinic(db: None) -> Clinic:
    return ClinicFactory(name="Riverside")


@pytest.fixture
def other_clinic(db: None) -> Clinic:
    return ClinicFactory(name="Hillside")


@pytest.fixture
def staff(clinic: Clinic) -> Callable[..., User]:
    def make(role: str = User.Role.CLINICIAN, **kwargs: Any) -> User:
        return StaffFactory(role=role, clinic=kwargs.pop("clinic", clinic), **kwargs)

    return make


@pytest.fixture
def admin_user(staff: Callable[..., User]) -> User:
    return staff(User.Role.ADMIN, username="admin1")


@pytest.fixture
def clinician(staff: Callable[..., User]) -> User:
    return staff(User.Role.CLINICIAN, username="clinician1")


@pytest.fixture
def nurse(staff: Callable[..., User]) -> User:
    return staff(User.Role.NURSE, username="nurse1")


@pytest.fixture
def therapist(staff: Callable[..., User]) -> User:
    return staff(User.Role.THERAPIST, username="therapist1")


@pytest.fixture
def patient(clinic: Clinic) -> Patient:
    return PatientFactory(clinic=clinic, mrn="MRN-1", given_name="Pat", family_name="Ient")


@pytest.fixture
def other_patient(other_clinic: Clinic) -> Patient:
    return PatientFactory(clinic=other_clinic, mrn="MRN-1", given_name="Other", family_name="Person")


def bearer_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def api_as() -> Callable[[User], APIClient]:
    """An API client signed in as a staff member, with a token from the real login service."""

    def make(user: User) -> APIClient:
        return bearer_client(services.staff_token_issue(username=user.username, password=PASSWORD).secret)

    return make


def enroll(patient: Patient, *, by: User | None = None, device: str = "phone") -> str:
    """Enroll a phone for the patient the way the app does, and return its token."""
    enroller = by or StaffFactory(role=User.Role.NURSE, clinic=patient.clinic)
    code = services.enrollment_code_create(actor=enroller, patient=patient)
    issued = services.enrollment_redeem(code=code.secret, device_name=device)
    patient.refresh_from_db()
    return issued.secret


@pytest.fixture
def patient_api(patient: Patient) -> APIClient:
    return bearer_client(enroll(patient))


@pytest.fixture
def other_patient_api(other_patient: Patient) -> APIClient:
    return bearer_client(enroll(other_patient))


@pytest.fixture
def entry_payload() -> Callable[..., dict[str, Any]]:
    """A valid diary entry as the phone sends it (the example of DESIGN.md), a few hours ago."""

    def make(**overrides: Any) -> dict[str, Any]:
        when = (datetime.now().astimezone() - timedelta(hours=3)).replace(microsecond=0)
        payload = {
            "id": str(uuid.uuid4()),
            "occurred_at": when.isoformat(),
            "severity": 6,
            "spasm_count": 4,
            "duration_minutes": 10,
            "body_regions": ["left_calf", "left_foot"],
            "triggers": ["cold", "position_change"],
            "relief": [{"measure": "stretching", "helped": 2}, {"measure": "heat", "helped": 1}],
            "impact": {"walking": 2, "dressing": 1, "sleeping": 0},
            "red_flags": [],
            "side_effects": ["drowsiness"],
            "notes": "stiff on getting up",
        }
        payload.update(overrides)
        return payload

    return make


@pytest.fixture
def is_postgres() -> bool:
    return connection.vendor == "postgresql"
