"""Trend summaries, before/after comparisons around plan events, and the recompute queue.

All three are derived from the diary and the care plan by ``diary.trends.services`` and never
edited by people. A summary is identified by patient, granularity and period, so the entries it
was derived from are exactly the patient's entries whose ``local_date`` falls in the period; its
``version`` increases each time its figures change, and ``updated_at`` says when.
"""

import uuid

from django.db import models
from django.db.models import Q

from clinic.models import Patient


class Direction(models.TextChoices):
    """How a figure moved against a comparison, in words a clinician reads at a glance."""

    BETTER = "better", "Better"
    WORSE = "worse", "Worse"
    UNCHANGED = "unchanged", "Unchanged"
    NOT_ENOUGH_DATA = "not_enough_data", "Not enough data"


class TrendSummary(models.Model):
    """One patient's diary summarised over one ISO week or calendar month of their local time."""

    class Granularity(models.TextChoices):
        WEEK = "week", "ISO week"
        MONTH = "month", "Calendar month"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="trend_summaries")
    granularity = models.CharField(max_length=5, choices=Granularity.choices)
    period_start = models.DateField(help_text="First local day of the period (a Monday, or the 1st).")
    period_end = models.DateField(help_text="Last local day of the period, inclusive.")
    complete = models.BooleanField(help_text="False while the period is still running in the patient's time zone.")
    entry_count = models.PositiveIntegerField()
    days_with_entries = models.PositiveSmallIntegerField()
    severity_mean = models.FloatField(null=True, blank=True)
    spasms_per_day = models.FloatField(null=True, blank=True, help_text="Spasms per day with diary entries.")
    direction = models.CharField(
        max_length=20, choices=Direction.choices, help_text="Mean severity against the previous period."
    )
    figures = models.JSONField(help_text="Every figure of the period; see README, 'Trends, signals and the dashboard'.")
    figures_hash = models.CharField(max_length=32, help_text="Digest of the figures: the version moves when it does.")
    inputs_hash = models.CharField(
        max_length=32, help_text="Digest of what the figures are made of: unchanged inputs are not reshaped."
    )
    source_updated_at = models.DateTimeField(
        null=True, blank=True, help_text="Latest change to any entry behind these figures."
    )
    version = models.PositiveIntegerField(default=1, help_text="Increases each time the figures change.")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "granularity", "period_start"], name="trend_summary_one_per_period"
            ),
        ]
        # FHIR searches by _lastUpdated, and exports with _since, read summaries changed since a time.
        indexes = [models.Index(fields=["updated_at"], name="trend_summary_updated")]

    def __str__(self) -> str:
        return f"{self.granularity} from {self.period_start} ({self.entry_count} entries)"


class TrendEventComparison(models.Model):
    """Diary figures before and after one plan event: a dose change, a pump dose change, an injection."""

    class EventKind(models.TextChoices):
        MEDICATION_DOSE = "medication_dose", "Oral medicine change"
        ITB_DOSE = "itb_dose", "Pump dose change"
        BOTULINUM_SESSION = "botulinum_session", "Botulinum toxin injection"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="trend_event_comparisons")
    event_kind = models.CharField(max_length=20, choices=EventKind.choices)
    event_ref = models.CharField(max_length=64, help_text="Primary key of the dose version or session.")
    event_date = models.DateField()
    title = models.CharField(max_length=200)
    enough_data = models.BooleanField()
    direction = models.CharField(max_length=20, choices=Direction.choices, help_text="Mean severity, after vs before.")
    figures = models.JSONField()
    figures_hash = models.CharField(max_length=32)
    inputs_hash = models.CharField(max_length=32)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event_kind", "event_ref"], name="trend_event_one_per_event"),
        ]
        indexes = [models.Index(fields=["patient", "-event_date"], name="trend_event_patient_day")]

    def __str__(self) -> str:
        return f"{self.title} ({self.event_date})"


class TrendRecompute(models.Model):
    """A patient's trends waiting to be recomputed from ``dirty_from`` on, and who holds the work.

    Uploads mark the row (``generation`` counts the marks); a worker claims it with a lease by a
    conditional UPDATE, and clears it only if no new mark arrived while it was computing.
    """

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, primary_key=True, related_name="+")
    dirty_from = models.DateField(null=True, blank=True, help_text="Earliest local day whose figures may be stale.")
    generation = models.PositiveBigIntegerField(default=0)
    requested_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.UUIDField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["requested_at"], name="trend_recompute_pending", condition=Q(dirty_from__isnull=False))
        ]

    def __str__(self) -> str:
        return f"trends of {self.patient_id} from {self.dirty_from}"
