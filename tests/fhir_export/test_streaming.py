"""Export rows are fetched a batch ahead, in order, and a failed fetch fails the export."""

import threading
import time

import psycopg
import pytest
from django.db import connection, transaction

from fhir_export.streaming import prefetched
from tests.fhir_export.conftest import diary_entry


class ListCursor:
    """What ``prefetched`` needs of a psycopg cursor, over a list; it can fail on a given fetch,
    and records whether the query was cancelled (``connection.cancel_safe``)."""

    def __init__(self, rows: list[int], fail_on_fetch: int | None = None) -> None:
        self.rows, self.fail_on_fetch, self.fetches = rows, fail_on_fetch, 0
        self.threads: set[str] = set()
        self.cancelled = False
        self.connection = self

    def cancel_safe(self) -> None:
        self.cancelled = True

    def fetchmany(self, size: int) -> list[int]:
        self.fetches += 1
        self.threads.add(threading.current_thread().name)
        if self.fetches == self.fail_on_fetch:
            raise ConnectionError("server closed the connection unexpectedly")
        batch, self.rows = self.rows[:size], self.rows[size:]
        return batch


def test_batches_come_in_order_and_the_last_may_be_short():
    cursor = ListCursor(list(range(7)))

    assert list(prefetched(cursor, 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert cursor.threads == {"export-prefetch"}
    assert not cursor.cancelled


def test_a_count_that_divides_evenly_ends_after_the_empty_fetch():
    assert list(prefetched(ListCursor(list(range(4))), 2)) == [[0, 1], [2, 3]]


def test_a_failed_fetch_is_raised_to_the_caller_after_the_batches_before_it():
    batches = prefetched(ListCursor(list(range(10)), fail_on_fetch=2), 3)

    assert next(batches) == [0, 1, 2]
    with pytest.raises(ConnectionError):
        next(batches)


def test_a_caller_that_stops_early_stops_the_fetching():
    cursor = ListCursor(list(range(1000)))
    batches = prefetched(cursor, 10)

    assert next(batches) == list(range(10))
    batches.close()

    assert cursor.fetches <= 3  # the batch in use, the one waiting, at most one being fetched
    assert cursor.cancelled
    assert not any(t.name == "export-prefetch" for t in threading.enumerate())


@pytest.mark.postgres
def test_a_server_side_cursor_is_read_a_batch_ahead(patient):
    entries = {str(diary_entry(patient).pk) for _ in range(5)}

    with transaction.atomic():
        connection.ensure_connection()
        with connection.connection.cursor(name="prefetch_test") as cursor:
            cursor.execute("SELECT id::text FROM diary_diaryentry ORDER BY id")
            batches = list(prefetched(cursor, 2))

    assert [len(b) for b in batches] == [2, 2, 1]
    assert {row[0] for batch in batches for row in batch} == entries


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_fetch_still_running_when_the_caller_stops_is_cancelled_on_the_server():
    status = psycopg.pq.TransactionStatus
    with transaction.atomic():
        transaction.set_rollback(True)
        connection.ensure_connection()
        raw = connection.connection
        with raw.cursor(name="slow_fetch") as cursor:
            # Rows after the second take a minute each: the fetch of the next batch is slow.
            cursor.execute("SELECT g, pg_sleep(CASE WHEN g > 2 THEN 60 ELSE 0 END) FROM generate_series(1, 10) g")
            batches = prefetched(cursor, 2)
            assert len(next(batches)) == 2
            for _ in range(200):  # until the fetch of the next batch is running on the server
                if raw.info.transaction_status == status.ACTIVE:
                    break
                time.sleep(0.01)

            batches.close()

            assert raw.info.transaction_status == status.INERROR  # the FETCH was cancelled
