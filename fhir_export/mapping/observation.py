"""Observations: diary entries (survey), adherence logs (activity), GAS levels and T-scores.

Shape, decided once: one diary entry is one Observation whose value is the spasticity NRS
(0-10) and whose components carry the rest of the entry (spasm count, duration, each body
region, trigger, relief measure, impact domain, side effect and red flag). The components
are not meaningful apart from the episode they describe, which is what R4 reserves
components for; ``hasMember`` would have made one entry six to twenty resources, each needing
its own id, read and search, for no gain to a reader. Severity over time stays a plain
``code`` search. Adherence logs follow the same pattern, one Observation per day.
"""

from collections.abc import Sequence
from datetime import date
from uuid import UUID

from clinic.clinical_rules import gas_t_score
from clinic.models import GoalRating
from clinic.vocabulary import BODY_REGIONS, ORAL_DRUGS, ORTHOTIC_DEVICES, THERAPY_ACTIVITIES, Vocabulary
from diary.models import AdherenceLog, DiaryEntry
from diary.vocabulary import IMPACT_DOMAINS, RED_FLAGS, RELIEF_MEASURES, SIDE_EFFECTS, TRIGGERS
from fhir_export.mapping.common import (
    JSON,
    concept,
    fhir_date,
    instant,
    meta,
    patient_reference,
    reference,
    sided_concept,
    ucum,
    uuid_identifier,
)
from fhir_export.vocabulary import MEASURES, OBSERVATION_CATEGORIES


def _coded_components(measure: str, vocabulary: Vocabulary, words: Sequence[str]) -> list[JSON]:
    code = concept(MEASURES, measure)
    return [{"code": code, "valueCodeableConcept": concept(vocabulary, word)} for word in words]


def diary_observation(entry: DiaryEntry) -> JSON:
    """One diary entry: the spasticity NRS, at the patient's own local time, with its details as components."""
    components: list[JSON] = []
    if entry.spasm_count is not None:
        components.append({"code": concept(MEASURES, "spasm_count"), "valueInteger": entry.spasm_count})
    if entry.duration_minutes is not None:
        components.append(
            {"code": concept(MEASURES, "spasm_duration"), "valueQuantity": ucum(entry.duration_minutes, "min")}
        )
    region_code = concept(MEASURES, "body_region")
    for region in entry.body_regions:
        side = BODY_REGIONS[region].attrs.get("laterality")
        components.append({"code": region_code, "valueCodeableConcept": sided_concept(BODY_REGIONS, region, side)})
    components += _coded_components("trigger", TRIGGERS, entry.triggers)
    for measure, helped in RELIEF_MEASURES.in_order(entry.relief):
        components.append({"code": concept(RELIEF_MEASURES, measure), "valueInteger": helped})
    for domain, rating in IMPACT_DOMAINS.in_order(entry.impact):
        components.append({"code": concept(IMPACT_DOMAINS, domain), "valueInteger": rating})
    components += _coded_components("side_effect", SIDE_EFFECTS, entry.side_effects)
    components += _coded_components("red_flag", RED_FLAGS, entry.red_flags)
    subject = patient_reference(entry.patient_id)
    resource: JSON = {
        "resourceType": "Observation",
        "id": str(entry.id),
        "meta": meta(entry.updated_at),
        "identifier": [uuid_identifier(entry.id)],
        "status": "amended" if entry.version > 1 else "final",
        "category": [concept(OBSERVATION_CATEGORIES, "survey")],
        "code": concept(MEASURES, "spasticity_nrs"),
        "subject": subject,
        "effectiveDateTime": entry.local_occurred_at.isoformat(),
        "issued": instant(entry.created_at),
        "performer": [subject],
        "valueInteger": entry.severity,
    }
    if entry.notes:
        resource["note"] = [{"text": entry.notes}]
    if components:
        resource["component"] = components
    return resource


def adherence_observation_id(log_id: UUID) -> str:
    return f"adherence-{log_id}"


def adherence_observation(log: AdherenceLog) -> JSON:
    """One day of adherence: each component's code names what was done, its value how much."""
    components: list[JSON] = []
    for activity, minutes in THERAPY_ACTIVITIES.in_order(log.therapy_minutes):
        components.append({"code": concept(THERAPY_ACTIVITIES, activity), "valueQuantity": ucum(minutes, "min")})
    for device, hours in ORTHOTIC_DEVICES.in_order(log.orthosis_hours):
        components.append({"code": concept(ORTHOTIC_DEVICES, device), "valueQuantity": ucum(hours, "h")})
    for drug, missed in ORAL_DRUGS.in_order(log.missed_doses):
        components.append({"code": concept(ORAL_DRUGS, drug), "valueInteger": missed})
    subject = patient_reference(log.patient_id)
    resource: JSON = {
        "resourceType": "Observation",
        "id": adherence_observation_id(log.id),
        "meta": meta(log.updated_at),
        "identifier": [uuid_identifier(log.id)],
        "status": "final",
        "category": [concept(OBSERVATION_CATEGORIES, "activity")],
        "code": concept(MEASURES, "daily_adherence"),
        "subject": subject,
        "effectiveDateTime": fhir_date(log.date),
        "issued": instant(log.created_at),
        "performer": [subject],
    }
    if log.notes:
        resource["note"] = [{"text": log.notes}]
    if components:
        resource["component"] = components
    return resource


def gas_level_observation_id(rating_id: int) -> str:
    return f"gas-{rating_id}"


def gas_level_observation(rating: GoalRating, patient_id: UUID) -> JSON:
    """A goal's attainment level on a day (-2..+2) [TS], focused on the Goal."""
    subject = patient_reference(patient_id)
    resource: JSON = {
        "resourceType": "Observation",
        "id": gas_level_observation_id(rating.pk),
        "meta": meta(rating.created_at),
        "status": "final",
        "category": [concept(OBSERVATION_CATEGORIES, "survey")],
        "code": concept(MEASURES, "gas_level"),
        "subject": subject,
        "focus": [reference("Goal", rating.goal_id)],
        "effectiveDateTime": fhir_date(rating.rated_on),
        "performer": [subject],
        "valueInteger": rating.level,
    }
    if rating.note:
        resource["note"] = [{"text": rating.note}]
    return resource


def gas_t_score_observation_id(patient_id: UUID, rated_on: date) -> str:
    return f"gas-t-{patient_id}-{rated_on:%Y%m%d}"


def gas_t_score_observation(patient_id: UUID, rated_on: date, ratings: Sequence[tuple[GoalRating, int]]) -> JSON:
    """The Kiresuk-Sherman T-score over the goals rated on one day (rating, goal weight) [TS].

    No performer: R4's performer cannot be a Device, and the score is computed (§1.1).
    """
    score = gas_t_score([(rating.level, weight) for rating, weight in ratings])
    return {
        "resourceType": "Observation",
        "id": gas_t_score_observation_id(patient_id, rated_on),
        "meta": meta(max(rating.created_at for rating, _ in ratings)),
        "status": "final",
        "category": [concept(OBSERVATION_CATEGORIES, "survey")],
        "code": concept(MEASURES, "gas_t_score"),
        "subject": patient_reference(patient_id),
        "effectiveDateTime": fhir_date(rated_on),
        "valueQuantity": ucum(round(score, 2), "{score}"),
        "derivedFrom": [
            reference("Observation", gas_level_observation_id(rating.pk)) for rating, _ in sorted(ratings, key=_by_id)
        ],
    }


def _by_id(item: tuple[GoalRating, int]) -> int:
    return item[0].pk
