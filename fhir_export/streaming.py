"""An export's rows, read from the database in batches while the worker maps and writes.

A bulk export is a loop of three steps: PostgreSQL produces a batch of rows for the export's
server-side cursor, the worker turns them into resources, and writes NDJSON. Read one after
the other, the worker waits for PostgreSQL on every batch (about a seventh of an export of a
million diary entries on two cores). A thread fetches the next batch while the current one
is mapped: psycopg lets the interpreter go while it waits on the socket, and psycopg
connections may be shared between threads. Besides the batch being mapped, at most one waits
and one is being fetched, so memory stays flat.
"""

import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
from django.db import connection
from django.db.models import QuerySet
from psycopg.types.datetime import TimestamptzLoader
from psycopg.types.string import TextLoader

from fhir_export.sources import Source

# Rows per batch: large enough to amortise each fetch, small enough to bound memory.
CHUNK_ROWS = 2000


def stream(source: Source, qs: QuerySet[Any]) -> Iterator[Any]:
    """A source's rows through a server-side cursor, ``CHUNK_ROWS`` at a time.

    Diary entries (the bulk of any export) skip model instances: the queryset's own SQL runs on a
    psycopg named cursor with psycopg's timestamp loader, orjson for the JSON columns, and UUIDs
    left as the text PostgreSQL sends (a UUID object made only to be written out again cost a
    tenth of the export). For a million entries Django's per-row conversion (a model, five
    json.loads, a time zone wrapper per timestamp) had cost as much as mapping and writing them.
    """
    if (
        not source.columns
        or source.from_columns is None
        or not (connection.vendor == "postgresql" and connection.in_atomic_block)
    ):
        yield from qs.iterator(chunk_size=CHUNK_ROWS)
        return
    sql, params = qs.values_list(*source.columns).query.sql_with_params()
    make = source.from_columns
    connection.ensure_connection()
    with connection.connection.cursor(name=f"export_{source.name.replace('-', '_')}") as cursor:
        cursor.adapters.register_loader("timestamptz", TimestamptzLoader)
        cursor.adapters.register_loader("uuid", TextLoader)
        cursor.execute(sql, params)
        for rows in prefetched(cursor, CHUNK_ROWS):
            for values in rows:
                yield make(values)


def prefetched(cursor: Any, size: int) -> Iterator[list[Any]]:
    """The cursor's rows in batches of ``size``, the next batch fetched while this one is used.

    An error in the fetch is raised here, in the caller's thread. When the caller stops early
    (an export cancelled, a time limit, an interrupt), a fetch still running is cancelled on the
    server, and this returns only once the fetching thread is done with the cursor, so the
    caller may close it.
    """
    batches: queue.Queue[list[Any] | BaseException] = queue.Queue(maxsize=1)
    stopping = threading.Event()

    def hand_over(item: list[Any] | BaseException) -> bool:
        """Queue ``item`` for the caller; False if the caller stopped meanwhile."""
        while not stopping.is_set():
            try:
                batches.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def fetch() -> None:
        try:
            while not stopping.is_set():
                rows = cursor.fetchmany(size)
                if not hand_over(rows) or len(rows) < size:
                    return
        except BaseException as exc:  # handed to the caller's thread, which raises it
            hand_over(exc)

    fetcher = threading.Thread(target=fetch, name="export-prefetch", daemon=True)
    fetcher.start()
    finished = False
    try:
        while True:
            batch = batches.get()
            if isinstance(batch, BaseException):
                raise batch
            if batch:
                yield batch
            if len(batch) < size:
                finished = True
                return
    finally:
        stopping.set()
        if not finished and fetcher.is_alive():
            # A FETCH over a sparse _since filter can take as long as a table scan: stop it.
            with contextlib.suppress(psycopg.Error):  # a connection already gone has nothing to cancel
                cursor.connection.cancel_safe()
        fetcher.join()
