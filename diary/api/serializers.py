"""Shapes of diary entries, adherence logs and alerts on the wire."""

import datetime as dt
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clinic.api.fields import (
    BoundedDateField,
    ScoreMapField,
    StrictIntegerField,
    StrictSerializer,
    StrictUUIDField,
    VocabularyField,
    VocabularyListField,
    WordAmountListField,
    api_datetime,
)
from clinic.vocabulary import ORAL_DRUGS, ORTHOTIC_DEVICES, THERAPY_ACTIVITIES
from diary import vocabulary as v
from diary.models import MAX_UTC_OFFSET_MINUTES, MIN_UTC_OFFSET_MINUTES, AdherenceLog, Alert, DiaryEntry


@extend_schema_field(OpenApiTypes.DATETIME)
class OffsetDateTimeField(serializers.Field):
    """An ISO 8601 time that must carry its UTC offset, which is kept (not converted to UTC).

    The offset is the patient's local time when it happened; trends use it for time of day.
    """

    default_error_messages = {
        "invalid": "Use an ISO 8601 date and time, e.g. 2026-11-20T07:30:00-05:00.",
        "naive": "The time must include its UTC offset, e.g. -05:00 or Z.",
        "offset": "The UTC offset must be whole minutes between -12:00 and +14:00.",
    }

    def to_internal_value(self, data: Any) -> datetime:
        if not isinstance(data, str) or len(data) > 40:
            self.fail("invalid")
        try:
            value = datetime.fromisoformat(data)
        except ValueError:
            self.fail("invalid")
        offset = value.utcoffset()
        if offset is None:
            self.fail("naive")
        seconds = offset.total_seconds()
        if seconds % 60 or not MIN_UTC_OFFSET_MINUTES * 60 <= seconds <= MAX_UTC_OFFSET_MINUTES * 60:
            self.fail("offset")
        return value

    def to_representation(self, value: datetime) -> str:
        return value.isoformat()


def check_not_future(value: datetime) -> None:
    if value > timezone.now() + timedelta(seconds=settings.DIARY_CLOCK_SKEW_SECONDS):
        raise serializers.ValidationError("This time is in the future.")
    if value < timezone.now() - timedelta(days=settings.DIARY_MAX_BACKDATE_DAYS):
        raise serializers.ValidationError(f"This time is more than {settings.DIARY_MAX_BACKDATE_DAYS} days ago.")


# The shapes below document nested items in the OpenAPI schema; the fast fields that follow
# do the checking (see clinic.api.fields.WordAmountListField).


class ReliefItem(serializers.Serializer):
    measure = VocabularyField(v.RELIEF_MEASURES)
    helped = serializers.IntegerField(
        min_value=0, max_value=3, help_text="; ".join(f"{k} = {label}" for k, label in v.RELIEF_SCALE.items())
    )


class Impact(serializers.Serializer):
    """How much the spasms got in the way: 0 not at all, 1 a little, 2 a lot, 3 could not do it."""

    walking = serializers.IntegerField(min_value=0, max_value=3, required=False)
    dressing = serializers.IntegerField(min_value=0, max_value=3, required=False)
    sleeping = serializers.IntegerField(min_value=0, max_value=3, required=False)
    transfers = serializers.IntegerField(min_value=0, max_value=3, required=False)
    pain = serializers.IntegerField(min_value=0, max_value=3, required=False)


class TherapyItem(serializers.Serializer):
    activity = VocabularyField(THERAPY_ACTIVITIES)
    minutes = serializers.IntegerField(min_value=0, max_value=24 * 60)


class OrthosisItem(serializers.Serializer):
    device = VocabularyField(ORTHOTIC_DEVICES)
    hours = serializers.FloatField(min_value=0, max_value=24)


class MissedDoseItem(serializers.Serializer):
    drug = VocabularyField(ORAL_DRUGS)
    doses = serializers.IntegerField(min_value=1, max_value=10)


@extend_schema_field(ReliefItem(many=True))
class ReliefField(WordAmountListField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(v.RELIEF_MEASURES, word_key="measure", amount_key="helped", minimum=0, maximum=3, **kwargs)


@extend_schema_field(Impact)
class ImpactField(ScoreMapField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(v.IMPACT_DOMAINS, minimum=0, maximum=3, **kwargs)


@extend_schema_field(TherapyItem(many=True))
class TherapyField(WordAmountListField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            THERAPY_ACTIVITIES, word_key="activity", amount_key="minutes", minimum=0, maximum=24 * 60, **kwargs
        )


@extend_schema_field(OrthosisItem(many=True))
class OrthosesField(WordAmountListField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            ORTHOTIC_DEVICES, word_key="device", amount_key="hours", minimum=0, maximum=24, integer=False, **kwargs
        )


@extend_schema_field(MissedDoseItem(many=True))
class MissedDosesField(WordAmountListField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(ORAL_DRUGS, word_key="drug", amount_key="doses", minimum=1, maximum=10, **kwargs)


class DiaryEntryInput(StrictSerializer):
    """A diary entry as the phone sends it. Only ``id``, ``occurred_at`` and ``severity`` are required."""

    id = StrictUUIDField(help_text="Generated by the phone; sending the same id again is safe.")
    occurred_at = OffsetDateTimeField(help_text="Local time with its UTC offset, e.g. 2026-11-20T07:30:00-05:00.")
    severity = StrictIntegerField(min_value=0, max_value=10, help_text="0 no spasticity, 10 worst possible.")
    spasm_count = StrictIntegerField(min_value=0, max_value=1000, required=False, allow_null=True)
    duration_minutes = StrictIntegerField(min_value=0, max_value=1440, required=False, allow_null=True)
    body_regions = VocabularyListField(v.BODY_REGIONS)
    triggers = VocabularyListField(v.TRIGGERS)
    relief = ReliefField(required=False, help_text="Each measure once; answered in vocabulary order.")
    impact = ImpactField(required=False)
    red_flags = VocabularyListField(v.RED_FLAGS)
    side_effects = VocabularyListField(v.SIDE_EFFECTS)
    notes = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    def validate_occurred_at(self, value: datetime) -> datetime:
        check_not_future(value)
        return value


class DiaryEntryUpdateInput(DiaryEntryInput):
    """A correction: any content field; the id and the patient never change."""

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        del fields["id"]
        return fields


class DiaryEntryOutput(serializers.Serializer):
    """A stored entry. The declared fields document the shape; ``to_representation`` builds it
    directly, because a batch answers 500 of them and DRF's per-field machinery costs ~0.7 ms each."""

    id = serializers.UUIDField()
    patient_id = serializers.UUIDField()
    occurred_at = serializers.DateTimeField(help_text="As sent, with the patient's UTC offset.")
    severity = serializers.IntegerField()
    spasm_count = serializers.IntegerField(allow_null=True)
    duration_minutes = serializers.IntegerField(allow_null=True)
    body_regions = serializers.ListField(child=serializers.CharField())
    triggers = serializers.ListField(child=serializers.CharField())
    relief = serializers.ListField(child=ReliefItem(), help_text="In vocabulary order.")
    impact = serializers.DictField(child=serializers.IntegerField())
    red_flags = serializers.ListField(child=serializers.CharField())
    side_effects = serializers.ListField(child=serializers.CharField())
    notes = serializers.CharField()
    version = serializers.IntegerField(help_text="Increases with every correction; send it back in If-Match.")
    created_at = serializers.DateTimeField(help_text="When the clinic received it.")
    updated_at = serializers.DateTimeField()
    deleted_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, entry: DiaryEntry) -> dict[str, Any]:
        return {
            "id": str(entry.id),
            "patient_id": str(entry.patient_id),
            "occurred_at": entry.local_occurred_at.isoformat(),
            "severity": entry.severity,
            "spasm_count": entry.spasm_count,
            "duration_minutes": entry.duration_minutes,
            "body_regions": entry.body_regions,
            "triggers": entry.triggers,
            "relief": [{"measure": m, "helped": helped} for m, helped in v.RELIEF_MEASURES.in_order(entry.relief)],
            "impact": entry.impact,
            "red_flags": entry.red_flags,
            "side_effects": entry.side_effects,
            "notes": entry.notes,
            "version": entry.version,
            "created_at": api_datetime(entry.created_at),
            "updated_at": api_datetime(entry.updated_at),
            "deleted_at": api_datetime(entry.deleted_at),
        }


class UrgentAdvice(serializers.Serializer):
    alert_ids = serializers.ListField(child=serializers.UUIDField())
    message = serializers.CharField()
    clinic_phone = serializers.CharField(allow_blank=True)


class DiaryEntryResult(serializers.Serializer):
    """One item of a batch: ``created``, ``replayed`` (already stored), or ``rejected`` with errors."""

    index = serializers.IntegerField()
    id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["created", "replayed", "rejected"])
    entry = DiaryEntryOutput(required=False)
    # Declared fields leave the class namespace, so these names do not shadow Serializer.errors.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()), required=False
    )


class DiaryBatchOutput(serializers.Serializer):
    created = serializers.IntegerField()
    replayed = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = DiaryEntryResult(many=True)
    urgent = UrgentAdvice(required=False, help_text="Present when a red flag was reported: show it at once.")


class DiaryEntryCreatedOutput(DiaryEntryOutput):
    urgent = UrgentAdvice(required=False, help_text="Present when a red flag was reported: show it at once.")


class RevisionOutput(serializers.Serializer):
    version = serializers.IntegerField()
    change = serializers.CharField()
    changed_at = serializers.DateTimeField()
    changed_by = serializers.CharField()
    snapshot = serializers.DictField()


class AdherenceInput(StrictSerializer):
    """A day's adherence: what the patient did of their therapy and orthotic plan, and missed doses."""

    id = StrictUUIDField(help_text="Generated by the phone; sending the same id again is safe.")
    date = serializers.DateField(help_text="The patient's local day.")
    therapy = TherapyField(required=False, help_text="Minutes of each therapy activity done that day.")
    orthoses = OrthosesField(required=False, help_text="Hours each orthosis or splint was worn.")
    missed_doses = MissedDosesField(required=False, help_text="Doses of each medicine missed that day.")
    notes = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    def validate_date(self, value: dt.date) -> dt.date:
        # The patient's "today" may be a day ahead of the server's in UTC+14.
        if value > timezone.now().date() + timedelta(days=1):
            raise serializers.ValidationError("This day is in the future.")
        if value < timezone.now().date() - timedelta(days=settings.DIARY_MAX_BACKDATE_DAYS):
            raise serializers.ValidationError(f"This day is more than {settings.DIARY_MAX_BACKDATE_DAYS} days ago.")
        return value


class AdherenceOutput(serializers.Serializer):
    """A stored adherence log (built directly, like ``DiaryEntryOutput``)."""

    id = serializers.UUIDField()
    patient_id = serializers.UUIDField()
    date = serializers.DateField()
    therapy = serializers.ListField(child=TherapyItem())
    orthoses = serializers.ListField(child=OrthosisItem())
    missed_doses = serializers.ListField(child=MissedDoseItem())
    notes = serializers.CharField()
    created_at = serializers.DateTimeField()

    def to_representation(self, log: AdherenceLog) -> dict[str, Any]:
        return {
            "id": str(log.id),
            "patient_id": str(log.patient_id),
            "date": log.date.isoformat(),
            "therapy": [{"activity": k, "minutes": m} for k, m in THERAPY_ACTIVITIES.in_order(log.therapy_minutes)],
            "orthoses": [{"device": k, "hours": h} for k, h in ORTHOTIC_DEVICES.in_order(log.orthosis_hours)],
            "missed_doses": [{"drug": k, "doses": n} for k, n in ORAL_DRUGS.in_order(log.missed_doses)],
            "notes": log.notes,
            "created_at": api_datetime(log.created_at),
        }


class AdherenceResult(serializers.Serializer):
    index = serializers.IntegerField()
    id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["created", "replayed", "rejected"])
    log = AdherenceOutput(required=False)
    # Declared fields leave the class namespace, so these names do not shadow Serializer.errors.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()), required=False
    )


class AdherenceBatchOutput(serializers.Serializer):
    created = serializers.IntegerField()
    replayed = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = AdherenceResult(many=True)


class AlertOutput(serializers.ModelSerializer):
    patient_mrn = serializers.CharField(source="patient.mrn")
    patient_name = serializers.SerializerMethodField()
    acknowledged_by = serializers.CharField(source="acknowledged_by.username", allow_null=True, default=None)
    resolved_by = serializers.CharField(source="resolved_by.username", allow_null=True, default=None)

    class Meta:
        model = Alert
        fields = [
            "id",
            "patient_id",
            "patient_mrn",
            "patient_name",
            "kind",
            "priority",
            "status",
            "title",
            "details",
            "diary_entry_id",
            "created_at",
            "acknowledged_at",
            "acknowledged_by",
            "resolved_at",
            "resolved_by",
            "resolution_note",
            "notified_at",
        ]

    def get_patient_name(self, alert: Alert) -> str:
        return f"{alert.patient.given_name} {alert.patient.family_name}"


class AlertResolveInput(StrictSerializer):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class CodingOutput(serializers.Serializer):
    system = serializers.CharField()
    code = serializers.CharField()
    display = serializers.CharField()


class WordOutput(serializers.Serializer):
    name = serializers.CharField(help_text="The word the API uses.")
    label = serializers.CharField(help_text="What to show people.")  # type: ignore[assignment]
    codes = CodingOutput(many=True, help_text="Standard codes where verified, and always our own.")


class VocabularyOutput(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    system = serializers.CharField(help_text="Canonical URL of our own code system for this vocabulary.")
    words = WordOutput(many=True)


class VocabulariesOutput(serializers.Serializer):
    vocabularies = VocabularyOutput(many=True)
    scales = serializers.DictField(child=serializers.DictField(), help_text="Meaning of each rating value.")


class AdherenceWindowQuery(StrictSerializer):
    to = BoundedDateField(required=False)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = BoundedDateField(required=False)  # a keyword in Python
        return fields

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        end = data.get("to") or timezone.localdate()
        start = data.get("from") or end - timedelta(days=27)
        if start > end:
            raise serializers.ValidationError({"from": ["Must be on or before `to`."]})
        if (end - start).days > 366:
            raise serializers.ValidationError({"from": ["At most a year at a time."]})
        return {"from": start, "to": end}


class AdherenceLineOutput(serializers.Serializer):
    what = serializers.CharField(help_text="A therapy activity, an orthotic device or a drug.")
    planned = serializers.FloatField()
    done = serializers.FloatField()
    unit = serializers.CharField(help_text="min, h or doses")
    share = serializers.FloatField(allow_null=True, help_text="done / planned")


class AdherenceSummaryOutput(serializers.Serializer):
    def get_fields(self) -> dict[str, serializers.Field]:
        return {
            "from": serializers.DateField(),
            "to": serializers.DateField(),
            "therapy": AdherenceLineOutput(many=True),
            "orthoses": AdherenceLineOutput(many=True),
            "medications": AdherenceLineOutput(many=True, help_text="Doses taken: scheduled minus reported missed."),
        }
