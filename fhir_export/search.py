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
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
from django.conf import settings
from django.db.models import Q, QuerySet

from clinic.api.fields import WHOLE_NUMBER
from fhir_export.dates import DateSearchError, date_condition
from fhir_export.mapping.common import mrn_system
from fhir_export.sources import Codes, Source, primary_key, source_for_id, sources_of


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
    (
        "When the resource last changed, as its meta.lastUpdated says, also through other records (a dose "
        "ended by the next one, a goal rated or closed, an alert resolved, a session voided); "
        "prefixes eq ne gt ge lt le sa eb."
    ),
    "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated",
)
_PATIENT = Parameter(
    "patient", "reference", "patient", "The patient: Patient/{id} or {id}; comma-separated for any of several."
)
_SUBJECT = Parameter("subject", "reference", "patient", "Same as patient (only Patient subjects exist here).")
_CLINICAL_DATE = "http://hl7.org/fhir/SearchParameter/clinical-date"


def _date(name: str, what: str, definition: str = "") -> Parameter:
    return Parameter(
        name,
        "date",
        "date",
        f"{what}; prefixes eq ne gt ge lt le sa eb, partial dates (2026, 2026-11) allowed.",
        definition,
    )


_RANGES = "compared as ranges (FHIR search: eq within, gt/ge going on after, lt/le begun before, sa, eb)"


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
        _date(
            "date",
            f"When it happened (a diary entry keeps the patient's own offset); a summary's period, {_RANGES}",
            _CLINICAL_DATE,
        ),
        _token("category", "category", "survey (diary, GAS) or activity (adherence)"),
        _token("code", "code", "What was measured (our spasticity-measures code system)"),
    ],
    "Flag": [
        _ID,
        _LAST_UPDATED,
        _PATIENT,
        _SUBJECT,
        _date(
            "date", f"While the flag is active, from raised to resolved (open until then), {_RANGES}", _CLINICAL_DATE
        ),
        _token("code", "code", "The kind of alert"),
    ],
    "MedicationStatement": [
        _ID,
        _LAST_UPDATED,
        _PATIENT,
        _SUBJECT,
        _date("effective", f"The dose period, from its first day to the next dose (open while taken), {_RANGES}"),
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
        _date("date", f"The plan version's period (open while in force), {_RANGES}", _CLINICAL_DATE),
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
        _date("event-date", f"The wear schedule's period (open while in force), {_RANGES}"),
        _date("date", "Same as event-date"),
        _token("code", "code", "The orthosis"),
    ],
}

# Parameters about the result rather than the match, with what they accept.
RESULT_PARAMETERS = {"_count", "_sort", "_include", "_summary", "_total", "_format", "_page"}
SORTS = {"date": "date", "_lastUpdated": "updated"}
_FORGED_PAGE = "_page is not a page link this server made; start again from the first page."


def includes(resource_type: str) -> list[str]:
    """The ``_include`` values a type supports: its references to the patient (Type:patient, Type:subject)."""
    return [f"{resource_type}:{p.name}" for p in PARAMETERS[resource_type] if p.target == "patient"]


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
    def decode(cls, token: str, resource_type: str) -> "Cursor":
        """A page link's key, checked against the type's tables: anything else is a 400, never a query."""
        try:
            direction, value, rank, pk = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            moment = datetime.fromisoformat(value) if value is not None else None
            if moment is not None:
                if moment.tzinfo is None:
                    raise ValueError("a page key is an instant")
                moment = moment.astimezone(UTC)
        except (ValueError, TypeError, OverflowError, binascii.Error, orjson.JSONDecodeError):
            raise SearchError(_FORGED_PAGE) from None
        sources = sources_of(resource_type)
        if not (
            direction in ("n", "p")
            and type(rank) is int
            and 0 <= rank < len(sources)
            and isinstance(pk, str)
            and primary_key(sources[rank].model, pk) is not None
        ):
            raise SearchError(_FORGED_PAGE)
        return cls(direction == "p", moment, rank, pk)


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
    if search.cursor is not None and (search.cursor.value is None) != (search.sort is None):
        raise SearchError(_FORGED_PAGE)  # a sorted page starts after a sort value; an unsorted one does not
    return search


def _result_parameter(search: Search, name: str, value: str, *, strict: bool) -> None:
    if name == "_count":
        if not WHOLE_NUMBER.fullmatch(value):
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
        supported = includes(search.resource_type)
        if value in supported or (value == "*" and supported):
            search.include_patients = True
            search.used.append((name, value))
        elif strict:
            wanted = " or ".join(supported) or "nothing"
            raise SearchError(f"_include={value} is not supported; {search.resource_type} includes {wanted}.")
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
        if not search.with_total:
            search.used.append((name, value))  # the next and previous pages skip the count too
        return
    if name == "_page":
        search.cursor = Cursor.decode(value, search.resource_type)


# --- Conditions -----------------------------------------------------------------------------


def token_matches(codes: Codes, value: str) -> list[str] | bool:
    """The words (column codes) or, for fixed codes, whether every row matches ``system|code``."""
    system, bar, code = value.rpartition("|")
    if not bar:
        system, code = "*", value

    def hit(codings: list[tuple[str, str]]) -> bool:
        # "|code" is a code with no system: every code here has one, so it matches nothing.
        if system == "" or (not code and system == "*"):
            return False
        return any((system == "*" or s == system) and (code == "" or c == code) for s, c in codings)

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
        try:  # comma-separated dates: any of them
            return _any([date_condition(source, path, value) for value in values]) or Q()
        except DateSearchError as exc:
            raise SearchError(str(exc)) from None
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
