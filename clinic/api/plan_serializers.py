"""Shapes of care plans on the wire. Parsing and shaping only: the rules live in plan_services."""

import datetime as dt
import re
from datetime import date
from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clinic import clinical_rules, patient_time, plan_selectors, plan_services
from clinic.api.fields import StrictIntegerField, StrictSerializer, VocabularyField
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
    TherapyActivity,
    TherapyPlan,
    TherapyPlanVersion,
)
from clinic.vocabulary import (
    BODY_REGIONS,
    BOTULINUM_PRODUCTS,
    GOAL_DOMAINS,
    INJECTION_GUIDANCE,
    ITB_CONCENTRATIONS_MCG_PER_ML,
    MUSCLES,
    ORAL_DRUGS,
    ORTHOTIC_DEVICES,
    THERAPY_ACTIVITIES,
    THERAPY_DISCIPLINES,
)

CLOCK_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def today_of(item: Any) -> date:
    """Today where the item's patient lives (the plan selectors load the patient with the item)."""
    return patient_time.patient_today(item.patient)


def optional_reason() -> serializers.CharField:
    return serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class ChangeInput(StrictSerializer):
    """A change is a new version with its date and a reason, never an overwrite."""

    reason = serializers.CharField(max_length=2000, help_text="Why; kept with the new version.")


class CreateInput(StrictSerializer):
    reason = optional_reason()


class StopInput(StrictSerializer):
    effective_from = serializers.DateField(required=False, help_text="Default: today.")
    reason = serializers.CharField(max_length=2000)


# --- Medicines ----------------------------------------------------------------------------------------


class DoseStepInput(StrictSerializer):
    start_date = serializers.DateField()
    dose_mg = serializers.DecimalField(
        max_digits=7, decimal_places=2, min_value=Decimal("0.01"), max_value=Decimal(10000)
    )
    times_per_day = StrictIntegerField(min_value=1, max_value=12)
    times_of_day = serializers.ListField(
        child=serializers.RegexField(CLOCK_TIME, error_messages={"invalid": "Use 24-hour HH:MM."}),
        required=False,
        default=list,
        max_length=12,
        help_text='Local clock times, e.g. ["08:00", "14:00", "20:00"].',
    )

    def to_step(self, data: dict[str, Any]) -> plan_services.DoseStep:
        return plan_services.DoseStep(
            data["start_date"], data["dose_mg"], data["times_per_day"], tuple(data["times_of_day"])
        )


class MedicationDoseInput(DoseStepInput, ChangeInput):
    """A dose from a date, or ``steps`` (a titration: each step takes effect on its date)."""

    steps = serializers.ListField(child=DoseStepInput(), required=False, max_length=20)
    override_reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        for name in ("start_date", "dose_mg", "times_per_day"):
            fields[name].required = False
        return fields

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        single = {"start_date", "dose_mg", "times_per_day"} & set(data)
        if data.get("steps") and single:
            raise serializers.ValidationError("Send either one dose or steps, not both.")
        if not data.get("steps"):
            missing = {"start_date", "dose_mg", "times_per_day"} - single
            if missing:
                raise serializers.ValidationError({name: ["This field is required."] for name in sorted(missing)})
            data["steps"] = [data]
        data["steps"] = [self.to_step(step) for step in data["steps"]]
        return data


class MedicationStartInput(MedicationDoseInput):
    drug = VocabularyField(ORAL_DRUGS)
    reason = optional_reason()


class MedicationDoseOutput(serializers.ModelSerializer):
    daily_mg = serializers.DecimalField(max_digits=9, decimal_places=2, allow_null=True, read_only=True)
    created_by = serializers.CharField(source="created_by.username")

    class Meta:
        model = MedicationDose
        fields = [
            "effective_from",
            "dose_mg",
            "times_per_day",
            "times_of_day",
            "daily_mg",
            "stopped",
            "reason",
            "override_reason",
            "created_at",
            "created_by",
            "superseded_at",
        ]


class MedicationRegimenOutput(serializers.ModelSerializer):
    drug_label = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField(help_text="active, planned (starts later) or stopped")
    current = serializers.SerializerMethodField(help_text="The dose in force today.")
    upcoming = serializers.SerializerMethodField(help_text="Titration steps still to take effect.")
    history = MedicationDoseOutput(source="doses", many=True, help_text="Every version, oldest first.")

    class Meta:
        model = MedicationRegimen
        fields = ["id", "drug", "drug_label", "status", "current", "upcoming", "history", "revision", "created_at"]

    def get_drug_label(self, regimen: MedicationRegimen) -> str:
        return ORAL_DRUGS[regimen.drug].label

    def get_status(self, regimen: MedicationRegimen) -> str:
        dose = plan_selectors.version_on(regimen.doses.all(), today_of(regimen))
        if dose is None:
            return "planned"
        return "stopped" if dose.stopped else "active"

    @extend_schema_field(MedicationDoseOutput(allow_null=True))
    def get_current(self, regimen: MedicationRegimen) -> dict[str, Any] | None:
        dose = plan_selectors.version_on(regimen.doses.all(), today_of(regimen))
        return MedicationDoseOutput(dose).data if dose is not None and not dose.stopped else None

    @extend_schema_field(MedicationDoseOutput(many=True))
    def get_upcoming(self, regimen: MedicationRegimen) -> Any:
        upcoming = plan_selectors.upcoming_versions(regimen.doses.all(), today_of(regimen))
        return MedicationDoseOutput(upcoming, many=True).data


# --- Intrathecal baclofen -----------------------------------------------------------------------------


class ItbImplantInput(CreateInput):
    model = serializers.CharField(max_length=100)
    serial_number = serializers.CharField(max_length=60, required=False, allow_blank=True, default="")
    reservoir_ml = serializers.DecimalField(
        max_digits=5, decimal_places=1, min_value=Decimal(1), max_value=Decimal(100)
    )
    alarm_ml = serializers.DecimalField(
        max_digits=5,
        decimal_places=1,
        min_value=Decimal("0.5"),
        max_value=Decimal(20),
        required=False,
        default=Decimal(2),
        help_text="Default 2 mL, the manufacturer's (NS04).",
    )
    implanted_on = serializers.DateField()
    daily_dose_mcg = serializers.DecimalField(
        max_digits=7, decimal_places=1, min_value=Decimal("0.1"), max_value=Decimal(2000)
    )
    fill_volume_ml = serializers.DecimalField(
        max_digits=5,
        decimal_places=1,
        min_value=Decimal("0.1"),
        max_value=Decimal(100),
        help_text="Volume the reservoir was filled with at implant: the first refill.",
    )
    concentration_mcg_per_ml = serializers.ChoiceField(
        choices=ITB_CONCENTRATIONS_MCG_PER_ML, help_text="Of the implant fill (DRUGLIB, NDC)."
    )


class ItbDoseInput(ChangeInput):
    effective_from = serializers.DateField(required=False, help_text="Default: today.")
    daily_dose_mcg = serializers.DecimalField(
        max_digits=7, decimal_places=1, min_value=Decimal("0.1"), max_value=Decimal(2000)
    )


class ItbPumpUpdateInput(ChangeInput):
    alarm_ml = serializers.DecimalField(max_digits=5, decimal_places=1, min_value=Decimal("0.5"), max_value=Decimal(20))
    effective_from = serializers.DateField(
        required=False, help_text="The day the pump was reprogrammed (default today; never ahead)."
    )


class ItbRefillInput(StrictSerializer):
    refilled_on = serializers.DateField(required=False, help_text="Default: today.")
    volume_ml = serializers.DecimalField(
        max_digits=5, decimal_places=1, min_value=Decimal("0.1"), max_value=Decimal(100)
    )
    concentration_mcg_per_ml = serializers.ChoiceField(choices=ITB_CONCENTRATIONS_MCG_PER_ML)
    residual_ml = serializers.DecimalField(
        max_digits=5, decimal_places=1, min_value=Decimal(0), max_value=Decimal(100), required=False, allow_null=True
    )
    next_refill_booked_on = serializers.DateField(required=False, allow_null=True)
    notes = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class ExplantInput(ChangeInput):
    explanted_on = serializers.DateField()


class ItbDoseOutput(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username")

    class Meta:
        model = ItbDose
        fields = ["effective_from", "daily_dose_mcg", "reason", "created_at", "created_by", "superseded_at"]


class ItbAlarmSettingOutput(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username")

    class Meta:
        model = ItbAlarmSetting
        fields = ["effective_from", "alarm_ml", "reason", "created_at", "created_by", "superseded_at"]


class ItbRefillOutput(serializers.ModelSerializer):
    performed_by = serializers.CharField(source="performed_by.username")

    class Meta:
        model = ItbRefill
        fields = [
            "id",
            "refilled_on",
            "volume_ml",
            "concentration_mcg_per_ml",
            "residual_ml",
            "next_refill_booked_on",
            "notes",
            "performed_by",
            "created_at",
        ]


class ItbPumpOutput(serializers.ModelSerializer):
    """A pump with its dose history, refills, and the reservoir projection from the last refill."""

    current_daily_dose_mcg = serializers.SerializerMethodField()
    projected_alarm_date = serializers.SerializerMethodField(
        help_text="When the reservoir reaches its alarm volume, by the dose history since the last refill."
    )
    refill_due_date = serializers.SerializerMethodField(help_text="ITB_REFILL_MARGIN_DAYS before the alarm date.")
    remaining_ml = serializers.SerializerMethodField(help_text="Projected volume in the reservoir today.")
    booked_refill_after_alarm = serializers.SerializerMethodField()
    dose_history = ItbDoseOutput(source="doses", many=True)
    alarm_history = ItbAlarmSettingOutput(source="alarm_settings", many=True, help_text="Every alarm volume setting.")
    refills = ItbRefillOutput(many=True)

    class Meta:
        model = ItbPump
        fields = [
            "id",
            "model",
            "serial_number",
            "reservoir_ml",
            "alarm_ml",
            "implanted_on",
            "explanted_on",
            "current_daily_dose_mcg",
            "projected_alarm_date",
            "refill_due_date",
            "remaining_ml",
            "booked_refill_after_alarm",
            "dose_history",
            "alarm_history",
            "refills",
            "revision",
        ]

    def status(self, pump: ItbPump) -> plan_selectors.PumpStatus:
        cache: dict[Any, plan_selectors.PumpStatus] = self.__dict__.setdefault("_pump_status", {})
        if pump.pk not in cache:
            cache[pump.pk] = plan_selectors.pump_status(pump, today_of(pump))
        return cache[pump.pk]

    @extend_schema_field(serializers.DecimalField(max_digits=7, decimal_places=1, allow_null=True))
    def get_current_daily_dose_mcg(self, pump: ItbPump) -> str | None:
        dose = self.status(pump).dose
        return str(dose.daily_dose_mcg) if dose else None

    def get_projected_alarm_date(self, pump: ItbPump) -> date | None:
        return self.status(pump).projected_alarm_date

    def get_refill_due_date(self, pump: ItbPump) -> date | None:
        return self.status(pump).refill_due_date

    @extend_schema_field(serializers.DecimalField(max_digits=5, decimal_places=1, allow_null=True))
    def get_remaining_ml(self, pump: ItbPump) -> str | None:
        remaining = self.status(pump).remaining_ml
        return str(remaining) if remaining is not None else None

    def get_booked_refill_after_alarm(self, pump: ItbPump) -> bool:
        return self.status(pump).booked_refill_after_alarm


# --- Botulinum toxin --------------------------------------------------------------------------------------


class InjectionSiteInput(StrictSerializer):
    muscle = VocabularyField(MUSCLES)
    side = serializers.ChoiceField(choices=["left", "right"])
    units = serializers.DecimalField(
        max_digits=6,
        decimal_places=1,
        min_value=Decimal("0.1"),
        max_value=Decimal(5000),
        help_text="In the product's own units; never converted between products.",
    )
    points = StrictIntegerField(min_value=1, max_value=20, required=False, default=1)


class BotulinumSessionInput(StrictSerializer):
    date = serializers.DateField(source="injected_on")
    product = VocabularyField(BOTULINUM_PRODUCTS)
    lot = serializers.CharField(max_length=40)
    dilution_units_per_ml = serializers.DecimalField(
        source="units_per_ml",
        max_digits=7,
        decimal_places=1,
        min_value=Decimal(1),
        max_value=Decimal(10000),
        required=False,
        allow_null=True,
    )
    guidance = VocabularyField(INJECTION_GUIDANCE)
    sites = serializers.ListField(child=InjectionSiteInput(), min_length=1, max_length=60)
    override_reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    notes = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    def validate_sites(self, sites: list[dict[str, Any]]) -> list[clinical_rules.Injection]:
        return [clinical_rules.Injection(s["muscle"], s["side"], s["units"], s["points"]) for s in sites]


class VoidInput(StrictSerializer):
    reason = serializers.CharField(max_length=2000)


class InjectionSiteOutput(serializers.ModelSerializer):
    limb = serializers.CharField(read_only=True)

    class Meta:
        model = InjectionSite
        fields = ["muscle", "side", "limb", "units", "points"]


class BotulinumSessionOutput(serializers.ModelSerializer):
    date = serializers.DateField(source="injected_on")
    dilution_units_per_ml = serializers.DecimalField(
        source="units_per_ml", max_digits=7, decimal_places=1, allow_null=True
    )
    clinician = serializers.CharField(source="clinician.username")
    total_units = serializers.SerializerMethodField()
    next_session_allowed_from = serializers.SerializerMethodField(help_text="The label's re-treatment interval.")
    sites = InjectionSiteOutput(many=True)
    voided_by = serializers.CharField(source="voided_by.username", allow_null=True, default=None)

    class Meta:
        model = BotulinumSession
        fields = [
            "id",
            "date",
            "product",
            "lot",
            "dilution_units_per_ml",
            "guidance",
            "clinician",
            "sites",
            "total_units",
            "next_session_allowed_from",
            "override_reason",
            "notes",
            "created_at",
            "voided_at",
            "voided_by",
            "void_reason",
            "revision",
        ]

    @extend_schema_field(serializers.DecimalField(max_digits=7, decimal_places=1))
    def get_total_units(self, session: BotulinumSession) -> str:
        return str(sum((site.units for site in session.sites.all()), Decimal(0)))

    def get_next_session_allowed_from(self, session: BotulinumSession) -> dt.date:
        return clinical_rules.next_injection_allowed_on(session.injected_on, session.product)


# --- Therapy and orthoses -------------------------------------------------------------------------------------


class ActivityInput(StrictSerializer):
    kind = VocabularyField(THERAPY_ACTIVITIES)
    body_region = VocabularyField(BODY_REGIONS, required=False, allow_blank=True, default="")
    instructions = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    sets = StrictIntegerField(min_value=1, max_value=20, required=False, allow_null=True, default=None)
    reps = StrictIntegerField(min_value=1, max_value=100, required=False, allow_null=True, default=None)
    minutes = StrictIntegerField(
        min_value=1,
        max_value=180,
        required=False,
        allow_null=True,
        default=None,
        help_text="Minutes per session (10 to 20 are typical).",
    )
    days_per_week = StrictIntegerField(min_value=1, max_value=7)

    def validate(self, data: Any) -> Any:
        if not data.get("minutes") and not (data.get("sets") and data.get("reps")):
            raise serializers.ValidationError({"minutes": ["Give the minutes, or the sets and reps."]})
        return plan_services.Activity(**data)


class TherapyVersionInput(ChangeInput):
    effective_from = serializers.DateField(required=False, help_text="Default: today.")
    activities = serializers.ListField(child=ActivityInput(), min_length=1, max_length=30)


class TherapyPlanInput(TherapyVersionInput):
    discipline = VocabularyField(THERAPY_DISCIPLINES)
    title = serializers.CharField(max_length=200)
    reason = optional_reason()


class TherapyActivityOutput(serializers.ModelSerializer):
    class Meta:
        model = TherapyActivity
        fields = ["kind", "body_region", "instructions", "sets", "reps", "minutes", "days_per_week"]


class TherapyVersionOutput(serializers.ModelSerializer):
    activities = TherapyActivityOutput(many=True)
    created_by = serializers.CharField(source="created_by.username")

    class Meta:
        model = TherapyPlanVersion
        fields = ["effective_from", "stopped", "activities", "reason", "created_at", "created_by", "superseded_at"]


def _current(plan: Any) -> Any:
    version = plan_selectors.version_on(plan.versions.all(), today_of(plan))
    return version if version is not None and not version.stopped else None


class TherapyPlanOutput(serializers.ModelSerializer):
    current = serializers.SerializerMethodField()
    history = TherapyVersionOutput(source="versions", many=True)

    class Meta:
        model = TherapyPlan
        fields = ["id", "discipline", "title", "current", "history", "revision", "created_at"]

    @extend_schema_field(TherapyVersionOutput(allow_null=True))
    def get_current(self, plan: TherapyPlan) -> dict[str, Any] | None:
        version = _current(plan)
        return TherapyVersionOutput(version).data if version else None


class WearInput(ChangeInput):
    effective_from = serializers.DateField(required=False, help_text="Default: today.")
    hours_per_day = serializers.DecimalField(
        max_digits=3,
        decimal_places=1,
        min_value=Decimal("0.5"),
        max_value=Decimal(24),
        required=False,
        allow_null=True,
        default=None,
    )
    at_night = serializers.BooleanField(required=False, default=False)
    wear_schedule = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    review_on = serializers.DateField(required=False, allow_null=True, default=None)
    skin_check = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        wear_fields = ("hours_per_day", "at_night", "wear_schedule", "review_on", "skin_check")
        data["wear"] = plan_services.Wear(*(data.pop(name) for name in wear_fields))
        return data


class OrthoticPlanInput(WearInput):
    device = VocabularyField(ORTHOTIC_DEVICES)
    side = serializers.ChoiceField(choices=["left", "right", "bilateral"])
    reason = optional_reason()


class OrthoticVersionOutput(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username")

    class Meta:
        model = OrthoticPlanVersion
        fields = [
            "effective_from",
            "stopped",
            "hours_per_day",
            "at_night",
            "wear_schedule",
            "review_on",
            "skin_check",
            "reason",
            "created_at",
            "created_by",
            "superseded_at",
        ]


class OrthoticPlanOutput(serializers.ModelSerializer):
    current = serializers.SerializerMethodField()
    history = OrthoticVersionOutput(source="versions", many=True)

    class Meta:
        model = OrthoticPlan
        fields = ["id", "device", "side", "current", "history", "revision", "created_at"]

    @extend_schema_field(OrthoticVersionOutput(allow_null=True))
    def get_current(self, plan: OrthoticPlan) -> dict[str, Any] | None:
        version = _current(plan)
        return OrthoticVersionOutput(version).data if version else None


# --- Goals ----------------------------------------------------------------------------------------------------


class GoalInput(StrictSerializer):
    description = serializers.CharField(max_length=1000, help_text="In the patient's own words.")
    domain = VocabularyField(GOAL_DOMAINS)
    levels = serializers.DictField(
        child=serializers.CharField(max_length=500), help_text='{"-2": ..., "-1": ..., "0": ..., "1": ..., "2": ...}'
    )
    weight = StrictIntegerField(min_value=1, max_value=100, required=False, default=1)
    baseline_level = StrictIntegerField(min_value=-2, max_value=2, help_text="Commonly -1.")
    set_on = serializers.DateField(required=False, help_text="Default: today.")


class GoalRatingInput(StrictSerializer):
    rated_on = serializers.DateField(required=False, help_text="Default: today.")
    level = StrictIntegerField(min_value=-2, max_value=2)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class GoalCloseInput(StrictSerializer):
    status = serializers.ChoiceField(choices=[Goal.Status.ACHIEVED, Goal.Status.DISCONTINUED])
    closed_on = serializers.DateField(required=False, help_text="Default: today.")


class GoalRatingOutput(serializers.ModelSerializer):
    class Meta:
        model = GoalRating
        fields = ["rated_on", "level", "note", "created_at"]


class GoalOutput(serializers.ModelSerializer):
    ratings = GoalRatingOutput(many=True)
    current_level = serializers.SerializerMethodField()

    class Meta:
        model = Goal
        fields = [
            "id",
            "description",
            "domain",
            "levels",
            "weight",
            "baseline_level",
            "set_on",
            "status",
            "closed_on",
            "current_level",
            "ratings",
            "revision",
        ]

    def get_current_level(self, goal: Goal) -> int:
        ratings = list(goal.ratings.all())
        return max(ratings, key=lambda r: r.rated_on).level if ratings else goal.baseline_level


class GasScoreOutput(serializers.Serializer):
    on = serializers.DateField()
    t_score = serializers.FloatField(help_text="Kiresuk-Sherman T (mean 50, SD 10), rho 0.3 (TS).")
    goals = serializers.IntegerField(help_text="How many goals counted on that day.")


# --- The plan in force on a day ------------------------------------------------------------------------------


class DayQuery(StrictSerializer):
    on = serializers.DateField(required=False)


class TodayMedication(serializers.Serializer):
    regimen_id = serializers.UUIDField()
    drug = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    dose_mg = serializers.DecimalField(max_digits=7, decimal_places=2)
    times_per_day = serializers.IntegerField()
    times_of_day = serializers.ListField(child=serializers.CharField())
    daily_mg = serializers.DecimalField(max_digits=9, decimal_places=2)


class UpcomingChange(serializers.Serializer):
    regimen_id = serializers.UUIDField()
    drug = serializers.CharField()
    effective_from = serializers.DateField()
    dose_mg = serializers.DecimalField(max_digits=7, decimal_places=2, allow_null=True)
    times_per_day = serializers.IntegerField(allow_null=True)
    stopped = serializers.BooleanField()


class TodayExercise(serializers.Serializer):
    plan_id = serializers.UUIDField()
    plan_title = serializers.CharField()
    kind = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    body_region = serializers.CharField(allow_blank=True)
    instructions = serializers.CharField(allow_blank=True)
    sets = serializers.IntegerField(allow_null=True)
    reps = serializers.IntegerField(allow_null=True)
    minutes = serializers.IntegerField(allow_null=True)
    days_per_week = serializers.IntegerField()


class TodayOrthosis(serializers.Serializer):
    plan_id = serializers.UUIDField()
    device = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    side = serializers.CharField()
    hours_per_day = serializers.DecimalField(max_digits=3, decimal_places=1, allow_null=True)
    at_night = serializers.BooleanField()
    wear_schedule = serializers.CharField(allow_blank=True)
    skin_check = serializers.CharField(allow_blank=True)
    review_on = serializers.DateField(allow_null=True)


class TodayPump(serializers.Serializer):
    pump_id = serializers.UUIDField()
    daily_dose_mcg = serializers.DecimalField(max_digits=7, decimal_places=1, allow_null=True)
    projected_alarm_date = serializers.DateField(allow_null=True)
    refill_due_date = serializers.DateField(allow_null=True)
    next_refill_booked_on = serializers.DateField(allow_null=True)


class CarePlanTodayOutput(serializers.Serializer):
    on = serializers.DateField()
    medications = TodayMedication(many=True)
    upcoming_medication_changes = UpcomingChange(many=True)
    exercises = TodayExercise(many=True)
    orthoses = TodayOrthosis(many=True)
    pumps = TodayPump(many=True)
    next_injection_allowed_on = serializers.DateField(allow_null=True)

    def to_representation(self, plan: plan_selectors.CarePlanToday) -> dict[str, Any]:
        return super().to_representation(
            {
                "on": plan.on,
                "medications": [
                    {
                        "regimen_id": regimen.pk,
                        "drug": regimen.drug,
                        "label": ORAL_DRUGS[regimen.drug].label,
                        "dose_mg": dose.dose_mg,
                        "times_per_day": dose.times_per_day,
                        "times_of_day": dose.times_of_day,
                        "daily_mg": dose.daily_mg,
                    }
                    for regimen, dose in plan.medications
                ],
                "upcoming_medication_changes": [
                    {
                        "regimen_id": regimen.pk,
                        "drug": regimen.drug,
                        "effective_from": dose.effective_from,
                        "dose_mg": dose.dose_mg,
                        "times_per_day": dose.times_per_day,
                        "stopped": dose.stopped,
                    }
                    for regimen, dose in plan.upcoming_medication_changes
                ],
                "exercises": [
                    {
                        "plan_id": therapy.pk,
                        "plan_title": therapy.title,
                        "kind": a.kind,
                        "label": THERAPY_ACTIVITIES[a.kind].label,
                        "body_region": a.body_region,
                        "instructions": a.instructions,
                        "sets": a.sets,
                        "reps": a.reps,
                        "minutes": a.minutes,
                        "days_per_week": a.days_per_week,
                    }
                    for therapy, version in plan.therapy
                    for a in version.activities.all()
                ],
                "orthoses": [
                    {
                        "plan_id": orthosis.pk,
                        "device": orthosis.device,
                        "label": ORTHOTIC_DEVICES[orthosis.device].label,
                        "side": orthosis.side,
                        "hours_per_day": wear.hours_per_day,
                        "at_night": wear.at_night,
                        "wear_schedule": wear.wear_schedule,
                        "skin_check": wear.skin_check,
                        "review_on": wear.review_on,
                    }
                    for orthosis, wear in plan.orthoses
                ],
                "pumps": [
                    {
                        "pump_id": status.pump.pk,
                        "daily_dose_mcg": status.dose.daily_dose_mcg if status.dose else None,
                        "projected_alarm_date": status.projected_alarm_date,
                        "refill_due_date": status.refill_due_date,
                        "next_refill_booked_on": status.last_refill.next_refill_booked_on
                        if status.last_refill
                        else None,
                    }
                    for status in plan.pumps
                ],
                "next_injection_allowed_on": plan.next_injection_on,
            }
        )
