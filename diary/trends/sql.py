"""The SQL behind trend figures. Every difference between PostgreSQL and SQLite is in this module.

Figures are aggregated in the database and only the aggregates come back to Python: one row per
patient and period (or per window around an event), never one per diary entry. The vocabulary
lists of an entry are JSON arrays and ``relief`` a JSON object, expanded with
``jsonb_array_elements_text``/``jsonb_each_text`` on PostgreSQL and ``json_each`` on SQLite.
"""

import uuid
from collections.abc import Iterator, Sequence
from datetime import date, datetime
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

# The figures every aggregate row carries, in this order (see ``CoreRow`` in figures.py).
CORE_COLUMNS = ", ".join(
    [
        "COUNT(e.id)",
        "COUNT(DISTINCT e.local_date)",
        "SUM(e.severity)",
        "MAX(e.severity)",
        "SUM(e.spasm_count)",
        "COUNT(e.spasm_count)",
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
WORD_LISTS = ("triggers", "body_regions", "side_effects", "red_flags")


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def period_start(granularity: str, column: str) -> str:
    """The first day of the ISO week (Monday) or calendar month that ``column`` falls in."""
    if is_postgres():
        if granularity == "week":
            return f"({column} - (EXTRACT(ISODOW FROM {column})::int - 1))"
        return f"({column} - (EXTRACT(DAY FROM {column})::int - 1))"
    if granularity == "week":
        return f"date({column}, '-' || ((CAST(strftime('%w', {column}) AS integer) + 6) % 7) || ' days')"
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
    if value is None or isinstance(value, datetime):
        return value
    return parse_datetime(str(value))


def fetch(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _in_list(ids: Sequence[uuid.UUID]) -> tuple[str, list[Any]]:
    return ", ".join(["%s"] * len(ids)), [db_uuid(i) for i in ids]


def period_aggregates(granularity: str, patient_ids: Sequence[uuid.UUID], since: date, until: date) -> list[tuple]:
    """(patient, period start, core figures..., severity histogram, hourly counts, last change) per period."""
    placeholders, ids = _in_list(patient_ids)
    sql = (
        f"SELECT e.patient_id, {period_start(granularity, 'e.local_date')}, {CORE_COLUMNS}, {PROFILE_COLUMNS} "
        "FROM diary_diaryentry e "
        f"WHERE e.deleted_at IS NULL AND e.patient_id IN ({placeholders}) AND e.local_date BETWEEN %s AND %s "
        "GROUP BY 1, 2"
    )
    return fetch(sql, [*ids, db_date(since), db_date(until)])


def period_words(granularity: str, patient_ids: Sequence[uuid.UUID], since: date, until: date) -> list[tuple]:
    """(patient, period start, list name, word, entries, sum of relief scores) for every word used."""
    placeholders, ids = _in_list(patient_ids)
    start = period_start(granularity, "e.local_date")
    where = f"e.deleted_at IS NULL AND e.patient_id IN ({placeholders}) AND e.local_date BETWEEN %s AND %s"
    params = [*ids, db_date(since), db_date(until)]
    parts = [
        f"SELECT e.patient_id, {start}, '{name}', w.value, COUNT(*), 0 "
        f"FROM diary_diaryentry e, {json_words(f'e.{name}', 'w')} WHERE {where} GROUP BY 1, 2, 3, 4"
        for name in WORD_LISTS
    ]
    parts.append(
        f"SELECT e.patient_id, {start}, 'relief', w.key, COUNT(*), SUM(CAST(w.value AS integer)) "
        f"FROM diary_diaryentry e, {json_items('e.relief', 'w')} WHERE {where} GROUP BY 1, 2, 3, 4"
    )
    return fetch(" UNION ALL ".join(parts), params * len(parts))


def period_adherence(granularity: str, patient_ids: Sequence[uuid.UUID], since: date, until: date) -> list[tuple]:
    """(patient, period start, "therapy" or "orthoses", activity or device, minutes or hours logged)."""
    placeholders, ids = _in_list(patient_ids)
    start = period_start(granularity, "a.date")
    where = f"a.deleted_at IS NULL AND a.patient_id IN ({placeholders}) AND a.date BETWEEN %s AND %s"
    params = [*ids, db_date(since), db_date(until)]
    parts = [
        f"SELECT a.patient_id, {start}, '{name}', w.key, SUM(CAST(w.value AS double precision)) "
        f"FROM diary_adherencelog a, {json_items(f'a.{column}', 'w')} WHERE {where} GROUP BY 1, 2, 3, 4"
        for name, column in (("therapy", "therapy_minutes"), ("orthoses", "orthosis_hours"))
    ]
    return fetch(" UNION ALL ".join(parts), params * len(parts))


def last_entry_days(patient_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, date]:
    """Each patient's latest local diary day (patients without entries are left out)."""
    placeholders, ids = _in_list(patient_ids)
    rows = fetch(
        "SELECT e.patient_id, MAX(e.local_date) FROM diary_diaryentry e "
        f"WHERE e.deleted_at IS NULL AND e.patient_id IN ({placeholders}) GROUP BY 1",
        ids,
    )
    return {as_uuid(patient): as_date(day) for patient, day in rows}


# A window is (key, patient, first day, last day, bucket days): figures per key and bucket, where
# bucket = days from the first day // bucket days (one bucket for a plain window, weeks for 7).
Window = tuple[str, uuid.UUID, date, date, int]


def _windows_values(windows: Sequence[Window]) -> tuple[str, list[Any]]:
    rows = ", ".join(["(%s, %s, %s, %s, %s)"] * len(windows))
    params: list[Any] = []
    for key, patient, first, last, bucket in windows:
        params += [key, db_uuid(patient), db_date(first), db_date(last), bucket]
    return f"(VALUES {rows}) AS w", params


def window_aggregates(windows: Sequence[Window]) -> Iterator[tuple]:
    """(key, bucket, core figures...) for every window bucket that has entries."""
    for offset in range(0, len(windows), BATCH):
        values, params = _windows_values(windows[offset : offset + BATCH])
        bucket = f"{days_between('e.local_date', 'w.column3')} / w.column5"
        yield from fetch(
            f"SELECT w.column1, {bucket}, {CORE_COLUMNS} FROM {values} "
            "JOIN diary_diaryentry e ON e.patient_id = w.column2 AND e.local_date BETWEEN w.column3 AND w.column4 "
            "WHERE e.deleted_at IS NULL GROUP BY 1, 2",
            params,
        )


def window_words(windows: Sequence[Window], names: Sequence[str]) -> Iterator[tuple]:
    """(key, list name, word, entries) for the JSON word lists ``names`` inside each window."""
    for offset in range(0, len(windows), BATCH):
        values, params = _windows_values(windows[offset : offset + BATCH])
        parts = [
            f"SELECT w.column1, '{name}', j.value, COUNT(*) FROM {values} "
            "JOIN diary_diaryentry e ON e.patient_id = w.column2 AND e.local_date BETWEEN w.column3 AND w.column4, "
            f"{json_words(f'e.{name}', 'j')} WHERE e.deleted_at IS NULL GROUP BY 1, 2, 3"
            for name in names
        ]
        yield from fetch(" UNION ALL ".join(parts), params * len(parts))


def upsert(table: str, columns: Sequence[str], conflict: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
    """Insert rows, or update the stored row with the same ``conflict`` key if its figures changed.

    An unchanged row is not written at all (the nightly run rewrites nothing that did not move),
    and a changed one gets ``version + 1``. ``rows`` hold values already prepared for the backend.
    The statement is the same on both backends (``ON CONFLICT ... DO UPDATE ... WHERE``).
    Returns the number of rows inserted or changed.
    """
    keep = {*conflict, "id", "created_at", "version"}
    written = 0
    assignments = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in keep)
    for offset in range(0, len(rows), BATCH):
        batch = rows[offset : offset + BATCH]
        placeholders = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(batch))
        sql = (
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES {placeholders} "
            f"ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {assignments}, version = {table}.version + 1 "
            f"WHERE {table}.figures <> excluded.figures"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [value for row in batch for value in row])
            written += max(cursor.rowcount, 0)
    return written


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
