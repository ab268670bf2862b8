"""Schema-driven fuzzing of every /api/v1/ endpoint: whatever is sent, never a 500, and never
an answer outside the schema (status, content type and body all as documented).

Schemathesis generates requests from the OpenAPI schema (valid and invalid ones), and each is
sent through the whole WSGI stack with real tokens of the role the endpoint is for.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from clinic import services
from config.wsgi import application
from tests.conftest import enroll
from tests.factories import PASSWORD, ClinicFactory, PatientFactory, StaffFactory

SCHEMA = schemathesis.openapi.from_wsgi("/api/schema/", application)
OPERATIONS = {result.ok().label: result.ok() for result in SCHEMA.get_all_operations()}


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def callers(db) -> dict[str, str]:
    """Tokens of an admin, a clinician and a patient of one clinic, and that patient's id."""
    clinic = ClinicFactory()
    admin = StaffFactory(clinic=clinic, role="admin")
    clinician = StaffFactory(clinic=clinic, role="clinician")
    patient = PatientFactory(clinic=clinic)
    return {
        "admin": services.staff_token_issue(username=admin.username, password=PASSWORD).secret,
        "staff": services.staff_token_issue(username=clinician.username, password=PASSWORD).secret,
        "patient": enroll(patient, by=StaffFactory(clinic=clinic, role="nurse")),
        "patient_id": str(patient.pk),
    }


def caller_for(path: str) -> str:
    if path.startswith(("/api/v1/diary", "/api/v1/me")):
        return "patient"
    if path.startswith(("/api/v1/audit-events", "/api/v1/staff")):
        return "admin"
    return "staff"


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
    caller = caller_for(operation.path)

    @given(case=operation.as_strategy())
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case):
        if case.path_parameters and "patient_id" in case.path_parameters:
            case.path_parameters["patient_id"] = callers["patient_id"]  # reach past the 404 into the endpoint
        case.call_and_validate(headers={"Authorization": f"Bearer {callers[caller]}"}, checks=CHECKS)

    check()
