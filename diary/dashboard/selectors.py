"""Reads for the dashboard's patient page: the care plan in force today, as the page words it."""

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from clinic import plan_selectors
from clinic.models import Patient
from clinic.vocabulary import MUSCLES
from diary.trends.events import dose_text
from diary.trends.figures import plain


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
    """What the patient's care plan is on ``on`` (``clinic.plan_selectors.current_care_plan``)."""
    today = plan_selectors.current_care_plan(patient, on)
    plan = CurrentPlan()
    plan.medications = [
        {"drug": regimen.get_drug_display(), "dose": dose_text(dose), "since": dose.effective_from}
        for regimen, dose in today.medications
    ]
    if today.pumps:
        status = today.pumps[0]
        plan.pump = {
            "model": status.pump.model,
            "dose": f"{plain(status.dose.daily_dose_mcg)} mcg/day" if status.dose else "no dose programmed",
            "refill_due": status.refill_due_date,
            "alarm": status.projected_alarm_date,
        }
    session = today.last_injection
    if session is not None:
        plan.last_injection = {
            "day": session.injected_on,
            "product": session.get_product_display(),
            "sites": [f"{s.side} {MUSCLES[s.muscle].label.lower()} {plain(s.units)} U" for s in session.sites.all()],
            "next_allowed_on": today.next_injection_on,
        }
    plan.therapy = [
        {
            "title": therapy.title,
            "activities": [
                f"{a.get_kind_display()}: {a.minutes or f'{a.sets}x{a.reps}'}"
                f"{' min' if a.minutes else ''}, {a.days_per_week} days a week"
                for a in version.activities.all()
            ],
        }
        for therapy, version in today.therapy
    ]
    plan.orthoses = [
        {
            "device": f"{orthosis.get_side_display()} {orthosis.get_device_display().lower()}",
            "hours": plain(worn.hours_per_day) if worn.hours_per_day else None,
            "at_night": worn.at_night,
        }
        for orthosis, worn in today.orthoses
    ]
    return plan
