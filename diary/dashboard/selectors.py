"""Reads for the dashboard's patient page: the care plan in force today.

This reads the care-plan models directly, following their effective-dating rule (the version in
force on a day is the latest one dated on or before it and not superseded; a ``stopped``
version ends the item). ``clinic.plan_selectors.current_care_plan`` does the same read on the
care-plan branch; once both are merged, ``current_plan`` should be built from it.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

from django.db.models import Prefetch, QuerySet

from clinic.clinical_rules import next_injection_allowed_on
from clinic.models import (
    BotulinumSession,
    ItbDose,
    ItbPump,
    MedicationDose,
    MedicationRegimen,
    OrthoticPlan,
    OrthoticPlanVersion,
    Patient,
    TherapyPlan,
    TherapyPlanVersion,
)
from diary.trends.adherence import took_effect
from diary.trends.events import dose_text
from diary.trends.figures import plain

Version = TypeVar("Version", MedicationDose, ItbDose, TherapyPlanVersion, OrthoticPlanVersion)


def in_force(versions: Iterable[Version], on: date) -> Version | None:
    """The version in force on ``on``: the latest dated on or before it, unless it is a stop."""
    current = None
    for version in versions:  # ordered by effective_from (the models' Meta.ordering)
        if version.effective_from <= on and took_effect(version):
            current = version
    if current is None or getattr(current, "stopped", False):
        return None
    return current


@dataclass
class CurrentPlan:
    medications: list[dict[str, Any]] = field(default_factory=list)
    pump: dict[str, Any] | None = None
    last_injection: dict[str, Any] | None = None
    therapy: list[dict[str, Any]] = field(default_factory=list)
    orthoses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.medications or self.pump or self.last_injection or self.therapy or self.orthoses)


def current_plan(patient: Patient, *, on: date) -> CurrentPlan:
    """What the patient's care plan is on ``on`` (six queries, whatever the plan's history)."""
    plan = CurrentPlan()
    regimens: QuerySet[MedicationRegimen] = patient.medication_regimens.prefetch_related("doses")
    for regimen in regimens:
        dose = in_force(regimen.doses.all(), on)
        if dose is not None:
            plan.medications.append(
                {"drug": regimen.get_drug_display(), "dose": dose_text(dose), "since": dose.effective_from}
            )
    pumps: QuerySet[ItbPump] = patient.itb_pumps.prefetch_related("doses")
    for pump in pumps:
        pump_dose = in_force(pump.doses.all(), on)
        if pump.is_active_on(on) and pump_dose is not None:
            plan.pump = {"model": pump.model, "dose": f"{plain(pump_dose.daily_dose_mcg)} mcg/day"}
    session = (
        BotulinumSession.objects.filter(patient=patient, voided_at__isnull=True, injected_on__lte=on)
        .prefetch_related("sites")
        .order_by("-injected_on", "-created_at")
        .first()
    )
    if session is not None:
        plan.last_injection = {
            "day": session.injected_on,
            "product": session.get_product_display(),
            "sites": [f"{s.side} {s.get_muscle_display().lower()} {plain(s.units)} U" for s in session.sites.all()],
            "next_allowed_on": next_injection_allowed_on(session.injected_on, session.product),
        }
    therapy_plans: QuerySet[TherapyPlan] = patient.therapy_plans.prefetch_related(
        Prefetch("versions", queryset=TherapyPlanVersion.objects.prefetch_related("activities"))
    )
    for therapy in therapy_plans:
        version = in_force(therapy.versions.all(), on)
        if version is not None:
            plan.therapy.append(
                {
                    "title": therapy.title,
                    "activities": [
                        f"{a.get_kind_display()}: {a.minutes or f'{a.sets}x{a.reps}'}"
                        f"{' min' if a.minutes else ''}, {a.days_per_week} days a week"
                        for a in version.activities.all()
                    ],
                }
            )
    orthotic_plans: QuerySet[OrthoticPlan] = patient.orthotic_plans.prefetch_related("versions")
    for orthotic in orthotic_plans:
        worn = in_force(orthotic.versions.all(), on)
        if worn is not None:
            plan.orthoses.append(
                {
                    "device": f"{orthotic.get_side_display()} {orthotic.get_device_display().lower()}",
                    "hours": plain(worn.hours_per_day) if worn.hours_per_day else None,
                    "at_night": worn.at_night,
                }
            )
    return plan
