"""OperationOutcome: the body of every error on ``/fhir/``."""

from typing import Any

from fhir_export.mapping.common import JSON

# IssueType for each HTTP status we answer with (http://hl7.org/fhir/issue-type).
ISSUE_TYPES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    410: "deleted",
    412: "conflict",
    413: "too-long",
    415: "not-supported",
    422: "processing",
    429: "throttled",
    500: "exception",
    503: "transient",
}


def operation_outcome(status: int, diagnostics: str, *, severity: str = "error", code: str | None = None) -> JSON:
    issue: dict[str, Any] = {
        "severity": severity,
        "code": code or ISSUE_TYPES.get(status, "processing"),
        "diagnostics": diagnostics,
    }
    return {"resourceType": "OperationOutcome", "issue": [issue]}
