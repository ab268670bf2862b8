"""The SQL behind trend figures. Every difference between PostgreSQL and SQLite is in this module.

Figures are aggregated in the database and only the aggregates come back to Python: one row per
patient and period (or per window around an event), never one per diary entry. The vocabulary
lists of an entry are JSON arrays and ``relief`` a JSON object, expanded with
``jsonb_array_elements_text``/``jsonb_each_text`` on PostgreSQL and ``json_each`` on SQLite.
"""

import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

from django.db import connection
from django.utils.dateparse import parse_date, parse_datetime

from diary.models import IMPACT_COLUMNS

# Rows per statement for windows and upserts: under SQLite's 32,766 and PostgreSQL's 65,535
# parameters, and small enough that one statement never holds much memory.
BATCH = 500

IMPACT_DOMAINS = list(IMPACT_COLUMNS)
SEVERITY_LEVELS = range(11)
HOURS = range(24)

# The figures every aggregate row carries, in this order (see ``Core`` in figures.py).
CORE_COLUMNS = ", ".join(
    [
        "COUNT(e.id)",
        "COUNT(DISTINCT e.local_date)",
        "SUM(e.severity)",
        "MAX(e.severity)",
        "SUM(e.spasm_count)",
        "COUNT(e.spasm_count)",
        # Days on which spasms were counted: the divisor of spasms per day.
        "COUNT(DISTINCT CASE WHEN e.spasm_count IS NOT NULL THEN e.local_date END)",
        *(f"SUM(e.{column}), COUNT(e.{column})" for column in IMPACT_COLUMNS.values()),
    ]
)
# Severity histogram and entries per local hour, for medians and the time-of-day profile.
PROFILE_COLUMNS = ", ".join(
    [
        *(f"SUM(CASE WHEN e.severity = {level} THEN 1 ELSE 0 END)" for level in SEVERITY_LEVELS),
        *(f"SUM(CASE WHEN e.local_hour = {hour} THEN 1 ELSE 0 END)" for hour in HOURS),
        "MAX(e.updated_at)",
    ]
)
# Word lists counted per period (body regions are counted around injections, not per period).
WORD_LISTS = ("triggers", "side_effects", "red_flags")


@cache
def is_postgres() -> bool:
    # One database per process: asked once, not for each of the thousands of values converted.
    return connection.vendor == "postgresql"


def period_start(granularity: str, column: str) -> str:
    """The first day of the ISO week (Monday) or calendar month that ``column`` falls in."""
    if is_postgres():
        if granularity == "week":
            return f"({column} - (EXTRACT(ISODOW FROM {column})::int - 1))"
        return f"({column} - (EXTRACT(DAY FROM {column})::int - 1))"
    if granularity == "week":
        return f"date({column}, '-' || ((CAST(strftime('%%w', {column}) AS integer) + 6) %% 7) || ' days')"
    return f"date({column}, 'start of month')"


def days_between(later: str, earlier: str) -> str:
    """Whole days from ``earlier`` to ``later`` (two date expressions)."""
    if is_postgres():
        return f"({later} - {earlier})"
    return f"CAST(julianday({later}) - julianday({earlier}) AS integer)"


def json_words(column: str, alias: str) -> str:
    """A FROM item yielding ``alias.value`` for each word of a JSON array column."""
    if is_postgres():
        return f"jsonb_array_elements_text({column}) AS {alias}(value)"
    return f"json_each({column}) AS {alias}"


def json_items(column: str, alias: str) -> str:
    """A FROM item yielding ``alias.key`` and ``alias.value`` for each member of a JSON object column."""
    if is_postgres():
        return f"jsonb_each_text({column}) AS {alias}(key, value)"
    return f"json_each({column}) AS {alias}"


def db_uuid(value: uuid.UUID | str) -> Any:
    """A UUID as the backend stores it (SQLite keeps 32 hex digits)."""
    value = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    return value if is_postgres() else value.hex


def db_date(value: date) -> Any:
    return value if is_postgres() else value.isoformat()


def as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def as_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    parsed = parse_date(str(value)[:10])
    if parsed is None:
        raise ValueError(f"not a date: {value!r}")
    return parsed


def as_datetime(value: Any) -> datetime | None:
    """A timestamp from raw SQL, always aware: SQLite hands back UTC text without an offset."""
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else parse_datetime(str(value))
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def fetch(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _in_list(ids: Sequence[uuid.UUID]) -> tuple[str, list[Any]]:
    return ", ".join(["%s"] * len(ids)), [db_uuid(i) for i in ids]


def _by_week_and_month(columns: str, source: str, day: str, where: str, extra_group: str = "") -> str:
    """``SELECT granularity, patient, period start, <columns>`` grouped by week and by month.

    PostgreSQL reads the rows once for both (GROUPING SETS); SQLite reads them twice (UNION ALL).
    """
    week, month = period_start("week", day), period_start("month", day)
    patient = day.split(".")[0] + ".patient_id"  # "e.local_date" -> "e.patient_id"
    if is_postgres():
        return (
            f"SELECT CASE WHEN GROUPING({week}) = 0 THEN 'week' ELSE 'month' END AS g, {patient} AS patient, "
            f"COALESCE({week}, {month}) AS start, {columns} FROM {source} WHERE {where} "
            f"GROUP BY GROUPING SETS (({patient}, {week}{extra_group}), ({patient}, {month}{extra_group}))"
        )
    return " UNION ALL ".join(
        f"SELECT '{name}' AS g, {patient} AS patient, {start} AS start, {columns} FROM {source} WHERE {where} "
        f"GROUP BY {patient}, {start}{extra_group}"
        for name, start in (("week", week), ("month", month))
    )


def _entries_where(patient_ids: Sequence[uuid.UUID], since: date, until: date) -> tuple[str, list[Any]]:
    placeholders, ids = _in_list(patient_ids)
    where = f"e.deleted_at IS NULL AND e.patient_id IN ({placeholders}) AND e.local_date BETWEEN %s AND %s"
    return where, [*ids, db_date(since), db_date(until)]


def period_aggregates(patient_ids: Sequence[uuid.UUID], since: date, until: date) -> list[tuple]:
    """(granularity, patient, period start, core figures..., severity histogram, hourly counts, last change)."""
    where, params = _entries_where(patient_ids, since, until)
    sql = _by_week_and_month(f"{CORE_COLUMNS}, {PROFILE_COLUMNS}", "diary_diaryentry e", "e.local_date", where)
    return fetch(sql, params if is_postgres() else params * 2)


def json_object_agg(key: str, value: str) -> str:
    """An aggregate building one JSON object (as text) from ``key`` and ``value`` per row."""
    if is_postgres():
        return f"CAST(json_object_agg({key}, {value}) AS text)"
    return f"json_group_object({key}, {value})"


def json_pair(first: str, second: str) -> str:
    return f"json_build_array({first}, {second})" if is_postgres() else f"json_array({first}, {second})"


def period_words(patient_ids: Sequence[uuid.UUID], since: date, until: date) -> list[tuple]:
    """(granularity, patient, period start, words) per period, where words is a JSON object
    ``{"<list>:<word>": [entries, sum of relief scores]}``: one row per period, not per word."""
    where, params = _entries_where(patient_ids, since, until)
    if is_postgres():
        # One pass over the entries: every list's words, and the relief measures with their scores.
        words = " UNION ALL ".join(
            f"SELECT '{name}' AS name, x.value, 0 AS score FROM jsonb_array_elements_text(e.{name}) AS x(value)"
            for name in WORD_LISTS
        )
        relief = "SELECT 'relief', x.key, CAST(x.value AS integer) FROM jsonb_each_text(e.relief) AS x(key, value)"
        source = f"diary_diaryentry e CROSS JOIN LATERAL ({words} UNION ALL {relief}) AS w"
        counted = _by_week_and_month(
            "w.name AS name, w.value AS word, COUNT(*) AS n, SUM(w.score) AS score",
            source,
            "e.local_date",
            where,
            ", w.name, w.value",
        )
        repeat = 1
    else:
        parts = [
            _by_week_and_month(
                f"'{name}' AS name, w.value AS word, COUNT(*) AS n, 0 AS score",
                f"diary_diaryentry e, {json_words(f'e.{name}', 'w')}",
                "e.local_date",
                where,
                ", w.value",
            )
            for name in WORD_LISTS
        ]
        parts.append(
            _by_week_and_month(
                "'relief' AS name, w.key AS word, COUNT(*) AS n, SUM(CAST(w.value AS integer)) AS score",
                f"diary_diaryentry e, {json_items('e.relief', 'w')}",
                "e.local_date",
                where,
                ", w.key",
            )
        )
        counted = " UNION ALL ".join(parts)
        repeat = 2 * len(parts)
    words_object = json_object_agg("c.name || ':' || c.word", json_pair("c.n", "c.score"))
    sql = f"SELECT c.g, c.patient, c.start, {words_object} FROM ({counted}) AS c GROUP BY 1, 2, 3"
    return fetch(sql, params * repeat)


def period_adherence(patient_ids: Sequence[uuid.UUID], since: date, until: date) -> list[tuple]:
    """(granularity, patient, period start, "therapy" or "orthoses", activity or device, amount logged)."""
    placeholders, ids = _in_list(patient_ids)
    where = f"a.deleted_at IS NULL AND a.patient_id IN ({placeholders}) AND a.date BETWEEN %s AND %s"
    params = [*ids, db_date(since), db_date(until)]
    parts = [
        _by_week_and_month(
            f"'{name}', w.key, SUM(CAST(w.value AS double precision))",
            f"diary_adherencelog a, {json_items(f'a.{column}', 'w')}",
            "a.date",
            where,
            ", w.key",
        )
        for name, column in (("therapy", "therapy_minutes"), ("orthoses", "orthosis_hours"))
    ]
    return fetch(" UNION ALL ".join(parts), params * len(parts) * (1 if is_postgres() else 2))


def last_entries(patient_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[date, datetime]]:
    """Each patient's latest local diary day and when the clinic last received an entry."""
    placeholders, ids = _in_list(patient_ids)
    rows = fetch(
        "SELECT e.patient_id, MAX(e.local_date), MAX(e.created_at) FROM diary_diaryentry e "
        f"WHERE e.deleted_at IS NULL AND e.patient_id IN ({placeholders}) GROUP BY 1",
        ids,
    )
    return {as_uuid(patient): (as_date(day), as_datetime(received)) for patient, day, received in rows}  # type: ignore[misc]


# A window is (key, patient, first day, last day, bucket days, word list): figures per key and
# bucket, where bucket = days from the first day // bucket days; and, if a word list is named
# (body_regions, side_effects), its words per bucket too.
Window = tuple[str, uuid.UUID, date, date, int, str]


def _windows_source(windows: Sequence[Window]) -> tuple[str, list[Any]]:
    """The windows as a table ``w`` with columns column1..column6.

    PostgreSQL takes them as six arrays (a few parameters, however many windows); SQLite as
    ``VALUES`` rows, which name their columns column1.. on both.
    """
    if is_postgres():
        columns = list(zip(*windows, strict=True))
        source = (
            "unnest(%s::text[], %s::uuid[], %s::date[], %s::date[], %s::int[], %s::text[]) "
            "AS w(column1, column2, column3, column4, column5, column6)"
        )
        return source, [list(column) for column in columns]
    rows = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(windows))
    params: list[Any] = []
    for key, patient, first, last, bucket, words in windows:
        params += [key, db_uuid(patient), db_date(first), db_date(last), bucket, words]
    return f"(VALUES {rows}) AS w", params


def _window_batches(windows: Sequence[Window]) -> Iterator[Sequence[Window]]:
    size = (len(windows) or 1) if is_postgres() else BATCH
    for offset in range(0, len(windows), size):
        yield windows[offset : offset + size]


def _window_entries() -> str:
    """The entries inside each window. On PostgreSQL a LATERAL lookup per window on the (patient,
    local_date) index; ``OFFSET 0`` keeps the planner from flattening it into a hash join over
    every entry, which it would choose because it cannot see how many windows the arrays hold."""
    where = "x.patient_id = w.column2 AND x.local_date BETWEEN w.column3 AND w.column4 AND x.deleted_at IS NULL"
    if is_postgres():
        return f"CROSS JOIN LATERAL (SELECT * FROM diary_diaryentry x WHERE {where} OFFSET 0) AS e"
    return f"JOIN diary_diaryentry e ON {where.replace('x.', 'e.')}"


def window_aggregates(windows: Sequence[Window]) -> Iterator[tuple]:
    """(key, bucket, core figures..., last change) for every window bucket that has entries."""
    bucket = f"{days_between('e.local_date', 'w.column3')} / w.column5"
    for batch in _window_batches(windows):
        values, params = _windows_source(batch)
        yield from fetch(
            f"SELECT w.column1, {bucket}, {CORE_COLUMNS}, MAX(e.updated_at) FROM {values} {_window_entries()} "
            "GROUP BY 1, 2",
            params,
        )


def window_words(windows: Sequence[Window]) -> Iterator[tuple]:
    """(key, bucket, list name, word, entries) for the word list each window names."""
    bucket = f"{days_between('e.local_date', 'w.column3')} / w.column5"
    for batch in _window_batches([w for w in windows if w[5]]):
        names = sorted({w[5] for w in batch})
        values, params = _windows_source(batch)
        parts = [
            f"SELECT w.column1, {bucket}, '{name}', j.value, COUNT(*) FROM {values} {_window_entries()}, "
            f"{json_words(f'e.{name}', 'j')} WHERE w.column6 = '{name}' GROUP BY 1, 2, 3, 4"
            for name in names
        ]
        yield from fetch(" UNION ALL ".join(parts), params * len(parts))


def upsert(table: str, columns: Sequence[str], conflict: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
    """Insert rows, or update the stored row with the same ``conflict`` key if its figures changed.

    Callers pass only rows whose inputs changed; the ``WHERE`` also keeps a concurrent run from
    rewriting a row it finds unchanged. Only a change of the figures themselves moves
    ``version`` and ``updated_at`` (new inputs can give the same figures). ``rows`` hold values
    already prepared for the backend. Returns the number
    of rows inserted or changed. Large sets go through COPY into a temporary table on
    PostgreSQL: one statement with thousands of parameters costs more to build than to run.
    """
    if not rows:
        return 0
    keep = {*conflict, "id", "created_at", "version", "updated_at"}
    assignments = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in keep)
    changed = f"{table}.figures_hash <> excluded.figures_hash"
    on_conflict = (
        f"ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {assignments}, "
        f"version = CASE WHEN {changed} THEN {table}.version + 1 ELSE {table}.version END, "
        f"updated_at = CASE WHEN {changed} THEN excluded.updated_at ELSE {table}.updated_at END "
        f"WHERE {changed} OR {table}.inputs_hash <> excluded.inputs_hash"
    )
    names = ", ".join(columns)
    written = 0
    with connection.cursor() as cursor:
        if is_postgres() and len(rows) > BATCH:
            staging = f"staging_{table}"
            cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} (LIKE {table} INCLUDING DEFAULTS)")
            cursor.execute(f"TRUNCATE {staging}")
            with cursor.cursor.copy(f"COPY {staging} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {staging} {on_conflict}")
            return max(cursor.rowcount, 0)
        for offset in range(0, len(rows), BATCH):
            batch = rows[offset : offset + BATCH]
            placeholders = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(batch))
            cursor.execute(
                f"INSERT INTO {table} ({names}) VALUES {placeholders} {on_conflict}",
                [value for row in batch for value in row],
            )
            written += max(cursor.rowcount, 0)
    return written


def mark_waiting_stale(patient_id: uuid.UUID, first: date) -> bool:
    """Move an already waiting recompute's mark earlier if need be, in one statement; False if the
    patient was not waiting. Runs inside every diary upload, so it is plain SQL, and it leaves
    ``requested_at`` (indexed; the sweep counts waiting from the first request) alone, so that
    PostgreSQL can update the row in place."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE diary_trendrecompute SET generation = generation + 1, "
            "dirty_from = CASE WHEN %s < dirty_from THEN %s ELSE dirty_from END "
            "WHERE patient_id = %s AND dirty_from IS NOT NULL",
            [db_date(first), db_date(first), db_uuid(patient_id)],
        )
        return cursor.rowcount > 0


def mark_stale(patient_id: uuid.UUID, first: date, now: datetime) -> None:
    """Create or mark a patient's recompute row stale from ``first`` in one statement."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO diary_trendrecompute (patient_id, dirty_from, generation, requested_at) "
            "VALUES (%s, %s, 1, %s) "
            "ON CONFLICT (patient_id) DO UPDATE SET generation = diary_trendrecompute.generation + 1, "
            "requested_at = excluded.requested_at, dirty_from = CASE WHEN diary_trendrecompute.dirty_from IS NULL "
            "OR excluded.dirty_from < diary_trendrecompute.dirty_from THEN excluded.dirty_from "
            "ELSE diary_trendrecompute.dirty_from END",
            [db_uuid(patient_id), db_date(first), connection.ops.adapt_datetimefield_value(now)],
        )
