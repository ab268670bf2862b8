"""Goal: a goal in the patient's words, scored by Goal Attainment Scaling [TS]."""

from collections.abc import Sequence

from clinic.models import Goal, GoalRating
from clinic.vocabulary import GOAL_DOMAINS
from fhir_export.mapping.common import JSON, concept, fhir_date, meta, patient_reference, reference
from fhir_export.mapping.observation import gas_level_observation_id
from fhir_export.vocabulary import MEASURES

ACHIEVEMENT_SYSTEM = "http://terminology.hl7.org/CodeSystem/goal-achievement"
_LIFECYCLE: dict[str, str] = {
    Goal.Status.ACTIVE: "active",
    Goal.Status.ACHIEVED: "completed",
    Goal.Status.DISCONTINUED: "cancelled",
}
_LEVEL_WORDS = {
    -2: "much less than expected",
    -1: "somewhat less than expected",
    0: "expected outcome",
    1: "somewhat better than expected",
    2: "much better than expected",
}


def achievement(goal: Goal, latest: GoalRating | None) -> str:
    """Level 0 is the expected outcome [TS]; below it, the change from the baseline level."""
    if latest is None:
        return "in-progress"
    if latest.level >= 0:
        return "achieved"
    if latest.level > goal.baseline_level:
        return "improving"
    return "worsening" if latest.level < goal.baseline_level else "no-change"


def goal_resource(goal: Goal, ratings: Sequence[GoalRating]) -> JSON:
    """The goal with one target (level 0, the expected outcome), its five levels described in
    notes, and its GAS ratings as outcome Observations."""
    latest = max(ratings, key=lambda r: (r.rated_on, r.pk), default=None)
    status = achievement(goal, latest)
    levels = [
        f"{int(level):+d} ({_LEVEL_WORDS[int(level)]}): {text}"
        for level, text in sorted(goal.levels.items(), key=lambda i: int(i[0]))
    ]
    resource: JSON = {
        "resourceType": "Goal",
        "id": str(goal.pk),
        "meta": meta(max([goal.updated_at, *(r.created_at for r in ratings)])),
        "lifecycleStatus": _LIFECYCLE[goal.status],
        "achievementStatus": {"coding": [{"system": ACHIEVEMENT_SYSTEM, "code": status}]},
        "category": [concept(GOAL_DOMAINS, goal.domain)],
        "description": {"text": goal.description},
        "subject": patient_reference(goal.patient_id),
        "startDate": fhir_date(goal.set_on),
        "target": [{"measure": concept(MEASURES, "gas_level"), "detailInteger": 0}],
        "expressedBy": patient_reference(goal.patient_id),
        "note": [
            {"text": f"Baseline level {goal.baseline_level:+d}; weight {goal.weight}."},
            *({"text": t} for t in levels),
        ],
    }
    if goal.closed_on is not None:
        resource["statusDate"] = fhir_date(goal.closed_on)
    if ratings:
        resource["outcomeReference"] = [reference("Observation", gas_level_observation_id(r.pk)) for r in ratings]
    return resource
