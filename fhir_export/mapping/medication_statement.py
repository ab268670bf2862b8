"""MedicationStatement: oral regimens and intrathecal baclofen, one statement per dose period.

Plans are effective-dated (clinic/models/plans.py): every dose change is a version with the
day it takes effect. Each version that gives a dose becomes one statement covering the days
until the next version; a "stopped" version only ends the one before it. So an EHR sees the
dose history, which is what before/after comparisons need, and the dose in force today is
the ``active`` one.
"""

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Protocol, TypeVar

from clinic.models import ItbDose, ItbPump, MedicationDose, MedicationRegimen
from clinic.vocabulary import ORAL_DRUGS
from fhir_export.mapping.common import JSON, concept, fhir_date, instant, meta, patient_reference, reference, ucum
from fhir_export.vocabulary import ROUTES


class Version(Protocol):
    effective_from: date
    created_at: datetime


V = TypeVar("V", bound=Version)


def superseded(version: object) -> bool:
    """A version cancelled before it took effect (the rest of a titration a later change replaced)."""
    return getattr(version, "superseded_at", None) is not None


def dose_periods(
    versions: Sequence[V], *, ends_on: date | None = None, ended_at: datetime | None = None
) -> list[tuple[V, date | None, datetime]]:
    """Each version with the last day it was in force (None: still is) and when it last changed.

    Periods run between the versions in force, so a version changes when the next one is
    written (its period ends), and the last one when the item ends (``ends_on``, recorded at
    ``ended_at``). Superseded versions come last, with no period end, changed when they were
    superseded, so an EHR that saw them planned sees them cancelled. ``sources.py`` computes
    the same change times and ends in SQL, for _lastUpdated and date searches.
    """
    in_force = [v for v in versions if not superseded(v)]
    periods = []
    for index, version in enumerate(in_force):
        later = in_force[index + 1] if index + 1 < len(in_force) else None
        last_day = later.effective_from - timedelta(days=1) if later is not None else ends_on
        if later is not None:
            changed = max(version.created_at, later.created_at)
        else:
            changed = max(version.created_at, ended_at) if ended_at is not None else version.created_at
        periods.append((version, last_day, changed))
    periods.extend((v, None, v.superseded_at) for v in versions if superseded(v))  # type: ignore[attr-defined]
    return periods


def statement_status(version: Version, last_day: date | None, today: date) -> str:
    """``stopped`` for a planned dose cancelled before its day; otherwise by its dates."""
    return "stopped" if superseded(version) else period_status(version.effective_from, last_day, today)


def period_status(start: date, last_day: date | None, today: date) -> str:
    """``intended`` before it starts, ``completed`` after its last day, ``active`` in between."""
    if start > today:
        return "intended"
    if last_day is not None and last_day < today:
        return "completed"
    return "active"


def _period(start: date, last_day: date | None) -> JSON:
    period = {"start": fhir_date(start)}
    if last_day is not None:
        period["end"] = fhir_date(last_day)
    return period


def oral_statement_id(dose_id: int) -> str:
    return f"oral-dose-{dose_id}"


def oral_medication_statements(regimen: MedicationRegimen, doses: Sequence[MedicationDose], today: date) -> list[JSON]:
    """A regimen's dose periods (its versions in date order), with the label maximum daily dose."""
    drug = ORAL_DRUGS[regimen.drug]
    statements = []
    for dose, last_day, changed in dose_periods(doses):
        if dose.stopped or dose.dose_mg is None or dose.times_per_day is None:
            continue
        timing: JSON = {"repeat": {"frequency": dose.times_per_day, "period": 1, "periodUnit": "d"}}
        if dose.times_of_day:
            timing["repeat"]["timeOfDay"] = [f"{t}:00" if len(t) == 5 else t for t in dose.times_of_day]
        statement: JSON = {
            "resourceType": "MedicationStatement",
            "id": oral_statement_id(dose.pk),
            "meta": meta(changed),
            "status": statement_status(dose, last_day, today),
            "medicationCodeableConcept": concept(ORAL_DRUGS, regimen.drug),
            "subject": patient_reference(regimen.patient_id),
            "effectivePeriod": _period(dose.effective_from, last_day),
            "dateAsserted": instant(dose.created_at),
            "dosage": [
                {
                    "text": f"{dose.dose_mg:g} mg {dose.times_per_day} times a day",
                    "timing": timing,
                    "route": concept(ROUTES, "oral"),
                    "doseAndRate": [{"doseQuantity": ucum(dose.dose_mg, "mg")}],
                    # Label maximum daily dose, clinical-reference §3.2 (§6 asks for maxDosePerPeriod).
                    "maxDosePerPeriod": {
                        "numerator": ucum(drug.attrs["max_daily_mg"], "mg"),
                        "denominator": ucum(1, "d"),
                    },
                }
            ],
        }
        if dose.reason:
            statement["note"] = [{"text": dose.reason}]
        statements.append(statement)
    return statements


def itb_statement_id(dose_id: int) -> str:
    return f"itb-dose-{dose_id}"


def itb_medication_statements(pump: ItbPump, doses: Sequence[ItbDose], today: date) -> list[JSON]:
    """The pump's programmed daily doses of intrathecal baclofen, each derived from the pump's Device."""
    ends_on, ended_at = None, None
    if pump.explanted_on is not None:  # the explant ends the last dose; it was recorded when the pump last changed
        ends_on, ended_at = pump.explanted_on - timedelta(days=1), pump.updated_at
    statements = []
    for dose, last_day, changed in dose_periods(doses, ends_on=ends_on, ended_at=ended_at):
        statement: JSON = {
            "resourceType": "MedicationStatement",
            "id": itb_statement_id(dose.pk),
            "meta": meta(changed),
            "status": statement_status(dose, last_day, today),
            "medicationCodeableConcept": concept(ORAL_DRUGS, "baclofen"),
            "subject": patient_reference(pump.patient_id),
            "derivedFrom": [reference("Device", pump.pk)],
            "effectivePeriod": _period(dose.effective_from, last_day),
            "dateAsserted": instant(dose.created_at),
            "dosage": [
                {
                    "text": f"{dose.daily_dose_mcg:g} mcg a day by intrathecal pump",
                    "route": concept(ROUTES, "intrathecal"),
                    "doseAndRate": [
                        {
                            "rateRatio": {
                                "numerator": ucum(dose.daily_dose_mcg, "mcg", "ug"),
                                "denominator": ucum(1, "d"),
                            }
                        }
                    ],
                }
            ],
        }
        if dose.reason:
            statement["note"] = [{"text": dose.reason}]
        statements.append(statement)
    return statements
