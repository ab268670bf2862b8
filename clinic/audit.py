"""Writing the audit trail: who read or changed which patient's data, when, and with what outcome.

Writes call ``audit_record`` inside their own transaction, so the record and the change commit
together. Reads call it after the data is fetched; denials (a record outside the caller's
reach) call it before answering 404.
"""

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from django.http import Http404
from django_guid import get_guid

from clinic.models import AuditEvent, Patient, User

# A list read names the patients it showed, up to this many; beyond, it records the count.
MAX_PATIENT_IDS_IN_DETAIL = 200


def actor_label(user: User | None) -> str:
    if user is None:
        return "system"
    if user.is_patient:
        return f"patient app ({user.username})"
    if user.role:
        return f"{user.username} ({user.role})"
    return user.username


def audit_record(
    *,
    actor: User | None,
    action: str,
    resource_type: str,
    patient: Patient | None = None,
    patient_id: UUID | None = None,
    clinic_id: int | None = None,
    resource_id: object = "",
    outcome: str = AuditEvent.Outcome.SUCCESS,
    detail: dict[str, Any] | None = None,
    label: str = "",
) -> AuditEvent:
    """Append one event to the audit trail; ``label`` names an actor that is not a user (an EHR client)."""
    if patient is not None:
        patient_id, clinic_id = patient.pk, patient.clinic_id
    if clinic_id is None and actor is not None:
        clinic_id = actor.clinic_id
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.pk else None,
        actor_label=label or actor_label(actor),
        clinic_id=clinic_id,
        patient_id=patient_id,
        action=action,
        resource_type=resource_type,
        resource_id=str(resource_id),
        outcome=outcome,
        request_id=get_guid() or "",
        detail=detail or {},
    )


def audit_list_read(
    *, actor: User | None, resource_type: str, patient_ids: Iterable[UUID], **detail: Any
) -> AuditEvent:
    """Record a read of a list that spans several patients (the patient list, the alert list)."""
    ids = sorted({str(i) for i in patient_ids})
    info: dict[str, Any] = {"count": len(ids), **detail}
    if len(ids) <= MAX_PATIENT_IDS_IN_DETAIL:
        info["patient_ids"] = ids
    patient_id = UUID(ids[0]) if len(ids) == 1 else None
    return audit_record(actor=actor, action="read", resource_type=resource_type, patient_id=patient_id, detail=info)


def audit_denied(*, actor: User, resource_type: str, resource_id: object, what: str = "") -> Http404:
    """Record an attempt to reach something outside the caller's reach; return the 404 to raise.

    Out of reach answers exactly like missing, so ids cannot be probed; only the trail knows.
    """
    audit_record(
        actor=actor,
        action="read",
        resource_type=resource_type,
        resource_id=resource_id,
        outcome=AuditEvent.Outcome.DENIED,
    )
    return Http404(f"No such {what or resource_type.replace('_', ' ')}.")
