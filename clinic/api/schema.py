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
