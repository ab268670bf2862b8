"""The mappers' rules for meta.lastUpdated and for the end of a period, written in SQL.

A resource can change when another row does (a dose ended by the next one, a goal rated, the
clinic's Group when a patient changes), and a plan version's period ends where the next
version begins. ``sources.py`` annotates these values on each source's rows, so that
_lastUpdated, ``_since`` and date searches see what a reader of the resource sees. Each
expression is the rule of the mapper named beside it; tests compare the two for every source.
"""

from typing import Any

from django.db.models import Case, DateField, DateTimeField, Exists, F, Model, OuterRef, QuerySet, Subquery, When
from django.db.models.expressions import BaseExpression, Combinable
from django.db.models.functions import Coalesce, Greatest

from clinic.models import GoalRating, ItbDose, MedicationDose, OrthoticPlanVersion, Patient, TherapyPlanVersion

LAST_UPDATED = "fhir_last_updated"
PERIOD_END = "fhir_period_end"
_MOMENT = DateTimeField()


def _latest(*values: Any) -> BaseExpression:
    """The latest of non-null values (SQLite's MAX() of a null is null, so nulls fall back to the first)."""
    first, *rest = values
    return Greatest(first, *(Coalesce(value, first, output_field=_MOMENT) for value in rest), output_field=_MOMENT)


def _next_version(model: type[Model], item: str) -> QuerySet[Any]:
    """The version in force after this one (``dose_periods``: the next one not superseded)."""
    return model._default_manager.filter(
        **{item: OuterRef(item)}, superseded_at__isnull=True, effective_from__gt=OuterRef("effective_from")
    ).order_by("effective_from", "pk")


def _version_changed(model: type[Model], item: str, *, ended_at: Combinable | None = None) -> BaseExpression:
    """``dose_periods``' change time: when superseded; else the later of its own and its successor's
    creation; with no successor, the later of its creation and ``ended_at`` (a pump's explant)."""
    later = _next_version(model, item)
    successor = Subquery(later.values("created_at")[:1], output_field=_MOMENT)
    return Case(
        When(superseded_at__isnull=False, then=F("superseded_at")),
        When(Exists(later), then=_latest(F("created_at"), successor)),
        default=F("created_at") if ended_at is None else _latest(F("created_at"), ended_at),
        output_field=_MOMENT,
    )


def _version_end(model: type[Model], item: str, *, ends_on: Combinable | None = None) -> BaseExpression:
    """``dose_periods``' end: the successor's first day, or ``ends_on``; none once superseded."""
    successor = Subquery(_next_version(model, item).values("effective_from")[:1], output_field=DateField())
    end = successor if ends_on is None else Coalesce(successor, ends_on, output_field=DateField())
    return Case(When(superseded_at__isnull=True, then=end), default=None, output_field=DateField())


def alert_changes() -> dict[str, BaseExpression]:
    return {LAST_UPDATED: _latest(F("created_at"), F("acknowledged_at"), F("resolved_at"))}  # flag.alert_flag


def oral_changes() -> dict[str, BaseExpression]:
    return {
        LAST_UPDATED: _version_changed(MedicationDose, "regimen"),
        PERIOD_END: _version_end(MedicationDose, "regimen"),
    }


def itb_changes() -> dict[str, BaseExpression]:
    # medication_statement.itb_medication_statements: an explant ends the last dose.
    explanted = Case(When(pump__explanted_on__isnull=False, then=F("pump__updated_at")), default=None)
    return {
        LAST_UPDATED: _version_changed(ItbDose, "pump", ended_at=explanted),
        PERIOD_END: _version_end(ItbDose, "pump", ends_on=F("pump__explanted_on")),
    }


def therapy_changes() -> dict[str, BaseExpression]:
    return {  # care_plan.therapy_care_plans: the plan's own changes count too
        LAST_UPDATED: _latest(_version_changed(TherapyPlanVersion, "plan"), F("plan__updated_at")),
        PERIOD_END: _version_end(TherapyPlanVersion, "plan"),
    }


def orthotic_changes() -> dict[str, BaseExpression]:
    return {  # device_request.orthotic_device_requests
        LAST_UPDATED: _latest(_version_changed(OrthoticPlanVersion, "plan"), F("plan__updated_at")),
        PERIOD_END: _version_end(OrthoticPlanVersion, "plan"),
    }


def goal_changes() -> dict[str, BaseExpression]:
    latest_rating = GoalRating.objects.filter(goal=OuterRef("pk")).order_by("-created_at").values("created_at")[:1]
    return {LAST_UPDATED: _latest(F("updated_at"), Subquery(latest_rating, output_field=_MOMENT))}  # goal_resource


def t_score_changes() -> dict[str, BaseExpression]:
    same_day = GoalRating.objects.filter(goal__patient_id=OuterRef("goal__patient_id"), rated_on=OuterRef("rated_on"))
    latest = same_day.order_by("-created_at").values("created_at")[:1]
    return {LAST_UPDATED: Subquery(latest, output_field=_MOMENT)}  # observation.gas_t_score_observation


def group_changes() -> dict[str, BaseExpression]:
    latest_member = Patient.objects.filter(clinic=OuterRef("pk")).order_by("-updated_at").values("updated_at")[:1]
    return {LAST_UPDATED: _latest(F("created_at"), Subquery(latest_member, output_field=_MOMENT))}  # _groups


def session_changes() -> dict[str, BaseExpression]:
    return {LAST_UPDATED: Coalesce("voided_at", "created_at", output_field=_MOMENT)}  # procedure.botulinum_procedure


def injection_changes() -> dict[str, BaseExpression]:
    # medication_administration.injection_administration: the session's change
    return {LAST_UPDATED: Coalesce("session__voided_at", "session__created_at", output_field=_MOMENT)}
