"""AuditEvent: one event of the clinic's audit trail, for a clinic's security tooling.

The event type comes from FHIR's audit-event-type value set: a RESTful operation (with the
restful-interaction it was, where there is one), or DICOM's User Authentication and Export. Our
own action word is kept as a second subtype coding in our ``audit-action`` code system, so the
FHIR copy says everything the CSV does.
"""

from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

import orjson

from clinic.models import AuditEvent
from clinic.vocabulary import local_system
from fhir_export.mapping.common import JSON, canonical, instant, patient_reference

EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
REST = {"system": EVENT_TYPE, "code": "rest", "display": "RESTful Operation"}
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
AUTHENTICATION = {"system": DICOM, "code": "110114", "display": "User Authentication"}
EXPORT = {"system": DICOM, "code": "110106", "display": "Export"}
INTERACTION = "http://hl7.org/fhir/restful-interaction"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"

# Our action -> (event type, restful interaction or None, AuditEvent.action C/R/U/D/E).
_ACTIONS: dict[str, tuple[JSON, str | None, str]] = {
    "create": (REST, "create", "C"),
    "enroll": (REST, "create", "C"),
    "read": (REST, "read", "R"),
    "search": (REST, "search-type", "R"),
    "everything": (REST, "operation", "R"),
    "delete": (REST, "delete", "D"),
    "login": (AUTHENTICATION, None, "E"),
    "token": (AUTHENTICATION, None, "E"),
    "export": (EXPORT, None, "E"),
    "export_download": (EXPORT, None, "R"),
    "export_cancel": (EXPORT, None, "D"),
}
# Everything else records a change to something that exists: acknowledge, resolve, stop, void...
_CHANGE: tuple[JSON, str | None, str] = (REST, "update", "U")
# R4's audit-event-outcome: 0 success, 4 minor failure (a refused request).
_OUTCOMES = {AuditEvent.Outcome.SUCCESS: "0", AuditEvent.Outcome.DENIED: "4"}


class AuditRow(NamedTuple):
    """The columns of an audit event the mapping reads (``values_list`` order)."""

    id: int
    occurred_at: datetime
    actor_id: int | None
    actor_label: str
    patient_id: UUID | None
    action: str
    resource_type: str
    resource_id: str
    outcome: str
    request_id: str
    detail: Any


AUDIT_COLUMNS = AuditRow._fields


def audit_event(row: AuditRow) -> JSON:
    """An audit trail event as a FHIR AuditEvent: who did what to which patient's data, and how it went."""
    event_type, interaction, action = _ACTIONS.get(row.action, _CHANGE)
    subtype = [{"system": INTERACTION, "code": interaction}] if interaction else []
    subtype.append({"system": local_system("audit-action"), "code": row.action})
    who: JSON = {"display": row.actor_label}
    if row.actor_id is not None:
        who["identifier"] = {"system": canonical("sid/staff-account"), "value": str(row.actor_id)}
    entities: list[JSON] = []
    if row.patient_id is not None:
        entities.append(
            {
                "what": patient_reference(row.patient_id),
                "type": {"system": ENTITY_TYPE, "code": "1", "display": "Person"},
                "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"},
            }
        )
    details = [{"type": "request-id", "valueString": row.request_id}] if row.request_id else []
    if row.detail:
        details.append({"type": "detail", "valueString": orjson.dumps(row.detail).decode()})
    resource: JSON = {
        "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
        "role": {"system": OBJECT_ROLE, "code": "4", "display": "Domain Resource"},
        "name": row.resource_type,
    }
    if row.resource_id:
        resource["what"] = {"identifier": {"system": canonical(f"sid/{row.resource_type}"), "value": row.resource_id}}
    if details:
        resource["detail"] = details
    entities.append(resource)
    event: JSON = {
        "resourceType": "AuditEvent",
        "id": str(row.id),
        "type": event_type,
        "subtype": subtype,
        "action": action,
        "recorded": instant(row.occurred_at),
        "outcome": _OUTCOMES[AuditEvent.Outcome(row.outcome)],
        "agent": [{"who": who, "requestor": True}],
        "source": {"observer": {"display": "Spasticity clinic service"}},
        "entity": entities,
    }
    if row.outcome == AuditEvent.Outcome.DENIED:
        event["outcomeDesc"] = "Refused: outside the caller's reach."
    return event
