"""Schema-driven fuzzing of the diary and patient endpoints: whatever is sent, never a 500.

Schemathesis generates requests from the OpenAPI schema (valid and invalid ones), and each is
sent through the whole WSGI stack with real staff and patient tokens.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from clinic import services
from config.wsgi import application
from tests.conftest import enroll
from tests.factories import PASSWORD, ClinicFactory, PatientFactory, StaffFactory

SCHEMA = schemathesis.openapi.from_wsgi("/api/schema/", application).include(
    path_regex=r"^/api/v1/(diary/|patients|auth/enroll)"
)
OPERATIONS = {result.ok().label: result.ok() for result in SCHEMA.get_all_operations()}


@pytest.fixture
def callers(db) -> dict[str, str]:
    """Tokens of a clinician and of a patient of the same clinic, and that patient's id."""
    clinic = ClinicFactory()
    clinician = StaffFactory(clinic=clinic, role="clinician")
    patient = PatientFactory(clinic=clinic)
    return {
        "staff": services.staff_token_issue(username=clinician.username, password=PASSWORD).secret,
        "patient": enroll(patient, by=StaffFactory(clinic=clinic, role="nurse")),
        "patient_id": str(patient.pk),
    }


@pytest.fixture
def keep_test_transaction():
    """As Django's test client does: requests must not close the test's open transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_fuzzed_requests_never_cause_a_server_error(label, callers, keep_test_transaction):
    operation = OPERATIONS[label]
    caller = "patient" if operation.path.startswith("/api/v1/diary") else "staff"

    @given(case=operation.as_strategy())
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case):
        if case.path_parameters and "patient_id" in case.path_parameters:
            case.path_parameters["patient_id"] = callers["patient_id"]  # reach past the 404 into the endpoint
        case.call_and_validate(headers={"Authorization": f"Bearer {callers[caller]}"}, checks=[not_a_server_error])

    check()
