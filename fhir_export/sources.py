"""Where each exported resource comes from: one ``Source`` per (resource type, table).

A source knows its table's scoping (clinic, patient), which columns answer the search
parameters (``search.py``), how its ids look, what to prefetch, and which mapper turns a row
into a resource. Search, read, ``$everything``, the Observation bundles, ``$export`` and the
CapabilityStatement are all driven by this one table, so they cannot drift apart.

One row is one resource everywhere: plan items map one resource per version (their mappers
need the item's other versions, which are prefetched).
"""

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import DateField, DateTimeField, Exists, Model, OuterRef, Prefetch, Q, QuerySet
from django.db.models.expressions import BaseExpression

from clinic.api.fields import WHOLE_NUMBER
from clinic.models import (
    BotulinumSession,
    Clinic,
    Goal,
    GoalRating,
    InjectionSite,
    ItbDose,
    ItbPump,
    MedicationDose,
    OrthoticPlanVersion,
    Patient,
    TherapyPlanVersion,
)
from clinic.vocabulary import (
    BOTULINUM_PRODUCTS,
    GOAL_DOMAINS,
    ORAL_DRUGS,
    ORTHOTIC_DEVICES,
    THERAPY_DISCIPLINES,
    Vocabulary,
)
from diary.models import AdherenceLog, Alert, DiaryEntry, TrendSummary
from fhir_export import sql_rules
from fhir_export.mapping import (
    care_plan,
    device,
    device_request,
    flag,
    goal,
    medication_administration,
    medication_statement,
    observation,
    patient,
    procedure,
)
from fhir_export.mapping.common import JSON, concept
from fhir_export.vocabulary import (
    ALERT_KINDS,
    CHEMODENERVATION,
    DEVICE_KINDS,
    DIARY_SUMMARIES,
    MEASURES,
    OBSERVATION_CATEGORIES,
    PROCEDURES,
)

Coding = tuple[str, str]  # (system URL, code)
# Integer primary keys are 64-bit in every table (DEFAULT_AUTO_FIELD): a longer number names nothing.
MAX_INT_PK = 2**63 - 1


@dataclass(frozen=True)
class Codes:
    """The codes a source's rows can carry for one token parameter (category or code).

    ``fixed``: every row has these concepts. ``column`` + ``vocabulary``: a row's word in that
    column, with all the word's codes.
    """

    fixed: tuple[JSON, ...] = ()
    column: str = ""
    vocabulary: Vocabulary | None = None

    def codings(self) -> list[tuple[str, list[Coding]]]:
        """(word or "", its codings) for everything this parameter can match."""
        if self.vocabulary is not None:
            return [(w.name, [(c.system_url, c.code) for c in w.codings]) for w in self.vocabulary]
        return [("", [(c["system"], c["code"]) for fixed in self.fixed for c in fixed["coding"]])]


@dataclass(frozen=True)
class Source:
    """One table that yields resources of one type."""

    resource_type: str
    name: str
    model: type[Model]
    clinic_path: str
    patient_path: str | None
    # What _lastUpdated and _since filter: always the value the mapper puts in meta.lastUpdated,
    # either a column or one of ``annotations`` (a resource that changes when another row does).
    updated_field: str
    map_rows: Callable[[Sequence[Any], date], list[JSON]]
    date_field: str | None = None  # what ``date`` searches; a period's start
    # A resource over a period (a dose, a plan version, an alert until resolved) ends here, exclusive;
    # a null end is still running. FHIR date searches compare the whole range (see dates.py).
    end_field: str | None = None
    day_field: str | None = None  # the patient's own calendar day, for monthly bundles
    # For rows over several days (trend summaries): their last day, inclusive. A monthly bundle
    # holds only rows whose days all fall in its month, so that every reference resolves inside it;
    # date searches read it as the period's end.
    last_day_field: str | None = None
    category: Codes | None = None
    code: Codes | None = None
    id_prefix: str = ""
    base: Callable[[QuerySet[Any]], QuerySet[Any]] = lambda qs: qs
    select: tuple[str, ...] = ()
    prefetch: tuple[str | Prefetch, ...] = ()
    # For the tables an export streams by the million: the columns the mapper reads, and how
    # to make a row of them (bulk.py reads these without model instances).
    columns: tuple[str, ...] = ()
    from_columns: Callable[[Sequence[Any]], Any] | None = None
    # Values computed in SQL the way the mapper computes them in Python (names used above).
    annotations: Callable[[], dict[str, BaseExpression]] = dict

    def rows(self, clinic_id: int) -> QuerySet[Any]:
        """Every row of the clinic this source exports, with what its mapper needs joined."""
        qs = self.base(self.model._default_manager.filter(**{self.clinic_path: clinic_id}))
        if annotated := self.annotations():
            qs = qs.annotate(**annotated)
        return qs.select_related(*self.select) if self.select else qs

    def is_day(self, path: str) -> bool:
        """Whether ``path`` holds a calendar day (a DateField, or an annotation of one)."""
        expression = self.annotations().get(path)
        if expression is not None:
            field_ = expression.output_field
        else:
            model: Any = self.model
            for part in path.split("__")[:-1]:
                model = model._meta.get_field(part).related_model
            try:
                field_ = model._meta.get_field(path.split("__")[-1])
            except FieldDoesNotExist:
                return False
        return isinstance(field_, DateField) and not isinstance(field_, DateTimeField)

    def id_filter(self, resource_id: str) -> Q | None:
        """The rows with this resource id, or None if the id cannot be one of this source's."""
        if self.id_prefix:
            if not resource_id.startswith(self.id_prefix):
                return None
            resource_id = resource_id.removeprefix(self.id_prefix)
        elif "-" in resource_id and not _is_uuid(resource_id):
            return None
        pk = primary_key(self.model, resource_id)
        return None if pk is None else Q(pk=pk)


def primary_key(model: type[Model], text: str) -> Any:
    """``text`` as a primary key of ``model``, or None if it cannot be one."""
    try:
        pk = model._meta.pk.to_python(text)
    except ValidationError:
        return None
    if isinstance(pk, int) and not 0 < pk <= MAX_INT_PK:
        return None
    return pk if str(pk) == text else None  # ids are case-sensitive: one spelling per resource


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


# --- Mappers over rows (prefetched) --------------------------------------------------------


def _diary(rows: Sequence[DiaryEntry], today: date) -> list[JSON]:
    return [observation.diary_observation(row) for row in rows]


def _adherence(rows: Sequence[AdherenceLog], today: date) -> list[JSON]:
    return [observation.adherence_observation(row) for row in rows]


def _gas_levels(rows: Sequence[GoalRating], today: date) -> list[JSON]:
    return [observation.gas_level_observation(row, row.goal.patient_id) for row in rows]


def _gas_t_scores(rows: Sequence[GoalRating], today: date) -> list[JSON]:
    """Each row is the first rating of a patient's day; the day's other ratings are loaded here."""
    if not rows:
        return []
    days = {(row.goal.patient_id, row.rated_on) for row in rows}
    same_days = GoalRating.objects.filter(
        goal__patient_id__in={p for p, _ in days}, rated_on__in={d for _, d in days}
    ).select_related("goal")
    by_day: dict[tuple[uuid.UUID, date], list[tuple[GoalRating, int]]] = defaultdict(list)
    for rating in same_days:
        key = (rating.goal.patient_id, rating.rated_on)
        if key in days:
            by_day[key].append((rating, rating.goal.weight))
    return [
        observation.gas_t_score_observation(
            row.goal.patient_id, row.rated_on, by_day[(row.goal.patient_id, row.rated_on)]
        )
        for row in rows
    ]


def _trend_summaries(rows: Sequence[TrendSummary], today: date) -> list[JSON]:
    """Each summary with the diary entries of its patient's days in the period (one query for
    the lot: per patient, the entries from its earliest period start to its latest end)."""
    if not rows:
        return []
    spans: dict[uuid.UUID, tuple[date, date]] = {}
    for row in rows:
        first, last = spans.get(row.patient_id, (row.period_start, row.period_end))
        spans[row.patient_id] = (min(first, row.period_start), max(last, row.period_end))
    wanted = Q()
    for patient_id, (first, last) in spans.items():
        wanted |= Q(patient_id=patient_id, local_date__range=(first, last))
    by_day: dict[tuple[uuid.UUID, date], list[uuid.UUID]] = defaultdict(list)
    entries = DiaryEntry.objects.filter(wanted, deleted_at__isnull=True).order_by("occurred_at", "id")
    for patient_id, day, entry_id in entries.values_list("patient_id", "local_date", "id"):
        by_day[(patient_id, day)].append(entry_id)
    out = []
    for row in rows:
        days = (row.period_start + timedelta(days=n) for n in range((row.period_end - row.period_start).days + 1))
        entry_ids = [entry_id for day in days for entry_id in by_day.get((row.patient_id, day), ())]
        out.append(observation.trend_summary_observation(row, entry_ids))
    return out


def _first_rating_of_the_day(qs: QuerySet[GoalRating]) -> QuerySet[GoalRating]:
    earlier = GoalRating.objects.filter(
        goal__patient_id=OuterRef("goal__patient_id"), rated_on=OuterRef("rated_on"), pk__lt=OuterRef("pk")
    )
    return qs.filter(~Exists(earlier))


def _tscore_id_filter(resource_id: str) -> Q | None:
    rest = resource_id.removeprefix("gas-t-")
    if rest == resource_id or len(rest) != 45:
        return None
    try:
        patient_id, day = uuid.UUID(rest[:36]), date.fromisoformat(f"{rest[37:41]}-{rest[41:43]}-{rest[43:45]}")
    except ValueError:
        return None
    return Q(goal__patient_id=patient_id, rated_on=day)


def _one_per_row(build: Callable[[Any, date], list[JSON]], id_of: Callable[[Any], str]) -> Callable[..., list[JSON]]:
    """Map version rows with a mapper that maps a whole item, keeping each row's own resource."""

    def map_rows(rows: Sequence[Any], today: date) -> list[JSON]:
        out: list[JSON] = []
        for row in rows:
            wanted = id_of(row)
            out.extend(r for r in build(row, today) if r["id"] == wanted)
        return out

    return map_rows


def _in_date_order(versions: Iterable[Any]) -> list[Any]:
    return sorted(versions, key=lambda v: (v.effective_from, v.pk))


_oral = _one_per_row(
    lambda dose, today: medication_statement.oral_medication_statements(
        dose.regimen, _in_date_order(dose.regimen.doses.all()), today
    ),
    lambda dose: medication_statement.oral_statement_id(dose.pk),
)
_itb = _one_per_row(
    lambda dose, today: medication_statement.itb_medication_statements(
        dose.pump, _in_date_order(dose.pump.doses.all()), today
    ),
    lambda dose: medication_statement.itb_statement_id(dose.pk),
)


def _therapy(rows: Sequence[TherapyPlanVersion], today: date) -> list[JSON]:
    out: list[JSON] = []
    for row in rows:
        versions = _in_date_order(row.plan.versions.all())
        activities = {v.pk: list(v.activities.all()) for v in versions}
        wanted = care_plan.care_plan_id(row.pk)
        out.extend(r for r in care_plan.therapy_care_plans(row.plan, versions, activities, today) if r["id"] == wanted)
    return out


_orthotic = _one_per_row(
    lambda version, today: device_request.orthotic_device_requests(
        version.plan, _in_date_order(version.plan.versions.all()), today
    ),
    lambda version: device_request.device_request_id(version.pk),
)


def _goals(rows: Sequence[Goal], today: date) -> list[JSON]:
    return [goal.goal_resource(row, list(row.ratings.all())) for row in rows]


def _alerts(rows: Sequence[Alert], today: date) -> list[JSON]:
    return [flag.alert_flag(row) for row in rows]


def _pumps(rows: Sequence[ItbPump], today: date) -> list[JSON]:
    return [device.itb_pump_device(row) for row in rows]


def _sessions(rows: Sequence[BotulinumSession], today: date) -> list[JSON]:
    return [procedure.botulinum_procedure(row, list(row.sites.all())) for row in rows]


def _injections(rows: Sequence[InjectionSite], today: date) -> list[JSON]:
    return [medication_administration.injection_administration(row, row.session) for row in rows]


def _patients(rows: Sequence[Patient], today: date) -> list[JSON]:
    return [patient.patient_resource(row) for row in rows]


def _groups(rows: Sequence[Clinic], today: date) -> list[JSON]:
    out: list[JSON] = []
    for clinic in rows:
        members = list(clinic.patients.all())
        last = max([clinic.created_at, *(p.updated_at for p in members)])
        out.append(patient.clinic_group(clinic, [p.pk for p in members], last))
    return out


def _group_id_filter(resource_id: str) -> Q | None:
    number = resource_id.removeprefix("clinic-")
    if number == resource_id or not WHOLE_NUMBER.fullmatch(number):
        return None
    return Q(pk=int(number))


def _not_deleted(qs: QuerySet[Any]) -> QuerySet[Any]:
    return qs.filter(deleted_at__isnull=True)


def _giving_a_dose(qs: QuerySet[Any]) -> QuerySet[Any]:
    return qs.filter(stopped=False)


# --- The table ------------------------------------------------------------------------------

SURVEY = Codes(fixed=(concept(OBSERVATION_CATEGORIES, "survey"),))

SOURCES: list[Source] = [
    Source("Patient", "patient", Patient, "clinic_id", "pk", "updated_at", _patients),
    Source(
        "Group",
        "clinic",
        Clinic,
        "pk",
        None,
        sql_rules.LAST_UPDATED,
        _groups,
        annotations=sql_rules.group_changes,
        prefetch=(Prefetch("patients", queryset=Patient.objects.only("id", "clinic_id", "updated_at").order_by("pk")),),
    ),
    Source(
        "Observation",
        "diary",
        DiaryEntry,
        "patient__clinic_id",
        "patient_id",
        "updated_at",
        _diary,
        date_field="occurred_at",
        day_field="local_date",
        columns=observation.DiaryRow._fields,
        from_columns=observation.diary_row,
        category=SURVEY,
        code=Codes(fixed=(concept(MEASURES, "spasticity_nrs"),)),
        base=_not_deleted,
    ),
    Source(
        "Observation",
        "adherence",
        AdherenceLog,
        "patient__clinic_id",
        "patient_id",
        "updated_at",
        _adherence,
        date_field="date",
        day_field="date",
        id_prefix="adherence-",
        category=Codes(fixed=(concept(OBSERVATION_CATEGORIES, "activity"),)),
        code=Codes(fixed=(concept(MEASURES, "daily_adherence"),)),
        base=_not_deleted,
    ),
    Source(
        "Observation",
        "gas-level",
        GoalRating,
        "goal__patient__clinic_id",
        "goal__patient_id",
        "created_at",
        _gas_levels,
        date_field="rated_on",
        day_field="rated_on",
        id_prefix="gas-",
        category=SURVEY,
        code=Codes(fixed=(concept(MEASURES, "gas_level"),)),
        select=("goal",),
    ),
    Source(
        "Observation",
        "gas-t-score",
        GoalRating,
        "goal__patient__clinic_id",
        "goal__patient_id",
        sql_rules.LAST_UPDATED,
        _gas_t_scores,
        annotations=sql_rules.t_score_changes,
        date_field="rated_on",
        day_field="rated_on",
        id_prefix="gas-t-",
        category=SURVEY,
        code=Codes(fixed=(concept(MEASURES, "gas_t_score"),)),
        select=("goal",),
        base=_first_rating_of_the_day,
    ),
    Source(
        "Observation",
        "trend",
        TrendSummary,
        "patient__clinic_id",
        "patient_id",
        "updated_at",
        _trend_summaries,
        date_field="period_start",
        day_field="period_start",
        last_day_field="period_end",
        id_prefix="trend-",
        category=SURVEY,
        code=Codes(column="granularity", vocabulary=DIARY_SUMMARIES),
    ),
    Source(
        "Flag",
        "alert",
        Alert,
        "clinic_id",
        "patient_id",
        sql_rules.LAST_UPDATED,
        _alerts,
        date_field="created_at",
        end_field="resolved_at",
        annotations=sql_rules.alert_changes,
        code=Codes(column="kind", vocabulary=ALERT_KINDS),
    ),
    Source(
        "MedicationStatement",
        "oral",
        MedicationDose,
        "regimen__patient__clinic_id",
        "regimen__patient_id",
        sql_rules.LAST_UPDATED,
        _oral,
        date_field="effective_from",
        end_field=sql_rules.PERIOD_END,
        annotations=sql_rules.oral_changes,
        id_prefix="oral-dose-",
        code=Codes(column="regimen__drug", vocabulary=ORAL_DRUGS),
        base=_giving_a_dose,
        select=("regimen",),
        prefetch=("regimen__doses",),
    ),
    Source(
        "MedicationStatement",
        "itb",
        ItbDose,
        "pump__patient__clinic_id",
        "pump__patient_id",
        sql_rules.LAST_UPDATED,
        _itb,
        date_field="effective_from",
        end_field=sql_rules.PERIOD_END,
        annotations=sql_rules.itb_changes,
        id_prefix="itb-dose-",
        code=Codes(fixed=(concept(ORAL_DRUGS, "baclofen"),)),
        select=("pump",),
        prefetch=("pump__doses",),
    ),
    Source(
        "Device",
        "itb-pump",
        ItbPump,
        "patient__clinic_id",
        "patient_id",
        "updated_at",
        _pumps,
        code=Codes(fixed=(concept(DEVICE_KINDS, "intrathecal_pump"),)),
    ),
    Source(
        "Procedure",
        "botulinum",
        BotulinumSession,
        "patient__clinic_id",
        "patient_id",
        sql_rules.LAST_UPDATED,
        _sessions,
        annotations=sql_rules.session_changes,
        date_field="injected_on",
        code=Codes(
            fixed=(
                concept(PROCEDURES, "botulinum_toxin_injection"),
                *(concept(CHEMODENERVATION, w.name) for w in CHEMODENERVATION),
            )
        ),
        select=("clinician",),
        prefetch=("sites",),
    ),
    Source(
        "MedicationAdministration",
        "injection",
        InjectionSite,
        "session__patient__clinic_id",
        "session__patient_id",
        sql_rules.LAST_UPDATED,
        _injections,
        annotations=sql_rules.injection_changes,
        date_field="session__injected_on",
        id_prefix="injection-",
        code=Codes(column="session__product", vocabulary=BOTULINUM_PRODUCTS),
        select=("session",),
    ),
    Source(
        "CarePlan",
        "therapy",
        TherapyPlanVersion,
        "plan__patient__clinic_id",
        "plan__patient_id",
        sql_rules.LAST_UPDATED,
        _therapy,
        date_field="effective_from",
        end_field=sql_rules.PERIOD_END,
        annotations=sql_rules.therapy_changes,
        id_prefix="therapy-",
        category=Codes(column="plan__discipline", vocabulary=THERAPY_DISCIPLINES),
        base=_giving_a_dose,
        select=("plan",),
        prefetch=("plan__versions__activities",),
    ),
    Source(
        "Goal",
        "goal",
        Goal,
        "patient__clinic_id",
        "patient_id",
        sql_rules.LAST_UPDATED,
        _goals,
        annotations=sql_rules.goal_changes,
        date_field="set_on",
        category=Codes(column="domain", vocabulary=GOAL_DOMAINS),
        prefetch=("ratings",),
    ),
    Source(
        "DeviceRequest",
        "orthotic",
        OrthoticPlanVersion,
        "plan__patient__clinic_id",
        "plan__patient_id",
        sql_rules.LAST_UPDATED,
        _orthotic,
        date_field="effective_from",
        end_field=sql_rules.PERIOD_END,
        annotations=sql_rules.orthotic_changes,
        id_prefix="orthosis-",
        code=Codes(column="plan__device", vocabulary=ORTHOTIC_DEVICES),
        base=_giving_a_dose,
        select=("plan",),
        prefetch=("plan__versions",),
    ),
]

# Ids that need more than a prefix to route: prefixes that are prefixes of others go last.
ID_FILTERS: dict[str, Callable[[str], Q | None]] = {"gas-t-score": _tscore_id_filter, "clinic": _group_id_filter}

RESOURCE_TYPES: list[str] = list(dict.fromkeys(source.resource_type for source in SOURCES))
# Types that belong to a patient's compartment (everything but the Group).
PATIENT_TYPES: list[str] = [t for t in RESOURCE_TYPES if t != "Group"]


def sources_of(resource_type: str) -> list[Source]:
    return [source for source in SOURCES if source.resource_type == resource_type]


def source_named(name: str) -> Source:
    return next(source for source in SOURCES if source.name == name)


def source_for_id(resource_type: str, resource_id: str) -> tuple[Source, Q] | None:
    """The source and row filter a resource id routes to, if any."""
    candidates = sorted(sources_of(resource_type), key=lambda s: -len(s.id_prefix))
    for source in candidates:
        special = ID_FILTERS.get(source.name)
        match = special(resource_id) if special is not None else source.id_filter(resource_id)
        if match is not None:
            return source, match
    return None
