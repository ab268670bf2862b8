"""Observations: diary entries (survey), adherence logs (activity), GAS levels and T-scores,
and the diary's weekly and monthly trend summaries.

Shape, decided once: one diary entry is one Observation whose value is the spasticity NRS
(0-10) and whose components carry the rest of the entry (spasm count, duration, each body
region, trigger, relief measure, impact domain, side effect and red flag). The components
are not meaningful apart from the episode they describe, which is what R4 reserves
components for; ``hasMember`` would have made one entry six to twenty resources, each needing
its own id, read and search, for no gain to a reader. Severity over time stays a plain
``code`` search. Adherence logs follow the same pattern, one Observation per day. A trend
summary is one Observation per patient and period whose components are the period's figures,
with ``derivedFrom`` naming every diary entry it was computed from.
"""

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, NamedTuple
from uuid import UUID

import orjson

from clinic.clinical_rules import gas_t_score
from clinic.models import GoalRating
from clinic.vocabulary import BODY_REGIONS, ORAL_DRUGS, ORTHOTIC_DEVICES, THERAPY_ACTIVITIES, Vocabulary
from diary.models import IMPACT_COLUMNS, AdherenceLog, DiaryEntry, TrendSummary, utc_offset
from diary.vocabulary import IMPACT_DOMAINS, RED_FLAGS, RELIEF_MEASURES, SIDE_EFFECTS, TRIGGERS
from fhir_export.mapping.common import (
    CACHES,
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
from fhir_export.vocabulary import (
    DIARY_SUMMARIES,
    MEASURES,
    OBSERVATION_CATEGORIES,
    TREND_DIRECTIONS,
    UUID_IDENTIFIER_SYSTEM,
)

# A diary entry's components repeat a few hundred distinct shapes (a trigger, a relief measure
# and how much it helped, ...). Building each once and sharing it is what lets an export map
# tens of thousands of entries a second; mapped dicts are read-only (see common.py).


class _Built(dict[Any, Any]):
    """A cache that builds a missing entry on first use (a plain dict lookup after that)."""

    def __init__(self, build: Callable[[Any], Any]) -> None:
        super().__init__()
        self.build = build
        CACHES.append(self)

    def __missing__(self, key: Any) -> Any:
        value = self[key] = self.build(key)
        return value


def _coded(measure: str, vocabulary: Vocabulary) -> _Built:
    return _Built(lambda word: {"code": concept(MEASURES, measure), "valueCodeableConcept": concept(vocabulary, word)})


_FIXED = _Built(
    lambda name: {
        "category": [concept(OBSERVATION_CATEGORIES, "survey")],
        "code": concept(MEASURES, "spasticity_nrs"),
    }[name]
)
_COUNTS = _Built(lambda n: {"code": concept(MEASURES, "spasm_count"), "valueInteger": n})
_DURATIONS = _Built(lambda n: {"code": concept(MEASURES, "spasm_duration"), "valueQuantity": ucum(n, "min")})
_REGIONS = _Built(
    lambda word: {
        "code": concept(MEASURES, "body_region"),
        "valueCodeableConcept": sided_concept(BODY_REGIONS, word, BODY_REGIONS[word].attrs.get("laterality")),
    }
)
_TRIGGERS = _coded("trigger", TRIGGERS)
_SIDE_EFFECTS = _coded("side_effect", SIDE_EFFECTS)
_RED_FLAGS = _coded("red_flag", RED_FLAGS)
_RELIEF = _Built(lambda key: {"code": concept(RELIEF_MEASURES, key[0]), "valueInteger": key[1]})
_IMPACT = _Built(lambda key: {"code": concept(IMPACT_DOMAINS, key[0]), "valueInteger": key[1]})
_RELIEF_ORDER = {name: index for index, name in enumerate(RELIEF_MEASURES.names())}
_IMPACT_COLUMNS = list(IMPACT_COLUMNS.items())  # in the impact-domain vocabulary's order


class DiaryRow(NamedTuple):
    """A diary entry as the export streams it: the columns the mapper reads, without a model
    instance (Django's row conversion was half of an export's time; see fhir_export/bulk.py).
    The ids come as the database writes them, text: the mapper only ever writes them out."""

    id: str
    patient_id: str
    occurred_at: datetime
    utc_offset_minutes: int
    severity: int
    spasm_count: int | None
    duration_minutes: int | None
    body_regions: list[str]
    triggers: list[str]
    relief: dict[str, int]
    impact_walking: int | None
    impact_dressing: int | None
    impact_sleeping: int | None
    impact_transfers: int | None
    impact_pain: int | None
    side_effects: list[str]
    red_flags: list[str]
    notes: str
    version: int
    created_at: datetime
    updated_at: datetime


_JSON_COLUMNS = frozenset({"body_regions", "triggers", "relief", "side_effects", "red_flags"})
_JSON_POSITIONS = [index for index, name in enumerate(DiaryRow._fields) if name in _JSON_COLUMNS]


def diary_row(values: Sequence[Any]) -> DiaryRow:
    """A DiaryRow from a database row whose JSON columns arrive as text."""
    row = list(values)
    for index in _JSON_POSITIONS:
        row[index] = orjson.loads(row[index])
    return DiaryRow(*row)


def _local_time(entry: DiaryEntry | DiaryRow) -> str:
    """``DiaryEntry.local_occurred_at``, for a model instance or a streamed row."""
    return entry.occurred_at.astimezone(utc_offset(entry.utc_offset_minutes)).isoformat()


def diary_observation(entry: DiaryEntry | DiaryRow) -> JSON:
    """One diary entry: the spasticity NRS, at the patient's own local time, with its details as components."""
    components: list[JSON] = []
    if entry.spasm_count is not None:
        components.append(_COUNTS[entry.spasm_count])
    if entry.duration_minutes is not None:
        components.append(_DURATIONS[entry.duration_minutes])
    components += [_REGIONS[region] for region in entry.body_regions]
    components += [_TRIGGERS[trigger] for trigger in entry.triggers]
    relief = entry.relief
    components += [_RELIEF[measure, relief[measure]] for measure in sorted(relief, key=_RELIEF_ORDER.__getitem__)]
    for domain, column in _IMPACT_COLUMNS:
        rating = getattr(entry, column)
        if rating is not None:
            components.append(_IMPACT[domain, rating])
    components += [_SIDE_EFFECTS[effect] for effect in entry.side_effects]
    components += [_RED_FLAGS[flag] for flag in entry.red_flags]
    entry_id = str(entry.id)
    subject = {"reference": f"Patient/{entry.patient_id}"}
    resource: JSON = {
        "resourceType": "Observation",
        "id": entry_id,
        "meta": {"lastUpdated": instant(entry.updated_at)},
        "identifier": [{"system": UUID_IDENTIFIER_SYSTEM, "value": f"urn:uuid:{entry_id}"}],
        "status": "amended" if entry.version > 1 else "final",
        "category": _FIXED["category"],
        "code": _FIXED["code"],
        "subject": subject,
        "effectiveDateTime": _local_time(entry),
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


def trend_observation_id(summary_id: UUID) -> str:
    return f"trend-{summary_id}"


def _figure(measure: str, value: float | int | None, unit: str | None = None) -> list[JSON]:
    """A summary's figure as a component, or nothing when the period has no such figure."""
    if value is None:
        return []
    if unit is None:
        return [{"code": concept(MEASURES, measure), "valueInteger": value}]
    return [{"code": concept(MEASURES, measure), "valueQuantity": ucum(value, unit)}]


def trend_summary_observation(summary: TrendSummary, entry_ids: Sequence[UUID]) -> JSON:
    """A patient's diary over an ISO week or calendar month of their own days: entries and days,
    severity (mean, median, worst; NRS 0-10), spasms (in all, per day with a spasm count) and the mean
    of each impact domain (0-3) as components; how mean severity moved against the previous
    period as the interpretation; ``derivedFrom`` the diary entries it summarises. A period still
    running is ``preliminary``; its figures change as entries arrive.
    """
    figures = summary.figures
    components = [
        *_figure("diary_entries", summary.entry_count),
        *_figure("diary_days", summary.days_with_entries),
        *_figure("spasticity_nrs_mean", summary.severity_mean, "{score}"),
        *_figure("spasticity_nrs_median", figures.get("severity_median"), "{score}"),
        *_figure("spasticity_nrs_max", figures.get("severity_max")),
        *_figure("spasms_total", figures.get("spasms_total") if summary.spasms_per_day is not None else None),
        *_figure("spasms_per_day", summary.spasms_per_day, "/d"),
    ]
    impact = figures.get("impact", {})
    for domain in IMPACT_DOMAINS.names():
        mean = impact.get(domain)
        if mean is not None:
            components.append({"code": concept(IMPACT_DOMAINS, domain), "valueQuantity": ucum(mean, "{score}")})
    resource: JSON = {
        "resourceType": "Observation",
        "id": trend_observation_id(summary.id),
        # No meta.versionId: this server keeps no history to vread (CapabilityStatement: no-version).
        "meta": {"lastUpdated": instant(summary.updated_at)},
        "status": "final" if summary.complete else "preliminary",
        "category": [concept(OBSERVATION_CATEGORIES, "survey")],
        "code": concept(DIARY_SUMMARIES, summary.granularity),
        "subject": patient_reference(summary.patient_id),
        "effectivePeriod": {"start": fhir_date(summary.period_start), "end": fhir_date(summary.period_end)},
        "issued": instant(summary.updated_at),
        "interpretation": [concept(TREND_DIRECTIONS, summary.direction)],
        "component": components,
    }
    if entry_ids:
        resource["derivedFrom"] = [reference("Observation", entry_id) for entry_id in entry_ids]
    return resource
