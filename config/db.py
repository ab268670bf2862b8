"""Database helpers the apps share."""

from collections.abc import Sequence

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


def _copy_value(field: models.Field, row: models.Model) -> object:
    value = field.pre_save(row, add=True)  # fills auto_now / auto_now_add times
    if value is not None and isinstance(field, models.JSONField):
        return orjson.dumps(value).decode()
    return value
