"""Recomputing the trends of a group of patients: aggregate in SQL, shape in Python, upsert.

Work per call is bounded by the number of patients and periods, never by the number of diary
entries: each query returns one row per patient and period (or per event window and word), and
the results are written before the next group is read. The nightly run calls this for chunks of
``TREND_CHUNK_PATIENTS`` patients; a debounced recompute after an upload calls it for one
patient from the first changed day.
"""

import hashlib
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from django.conf import settings
from django.db import connection
from django.utils import timezone

from clinic.models import Patient
from clinic.patient_time import local_today
from diary.models import TrendEventComparison, TrendSummary
from diary.trends import adherence, events, sql
from diary.trends.figures import (
    EMPTY_CORE,
    MONTH,
    WEEK,
    Core,
    compare,
    median_from_histogram,
    min_days,
    period_end_of,
    period_label,
    period_start_of,
    previous_period_start,
    spasm_ratio,
    time_of_day,
    words_figures,
)

SUMMARY_COLUMNS = [
    "id",
    "patient_id",
    "granularity",
    "period_start",
    "period_end",
    "complete",
    "entry_count",
    "days_with_entries",
    "severity_mean",
    "spasms_per_day",
    "direction",
    "figures",
    "figures_hash",
    "inputs_hash",
    "source_updated_at",
    "version",
    "created_at",
    "updated_at",
]
EVENT_COLUMNS = [
    "id",
    "patient_id",
    "event_kind",
    "event_ref",
    "event_date",
    "title",
    "enough_data",
    "direction",
    "figures",
    "figures_hash",
    "inputs_hash",
    "version",
    "created_at",
    "updated_at",
]
CORE_WIDTH = 17  # columns of sql.CORE_COLUMNS
NO_PLANS = adherence.PatientPlans()
# Part of every period's inputs digest: change it when the figures' code changes, so the next
# nightly run reshapes and rewrites every summary instead of keeping figures of the old code.
FIGURES_VERSION = 2


def _json(value: Any) -> tuple[str, str]:
    """The figures as JSON text, and a digest of them to tell whether the stored ones changed."""
    text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    return text.decode(), hashlib.blake2b(text, digest_size=16).hexdigest()


def _db_datetime(value: datetime | None) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


@dataclass
class Recomputed:
    """What one recompute produced, for signals and for the record of the run."""

    todays: dict[uuid.UUID, date]
    # The comparisons shaped in this run (those whose inputs changed, and each latest session).
    comparisons: list[tuple[events.PlanEvent, dict[str, Any]]] = field(default_factory=list)
    summaries_written: int = 0
    summaries_deleted: int = 0
    comparisons_written: int = 0


def recompute(patient_ids: Sequence[uuid.UUID], *, since: date | None = None) -> Recomputed:
    """Recompute the stored summaries from ``since`` (default: the horizon) and every event comparison."""
    patients = dict(Patient.objects.filter(pk__in=patient_ids).values_list("pk", "time_zone"))
    if not patients:
        return Recomputed({})
    now = timezone.now()
    todays = {pk: local_today(zone, now) for pk, zone in patients.items()}
    ids = sorted(patients)
    horizon = min(todays.values()) - timedelta(days=settings.TREND_HORIZON_DAYS)
    first_day = max(since, horizon) if since is not None else horizon
    plans = adherence.plans_of(ids)
    result = Recomputed(todays)
    firsts = {g: period_start_of(g, first_day) for g in (WEEK, MONTH)}
    # One period more than is written, so the first written period has its previous to compare with.
    since = min(previous_period_start(g, first) for g, first in firsts.items())
    until = max(todays.values())
    aggregates: dict[str, dict] = {WEEK: {}, MONTH: {}}
    for granularity, patient, start, *values in sql.period_aggregates(ids, since, until):
        aggregates[granularity][(sql.as_uuid(patient), sql.as_date(start))] = values
    logged: dict[str, dict] = {
        WEEK: defaultdict(lambda: defaultdict(dict)),
        MONTH: defaultdict(lambda: defaultdict(dict)),
    }
    for granularity, patient, start, kind, word, amount in sql.period_adherence(ids, since, until):
        logged[granularity][(sql.as_uuid(patient), sql.as_date(start))][kind][word] = float(amount or 0)
    inputs = {g: _period_inputs(g, ids, todays, plans, firsts[g], aggregates[g], logged[g]) for g in (WEEK, MONTH)}
    # Words only where something changed: a period's aggregate row already fingerprints its
    # entries (how many, and the latest change to any of them), so unchanged periods need none.
    changed = [key for g in (WEEK, MONTH) for key in inputs[g].changed]
    words: dict[str, dict[tuple[uuid.UUID, date], str]] = {WEEK: {}, MONTH: {}}
    if changed:
        patients_changed = sorted({patient for patient, _ in changed})
        words_since = min(start for _, start in changed)
        for granularity, patient, start, counted in sql.period_words(patients_changed, words_since, until):
            words[granularity][(sql.as_uuid(patient), sql.as_date(start))] = counted  # parsed when shaped
    for granularity in (WEEK, MONTH):
        written, deleted = _write_periods(
            granularity,
            ids,
            todays,
            inputs[granularity],
            (aggregates[granularity], words[granularity], logged[granularity]),
            now,
        )
        result.summaries_written += written
        result.summaries_deleted += deleted
    result.comparisons, result.comparisons_written = _recompute_events(ids, todays, now)
    return result


@dataclass
class PeriodInputs:
    """A granularity's periods with the digest of their inputs, and which of them changed."""

    digests: dict[tuple[uuid.UUID, date], str]
    planned: dict[tuple[uuid.UUID, date], tuple[dict, dict]]
    stored: dict[tuple[uuid.UUID, date], tuple[Any, str]]
    changed: list[tuple[uuid.UUID, date]]


def _period_inputs(
    granularity: str,
    ids: list[uuid.UUID],
    todays: dict[uuid.UUID, date],
    plans: dict[uuid.UUID, adherence.PatientPlans],
    first_target: date,
    aggregates: dict,
    logged: dict,
) -> PeriodInputs:
    """What each period's figures are made of, as a digest: the aggregates and logs from the
    database, the plan's amounts, the patient's "today", the previous period's counts and sums
    that the change is computed from, and the version of this code. Same digest, same figures:
    the nightly run reads every entry but shapes and writes only the periods whose inputs moved.

    The previous period enters by its own numbers, not its digest: a chain of digests would
    tie every period to the first one read, so that the horizon moving on a day, or one entry
    in an old week, would rewrite every later period."""
    digests: dict[tuple[uuid.UUID, date], str] = {}
    planned: dict[tuple[uuid.UUID, date], tuple[dict, dict]] = {}
    for key in sorted({*aggregates, *logged}):
        patient, start = key
        today = todays[patient]
        if start > period_start_of(granularity, today):
            continue  # a diary day ahead of the record's time zone (travel): counted once it arrives
        counted_until = min(period_end_of(granularity, start), today)
        patient_plans = plans.get(patient, NO_PLANS)
        planned[key] = (
            patient_plans.planned("therapy", start, counted_until),
            patient_plans.planned("orthoses", start, counted_until),
        )
        previous = _comparison_inputs((patient, previous_period_start(granularity, start)), aggregates, logged)
        digests[key] = _digest(
            (
                FIGURES_VERSION,
                aggregates.get(key),
                logged.get(key),
                counted_until,
                today > counted_until,
                planned[key],
                previous,
            )
        )
    stored = {
        (patient, start): (pk, digest)
        for pk, patient, start, digest in TrendSummary.objects.filter(
            patient_id__in=ids, granularity=granularity, period_start__gte=first_target
        ).values_list("pk", "patient_id", "period_start", "inputs_hash")
    }
    changed = [
        key for key, digest in digests.items() if key[1] >= first_target and stored.get(key, (None, None))[1] != digest
    ]
    return PeriodInputs(digests, planned, stored, changed)


def _write_periods(
    granularity: str,
    ids: list[uuid.UUID],
    todays: dict[uuid.UUID, date],
    inputs: PeriodInputs,
    fetched: tuple[dict, dict, dict],
    now: datetime,
) -> tuple[int, int]:
    """Shape and store the periods whose inputs changed; drop the stored ones that have no entries now."""
    aggregates, words, logged = fetched
    shaped: dict[tuple[uuid.UUID, date], tuple[dict[str, Any], datetime | None]] = {}

    def figures_of(key: tuple[uuid.UUID, date]) -> tuple[dict[str, Any], datetime | None]:
        if key not in shaped:
            shaped[key] = _period_figures(
                granularity,
                key[1],
                todays[key[0]],
                aggregates.get(key),
                words.get(key),
                logged.get(key, {}),
                inputs.planned[key],
            )
        return shaped[key]

    rows = []
    for key in inputs.changed:
        patient, start = key
        figures, last_change = figures_of(key)
        previous_key = (patient, previous_period_start(granularity, start))
        # The change needs only the previous period's severity and spasms, never its words.
        before = figures_of(previous_key)[0] if previous_key in inputs.digests else None
        figures["change"] = _change(granularity, before, figures)
        rows.append(_summary_row(patient, granularity, start, figures, last_change, inputs.digests[key], now))
    written = sql.upsert(
        TrendSummary._meta.db_table, SUMMARY_COLUMNS, ["patient_id", "granularity", "period_start"], rows
    )
    # Periods whose entries were all deleted or moved: their summaries go too.
    stale = [pk for key, (pk, _) in inputs.stored.items() if key not in inputs.digests]
    if stale:
        TrendSummary.objects.filter(pk__in=stale).delete()
    return written, len(stale)


def _comparison_inputs(key: tuple[uuid.UUID, date], aggregates: dict, logged: dict) -> tuple | None:
    """What ``_change`` reads of a period, as the period before another: whether it has a
    summary, and its entries, days, severity sum and spasm counts (the means come from these)."""
    if key in aggregates:
        core = Core.from_row(aggregates[key][:CORE_WIDTH])
        return (core.entries, core.days, core.severity_sum, core.spasm_sum, core.spasm_days)
    return (0, 0, 0, 0, 0) if key in logged else None


def _digest(value: Any) -> str:
    return hashlib.blake2b(repr(value).encode(), digest_size=16).hexdigest()


def _parse_words(counted: str | None) -> dict[str, dict[str, tuple[int, int]]]:
    """``{"triggers:cold": [3, 0], ...}`` from SQL into ``{"triggers": {"cold": (3, 0)}, ...}``."""
    by_list: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    for key, (count, total) in orjson.loads(counted or "{}").items():
        name, word = key.split(":", 1)
        by_list[name][word] = (int(count), int(total or 0))
    return by_list


def _period_figures(
    granularity: str,
    start: date,
    today: date,
    aggregate: tuple | None,
    words: str | None,
    logged: dict[str, dict[str, float]],
    planned: tuple[dict[str, float], dict[str, float]],
) -> tuple[dict[str, Any], datetime | None]:
    """A period's figures (without the change, which needs the previous period), and when the
    entries behind them last changed."""
    end = period_end_of(granularity, start)
    core = Core.from_row(aggregate[:CORE_WIDTH]) if aggregate else EMPTY_CORE
    histogram = [int(n) for n in aggregate[CORE_WIDTH : CORE_WIDTH + 11]] if aggregate else [0] * 11
    by_hour = [int(n) for n in aggregate[CORE_WIDTH + 11 : CORE_WIDTH + 35]] if aggregate else [0] * 24
    last_change = sql.as_datetime(aggregate[CORE_WIDTH + 35]) if aggregate else None
    counted_until = min(end, today)
    figures = {
        "label": period_label(granularity, start),
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "complete": end < today,
        "days_in_period": (end - start).days + 1,
        "days_elapsed": (counted_until - start).days + 1,
        **core.as_json(),
        "severity_median": median_from_histogram(histogram),
        "severity_histogram": histogram,
        "time_of_day": time_of_day(by_hour),
        **words_figures(_parse_words(words), core.entries),
        "adherence": {
            "therapy": adherence.adherence_figures(planned[0], logged.get("therapy", {}), "minutes", "activity"),
            "orthoses": adherence.adherence_figures(planned[1], logged.get("orthoses", {}), "hours", "device"),
        },
    }
    return figures, last_change


def _change(granularity: str, previous: dict[str, Any] | None, figures: dict[str, Any]) -> dict[str, Any]:
    """Mean severity and spasms per day against the previous period.

    Uses only the previous period's counts and sums (``_comparison_inputs``), which is what its
    part of this period's inputs digest covers.
    """
    minimum = min_days(granularity)

    def enough(days: str) -> bool:
        return previous is not None and previous[days] >= minimum and figures[days] >= minimum

    before = previous or {"severity_mean": None, "spasms_per_day": None, "label": None}
    spasms_compared = enough("days_with_spasm_counts")
    return {
        "previous_period": before["label"],
        "minimum_days": minimum,
        "severity": compare(before["severity_mean"], figures["severity_mean"], enough_data=enough("days_with_entries")),
        "spasms_per_day": {
            "before": before["spasms_per_day"],
            "after": figures["spasms_per_day"],
            "ratio": spasm_ratio(before["spasms_per_day"], figures["spasms_per_day"]) if spasms_compared else None,
        },
    }


def _summary_row(
    patient: uuid.UUID,
    granularity: str,
    start: date,
    figures: dict[str, Any],
    last_change: datetime | None,
    inputs_hash: str,
    now: datetime,
) -> list:
    text, digest = _json(figures)
    return [
        sql.db_uuid(uuid.uuid4()),
        sql.db_uuid(patient),
        granularity,
        sql.db_date(start),
        sql.db_date(period_end_of(granularity, start)),
        figures["complete"],
        figures["entries"],
        figures["days_with_entries"],
        figures["severity_mean"],
        figures["spasms_per_day"],
        figures["change"]["severity"]["direction"],
        text,
        digest,
        inputs_hash,
        _db_datetime(last_change) if last_change else None,
        1,
        _db_datetime(now),
        _db_datetime(now),
    ]


def _recompute_events(
    ids: list[uuid.UUID], todays: dict[uuid.UUID, date], now: datetime
) -> tuple[list[tuple[events.PlanEvent, dict[str, Any]]], int]:
    plan_events = [e for e in events.events_of(ids, max(todays.values())) if e.day <= todays[e.patient_id]]
    windows = {event.key(): events.window_of(event, todays[event.patient_id]) for event in plan_events}
    raw: dict[str, list] = defaultdict(list)  # what each event's figures are made of, for its digest
    for row in sql.window_aggregates(list(windows.values())):
        raw[row[0]].append(row[1:])
    stored = {
        (kind, ref): (pk, digest)
        for pk, kind, ref, digest in TrendEventComparison.objects.filter(patient_id__in=ids).values_list(
            "pk", "event_kind", "event_ref", "inputs_hash"
        )
    }
    # The wear-off signal reads each patient's latest session, so that one is always shaped.
    latest = {
        e.patient_id: e for e in sorted(plan_events, key=lambda e: e.day) if e.kind == events.Kind.BOTULINUM_SESSION
    }
    # The window's buckets fingerprint its entries (counts and latest change), so its words are
    # read only for the events that are shaped.
    digests = {
        event.key(): _digest(
            # The window ends today while it is open, so "today" is in it as long as it moves the
            # figures; then only whether the "after" side is complete still depends on it.
            (
                FIGURES_VERSION,
                vars(event),
                windows[event.key()],
                events.after_complete(event, todays[event.patient_id]),
                sorted(raw[event.key()]),
            )
        )
        for event in plan_events
    }
    changed = {e.key() for e in plan_events if stored.get((e.kind, e.ref), (None, None))[1] != digests[e.key()]}
    shaped = [e for e in plan_events if e.key() in changed or latest.get(e.patient_id) is e]
    words: dict[str, dict[int, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for key, bucket, _, word, count in sql.window_words([windows[e.key()] for e in shaped]):
        words[key][int(bucket)][word] = int(count)
    computed, rows = [], []
    for event in shaped:
        key, today = event.key(), todays[event.patient_id]
        cores = {int(bucket): Core.from_row(tuple(values[:CORE_WIDTH])) for bucket, *values in raw[key]}
        figures = events.comparison_figures(event, events.Measured(event, today, cores, words[key]))
        computed.append((event, figures))
        if key not in changed:
            continue
        text, figures_digest = _json(figures)
        rows.append(
            [
                sql.db_uuid(uuid.uuid4()),
                sql.db_uuid(event.patient_id),
                event.kind,
                event.ref,
                sql.db_date(event.day),
                event.title[:200],
                figures["enough_data"],
                figures["severity"]["direction"],
                text,
                figures_digest,
                digests[key],
                1,
                _db_datetime(now),
                _db_datetime(now),
            ]
        )
    written = sql.upsert(TrendEventComparison._meta.db_table, EVENT_COLUMNS, ["event_kind", "event_ref"], rows)
    # Voided sessions and events now in the future lose their comparison.
    current = {(e.kind, e.ref) for e in plan_events}
    stale = [pk for key, (pk, _) in stored.items() if key not in current]
    if stale:
        TrendEventComparison.objects.filter(pk__in=stale).delete()
    return computed, written
