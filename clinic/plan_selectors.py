"""Reads of care plans: histories, what is in force on a day, pump projections, GAS, adherence.

Functions that take a patient assume the caller already scoped it (``patient_get_for_user``).
Querysets prefetch what their shapes need, so a list costs a fixed number of queries.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from django.conf import settings
from django.db.models import Prefetch, QuerySet

from clinic import clinical_rules
from clinic.models import (
    BotulinumSession,
    Goal,
    ItbAlarmSetting,
    ItbDose,
    ItbPump,
    ItbRefill,
    MedicationDose,
    MedicationRegimen,
    OrthoticPlan,
    OrthoticPlanVersion,
    Patient,
    TherapyPlan,
    TherapyPlanVersion,
)


class Dated(Protocol):
    effective_from: date
    superseded_at: Any


V = TypeVar("V", bound=Dated)


def version_on(versions: Iterable[V], day: date) -> V | None:
    """The version in force on ``day``: the latest one dated on or before it, not superseded."""
    in_force = [v for v in versions if v.superseded_at is None and v.effective_from <= day]
    return max(in_force, key=lambda v: v.effective_from, default=None)


def upcoming_versions(versions: Iterable[V], day: date) -> list[V]:
    """Versions still to take effect after ``day`` (the rest of a titration), in date order."""
    return sorted(
        (v for v in versions if v.superseded_at is None and v.effective_from > day), key=lambda v: v.effective_from
    )


def dosing_from(doses: Iterable[MedicationDose], day: date) -> date | None:
    """The first day on or after ``day`` on which a dose (not a stop) of the regimen is in force."""
    in_force = sorted((d for d in doses if d.superseded_at is None), key=lambda d: d.effective_from)
    for index, dose in enumerate(in_force):
        ends = in_force[index + 1].effective_from if index + 1 < len(in_force) else None
        if not dose.stopped and (ends is None or ends > day):
            return max(dose.effective_from, day)
    return None


# --- Histories, with everything their API shapes show ------------------------------------------------


def medication_regimens_of(patient: Patient) -> QuerySet[MedicationRegimen]:
    return (
        MedicationRegimen.objects.filter(patient=patient)
        .select_related("created_by", "patient")
        .prefetch_related(Prefetch("doses", queryset=MedicationDose.objects.select_related("created_by")))
        .order_by("created_at")
    )


def itb_pumps_of(patient: Patient) -> QuerySet[ItbPump]:
    return (
        ItbPump.objects.filter(patient=patient)
        .select_related("patient")
        .prefetch_related(
            Prefetch("doses", queryset=ItbDose.objects.select_related("created_by")),
            Prefetch("alarm_settings", queryset=ItbAlarmSetting.objects.select_related("created_by")),
            Prefetch("refills", queryset=ItbRefill.objects.select_related("performed_by")),
        )
        .order_by("-implanted_on")
    )


def botulinum_sessions_of(patient: Patient) -> QuerySet[BotulinumSession]:
    return (
        BotulinumSession.objects.filter(patient=patient)
        .select_related("clinician", "voided_by")
        .prefetch_related("sites")
        .order_by("-injected_on", "-created_at")
    )


def therapy_plans_of(patient: Patient) -> QuerySet[TherapyPlan]:
    return (
        TherapyPlan.objects.filter(patient=patient)
        .select_related("patient")
        .prefetch_related(
            Prefetch(
                "versions",
                queryset=TherapyPlanVersion.objects.select_related("created_by").prefetch_related("activities"),
            )
        )
        .order_by("created_at")
    )


def orthotic_plans_of(patient: Patient) -> QuerySet[OrthoticPlan]:
    return (
        OrthoticPlan.objects.filter(patient=patient)
        .select_related("patient")
        .prefetch_related(Prefetch("versions", queryset=OrthoticPlanVersion.objects.select_related("created_by")))
        .order_by("created_at")
    )


def goals_of(patient: Patient) -> QuerySet[Goal]:
    return Goal.objects.filter(patient=patient).prefetch_related("ratings").order_by("set_on", "created_at")


# --- Intrathecal baclofen ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PumpStatus:
    """What the pump holds and when it needs refilling, projected from the last refill."""

    pump: ItbPump
    dose: ItbDose | None
    last_refill: ItbRefill | None
    projected_alarm_date: date | None
    refill_due_date: date | None
    remaining_ml: Decimal | None
    booked_refill_after_alarm: bool


def alarm_ml_on(pump: ItbPump, day: date) -> Decimal:
    """The alarm volume programmed on ``day`` (alarm settings prefetched)."""
    setting = version_on(pump.alarm_settings.all(), day)
    return setting.alarm_ml if setting is not None else pump.alarm_ml


def pump_status(pump: ItbPump, today: date) -> PumpStatus:
    """The pump's dose today and its reservoir projection (doses, alarm settings and refills prefetched).

    Alarm volumes are never set ahead, so the one programmed today is the one the pump will
    alarm at for the rest of the cycle.
    """
    doses = [d for d in pump.doses.all() if d.superseded_at is None]
    refills = list(pump.refills.all())
    last_refill = max(refills, key=lambda r: (r.refilled_on, r.created_at), default=None)
    dose = version_on(doses, today)
    if last_refill is None or not pump.is_active_on(today):
        return PumpStatus(pump, dose, last_refill, None, None, None, False)
    projection = clinical_rules.project_reservoir(
        refilled_on=last_refill.refilled_on,
        volume_ml=last_refill.volume_ml,
        concentration_mcg_per_ml=last_refill.concentration_mcg_per_ml,
        alarm_ml=alarm_ml_on(pump, today),
        doses=[(d.effective_from, d.daily_dose_mcg) for d in doses],
        today=today,
    )
    alarm_on = projection.alarm_on
    refill_due = alarm_on - timedelta(days=settings.ITB_REFILL_MARGIN_DAYS) if alarm_on else None
    booked = last_refill.next_refill_booked_on
    return PumpStatus(
        pump=pump,
        dose=dose,
        last_refill=last_refill,
        projected_alarm_date=alarm_on,
        refill_due_date=refill_due,
        remaining_ml=projection.remaining_ml_today,
        booked_refill_after_alarm=bool(booked and alarm_on and booked > alarm_on),
    )


def active_pumps_with_refills(around: date) -> QuerySet[ItbPump]:
    """Pumps of active patients that may be implanted on ``around`` in some time zone (a day
    either side), with what ``pump_status`` needs; the caller checks each on the patient's day."""
    return (
        ItbPump.objects.filter(implanted_on__lte=around + timedelta(days=1), patient__is_active=True)
        .exclude(explanted_on__lte=around - timedelta(days=1))
        .select_related("patient")
        .prefetch_related("doses", "alarm_settings", "refills")
    )


# --- Botulinum toxin ----------------------------------------------------------------------------------


def past_sessions(patient: Patient, *, exclude: Any = None) -> list[clinical_rules.PastSession]:
    """The patient's sessions that count for limits and intervals (voided ones do not)."""
    sessions = BotulinumSession.objects.filter(patient=patient, voided_at__isnull=True).prefetch_related("sites")
    if exclude is not None:
        sessions = sessions.exclude(pk=exclude)
    return [
        clinical_rules.PastSession(s.injected_on, s.product, sum((site.units for site in s.sites.all()), Decimal(0)))
        for s in sessions
    ]


def next_injection_on(sessions: Sequence[BotulinumSession]) -> date | None:
    """The first day the next session is within the re-treatment interval of the last one."""
    valid = [s for s in sessions if s.voided_at is None]
    last = max(valid, key=lambda s: s.injected_on, default=None)
    return clinical_rules.next_injection_allowed_on(last.injected_on, last.product) if last else None


# --- Goal Attainment Scaling -----------------------------------------------------------------------------


@dataclass(frozen=True)
class GasScore:
    on: date
    t_score: float
    goals: int


def gas_timeline(goals: Sequence[Goal]) -> list[GasScore]:
    """The GAS T-score of the goal set at baseline and on every rating date [TS].

    On each date every goal set by then counts at its latest rating so far, or at its baseline
    level if it has none yet; goals closed before the date no longer count.
    """
    dates = sorted({g.set_on for g in goals} | {r.rated_on for g in goals for r in g.ratings.all()})
    timeline = []
    for day in dates:
        counted = []
        for goal in goals:
            if goal.set_on > day or (goal.closed_on is not None and goal.closed_on < day):
                continue
            ratings = [r for r in goal.ratings.all() if r.rated_on <= day]
            level = max(ratings, key=lambda r: r.rated_on).level if ratings else goal.baseline_level
            counted.append((level, goal.weight))
        if counted:
            timeline.append(GasScore(day, round(clinical_rules.gas_t_score(counted), 2), len(counted)))
    return timeline


# --- The plan in force on a day ---------------------------------------------------------------------------


@dataclass
class CarePlanToday:
    """What the patient does on ``on``: doses and times, exercises, splints, pump, next injection."""

    on: date
    medications: list[tuple[MedicationRegimen, MedicationDose]] = field(default_factory=list)
    upcoming_medication_changes: list[tuple[MedicationRegimen, MedicationDose]] = field(default_factory=list)
    therapy: list[tuple[TherapyPlan, TherapyPlanVersion]] = field(default_factory=list)
    orthoses: list[tuple[OrthoticPlan, OrthoticPlanVersion]] = field(default_factory=list)
    pumps: list[PumpStatus] = field(default_factory=list)
    last_injection: BotulinumSession | None = None  # with its sites
    next_injection_on: date | None = None


def current_care_plan(patient: Patient, on: date) -> CarePlanToday:
    """Everything in force for the patient on a day, from their full plan history (a fixed number of queries)."""
    plan = CarePlanToday(on=on)
    for regimen in medication_regimens_of(patient):
        doses = list(regimen.doses.all())
        dose = version_on(doses, on)
        if dose is not None and not dose.stopped:
            plan.medications.append((regimen, dose))
        plan.upcoming_medication_changes.extend((regimen, d) for d in upcoming_versions(doses, on))
    for therapy in therapy_plans_of(patient):
        version = version_on(therapy.versions.all(), on)
        if version is not None and not version.stopped:
            plan.therapy.append((therapy, version))
    for orthosis in orthotic_plans_of(patient):
        orthotic_version = version_on(orthosis.versions.all(), on)
        if orthotic_version is not None and not orthotic_version.stopped:
            plan.orthoses.append((orthosis, orthotic_version))
    plan.pumps = [pump_status(pump, on) for pump in itb_pumps_of(patient) if pump.is_active_on(on)]
    sessions = [s for s in botulinum_sessions_of(patient) if s.voided_at is None and s.injected_on <= on]
    plan.last_injection = sessions[0] if sessions else None  # newest first
    plan.next_injection_on = next_injection_on(sessions)
    return plan
