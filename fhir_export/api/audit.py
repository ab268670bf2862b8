"""The clinic's audit trail as FHIR AuditEvents (NDJSON), for clinic administrators.

It sits beside ``/api/v1/audit-events.csv`` (same filters, same access: clinic admins' staff
tokens) rather than under ``/fhir/``, whose callers are EHR clients reading clinical data.
"""

import orjson
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request

from clinic.api.views import AuditTrail
from fhir_export.mapping.audit_event import AUDIT_COLUMNS, AuditRow, audit_event

NDJSON = "application/fhir+ndjson"


class AuditEventsNdjson(AuditTrail):
    """One AuditEvent per line, oldest first, streamed (any size, constant memory); the export
    itself is audited."""

    @extend_schema(responses={(200, NDJSON): OpenApiTypes.STR})
    def get(self, request: Request) -> StreamingHttpResponse:
        events = self.exported_events(request, "fhir")
        lines = (
            orjson.dumps(audit_event(AuditRow(*row))) + b"\n"
            for row in events.values_list(*AUDIT_COLUMNS).iterator(chunk_size=2000)
        )
        response = StreamingHttpResponse(lines, content_type=NDJSON)
        response["Content-Disposition"] = 'attachment; filename="audit-events.ndjson"'
        return response
