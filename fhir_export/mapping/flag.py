"""Flag: an alert the clinic must look at (a red flag now; reminders and trend signals later)."""

from diary.models import Alert
from fhir_export.mapping.common import JSON, canonical, concept, instant, meta, patient_reference
from fhir_export.vocabulary import ALERT_KINDS, ALERT_PRIORITIES, FLAG_CATEGORY_SYSTEM

# Red flags are about the patient's condition; the others are clinic workload (§6: clinical/safety).
_CATEGORY = {"red_flag": ("safety", "Safety")}


def alert_flag(alert: Alert) -> JSON:
    """An alert as a Flag: active until resolved, with its priority in our extension."""
    category_code, category_display = _CATEGORY.get(alert.kind, ("clinical", "Clinical"))
    period = {"start": instant(alert.created_at)}
    if alert.resolved_at is not None:
        period["end"] = instant(alert.resolved_at)
    code = concept(ALERT_KINDS, alert.kind)
    changed = max(t for t in (alert.created_at, alert.acknowledged_at, alert.resolved_at) if t is not None)
    return {
        "resourceType": "Flag",
        "id": str(alert.pk),
        "meta": meta(changed),
        "extension": [
            {
                "url": canonical("StructureDefinition/alert-priority"),
                "valueCodeableConcept": concept(ALERT_PRIORITIES, alert.priority),
            }
        ],
        "status": "inactive" if alert.status == Alert.Status.RESOLVED else "active",
        "category": [
            {"coding": [{"system": FLAG_CATEGORY_SYSTEM, "code": category_code, "display": category_display}]}
        ],
        "code": {"coding": code["coding"], "text": alert.title},
        "subject": patient_reference(alert.patient_id),
        "period": period,
    }
