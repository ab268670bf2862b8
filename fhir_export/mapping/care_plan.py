"""CarePlan: a therapy plan, one CarePlan per version (each replaces the one before)."""

from collections.abc import Sequence
from datetime import date

from clinic.models import TherapyActivity, TherapyPlan, TherapyPlanVersion
from clinic.vocabulary import BODY_REGIONS, THERAPY_ACTIVITIES, THERAPY_DISCIPLINES
from fhir_export.mapping.common import JSON, concept, fhir_date, meta, patient_reference, reference
from fhir_export.mapping.medication_statement import dose_periods, superseded

_ACTIVITY_STATUS = {
    "intended": "not-started",
    "active": "in-progress",
    "completed": "completed",
    "revoked": "cancelled",
}


def care_plan_id(version_id: int) -> str:
    return f"therapy-{version_id}"


def version_status(start: date, last_day: date | None, today: date) -> str:
    if last_day is not None and last_day < today:
        return "completed"
    return "intended" if start > today else "active"


def request_status(version: object, start: date, last_day: date | None, today: date) -> str:
    """The CarePlan / DeviceRequest status of a version: ``revoked`` if a later change cancelled it
    before it took effect, ``completed`` once over, else ``active``."""
    if superseded(version):
        return "revoked"
    return "completed" if version_status(start, last_day, today) == "completed" else "active"


def therapy_care_plans(
    plan: TherapyPlan, versions: Sequence[TherapyPlanVersion], activities: dict[int, list[TherapyActivity]], today: date
) -> list[JSON]:
    """The plan's versions in date order; a "stopped" version only ends the one before it."""
    plans = []
    previous: int | None = None
    for version, last_day, changed in dose_periods(versions):
        if version.stopped:
            continue
        status = "revoked" if superseded(version) else version_status(version.effective_from, last_day, today)
        period = {"start": fhir_date(version.effective_from)}
        if last_day is not None:
            period["end"] = fhir_date(last_day)
        resource: JSON = {
            "resourceType": "CarePlan",
            "id": care_plan_id(version.pk),
            "meta": meta(max(changed, plan.updated_at)),
            "status": request_status(version, version.effective_from, last_day, today),
            "intent": "plan",
            "category": [concept(THERAPY_DISCIPLINES, plan.discipline)],
            "title": plan.title,
            "subject": patient_reference(plan.patient_id),
            "period": period,
            "created": fhir_date(version.created_at.date()),
            "activity": [_activity(a, _ACTIVITY_STATUS[status]) for a in activities.get(version.pk, [])],
        }
        if previous is not None and not superseded(version):
            resource["replaces"] = [reference("CarePlan", care_plan_id(previous))]
        if version.reason:
            resource["note"] = [{"text": version.reason}]
        plans.append(resource)
        if not superseded(version):
            previous = version.pk
    return plans


def _activity(activity: TherapyActivity, status: str) -> JSON:
    repeat: JSON = {"frequency": activity.days_per_week, "period": 1, "periodUnit": "wk"}
    if activity.minutes:
        repeat.update(duration=activity.minutes, durationUnit="min")
    parts = []
    if activity.body_region:
        parts.append(BODY_REGIONS[activity.body_region].label + ".")
    if activity.sets and activity.reps:
        parts.append(f"{activity.sets} sets of {activity.reps}.")
    if activity.instructions:
        parts.append(activity.instructions)
    detail: JSON = {
        "code": concept(THERAPY_ACTIVITIES, activity.kind),
        "status": status,
        "scheduledTiming": {"repeat": repeat},
    }
    if parts:
        detail["description"] = " ".join(parts)
    return {"detail": detail}
