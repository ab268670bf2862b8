"""Every write of care plans: effective-dated versions, events, overrides, all audited.

Common rules of versioned items (see ``clinic.models.plans``):

- a change takes effect on its date and never on or before the day of the version already in
  force today, so what a patient actually took is never rewritten; it supersedes the versions
  dated on or after it that are still to come (the rest of a titration). The one exception is
  a same-day correction: a version that started today may be replaced by a change dated today;
- "today" is the patient's calendar day, in their time zone;
- a change needs a reason, kept on the version;
- every change bumps the item's ``revision``; a client that sends ``expected_revision`` (from
  ``If-Match``) and is out of date gets ``PlanChanged`` (412);
- a limit from ``clinical_rules`` refuses the change unless a clinician records an override
  reason, which is kept on the version and in the audit trail.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from clinic import clinical_rules, patient_time, plan_selectors
from clinic.audit import audit_record
from clinic.clinical_rules import plain
from clinic.models import (
    BotulinumSession,
    Goal,
    GoalRating,
    InjectionSite,
    ItbAlarmSetting,
    ItbDose,
    ItbPump,
    ItbRefill,
    MedicationDose,
    MedicationRegimen,
    OrthoticPlan,
    OrthoticPlanVersion,
    Patient,
    TherapyActivity,
    TherapyPlan,
    TherapyPlanVersion,
    User,
)
from clinic.vocabulary import BOTULINUM_PRODUCTS, ITB_CONCENTRATIONS_MCG_PER_ML, ORAL_DRUGS

# Who writes which part of a plan (issue: clinicians prescribe and inject; therapists write
# therapy and orthotic plans; nurses record pump refills).
PRESCRIBERS = frozenset({User.Role.CLINICIAN})
THERAPY_WRITERS = frozenset({User.Role.THERAPIST, User.Role.CLINICIAN})
REFILLERS = frozenset({User.Role.NURSE, User.Role.CLINICIAN})
GOAL_WRITERS = frozenset({User.Role.CLINICIAN, User.Role.THERAPIST})

# Plans are written for the coming months, not for years ahead.
MAX_DAYS_AHEAD = 366


class PlanChanged(Exception):
    """The item changed since the client read it (``If-Match`` did not match)."""


@dataclass
class PlanChange:
    """What a write did, with warnings the prescriber should see."""

    item: Any
    warnings: list[str] = field(default_factory=list)


def _trends_stale(patient_id: Any, *days: date) -> None:
    """A plan change moves what the trends compare (events, planned adherence): recompute them."""
    from diary.trends.services import trends_request_recompute

    trends_request_recompute(patient_id=patient_id, days=days)


def require(actor: User, roles: frozenset[str], action: str, patient: Patient) -> None:
    """Only staff of the patient's clinic, in a role allowed to ``action``."""
    if not actor.is_clinic_staff or actor.clinic_id != patient.clinic_id:
        raise PermissionDenied("Only staff of the patient's clinic can change their plan.")
    if actor.role not in roles:
        raise PermissionDenied(f"Your role may not {action}.")


def _check_override(breaches: list[clinical_rules.RuleBreach], override_reason: str, actor: User) -> None:
    if not breaches:
        return
    if not override_reason.strip():
        errors: dict[str, list[str]] = {}
        for breach in breaches:
            errors.setdefault(breach.field, []).append(breach.message)
        errors.setdefault("override_reason", []).append(
            "To go ahead anyway, a clinician records the reason in override_reason."
        )
        raise ValidationError(errors)
    if actor.role != User.Role.CLINICIAN:
        raise PermissionDenied("Only a clinician can override a safety limit.")


def _require_reason(reason: str) -> None:
    """A change is a new version with a date and a reason (the issue); an empty one is refused."""
    if not reason.strip():
        raise ValidationError({"reason": ["Say why: a change is kept with its reason."]})


def _locked(item: Any, expected_revision: int | None) -> Any:
    locked = type(item)._default_manager.select_for_update().get(pk=item.pk)
    if expected_revision is not None and locked.revision != expected_revision:
        raise PlanChanged
    return locked


def _bump(item: Any) -> None:
    item.revision += 1
    item.save(update_fields=["revision", "updated_at"] if hasattr(item, "updated_at") else ["revision"])


def _check_date(name: str, day: date, today: date, *, future_ok: bool = True) -> None:
    if day > today + timedelta(days=MAX_DAYS_AHEAD if future_ok else 0):
        raise ValidationError({name: ["This date is too far ahead." if future_ok else "This date is in the future."]})
    if day < today - timedelta(days=10 * 366):
        raise ValidationError({name: ["This date is too long ago."]})


def _supersede_from(versions: Any, effective_from: date, today: date, field_name: str = "effective_from") -> int:
    """Make room for a change dated ``effective_from``: supersede the in-force versions dated on
    or after it, which must all be still to come.

    A change dated before the version in force today, or on its day once that day has passed,
    would rewrite what the patient already took: refused. A change dated today may replace a
    version that started today (a same-day correction; the replaced version stays listed).
    """
    current = plan_selectors.version_on(list(versions.in_force()), today)
    if current is not None and effective_from < current.effective_from:
        raise ValidationError(
            {field_name: [f"A change cannot take effect before the version in force since {current.effective_from}."]}
        )
    if current is not None and effective_from == current.effective_from < today:
        raise ValidationError(
            {
                field_name: [
                    f"The version of {current.effective_from} has taken effect and stays in the history: "
                    f"date the change from a later day (from {today} to change it from today)."
                ]
            }
        )
    return versions.in_force().filter(effective_from__gte=effective_from).update(superseded_at=timezone.now())


# --- Oral medicines ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DoseStep:
    effective_from: date
    dose_mg: Decimal
    times_per_day: int
    times_of_day: tuple[str, ...] = ()


def _check_steps(drug: str, steps: Sequence[DoseStep], today: date) -> list[clinical_rules.RuleBreach]:
    if not steps:
        raise ValidationError({"steps": ["Give at least one dose."]})
    dates = [step.effective_from for step in steps]
    if dates != sorted(set(dates)):
        raise ValidationError({"steps": ["Each step needs a later start date than the one before."]})
    breaches = []
    for index, step in enumerate(steps):
        _check_date("start_date", step.effective_from, today)
        if step.times_of_day and len(step.times_of_day) != step.times_per_day:
            raise ValidationError({"times_of_day": [f"Step {index + 1}: give one time for each of the daily doses."]})
        breaches.extend(clinical_rules.oral_dose_breaches(drug, step.dose_mg, step.times_per_day))
    return breaches


def _add_doses(
    regimen: MedicationRegimen, steps: Sequence[DoseStep], *, actor: User, reason: str, override_reason: str
) -> list[MedicationDose]:
    return MedicationDose.objects.bulk_create(
        MedicationDose(
            regimen=regimen,
            effective_from=step.effective_from,
            dose_mg=step.dose_mg,
            times_per_day=step.times_per_day,
            times_of_day=list(step.times_of_day),
            reason=reason,
            override_reason=override_reason,
            created_by=actor,
        )
        for step in steps
    )


def _check_one_regimen_per_drug(
    patient: Patient, drug: str, from_day: date, field_name: str, exclude: MedicationRegimen | None = None
) -> None:
    """Refuse doses from ``from_day`` on while another regimen of the same drug is dosed then.

    Two lines of one drug would each pass the label maximum while their sum does not (two
    baclofen lines of 60 mg a day are 120 mg, above 80 mg [DBAC]), and a patient reading two
    lines may take both. One regimen per drug on any day keeps the daily total checkable.
    """
    others = MedicationRegimen.objects.filter(patient=patient, drug=drug).prefetch_related("doses")
    if exclude is not None:
        others = others.exclude(pk=exclude.pk)
    for other in others:
        overlap = plan_selectors.dosing_from(other.doses.all(), from_day)
        if overlap is not None:
            raise ValidationError(
                {
                    field_name: [
                        f"{ORAL_DRUGS[drug].label} is already prescribed in another regimen, dosed on {overlap}: "
                        f"change that regimen instead, or stop it from {from_day} first."
                    ]
                }
            )


def _overridden(breaches: list[clinical_rules.RuleBreach]) -> list[str]:
    return [b.message for b in breaches]


@transaction.atomic
def medication_start(
    *, actor: User, patient: Patient, drug: str, steps: Sequence[DoseStep], reason: str = "", override_reason: str = ""
) -> PlanChange:
    """Prescribe a drug: one dose, or titration steps that each take effect on their date."""
    require(actor, PRESCRIBERS, "prescribe", patient)
    Patient.objects.select_for_update().get(pk=patient.pk)  # one regimen per drug, even when racing
    today = patient_time.patient_today(patient)
    breaches = _check_steps(drug, steps, today)
    _check_one_regimen_per_drug(patient, drug, steps[0].effective_from, "drug")
    _check_override(breaches, override_reason, actor)
    regimen = MedicationRegimen.objects.create(patient=patient, drug=drug, created_by=actor)
    _add_doses(regimen, steps, actor=actor, reason=reason, override_reason=override_reason)
    audit_record(
        actor=actor,
        patient=patient,
        action="create",
        resource_type="medication_regimen",
        resource_id=regimen.pk,
        detail={
            "drug": drug,
            "steps": len(steps),
            "overridden": _overridden(breaches),
            "override_reason": override_reason,
        },
    )
    _trends_stale(patient.pk, steps[0].effective_from)
    return PlanChange(regimen)


@transaction.atomic
def medication_change(
    *,
    actor: User,
    regimen: MedicationRegimen,
    steps: Sequence[DoseStep],
    reason: str,
    override_reason: str = "",
    expected_revision: int | None = None,
) -> PlanChange:
    """Change the dose from a date (or set new titration steps); later pending steps are superseded."""
    require(actor, PRESCRIBERS, "change a prescription", regimen.patient)
    patient = Patient.objects.select_for_update().get(pk=regimen.patient_id)  # as medication_start
    regimen = _locked(regimen, expected_revision)
    _require_reason(reason)
    today = patient_time.patient_today(patient)
    breaches = _check_steps(regimen.drug, steps, today)
    _check_one_regimen_per_drug(patient, regimen.drug, steps[0].effective_from, "start_date", exclude=regimen)
    _check_override(breaches, override_reason, actor)
    superseded = _supersede_from(regimen.doses.all(), steps[0].effective_from, today, "start_date")
    _add_doses(regimen, steps, actor=actor, reason=reason, override_reason=override_reason)
    _bump(regimen)
    audit_record(
        actor=actor,
        patient=regimen.patient,
        action="update",
        resource_type="medication_regimen",
        resource_id=regimen.pk,
        detail={
            "steps": len(steps),
            "effective_from": steps[0].effective_from.isoformat(),
            "daily_mg": [plain(step.dose_mg * step.times_per_day) for step in steps],
            "superseded": superseded,
            "overridden": _overridden(breaches),
            "override_reason": override_reason,
            "reason": reason,
        },
    )
    _trends_stale(regimen.patient_id, steps[0].effective_from)
    return PlanChange(regimen)


# --- Intrathecal baclofen pump -------------------------------------------------------------------------


def _check_concentration(concentration: int) -> None:
    if concentration not in ITB_CONCENTRATIONS_MCG_PER_ML:
        allowed = ", ".join(str(c) for c in ITB_CONCENTRATIONS_MCG_PER_ML)
        raise ValidationError(
            {"concentration_mcg_per_ml": [f"Intrathecal baclofen comes as {allowed} mcg/mL (DRUGLIB, NDC)."]}
        )


def _check_fill(pump: ItbPump, volume_ml: Decimal, alarm_ml: Decimal, field_name: str) -> None:
    """A fill (at implant or a refill) fits the reservoir and leaves the pump above its alarm volume."""
    if volume_ml > pump.reservoir_ml:
        raise ValidationError({field_name: [f"The reservoir holds {pump.reservoir_ml} mL."]})
    if volume_ml <= alarm_ml:
        raise ValidationError({field_name: [f"At or below the {alarm_ml} mL alarm volume the pump alarms at once."]})


@transaction.atomic
def itb_pump_implant(
    *,
    actor: User,
    patient: Patient,
    model: str,
    reservoir_ml: Decimal,
    alarm_ml: Decimal,
    implanted_on: date,
    daily_dose_mcg: Decimal,
    fill_volume_ml: Decimal,
    concentration_mcg_per_ml: int,
    serial_number: str = "",
    reason: str = "",
) -> PlanChange:
    """Record an implanted pump, its starting daily dose and alarm volume, and the fill it was
    implanted with, which is its first refill: the reservoir projection starts from the implant."""
    require(actor, PRESCRIBERS, "record a pump", patient)
    Patient.objects.select_for_update().get(pk=patient.pk)
    _check_date("implanted_on", implanted_on, patient_time.patient_today(patient), future_ok=False)
    _check_concentration(concentration_mcg_per_ml)
    if alarm_ml >= reservoir_ml:
        raise ValidationError({"alarm_ml": ["The alarm volume must be below the reservoir volume."]})
    if any(p.is_active_on(implanted_on) for p in ItbPump.objects.filter(patient=patient)):
        raise ValidationError(
            {"implanted_on": ["The patient already has a pump on that day: record its explant first."]}
        )
    pump = ItbPump(
        patient=patient,
        model=model,
        serial_number=serial_number,
        reservoir_ml=reservoir_ml,
        alarm_ml=alarm_ml,
        implanted_on=implanted_on,
        created_by=actor,
    )
    _check_fill(pump, fill_volume_ml, alarm_ml, "fill_volume_ml")
    pump.save()
    ItbDose.objects.create(
        pump=pump, effective_from=implanted_on, daily_dose_mcg=daily_dose_mcg, reason=reason, created_by=actor
    )
    ItbAlarmSetting.objects.create(
        pump=pump, effective_from=implanted_on, alarm_ml=alarm_ml, reason=reason, created_by=actor
    )
    ItbRefill.objects.create(
        pump=pump,
        refilled_on=implanted_on,
        volume_ml=fill_volume_ml,
        concentration_mcg_per_ml=concentration_mcg_per_ml,
        notes="Filled at implant.",
        performed_by=actor,
    )
    audit_record(
        actor=actor,
        patient=patient,
        action="create",
        resource_type="itb_pump",
        resource_id=pump.pk,
        detail={
            "daily_dose_mcg": str(daily_dose_mcg),
            "reservoir_ml": str(reservoir_ml),
            "alarm_ml": str(alarm_ml),
            "fill_volume_ml": str(fill_volume_ml),
            "concentration": concentration_mcg_per_ml,
        },
    )
    _trends_stale(patient.pk, implanted_on)
    return PlanChange(pump)


def _pump_status_now(pump: ItbPump, today: date) -> plan_selectors.PumpStatus:
    return plan_selectors.pump_status(plan_selectors.itb_pumps_of(pump.patient).get(pk=pump.pk), today)


@transaction.atomic
def itb_dose_change(
    *,
    actor: User,
    pump: ItbPump,
    effective_from: date,
    daily_dose_mcg: Decimal,
    reason: str,
    expected_revision: int | None = None,
) -> PlanChange:
    """Program a new daily dose from a date. If the change moves the projected alarm date into
    the past (the reservoir would already be at its alarm volume), it is kept but flagged, and
    the clinic alerted to check the reservoir now."""
    require(actor, PRESCRIBERS, "change a pump dose", pump.patient)
    pump = _locked(pump, expected_revision)
    _require_reason(reason)
    today = patient_time.patient_today(pump.patient)
    _check_date("effective_from", effective_from, today)
    if not pump.is_active_on(effective_from):
        raise ValidationError({"effective_from": ["The pump is not implanted on that day."]})
    before = _pump_status_now(pump, today)
    _supersede_from(pump.doses.all(), effective_from, today)
    ItbDose.objects.create(
        pump=pump, effective_from=effective_from, daily_dose_mcg=daily_dose_mcg, reason=reason, created_by=actor
    )
    _bump(pump)
    audit_record(
        actor=actor,
        patient=pump.patient,
        action="update",
        resource_type="itb_pump",
        resource_id=pump.pk,
        detail={"daily_dose_mcg": str(daily_dose_mcg), "effective_from": effective_from.isoformat(), "reason": reason},
    )
    status = _pump_status_now(pump, today)
    warnings = []
    was_ahead = before.projected_alarm_date is None or before.projected_alarm_date >= today
    if was_ahead and status.projected_alarm_date is not None and status.projected_alarm_date < today:
        message = (
            f"At {daily_dose_mcg} mcg/day the reservoir would have reached its {pump.alarm_ml} mL alarm volume "
            f"on {status.projected_alarm_date}: check the reservoir and refill now."
        )
        warnings.append(message)
        from diary.services import alert_raise

        alert_raise(
            patient=pump.patient,
            kind="pump_dose_check",
            priority="high",
            title="Pump dose change puts the projected alarm date in the past",
            details={"message": message, "projected_alarm_date": status.projected_alarm_date.isoformat()},
            dedupe_key=f"pump_dose_check:{pump.pk}:{pump.revision}",
        )
    _trends_stale(pump.patient_id, effective_from)
    return PlanChange(pump, warnings)


@transaction.atomic
def itb_refill_record(
    *,
    actor: User,
    pump: ItbPump,
    refilled_on: date,
    volume_ml: Decimal,
    concentration_mcg_per_ml: int,
    residual_ml: Decimal | None = None,
    next_refill_booked_on: date | None = None,
    notes: str = "",
    expected_revision: int | None = None,
) -> PlanChange:
    """Record a refill: the projection restarts from it, and a new reminder cycle begins."""
    require(actor, REFILLERS, "record a refill", pump.patient)
    pump = _locked(pump, expected_revision)
    _check_date("refilled_on", refilled_on, patient_time.patient_today(pump.patient), future_ok=False)
    _check_concentration(concentration_mcg_per_ml)
    if not pump.is_active_on(refilled_on):
        raise ValidationError({"refilled_on": ["The pump is not implanted on that day."]})
    _check_fill(pump, volume_ml, plan_selectors.alarm_ml_on(pump, refilled_on), "volume_ml")
    last = pump.refills.order_by("-refilled_on").first()
    if last is not None and refilled_on < last.refilled_on:
        raise ValidationError({"refilled_on": [f"The last refill was on {last.refilled_on}."]})
    if next_refill_booked_on is not None and next_refill_booked_on <= refilled_on:
        raise ValidationError({"next_refill_booked_on": ["The next refill must come after this one."]})
    refill = ItbRefill.objects.create(
        pump=pump,
        refilled_on=refilled_on,
        volume_ml=volume_ml,
        concentration_mcg_per_ml=concentration_mcg_per_ml,
        residual_ml=residual_ml,
        next_refill_booked_on=next_refill_booked_on,
        notes=notes,
        performed_by=actor,
    )
    _bump(pump)
    audit_record(
        actor=actor,
        patient=pump.patient,
        action="refill",
        resource_type="itb_pump",
        resource_id=pump.pk,
        detail={"refill": str(refill.pk), "volume_ml": str(volume_ml), "concentration": concentration_mcg_per_ml},
    )
    return PlanChange(pump)


@transaction.atomic
def itb_pump_update(
    *,
    actor: User,
    pump: ItbPump,
    alarm_ml: Decimal,
    reason: str,
    effective_from: date | None = None,
    expected_revision: int | None = None,
) -> PlanChange:
    """Reprogram the low-reservoir alarm volume (raising it prevented withdrawal in [NS04]).

    Each setting is a dated version listed with the pump. It is programmed into the pump on a
    visit, so it takes effect that day or is recorded late, never ahead; the projection uses
    the volume programmed today.
    """
    require(actor, PRESCRIBERS, "reprogram a pump", pump.patient)
    pump = _locked(pump, expected_revision)
    _require_reason(reason)
    today = patient_time.patient_today(pump.patient)
    effective_from = effective_from or today
    _check_date("effective_from", effective_from, today, future_ok=False)
    if not pump.is_active_on(effective_from):
        raise ValidationError({"effective_from": ["The pump is not implanted on that day."]})
    if alarm_ml >= pump.reservoir_ml:
        raise ValidationError({"alarm_ml": ["The alarm volume must be below the reservoir volume."]})
    previous = plan_selectors.alarm_ml_on(pump, today)
    _supersede_from(pump.alarm_settings.all(), effective_from, today)
    ItbAlarmSetting.objects.create(
        pump=pump, effective_from=effective_from, alarm_ml=alarm_ml, reason=reason, created_by=actor
    )
    pump.alarm_ml = alarm_ml
    pump.revision += 1
    pump.save(update_fields=["alarm_ml", "revision", "updated_at"])
    audit_record(
        actor=actor,
        patient=pump.patient,
        action="update",
        resource_type="itb_pump",
        resource_id=pump.pk,
        detail={
            "alarm_ml": [str(previous), str(alarm_ml)],
            "effective_from": effective_from.isoformat(),
            "reason": reason,
        },
    )
    return PlanChange(pump)


@transaction.atomic
def itb_pump_explant(
    *, actor: User, pump: ItbPump, explanted_on: date, reason: str, expected_revision: int | None = None
) -> PlanChange:
    """Record that the pump was removed; its history stays."""
    require(actor, PRESCRIBERS, "record an explant", pump.patient)
    pump = _locked(pump, expected_revision)
    _require_reason(reason)
    _check_date("explanted_on", explanted_on, patient_time.patient_today(pump.patient), future_ok=False)
    if pump.explanted_on is not None or explanted_on < pump.implanted_on:
        raise ValidationError({"explanted_on": ["The pump is already explanted, or this is before its implant."]})
    pump.explanted_on = explanted_on
    pump.revision += 1
    pump.save(update_fields=["explanted_on", "revision", "updated_at"])
    audit_record(
        actor=actor,
        patient=pump.patient,
        action="explant",
        resource_type="itb_pump",
        resource_id=pump.pk,
        detail={"explanted_on": explanted_on.isoformat(), "reason": reason},
    )
    _trends_stale(pump.patient_id, explanted_on)
    return PlanChange(pump)


# --- Botulinum toxin ------------------------------------------------------------------------------------------


@transaction.atomic
def botulinum_session_record(
    *,
    actor: User,
    patient: Patient,
    injected_on: date,
    product: str,
    lot: str,
    guidance: str,
    injections: Sequence[clinical_rules.Injection],
    units_per_ml: Decimal | None = None,
    override_reason: str = "",
    notes: str = "",
) -> PlanChange:
    """Record an injection session. Over the product's limits, or closer than the re-treatment
    interval to another session (before or after it: one may be recorded late), it is refused
    unless the injecting clinician records an override reason."""
    require(actor, PRESCRIBERS, "record an injection session", patient)
    Patient.objects.select_for_update().get(pk=patient.pk)  # interval checks see every other session
    _check_date("injected_on", injected_on, patient_time.patient_today(patient), future_ok=False)
    if not injections:
        raise ValidationError({"sites": ["Give at least one injection site."]})
    places = [(i.muscle, i.side) for i in injections]
    if len(set(places)) != len(places):
        raise ValidationError({"sites": ["Each muscle and side once per session; add the points instead."]})
    breaches = clinical_rules.toxin_session_breaches(
        product=product,
        injected_on=injected_on,
        injections=injections,
        units_per_ml=units_per_ml,
        other_sessions=plan_selectors.past_sessions(patient),
    )
    _check_override(breaches, override_reason, actor)
    session = BotulinumSession.objects.create(
        patient=patient,
        injected_on=injected_on,
        product=product,
        lot=lot,
        units_per_ml=units_per_ml,
        guidance=guidance,
        clinician=actor,
        override_reason=override_reason,
        notes=notes,
        created_by=actor,
    )
    InjectionSite.objects.bulk_create(
        InjectionSite(session=session, muscle=i.muscle, side=i.side, units=i.units, points=i.points) for i in injections
    )
    audit_record(
        actor=actor,
        patient=patient,
        action="create",
        resource_type="botulinum_session",
        resource_id=session.pk,
        detail={
            "product": product,
            "total_units": str(sum((i.units for i in injections), Decimal(0))),
            "overridden": _overridden(breaches),
            "override_reason": override_reason,
        },
    )
    warnings = [f"Overridden: {b.message}" for b in breaches]
    if BOTULINUM_PRODUCTS[product].attrs.get("off_label_for_spasticity"):
        warnings.append("Recorded as off-label use for spasticity.")
    _trends_stale(patient.pk, injected_on)
    return PlanChange(session, warnings)


@transaction.atomic
def botulinum_session_void(
    *, actor: User, session: BotulinumSession, reason: str, expected_revision: int | None = None
) -> PlanChange:
    """Mark a session entered in error; it no longer counts for limits, intervals or trends."""
    require(actor, PRESCRIBERS, "void an injection session", session.patient)
    session = _locked(session, expected_revision)
    if not reason.strip():
        raise ValidationError({"reason": ["Say why the session is void."]})
    if session.voided_at is not None:
        raise ValidationError({"": ["This session is already void."]})
    session.voided_at, session.voided_by, session.void_reason = timezone.now(), actor, reason
    session.revision += 1
    session.save(update_fields=["voided_at", "voided_by", "void_reason", "revision"])
    audit_record(
        actor=actor,
        patient=session.patient,
        action="void",
        resource_type="botulinum_session",
        resource_id=session.pk,
        detail={"reason": reason},
    )
    _trends_stale(session.patient_id, session.injected_on)
    return PlanChange(session)


# --- Therapy and orthotic plans -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Activity:
    kind: str
    days_per_week: int
    minutes: int | None = None
    sets: int | None = None
    reps: int | None = None
    body_region: str = ""
    instructions: str = ""


def _add_therapy_version(
    plan: TherapyPlan, effective_from: date, activities: Sequence[Activity], *, actor: User, reason: str
) -> TherapyPlanVersion:
    if not activities:
        raise ValidationError({"activities": ["Give at least one activity."]})
    version = TherapyPlanVersion.objects.create(
        plan=plan, effective_from=effective_from, reason=reason, created_by=actor
    )
    TherapyActivity.objects.bulk_create(
        TherapyActivity(
            version=version,
            kind=a.kind,
            days_per_week=a.days_per_week,
            minutes=a.minutes,
            sets=a.sets,
            reps=a.reps,
            body_region=a.body_region,
            instructions=a.instructions,
        )
        for a in activities
    )
    return version


@transaction.atomic
def therapy_plan_create(
    *,
    actor: User,
    patient: Patient,
    discipline: str,
    title: str,
    effective_from: date,
    activities: Sequence[Activity],
    reason: str = "",
) -> PlanChange:
    """Write a physical or occupational therapy plan."""
    require(actor, THERAPY_WRITERS, "write therapy plans", patient)
    _check_date("effective_from", effective_from, patient_time.patient_today(patient))
    plan = TherapyPlan.objects.create(patient=patient, discipline=discipline, title=title, created_by=actor)
    _add_therapy_version(plan, effective_from, activities, actor=actor, reason=reason)
    audit_record(
        actor=actor,
        patient=patient,
        action="create",
        resource_type="therapy_plan",
        resource_id=plan.pk,
        detail={"activities": len(activities)},
    )
    _trends_stale(patient.pk, effective_from)
    return PlanChange(plan)


@transaction.atomic
def therapy_plan_change(
    *,
    actor: User,
    plan: TherapyPlan,
    effective_from: date,
    activities: Sequence[Activity],
    reason: str,
    expected_revision: int | None = None,
) -> PlanChange:
    """Replace the plan's activities from a date; the earlier version stays in the history."""
    require(actor, THERAPY_WRITERS, "change therapy plans", plan.patient)
    plan = _locked(plan, expected_revision)
    _require_reason(reason)
    today = patient_time.patient_today(plan.patient)
    _check_date("effective_from", effective_from, today)
    _supersede_from(plan.versions.all(), effective_from, today)
    _add_therapy_version(plan, effective_from, activities, actor=actor, reason=reason)
    _bump(plan)
    audit_record(
        actor=actor,
        patient=plan.patient,
        action="update",
        resource_type="therapy_plan",
        resource_id=plan.pk,
        detail={"activities": len(activities), "effective_from": effective_from.isoformat(), "reason": reason},
    )
    _trends_stale(plan.patient_id, effective_from)
    return PlanChange(plan)


@dataclass(frozen=True)
class Wear:
    hours_per_day: Decimal | None
    at_night: bool = False
    wear_schedule: str = ""
    review_on: date | None = None
    skin_check: str = ""


def _add_orthotic_version(
    plan: OrthoticPlan, effective_from: date, wear: Wear, *, actor: User, reason: str
) -> OrthoticPlanVersion:
    if wear.hours_per_day is None and not wear.at_night:
        raise ValidationError({"hours_per_day": ["Say how many hours a day, or that it is worn at night."]})
    if wear.review_on is not None and wear.review_on < effective_from:
        raise ValidationError({"review_on": ["The review must come after the start."]})
    return OrthoticPlanVersion.objects.create(
        plan=plan,
        effective_from=effective_from,
        hours_per_day=wear.hours_per_day,
        at_night=wear.at_night,
        wear_schedule=wear.wear_schedule,
        review_on=wear.review_on,
        skin_check=wear.skin_check,
        reason=reason,
        created_by=actor,
    )


@transaction.atomic
def orthotic_plan_create(
    *, actor: User, patient: Patient, device: str, side: str, effective_from: date, wear: Wear, reason: str = ""
) -> PlanChange:
    """Prescribe an orthosis, splint or serial cast and how to wear it."""
    require(actor, THERAPY_WRITERS, "write orthotic plans", patient)
    _check_date("effective_from", effective_from, patient_time.patient_today(patient))
    plan = OrthoticPlan.objects.create(patient=patient, device=device, side=side, created_by=actor)
    _add_orthotic_version(plan, effective_from, wear, actor=actor, reason=reason)
    audit_record(actor=actor, patient=patient, action="create", resource_type="orthotic_plan", resource_id=plan.pk)
    _trends_stale(patient.pk, effective_from)
    return PlanChange(plan)


@transaction.atomic
def orthotic_plan_change(
    *,
    actor: User,
    plan: OrthoticPlan,
    effective_from: date,
    wear: Wear,
    reason: str,
    expected_revision: int | None = None,
) -> PlanChange:
    """Change the wear schedule from a date."""
    require(actor, THERAPY_WRITERS, "change orthotic plans", plan.patient)
    plan = _locked(plan, expected_revision)
    _require_reason(reason)
    today = patient_time.patient_today(plan.patient)
    _check_date("effective_from", effective_from, today)
    _supersede_from(plan.versions.all(), effective_from, today)
    _add_orthotic_version(plan, effective_from, wear, actor=actor, reason=reason)
    _bump(plan)
    audit_record(
        actor=actor,
        patient=plan.patient,
        action="update",
        resource_type="orthotic_plan",
        resource_id=plan.pk,
        detail={"effective_from": effective_from.isoformat(), "reason": reason},
    )
    _trends_stale(plan.patient_id, effective_from)
    return PlanChange(plan)


# --- Ending a regimen or a plan --------------------------------------------------------------------------------

# Who may end each kind of versioned item, its versions, and its name in the audit trail.
_STOPPABLE: dict[type[Any], tuple[frozenset[str], type[Any], str]] = {
    MedicationRegimen: (PRESCRIBERS, MedicationDose, "medication_regimen"),
    TherapyPlan: (THERAPY_WRITERS, TherapyPlanVersion, "therapy_plan"),
    OrthoticPlan: (THERAPY_WRITERS, OrthoticPlanVersion, "orthotic_plan"),
}


@transaction.atomic
def plan_stop(
    *, actor: User, item: Any, effective_from: date, reason: str, expected_revision: int | None = None
) -> PlanChange:
    """End a regimen or plan from a date. The end is a version, so the history shows it."""
    writers, version_model, resource_type = _STOPPABLE[type(item)]
    require(actor, writers, "end this", item.patient)
    item = _locked(item, expected_revision)
    _require_reason(reason)
    today = patient_time.patient_today(item.patient)
    _check_date("effective_from", effective_from, today)
    versions = version_model.objects.filter(**{_item_field(version_model): item})
    _supersede_from(versions, effective_from, today)
    version_model.objects.create(
        **{_item_field(version_model): item},
        effective_from=effective_from,
        stopped=True,
        reason=reason,
        created_by=actor,
    )
    _bump(item)
    audit_record(
        actor=actor,
        patient=item.patient,
        action="stop",
        resource_type=resource_type,
        resource_id=item.pk,
        detail={"effective_from": effective_from.isoformat(), "reason": reason},
    )
    warnings = []
    if isinstance(item, MedicationRegimen) and item.drug == "baclofen":
        warnings.append("Baclofen should be tapered, not stopped abruptly: withdrawal can cause seizures (DBAC).")
    _trends_stale(item.patient_id, effective_from)
    return PlanChange(item, warnings)


def _item_field(version_model: type[Any]) -> str:
    return "regimen" if version_model is MedicationDose else "plan"


# --- Goals ---------------------------------------------------------------------------------------------------

GAS_LEVELS = ("-2", "-1", "0", "1", "2")


@transaction.atomic
def goal_create(
    *,
    actor: User,
    patient: Patient,
    description: str,
    domain: str,
    levels: dict[str, str],
    baseline_level: int,
    set_on: date,
    weight: int = 1,
) -> PlanChange:
    """Set a goal in the patient's words with what each attainment level means [TS]."""
    require(actor, GOAL_WRITERS, "set goals", patient)
    _check_date("set_on", set_on, patient_time.patient_today(patient), future_ok=False)
    if sorted(levels) != sorted(GAS_LEVELS) or not all(text.strip() for text in levels.values()):
        raise ValidationError({"levels": ["Describe each of the five levels -2, -1, 0, 1 and 2."]})
    if baseline_level not in (-2, -1, 0, 1, 2):
        raise ValidationError({"baseline_level": ["A level from -2 to 2."]})
    goal = Goal.objects.create(
        patient=patient,
        description=description,
        domain=domain,
        levels=levels,
        baseline_level=baseline_level,
        set_on=set_on,
        weight=weight,
        created_by=actor,
    )
    audit_record(actor=actor, patient=patient, action="create", resource_type="goal", resource_id=goal.pk)
    return PlanChange(goal)


@transaction.atomic
def goal_rate(
    *, actor: User, goal: Goal, rated_on: date, level: int, note: str = "", expected_revision: int | None = None
) -> PlanChange:
    """Record the level reached on a day; one rating per goal and day."""
    require(actor, GOAL_WRITERS, "rate goals", goal.patient)
    goal = _locked(goal, expected_revision)
    _check_date("rated_on", rated_on, patient_time.patient_today(goal.patient), future_ok=False)
    if rated_on < goal.set_on:
        raise ValidationError({"rated_on": [f"The goal was set on {goal.set_on}."]})
    if goal.ratings.filter(rated_on=rated_on).exists():
        raise ValidationError({"rated_on": ["This goal already has a rating on that day."]})
    GoalRating.objects.create(goal=goal, rated_on=rated_on, level=level, note=note, rated_by=actor)
    _bump(goal)
    audit_record(
        actor=actor,
        patient=goal.patient,
        action="rate",
        resource_type="goal",
        resource_id=goal.pk,
        detail={"level": level, "rated_on": rated_on.isoformat()},
    )
    return PlanChange(goal)


@transaction.atomic
def goal_close(
    *, actor: User, goal: Goal, status: str, closed_on: date, expected_revision: int | None = None
) -> PlanChange:
    """Mark a goal achieved or discontinued; it stops counting in later T-scores."""
    require(actor, GOAL_WRITERS, "close goals", goal.patient)
    goal = _locked(goal, expected_revision)
    if goal.status != Goal.Status.ACTIVE:
        raise ValidationError({"status": ["This goal is already closed."]})
    if closed_on < goal.set_on:
        raise ValidationError({"closed_on": [f"The goal was set on {goal.set_on}."]})
    goal.status, goal.closed_on = status, closed_on
    goal.revision += 1
    goal.save(update_fields=["status", "closed_on", "revision", "updated_at"])
    audit_record(
        actor=actor,
        patient=goal.patient,
        action="close",
        resource_type="goal",
        resource_id=goal.pk,
        detail={"status": status, "closed_on": closed_on.isoformat()},
    )
    return PlanChange(goal)
