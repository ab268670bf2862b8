"""Planned therapy minutes, orthosis hours and medicine doses per day, from the plan versions.

The version of a plan in force on a day is its latest version with ``effective_from`` on or
before that day (clinic.models.plans); a ``stopped`` version plans nothing. Therapy activities
with minutes plan ``minutes x days_per_week / 7`` a day; an orthosis plans ``hours_per_day``.
Activities dosed only in sets and repetitions have no minutes and are not counted.
"""

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from clinic.models import MedicationDose, OrthoticPlanVersion, TherapyPlanVersion


@dataclass
class Schedule:
    """One plan's daily amounts per activity or device, as (first day, amounts) steps in date order."""

    steps: list[tuple[date, dict[str, float]]] = field(default_factory=list)

    def planned(self, first: date, last: date) -> dict[str, float]:
        """Total planned amount per word over the days ``first`` to ``last`` inclusive."""
        totals: dict[str, float] = defaultdict(float)
        for index, (start, daily) in enumerate(self.steps):
            end = self.steps[index + 1][0] - timedelta(days=1) if index + 1 < len(self.steps) else last
            days = (min(end, last) - max(start, first)).days + 1
            if days > 0:
                for word, amount in daily.items():
                    totals[word] += amount * days
        return totals


@dataclass
class PatientPlans:
    therapy: list[Schedule] = field(default_factory=list)
    orthoses: list[Schedule] = field(default_factory=list)
    medications: list[Schedule] = field(default_factory=list)

    def planned(self, kind: str, first: date, last: date) -> dict[str, float]:
        """Planned amounts per word from ``first`` to ``last``: therapy minutes per activity,
        orthosis hours per device, or scheduled doses per drug (``kind``)."""
        totals: dict[str, float] = defaultdict(float)
        for schedule in getattr(self, kind):
            for word, amount in schedule.planned(first, last).items():
                totals[word] += amount
        return totals


def plans_of(patient_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, PatientPlans]:
    """Every patient's therapy, orthotic and medicine schedules, from the versions in force
    (three queries, plus one for activities)."""
    plans: dict[uuid.UUID, PatientPlans] = defaultdict(PatientPlans)
    therapy_versions = (
        TherapyPlanVersion.objects.in_force()
        .filter(plan__patient_id__in=patient_ids)
        .select_related("plan")
        .prefetch_related("activities")
        .order_by("plan_id", "effective_from")
    )
    schedules: dict[object, Schedule] = {}
    for version in therapy_versions:
        daily: dict[str, float] = defaultdict(float)
        if not version.stopped:
            for activity in version.activities.all():
                if activity.minutes:
                    daily[activity.kind] += activity.minutes * activity.days_per_week / 7
        if version.plan_id not in schedules:
            schedules[version.plan_id] = Schedule()
            plans[version.plan.patient_id].therapy.append(schedules[version.plan_id])
        schedules[version.plan_id].steps.append((version.effective_from, dict(daily)))
    orthotic_versions = (
        OrthoticPlanVersion.objects.in_force()
        .filter(plan__patient_id__in=patient_ids)
        .select_related("plan")
        .order_by("plan_id", "effective_from")
    )
    for orthotic in orthotic_versions:
        hours = (
            {}
            if orthotic.stopped or not orthotic.hours_per_day
            else {orthotic.plan.device: float(orthotic.hours_per_day)}
        )
        if orthotic.plan_id not in schedules:
            schedules[orthotic.plan_id] = Schedule()
            plans[orthotic.plan.patient_id].orthoses.append(schedules[orthotic.plan_id])
        schedules[orthotic.plan_id].steps.append((orthotic.effective_from, hours))
    doses = (
        MedicationDose.objects.in_force()
        .filter(regimen__patient_id__in=patient_ids)
        .select_related("regimen")
        .order_by("regimen_id", "effective_from")
    )
    for dose in doses:
        scheduled = {} if dose.stopped or not dose.times_per_day else {dose.regimen.drug: float(dose.times_per_day)}
        if dose.regimen_id not in schedules:
            schedules[dose.regimen_id] = Schedule()
            plans[dose.regimen.patient_id].medications.append(schedules[dose.regimen_id])
        schedules[dose.regimen_id].steps.append((dose.effective_from, scheduled))
    return plans


def adherence_figures(planned: dict[str, float], logged: dict[str, float], unit: str, key: str) -> dict:
    """Share of the planned amount logged, overall and per activity or device.

    The overall share counts only what was planned: extra minutes of an activity outside the plan
    do not make up for planned ones skipped. Shares above 1 mean more than planned was logged.
    """
    if not planned and not logged:  # most periods of most patients: nothing planned, nothing logged
        return {f"planned_{unit}": 0.0, f"logged_{unit}": 0.0, "share": None, "items": []}
    planned_total = sum(planned.values())
    logged_planned = sum(logged.get(word, 0.0) for word in planned)
    return {
        f"planned_{unit}": round(planned_total, 1),
        f"logged_{unit}": round(logged_planned, 1),
        "share": round(logged_planned / planned_total, 2) if planned_total else None,
        "items": [
            {
                key: word,
                f"planned_{unit}": round(planned.get(word, 0.0), 1),
                f"logged_{unit}": round(logged.get(word, 0.0), 1),
                "share": round(logged.get(word, 0.0) / planned[word], 2) if planned.get(word) else None,
            }
            for word in sorted({*planned, *logged})
        ],
    }
