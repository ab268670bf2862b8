"""Care plans: oral medicines, intrathecal baclofen, botulinum toxin, therapy, orthoses, goals.

Plans are effective-dated. A plan item (a regimen, a pump, a therapy plan, an orthosis) keeps
its identity; every change is a new version with the date it takes effect and a reason, and
nothing is overwritten, so trends can compare before and after and the history is complete.
A version dated in the future (a titration step) becomes the current one on its date.
Injection sessions and pump refills are events: recorded once, corrected only by voiding.
A pump's alarm volume is versioned like a dose (``ItbAlarmSetting``); ``ItbPump.alarm_ml``
is the volume programmed now, kept for readers that need only that.
``revision`` counts changes to an item and is its ETag for ``If-Match``.

A change dated before versions that have not yet taken effect (the rest of a titration)
supersedes them: they stay in the history with ``superseded_at`` set and never take effect.
A version that has taken effect is never superseded, except on the day it started (a same-day
correction, see ``clinic.plan_services``).
Reads of what is in effect use ``in_force()`` on a version queryset.
"""

import uuid
from datetime import date
from decimal import Decimal

from django.db import models
from django.db.models import Q

from clinic.models.people import Patient, User
from clinic.vocabulary import (
    BODY_REGIONS,
    BOTULINUM_PRODUCTS,
    GOAL_DOMAINS,
    INJECTION_GUIDANCE,
    MUSCLES,
    ORAL_DRUGS,
    ORTHOTIC_DEVICES,
    THERAPY_ACTIVITIES,
    THERAPY_DISCIPLINES,
)

SIDES = [("left", "Left"), ("right", "Right")]
IN_FORCE = Q(superseded_at__isnull=True)
SIDES_OR_BOTH = [*SIDES, ("bilateral", "Both sides")]


class PlanItem(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)
    revision = models.PositiveIntegerField(default=1, help_text="Counts changes; the item's ETag.")

    class Meta:
        abstract = True


class PlanVersionQuerySet(models.QuerySet):
    def in_force(self) -> "PlanVersionQuerySet":
        """Versions that take (or took) effect: not superseded before their date."""
        return self.filter(superseded_at__isnull=True)


class PlanVersion(models.Model):
    effective_from = models.DateField(help_text="The day this version takes effect.")
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    superseded_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set when a later change cancelled this version before it took effect, "
        "or corrected it on the day it started.",
    )

    objects = PlanVersionQuerySet.as_manager()

    class Meta:
        abstract = True


# --- Oral and other systemic medicines ----------------------------------------------------------


class MedicationRegimen(PlanItem):
    """One drug for one patient; its doses over time are its versions."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="medication_regimens")
    drug = models.CharField(max_length=40, choices=ORAL_DRUGS.choices)

    def __str__(self) -> str:
        return f"{ORAL_DRUGS[self.drug].label} for {self.patient}"


class MedicationDose(PlanVersion):
    """A dose from ``effective_from`` on, or (``stopped``) the end of the regimen."""

    regimen = models.ForeignKey(MedicationRegimen, on_delete=models.PROTECT, related_name="doses")
    dose_mg = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    times_per_day = models.PositiveSmallIntegerField(null=True, blank=True)
    times_of_day = models.JSONField(default=list, blank=True, help_text='Local times, e.g. ["08:00", "14:00"].')
    stopped = models.BooleanField(default=False)
    override_reason = models.TextField(blank=True, help_text="Why a label limit was exceeded, if it was.")

    class Meta:
        ordering = ["effective_from", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["regimen", "effective_from"], name="medication_dose_one_per_day", condition=IN_FORCE
            ),
            models.CheckConstraint(
                name="medication_dose_given_or_stopped",
                condition=Q(stopped=True, dose_mg__isnull=True, times_per_day__isnull=True)
                | Q(stopped=False, dose_mg__gt=0, times_per_day__gte=1, times_per_day__lte=12),
            ),
        ]

    def __str__(self) -> str:
        if self.stopped:
            return f"stopped from {self.effective_from}"
        return f"{self.dose_mg} mg x {self.times_per_day}/day from {self.effective_from}"

    @property
    def daily_mg(self) -> Decimal | None:
        if self.stopped or self.dose_mg is None or self.times_per_day is None:
            return None
        return self.dose_mg * self.times_per_day


# --- Intrathecal baclofen -----------------------------------------------------------------------


class ItbPump(PlanItem):
    """An implanted intrathecal baclofen pump; its daily dose over time is its versions."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="itb_pumps")
    model = models.CharField(max_length=100, help_text="e.g. SynchroMed II")
    serial_number = models.CharField(max_length=60, blank=True)
    reservoir_ml = models.DecimalField(max_digits=5, decimal_places=1)
    alarm_ml = models.DecimalField(
        max_digits=5,
        decimal_places=1,
        help_text="Low-reservoir alarm volume programmed now (manufacturer default 2 mL [NS04]); "
        "its history is in ``alarm_settings``.",
    )
    implanted_on = models.DateField()
    explanted_on = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="itb_alarm_below_reservoir", condition=Q(alarm_ml__lt=models.F("reservoir_ml"))
            ),
            models.CheckConstraint(
                name="itb_explant_after_implant",
                condition=Q(explanted_on__isnull=True) | Q(explanted_on__gte=models.F("implanted_on")),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model} ({self.reservoir_ml} mL) for {self.patient}"

    def is_active_on(self, day: date) -> bool:
        return self.implanted_on <= day and (self.explanted_on is None or day < self.explanted_on)


class ItbDose(PlanVersion):
    """The pump's programmed daily dose from ``effective_from`` on."""

    pump = models.ForeignKey(ItbPump, on_delete=models.PROTECT, related_name="doses")
    daily_dose_mcg = models.DecimalField(max_digits=7, decimal_places=1)

    class Meta:
        ordering = ["effective_from", "id"]
        constraints = [
            models.UniqueConstraint(fields=["pump", "effective_from"], name="itb_dose_one_per_day", condition=IN_FORCE),
            models.CheckConstraint(name="itb_dose_positive", condition=Q(daily_dose_mcg__gt=0)),
        ]

    def __str__(self) -> str:
        return f"{self.daily_dose_mcg} mcg/day from {self.effective_from}"


class ItbAlarmSetting(PlanVersion):
    """The pump's low-reservoir alarm volume from ``effective_from`` on (reprogrammed, never future)."""

    pump = models.ForeignKey(ItbPump, on_delete=models.PROTECT, related_name="alarm_settings")
    alarm_ml = models.DecimalField(max_digits=5, decimal_places=1)

    class Meta:
        ordering = ["effective_from", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["pump", "effective_from"], name="itb_alarm_one_per_day", condition=IN_FORCE
            ),
            models.CheckConstraint(name="itb_alarm_positive", condition=Q(alarm_ml__gt=0)),
        ]

    def __str__(self) -> str:
        return f"alarm at {self.alarm_ml} mL from {self.effective_from}"


class ItbRefill(models.Model):
    """A reservoir refill: the volume and concentration it left in the pump."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    pump = models.ForeignKey(ItbPump, on_delete=models.PROTECT, related_name="refills")
    refilled_on = models.DateField()
    volume_ml = models.DecimalField(
        max_digits=5, decimal_places=1, help_text="Volume in the reservoir after refilling."
    )
    concentration_mcg_per_ml = models.PositiveIntegerField()
    residual_ml = models.DecimalField(
        max_digits=5, decimal_places=1, null=True, blank=True, help_text="Volume withdrawn before refilling."
    )
    next_refill_booked_on = models.DateField(null=True, blank=True)
    performed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["refilled_on", "created_at"]
        constraints = [models.CheckConstraint(name="itb_refill_volume_positive", condition=Q(volume_ml__gt=0))]

    def __str__(self) -> str:
        return f"refill {self.refilled_on}: {self.volume_ml} mL of {self.concentration_mcg_per_ml} mcg/mL"


# --- Botulinum toxin ----------------------------------------------------------------------------


class BotulinumSession(models.Model):
    """One injection session: a product, its lot and dilution, and the muscles injected."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="botulinum_sessions")
    injected_on = models.DateField()
    product = models.CharField(max_length=40, choices=BOTULINUM_PRODUCTS.choices)
    lot = models.CharField(max_length=40)
    units_per_ml = models.DecimalField(
        max_digits=7,
        decimal_places=1,
        null=True,
        blank=True,
        help_text="Dilution: units per mL of the reconstituted product.",
    )
    guidance = models.CharField(max_length=30, choices=INJECTION_GUIDANCE.choices)
    clinician = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", help_text="Who injected.")
    override_reason = models.TextField(blank=True, help_text="Why a dose or interval limit was exceeded, if it was.")
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    voided_at = models.DateTimeField(null=True, blank=True)
    voided_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    void_reason = models.TextField(blank=True)
    revision = models.PositiveIntegerField(default=1, help_text="Counts changes (a void); the session's ETag.")

    class Meta:
        ordering = ["injected_on", "created_at"]
        indexes = [models.Index(fields=["patient", "injected_on"], name="botulinum_patient_day")]

    def __str__(self) -> str:
        return f"{self.product} on {self.injected_on} for {self.patient}"


class InjectionSite(models.Model):
    session = models.ForeignKey(BotulinumSession, on_delete=models.PROTECT, related_name="sites")
    muscle = models.CharField(max_length=40, choices=MUSCLES.choices)
    side = models.CharField(max_length=10, choices=SIDES)
    units = models.DecimalField(max_digits=6, decimal_places=1, help_text="In the session's product's own units.")
    points = models.PositiveSmallIntegerField(default=1, help_text="Number of injection points in the muscle.")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(name="injection_units_positive", condition=Q(units__gt=0)),
            models.CheckConstraint(name="injection_points_1_20", condition=Q(points__gte=1, points__lte=20)),
            models.UniqueConstraint(fields=["session", "muscle", "side"], name="injection_site_once_per_session"),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.muscle}: {self.units} U"

    @property
    def limb(self) -> str:
        return MUSCLES[self.muscle].attrs["limb"]


# --- Therapy and orthoses ------------------------------------------------------------------------


class TherapyPlan(PlanItem):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="therapy_plans")
    discipline = models.CharField(max_length=30, choices=THERAPY_DISCIPLINES.choices)
    title = models.CharField(max_length=200)

    def __str__(self) -> str:
        return f"{self.title} ({self.get_discipline_display()})"


class TherapyPlanVersion(PlanVersion):
    """The plan's activities from ``effective_from`` on, or (``stopped``) its end."""

    plan = models.ForeignKey(TherapyPlan, on_delete=models.PROTECT, related_name="versions")
    stopped = models.BooleanField(default=False)

    class Meta:
        ordering = ["effective_from", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "effective_from"], name="therapy_version_one_per_day", condition=IN_FORCE
            ),
        ]

    def __str__(self) -> str:
        return f"{'stopped' if self.stopped else 'version'} from {self.effective_from}"


class TherapyActivity(models.Model):
    """One exercise or treatment in a therapy plan version."""

    version = models.ForeignKey(TherapyPlanVersion, on_delete=models.PROTECT, related_name="activities")
    kind = models.CharField(max_length=30, choices=THERAPY_ACTIVITIES.choices)
    body_region = models.CharField(max_length=40, choices=BODY_REGIONS.choices, blank=True)
    instructions = models.TextField(blank=True)
    sets = models.PositiveSmallIntegerField(null=True, blank=True)
    reps = models.PositiveSmallIntegerField(null=True, blank=True)
    minutes = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Minutes per session.")
    days_per_week = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(name="therapy_days_1_7", condition=Q(days_per_week__gte=1, days_per_week__lte=7)),
            models.CheckConstraint(
                name="therapy_dose_given",
                condition=Q(minutes__gte=1) | Q(sets__gte=1, reps__gte=1),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.days_per_week}x/week"


class OrthoticPlan(PlanItem):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="orthotic_plans")
    device = models.CharField(max_length=40, choices=ORTHOTIC_DEVICES.choices)
    side = models.CharField(max_length=10, choices=SIDES_OR_BOTH)

    def __str__(self) -> str:
        return f"{self.side} {self.device}"


class OrthoticPlanVersion(PlanVersion):
    """How the orthosis is worn from ``effective_from`` on, or (``stopped``) that it no longer is."""

    plan = models.ForeignKey(OrthoticPlan, on_delete=models.PROTECT, related_name="versions")
    stopped = models.BooleanField(default=False)
    hours_per_day = models.DecimalField(max_digits=3, decimal_places=1, null=True, blank=True)
    at_night = models.BooleanField(default=False)
    wear_schedule = models.TextField(blank=True, help_text="When to wear it, in the patient's words.")
    review_on = models.DateField(null=True, blank=True)
    skin_check = models.TextField(blank=True, help_text="What to look for on the skin, and when.")

    class Meta:
        ordering = ["effective_from", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "effective_from"], name="orthotic_version_one_per_day", condition=IN_FORCE
            ),
            models.CheckConstraint(
                name="orthotic_hours_0_24",
                condition=Q(hours_per_day__isnull=True) | Q(hours_per_day__gt=0, hours_per_day__lte=24),
            ),
        ]

    def __str__(self) -> str:
        return f"{'stopped' if self.stopped else 'version'} from {self.effective_from}"


# --- Goals and Goal Attainment Scaling -------------------------------------------------------------


class Goal(models.Model):
    """A goal in the patient's words, with its five attainment levels (-2..+2) [TS]."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        ACHIEVED = "achieved", "Achieved"
        DISCONTINUED = "discontinued", "Discontinued"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="goals")
    description = models.TextField(help_text="The goal in the patient's own words.")
    domain = models.CharField(max_length=20, choices=GOAL_DOMAINS.choices)
    levels = models.JSONField(help_text='What each level means: {"-2": ..., "-1": ..., "0": ..., "1": ..., "2": ...}.')
    weight = models.PositiveSmallIntegerField(default=1, help_text="Relative weight in the T-score (1 = equal).")
    baseline_level = models.SmallIntegerField(help_text="Level when the goal was set (commonly -1).")
    set_on = models.DateField()
    status = models.CharField(max_length=15, choices=Status.choices, default=Status.ACTIVE)
    closed_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    # Every change (a rating, closing it): the FHIR Goal's meta.lastUpdated, which EHRs poll by.
    updated_at = models.DateTimeField(auto_now=True)
    revision = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["set_on", "created_at"]
        indexes = [models.Index(fields=["updated_at"], name="goal_updated")]
        constraints = [
            models.CheckConstraint(
                name="goal_baseline_in_range", condition=Q(baseline_level__gte=-2, baseline_level__lte=2)
            ),
            models.CheckConstraint(name="goal_weight_positive", condition=Q(weight__gte=1, weight__lte=100)),
        ]

    def __str__(self) -> str:
        return self.description[:60]


class GoalRating(models.Model):
    """The attainment level reached on a day (-2 much less than expected .. +2 much more) [TS]."""

    goal = models.ForeignKey(Goal, on_delete=models.PROTECT, related_name="ratings")
    rated_on = models.DateField()
    level = models.SmallIntegerField()
    rated_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["rated_on", "id"]
        constraints = [
            models.UniqueConstraint(fields=["goal", "rated_on"], name="goal_rating_one_per_day"),
            models.CheckConstraint(name="goal_level_in_range", condition=Q(level__gte=-2, level__lte=2)),
        ]

    def __str__(self) -> str:
        return f"{self.level:+d} on {self.rated_on}"
