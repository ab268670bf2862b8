"""OpenAPI descriptions drf-spectacular cannot infer: our bearer-token scheme."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "clinic.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A staff token (POST /api/v1/auth/token) or a patient token (POST /api/v1/auth/enroll).",
        }


# Problem responses every operation can give, and those only writes can give.
ANY_OPERATION = {
    "401": "No token, or an expired or revoked one.",
    "403": "The caller's role may not do this.",
    "404": "Nothing here within the caller's reach.",
    "429": "Too many requests; see Retry-After.",
    "503": "The database cannot be reached; see Retry-After.",
}
WRITES = {
    "400": "Invalid input: `errors` names each bad field.",
    "409": "A client-made id is already used by someone else.",
    "412": "If-Match does not match the current ETag.",
    "413": "The body is too large.",
    "415": "The body is not JSON.",
}

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "object",
            "description": "Messages for each bad field, keyed by its path (relief.0.helped).",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "required": ["type", "title", "status", "detail"],
}


def add_problem_responses(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: document the problem+json answers of every operation."""
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    reference = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            statuses = {**ANY_OPERATION, **(WRITES if method != "get" else {"400": WRITES["400"]})}
            responses = operation.setdefault("responses", {})
            for status, description in statuses.items():
                responses.setdefault(status, {"description": description, "content": reference})
    return result
