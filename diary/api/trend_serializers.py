"""Shapes of trend summaries, event comparisons and the attention list on the wire."""

from typing import Any

from rest_framework import serializers

from clinic.api.fields import StrictSerializer, api_datetime
from diary.models import Direction, TrendEventComparison, TrendSummary


class TrendQuery(StrictSerializer):
    granularity = serializers.ChoiceField(
        choices=TrendSummary.Granularity.choices, default=TrendSummary.Granularity.WEEK
    )
    page_size = serializers.IntegerField(required=False)
    cursor = serializers.CharField(required=False)


class ChartQuery(StrictSerializer):
    weeks = serializers.IntegerField(min_value=1, max_value=104, default=26)


class DerivedFrom(serializers.Serializer):
    """Which diary entries a summary was computed from: the patient's, with a local day in the period."""

    patient_id = serializers.UUIDField()
    local_date_from = serializers.DateField()
    local_date_to = serializers.DateField()


class TrendSummaryOutput(serializers.Serializer):
    """A stored summary (built directly; figures are already JSON)."""

    id = serializers.UUIDField(help_text="Stable for the patient, granularity and period.")
    patient_id = serializers.UUIDField()
    granularity = serializers.ChoiceField(choices=TrendSummary.Granularity.choices)
    label = serializers.CharField(help_text="2026-W47 or 2026-11.")  # type: ignore[assignment]
    period_start = serializers.DateField()
    period_end = serializers.DateField(help_text="Inclusive.")
    complete = serializers.BooleanField(help_text="False while the period is still running.")
    entry_count = serializers.IntegerField()
    days_with_entries = serializers.IntegerField()
    severity_mean = serializers.FloatField(allow_null=True)
    spasms_per_day = serializers.FloatField(
        allow_null=True, help_text="Per day on which spasms were counted (null: never counted)."
    )
    direction = serializers.ChoiceField(
        choices=Direction.choices, help_text="Mean severity against the previous period."
    )
    figures = serializers.DictField(help_text="Every figure of the period (README).")
    derived_from = DerivedFrom()
    version = serializers.IntegerField(help_text="Increases each time the figures change.")
    source_updated_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def to_representation(self, summary: TrendSummary) -> dict[str, Any]:
        return {
            "id": str(summary.id),
            "patient_id": str(summary.patient_id),
            "granularity": summary.granularity,
            "label": summary.figures["label"],
            "period_start": summary.period_start.isoformat(),
            "period_end": summary.period_end.isoformat(),
            "complete": summary.complete,
            "entry_count": summary.entry_count,
            "days_with_entries": summary.days_with_entries,
            "severity_mean": summary.severity_mean,
            "spasms_per_day": summary.spasms_per_day,
            "direction": summary.direction,
            "figures": summary.figures,
            "derived_from": {
                "patient_id": str(summary.patient_id),
                "local_date_from": summary.period_start.isoformat(),
                "local_date_to": summary.period_end.isoformat(),
            },
            "version": summary.version,
            "source_updated_at": api_datetime(summary.source_updated_at),
            "created_at": api_datetime(summary.created_at),
            "updated_at": api_datetime(summary.updated_at),
        }


class TrendEventOutput(serializers.ModelSerializer):
    class Meta:
        model = TrendEventComparison
        fields = [
            "id",
            "patient_id",
            "event_kind",
            "event_ref",
            "event_date",
            "title",
            "enough_data",
            "direction",
            "figures",
            "version",
            "created_at",
            "updated_at",
        ]


class AttentionReason(serializers.Serializer):
    kind = serializers.CharField(help_text="An alert kind, or trend_worse.")
    priority = serializers.CharField()
    title = serializers.CharField()
    alert_id = serializers.UUIDField(allow_null=True)


class OverviewPatientOutput(serializers.Serializer):
    id = serializers.UUIDField()
    mrn = serializers.CharField()
    given_name = serializers.CharField()
    family_name = serializers.CharField()
    open_alerts = serializers.DictField(child=serializers.IntegerField(), help_text="Open alerts by priority.")
    latest_week_direction = serializers.CharField(allow_null=True)
    last_entry_day = serializers.DateField(allow_null=True)
    reasons = AttentionReason(many=True)
