"""Search: parameters parsed into per-source querysets, and pages cut by keyset.

Every parameter a type supports is declared in ``PARAMETERS`` (the CapabilityStatement is
generated from it). A type served by several tables (Observation: diary entries, adherence
logs, GAS levels and T-scores) is searched in each and the rows merged by the sort key
``(sort value, source rank, primary key)``, which is unique. A page link carries the key of
the last (or first) row shown, and the next page asks each table only for rows beyond it
(``WHERE key > cursor ORDER BY key LIMIT n + 1``): the cost of a page does not grow with
its depth, and rows added while a client pages never shift or repeat what it sees.
"""

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from uuid import UUID

import orjson
from django.conf import settings
from django.db.models import DateField, DateTimeField, Q, QuerySet

from fhir_export.mapping.common import mrn_system
from fhir_export.sources import Codes, Source, source_for_id, sources_of


class SearchError(Exception):
    """A search the server cannot run as asked (HTTP 400 with an OperationOutcome)."""


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str  # FHIR search parameter type: token, date, reference
    target: str  # what it filters: id, updated, patient, date, category, code, identifier, birthdate
    documentation: str
    definition: str = ""


_ID = Parameter("_id", "token", "id", "The resource id.", "http://hl7.org/fhir/SearchParameter/Resource-id")
_LAST_UPDATED = Parameter(
    "_lastUpdated",
    "date",
    "updated",
    "When the resource last changed (meta.lastUpdated); prefixes eq ne gt ge lt le.",
    "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated",
)
_PATIENT = Parameter(
    "patient", "reference", "patient", "The patient: Patient/{id} or {id}; comma-separated for any of several."
)
_SUBJECT = Parameter("subject", "reference", "patient", "Same as patient (only Patient subjects exist here).")
_CLINICAL_DATE = "http://hl7.org/fhir/SearchParameter/clinical-date"


def _date(name: str, what: str, definition: str = "") -> Parameter:
    return Parameter(
        name, "date", "date", f"{what}; prefixes eq ne gt ge lt le, partial dates (2026, 2026-11) allowed.", definition
    )


def _token(name: str, target: str, what: str, definition: str = "") -> Parameter:
    return Parameter(name, "token", target, f"{what}: system|code, |code, code or system|.", definition)


PARAMETERS: dict[str, list[Parameter]] = {
    "Patient": [
        _ID,
        _LAST_UPDATED,
        _token("identifier", "identifier", "The MRN, in the clinic's identifier system"),
        _date("birthdate", "Date of birth"),
    ],
    "Group": [_ID, _LAST_UPDATED],
    "Observation": [
        _ID,
        _LAST_UPDATED,
        _PATIENT,
        _SUBJECT,
        _date("date", "When it happened (a diary entry keeps the patient's own offset)", _CLINICAL_DATE),
        _token("category", "category", "survey (diary, GAS) or activity (adherence)"),
        _token("code", "code", "What was measured (our spasticity-measures code system)"),
    ],
    "Flag": [
        _ID,
        _LAST_UPDATED,
        _PATIENT,
        _SUBJECT,
        _date("date", "When the alert was raised", _CLINICAL_DATE),
        _token("code", "code", "The kind of alert"),
    ],
    "MedicationStatement": [
        _ID,
        _LAST_UPDATED,
        _PATIENT,
        _SUBJECT,
        _date("effective", "First day of the dose period"),
        _date("date", "Same as effective"),
        _token("code", "code", "The drug (RxNorm where verified, else ours)"),
    ],
    "Device": [_ID, _LAST_UPDATED, _PATIENT, _token("type", "code", "The kind of device")],
    "Procedure": [
        _ID,
        _LAST_UPDATED,
        _PATIENT,
        _SUBJECT,
        _date("date", "Day of the injection session", _CLINICAL_DATE),
        _token("code", "code", "CPT chemodenervation code, or ours"),
    ],
    "MedicationAdministration": [
        _ID,
        _LAST_UPDATED,
        _PATIENT,
        _SUBJECT,
        _date("effective-time", "Day of the injection"),
        _date("date", "Same as effective-time"),
        _token("code", "code", "The botulinum toxin product"),
    ],
    "CarePlan": [
        _ID,
        _LAST_UPDATED,
        _PATIENT,
        _SUBJECT,
        _date("date", "First day of the plan version", _CLINICAL_DATE),
        _token("category", "category", "Therapy discipline"),
    ],
    "Goal": [
        _ID,
        _LAST_UPDATED,
        _PATIENT,
        _SUBJECT,
        _date("start-date", "When the goal was set"),
        _date("date", "Same as start-date"),
        _token("category", "category", "Goal domain"),
    ],
    "DeviceRequest": [
        _ID,
        _LAST_UPDATED,
        _PATIENT,
        _SUBJECT,
        _date("event-date", "First day of the wear schedule"),
        _date("date", "Same as event-date"),
        _token("code", "code", "The orthosis"),
    ],
}

# Parameters about the result rather than the match, with what they accept.
RESULT_PARAMETERS = {"_count", "_sort", "_include", "_summary", "_total", "_format", "_page"}
SORTS = {"date": "date", "_lastUpdated": "updated"}


@dataclass
class Cursor:
    """Where a page starts: just after (or, for ``previous``, just before) this sort key."""

    backwards: bool
    value: datetime | None
    rank: int
    pk: str

    def encode(self) -> str:
        raw = orjson.dumps(
            ["p" if self.backwards else "n", self.value.isoformat() if self.value else None, self.rank, self.pk]
        )
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> "Cursor":
        try:
            direction, value, rank, pk = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            return cls(direction == "p", datetime.fromisoformat(value) if value else None, int(rank), str(pk))
        except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
            raise SearchError("_page is not a page link this server made; start again from the first page.") from None


@dataclass
class Search:
    resource_type: str
    filters: list[tuple[Parameter, list[str]]] = field(default_factory=list)
    count: int = 50
    sort: str | None = None  # a SORTS value
    descending: bool = False
    include_patients: bool = False
    summary_count: bool = False
    with_total: bool = True
    cursor: Cursor | None = None
    used: list[tuple[str, str]] = field(default_factory=list)


def parse_search(resource_type: str, params: Sequence[tuple[str, str]], *, strict: bool) -> Search:
    """Read search parameters; unknown ones are ignored, or refused under ``Prefer: handling=strict``."""
    known = {p.name: p for p in PARAMETERS[resource_type]}
    search = Search(resource_type, count=settings.FHIR_SEARCH_DEFAULT_COUNT)
    for raw_name, value in params:
        name, _, modifier = raw_name.partition(":")
        if name in known:
            if modifier and not (known[name].type == "reference" and modifier == "Patient"):
                raise SearchError(f"The modifier :{modifier} is not supported on {name}.")
            search.filters.append((known[name], [v for v in value.split(",") if v]))
            search.used.append((raw_name, value))
        elif name in RESULT_PARAMETERS and not modifier:
            _result_parameter(search, name, value, strict=strict)
        elif strict:
            raise SearchError(f"Unknown search parameter {raw_name} for {resource_type}.")
    return search


def _result_parameter(search: Search, name: str, value: str, *, strict: bool) -> None:
    if name == "_count":
        if not value.isdigit():
            raise SearchError("_count must be a whole number.")
        search.count = min(int(value), settings.FHIR_SEARCH_MAX_COUNT)
        return
    if name == "_sort":
        key = value.removeprefix("-")
        if key not in SORTS:
            raise SearchError(f"_sort can be {', '.join(sorted(SORTS))} (prefix - for descending).")
        if SORTS[key] == "date" and not all(s.date_field for s in sources_of(search.resource_type)):
            raise SearchError(f"{search.resource_type} has no date to sort by.")
        search.sort, search.descending = SORTS[key], value.startswith("-")
        search.used.append((name, value))
        return
    if name == "_include":
        if value in (f"{search.resource_type}:patient", f"{search.resource_type}:subject", "*") and (
            search.resource_type != "Patient"
        ):
            search.include_patients = True
            search.used.append((name, value))
        elif strict:
            raise SearchError(f"_include={value} is not supported; {search.resource_type}:patient is.")
        return
    if name == "_summary":
        if value == "count":
            search.summary_count = True
            search.used.append((name, value))
        elif value != "false" and strict:
            raise SearchError("_summary supports count (and false).")
        return
    if name == "_total":
        search.with_total = value != "none"
        return
    if name == "_page":
        search.cursor = Cursor.decode(value)


# --- Conditions -----------------------------------------------------------------------------

_DATE = re.compile(
    r"^(?P<prefix>eq|ne|gt|ge|lt|le|sa|eb)?(?P<year>\d{4})(-(?P<month>\d{2})(-(?P<day>\d{2})"
    r"(T(?P<hour>\d{2}):(?P<minute>\d{2})(:(?P<second>\d{2})(\.\d+)?)?(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def date_range(value: str) -> tuple[str, datetime, datetime]:
    """A FHIR date search value as (prefix, start, end) in UTC, end exclusive: 2026-11 is the month."""
    match = _DATE.match(value)
    if not match:
        raise SearchError(f"'{value}' is not a FHIR date (e.g. ge2026-11-01, 2026-11, lt2026-11-20T08:00:00Z).")
    g = match.groupdict()
    try:
        year, month, day = int(g["year"]), int(g["month"] or 1), int(g["day"] or 1)
        if g["hour"] is not None:
            offset = timedelta(0)
            if g["tz"] and g["tz"] != "Z":
                sign = 1 if g["tz"][0] == "+" else -1
                offset = sign * timedelta(hours=int(g["tz"][1:3]), minutes=int(g["tz"][4:6]))
            start = datetime(year, month, day, int(g["hour"]), int(g["minute"]), int(g["second"] or 0), tzinfo=UTC)
            start -= offset
            end = start + (timedelta(seconds=1) if g["second"] else timedelta(minutes=1))
        else:
            start = datetime(year, month, day, tzinfo=UTC)
            if g["day"]:
                end = start + timedelta(days=1)
            elif g["month"]:
                end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
            else:
                end = datetime(year + 1, 1, 1, tzinfo=UTC)
    except ValueError:
        raise SearchError(f"'{value}' is not a real date.") from None
    prefix = {"sa": "gt", "eb": "lt"}.get(g["prefix"] or "eq", g["prefix"] or "eq")
    return prefix, start, end


def _field_is_date(model: Any, path: str) -> bool:
    for part in path.split("__")[:-1]:
        model = model._meta.get_field(part).related_model
    field_ = model._meta.get_field(path.split("__")[-1])
    return isinstance(field_, DateField) and not isinstance(field_, DateTimeField)


def compare(model: Any, path: str, op: str, moment: datetime) -> Q:
    """``path op moment`` where a date column stands for the UTC day it starts (gt, gte, lt, lte)."""
    if not _field_is_date(model, path):
        return Q(**{f"{path}__{op}": moment})
    day, midnight = moment.astimezone(UTC).date(), moment.astimezone(UTC).time() == time(0)
    if op == "gt":
        return Q(**{f"{path}__gt": day})
    if op == "gte":
        return Q(**{f"{path}__{'gte' if midnight else 'gt'}": day})
    if op == "lt":
        return Q(**{f"{path}__{'lt' if midnight else 'lte'}": day})
    return Q(**{f"{path}__lte": day})


def date_condition(model: Any, path: str, value: str) -> Q:
    """A date parameter on a point in time (an instant, or a day's start): overlap semantics."""
    prefix, start, end = date_range(value)
    if prefix == "eq":
        return compare(model, path, "gte", start) & compare(model, path, "lt", end)
    if prefix == "ne":
        return ~(compare(model, path, "gte", start) & compare(model, path, "lt", end))
    if prefix == "gt":
        return compare(model, path, "gte", end)
    if prefix == "ge":
        return compare(model, path, "gte", start)
    if prefix == "lt":
        return compare(model, path, "lt", start)
    return compare(model, path, "lt", end)  # le


def token_matches(codes: Codes, value: str) -> list[str] | bool:
    """The words (column codes) or, for fixed codes, whether every row matches ``system|code``."""
    system, bar, code = value.rpartition("|")
    if not bar:
        system, code = "*", value

    def hit(codings: list[tuple[str, str]]) -> bool:
        return (
            any((system in ("*", "") or s == system) and (code == "" or c == code) for s, c in codings)
            if (system != "" or code)
            else False
        )

    if codes.vocabulary is None:
        return hit(codes.codings()[0][1])
    return [word for word, codings in codes.codings() if hit(codings)]


def _condition(source: Source, parameter: Parameter, values: list[str], clinic_id: int) -> Q | None:
    """The rows of ``source`` matching any of ``values``; None when none of its rows can."""
    target = parameter.target
    if target == "id":
        matches = [m[1] for v in values if (m := source_for_id(source.resource_type, v)) and m[0] is source]
        return _any(matches)
    if target == "patient":
        ids = [pid for v in values if (pid := _patient_id(v)) is not None]
        return Q(**{f"{source.patient_path}__in": ids}) if ids and source.patient_path else None
    if target in ("date", "updated", "birthdate"):
        path = {"date": source.date_field, "updated": source.updated_field, "birthdate": "birth_date"}[target]
        if path is None:
            return None
        condition = Q()
        for value in values:  # comma-separated dates: any of them
            condition = (
                condition | date_condition(source.model, path, value)
                if condition
                else date_condition(source.model, path, value)
            )
        return condition
    if target == "identifier":
        wanted = mrn_system(clinic_id)
        mrns = [code for v in values for system, bar, code in [v.rpartition("|")] if not bar or system in ("", wanted)]
        return Q(mrn__in=mrns) if mrns else None
    codes = source.category if target == "category" else source.code
    if codes is None:
        return None
    if codes.vocabulary is None:
        return Q() if any(token_matches(codes, v) for v in values) else None
    words = sorted({w for v in values for w in token_matches(codes, v)})  # type: ignore[union-attr]
    return Q(**{f"{codes.column}__in": words}) if words else None


def _any(conditions: list[Q]) -> Q | None:
    if not conditions:
        return None
    combined = conditions[0]
    for condition in conditions[1:]:
        combined |= condition
    return combined


def _patient_id(value: str) -> UUID | None:
    try:
        return UUID(value.removeprefix("Patient/"))
    except ValueError:
        return None


def filtered(
    source: Source, search: Search, clinic_id: int, *, patient_ids: Sequence[UUID] | None = None
) -> QuerySet[Any] | None:
    """The source's rows in the clinic matching every filter of the search; None if none can."""
    qs = source.rows(clinic_id)
    if patient_ids is not None:
        if source.patient_path is None:
            return None
        qs = qs.filter(**{f"{source.patient_path}__in": patient_ids})
    for parameter, values in search.filters:
        condition = _condition(source, parameter, values, clinic_id)
        if condition is None:
            return None
        qs = qs.filter(condition)
    return qs
