"""Bulk Data ``$export`` jobs: writing NDJSON files in a worker, publishing, cancelling, expiring.

A job is written by one attempt at a time. The attempt claims the job with a conditional
UPDATE (raising ``attempt`` and taking a lease), streams every row through a server-side
cursor into ``<type>-<part>.ndjson.part`` files under its own folder, renames each file when
it is complete, and only then, in one transaction that checks it still owns the job, records
the files and marks the job complete. A worker killed half way leaves a running job with a
lease that runs out: the sweep hands it to a new attempt, which deletes the dead attempt's
folder first, so a manifest can only ever list complete files (Medplum's bulk-export worker
works the same way: nothing is published unless the run succeeded).
"""

import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl
from uuid import UUID

import orjson
from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from fhir_export.mapping.common import JSON
from fhir_export.models import BackendAccessToken, ExportFile, ExportJob, UsedClientAssertion
from fhir_export.outcome import operation_outcome
from fhir_export.search import Search, SearchError, filtered, parse_search
from fhir_export.selectors import map_rows
from fhir_export.sources import Source, sources_of
from fhir_export.streaming import CHUNK_ROWS, stream

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2.0


def export_folder(job_id: UUID | str) -> Path:
    return Path(settings.FHIR_EXPORT_DIR) / str(job_id)


# One _typeFilter value may hold several filters, comma-joined (Observation?category=activity,
# Observation?category=survey): a comma followed by "Type?" starts the next one; the other commas
# separate the values of one search parameter (Observation?category=activity,survey).
_NEXT_FILTER = re.compile(r",(?=[A-Z][A-Za-z]*\?)")


def parse_type_filters(type_filters: list[str], resource_types: list[str]) -> dict[str, list[Search]]:
    """``_typeFilter`` values (``Observation?category=survey``) as searches; several for a type are ORed.

    A filter is for one of the exported types, or it is an error: it is never read as part of
    another type's filter.
    """
    searches: dict[str, list[Search]] = {}
    for raw in (part for value in type_filters for part in _NEXT_FILTER.split(value)):
        resource_type, mark, query = raw.partition("?")
        if not mark or resource_type not in resource_types:
            raise SearchError(f"_typeFilter '{raw}' must be Type?query for one of the exported types.")
        search = parse_search(resource_type, parse_qsl(query, keep_blank_values=True), strict=True)
        if search.cursor or search.sort or search.include_patients or search.summary_count:
            raise SearchError(f"_typeFilter '{raw}' may only filter (no _sort, _include, _summary, _page).")
        searches.setdefault(resource_type, []).append(search)
    return searches


def export_queryset(
    source: Source, job: ExportJob, searches: list[Search], transaction_time: datetime
) -> QuerySet[Any] | None:
    """The rows of one source that belong in the export: the clinic's, changed since ``_since`` and
    not after the transaction time, matching any of the type's filters."""
    parts = [filtered(source, search, job.clinic_id) for search in (searches or [Search(source.resource_type)])]
    matching = [qs for qs in parts if qs is not None]
    if not matching:
        return None
    qs = matching[0]
    for other in matching[1:]:
        qs = qs | other
    qs = qs.filter(**{f"{source.updated_field}__lte": transaction_time})
    if job.since is not None:
        qs = qs.filter(**{f"{source.updated_field}__gte": job.since})
    return qs.order_by()  # no ORDER BY: a sequential scan streams fastest, and NDJSON has no order


@dataclass
class WrittenFile:
    resource_type: str
    part: int
    path: str
    count: int
    size: int


class NdjsonFiles:
    """NDJSON files of one attempt, one type at a time, split before ``max_bytes``.

    A full file is made durable and given its final name by a thread of its own while the next
    one is written: fsync waits for the disk, and the export need not wait with it. Only
    complete files ever have a final name; ``finish`` waits until every one has it.
    """

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.done: list[WrittenFile] = []
        self._file: Any = None
        self._current: WrittenFile | None = None
        self._parts: dict[str, int] = {}
        self._completing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-fsync")
        self._completions: list[Future[WrittenFile]] = []

    def write(self, resource_type: str, resources: list[JSON]) -> None:
        for resource in resources:
            line = orjson.dumps(resource, option=orjson.OPT_APPEND_NEWLINE)
            current = self._current
            if (
                current is None
                or current.resource_type != resource_type
                or (current.count and current.size + len(line) > self.max_bytes)
            ):
                current = self._open(resource_type)
            self._file.write(line)
            current.count += 1
            current.size += len(line)

    def _open(self, resource_type: str) -> WrittenFile:
        self._hand_over()
        part = self._parts[resource_type] = self._parts.get(resource_type, 0) + 1
        name = f"{resource_type}-{part}.ndjson"
        self._current = WrittenFile(resource_type, part, f"{self.folder.parent.name}/{self.folder.name}/{name}", 0, 0)
        self._file = (self.folder / f"{name}.part").open("wb", buffering=1024 * 1024)
        return self._current

    def _hand_over(self) -> None:
        """Give the open file, now whole, to the completing thread (and stop at once if completing
        an earlier one failed, a full disk say, rather than write the rest for nothing)."""
        for completion in self._completions:
            error = completion.exception() if completion.done() else None
            if error is not None:
                raise error
        if self._file is None or self._current is None:
            return
        self._completions.append(self._completing.submit(_complete, self._file, self._current))
        self._file, self._current = None, None

    def finish(self) -> None:
        """Complete the open file and wait until every file is on disk under its final name."""
        self._hand_over()
        try:
            self.done = [completion.result() for completion in self._completions]  # in the order written
        finally:
            self._completing.shutdown()
        # The new names are entries of the attempt's folder, itself new in the job's: those are on
        # disk too before the manifest names the files.
        for folder in (self.folder, self.folder.parent):
            _fsync_folder(folder)

    def abandon(self) -> None:
        """Close the open file without naming it (the export stopped or failed); files waiting to
        be completed are dropped too. Whatever is left goes with the attempt's folder."""
        if self._file is not None:
            self._file.close()
            self._file, self._current = None, None
        self._completing.shutdown(cancel_futures=True)


def _complete(file: Any, written: WrittenFile) -> WrittenFile:
    """Make a whole file durable, then give it its final name."""
    try:
        file.flush()
        os.fsync(file.fileno())  # on disk before its final name, so a crash cannot publish it half written
    finally:
        file.close()
    final = Path(settings.FHIR_EXPORT_DIR) / written.path
    (final.parent / f"{final.name}.part").replace(final)
    return written


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class Heartbeat:
    """Renews the attempt's lease and reports progress; says when the job was cancelled or taken over.

    On PostgreSQL the export reads inside one long REPEATABLE READ transaction (a consistent
    snapshot, and a server-side cursor that streams), so the heartbeat writes through a
    connection of its own, where others see it at once.
    """

    def __init__(self, job_id: UUID, attempt: int) -> None:
        self.job_id, self.attempt = job_id, attempt
        self.last = 0.0
        self.own = connections.create_connection("default") if uses_snapshot() else None

    def beat(self, progress: str, *, force: bool = False) -> bool:
        now = time.monotonic()
        if not force and now - self.last < HEARTBEAT_SECONDS:
            return True
        self.last = now
        lease = timezone.now() + timedelta(seconds=settings.FHIR_EXPORT_LEASE_SECONDS)
        if self.own is None:
            return bool(
                ExportJob.objects.filter(pk=self.job_id, status=ExportJob.Status.RUNNING, attempt=self.attempt).update(
                    lease_until=lease, progress=progress
                )
            )
        with self.own.cursor() as cursor:
            cursor.execute(
                f"UPDATE {ExportJob._meta.db_table} SET lease_until = %s, progress = %s "  # noqa: S608  table name only
                "WHERE id = %s AND status = %s AND attempt = %s",
                [lease, progress, self.job_id, ExportJob.Status.RUNNING, self.attempt],
            )
            return cursor.rowcount == 1

    def close(self) -> None:
        if self.own is not None:
            self.own.close()


def uses_snapshot() -> bool:
    """A worker on PostgreSQL reads in one snapshot; inside a caller's transaction (an eagerly run
    task, a test) the export simply joins it."""
    return connection.vendor == "postgresql" and not connection.in_atomic_block


@contextmanager
def snapshot() -> Iterator[None]:
    """One consistent snapshot for the whole export on PostgreSQL (and a cursor that streams)."""
    if not uses_snapshot():
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            # A cursor is planned for its first rows by default (cursor_tuple_fraction 0.1), which
            # chose an index walk over updated_at at a third of the speed; an export reads them all.
            cursor.execute("SET LOCAL cursor_tuple_fraction = 1.0")
        yield


def snapshot_time() -> datetime:
    """The export's transactionTime, taken by the snapshot's first query: what changed up to it
    is in the files, what changed after is left for the next ``_since`` export.

    Not the moment the snapshot is taken, but earlier. A row's ``updated_at`` is stamped by the
    application before its transaction commits (the web request's clock, or a nightly trend
    task's, which stamps its rows when it starts and writes them seconds later): a write in
    flight then carries an earlier time yet is invisible to the snapshot, and a ``_since``
    export from that time would never deliver it. So the time is the earlier of the snapshot
    and the start of any other transaction that has written and not committed (read-only ones,
    such as other exports, stamp nothing), less ``FHIR_EXPORT_SINCE_OVERLAP_SECONDS`` for rows
    stamped before their transaction began and for an application clock running behind the
    database's. What changed in that overlap comes again in the next export: delivered twice at
    most, never lost. Other sessions' transaction starts are visible to the same database role
    (or to one granted pg_read_all_stats): web processes and workers share one role.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT LEAST(statement_timestamp(), ("
            "  SELECT min(xact_start) FROM pg_stat_activity"
            "  WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
            ")) - make_interval(secs => %s)",
            [settings.FHIR_EXPORT_SINCE_OVERLAP_SECONDS],
        )
        (moment,) = cursor.fetchone()
    return moment


class ExportStopped(Exception):
    """The job was cancelled, or another attempt owns it now."""


def export_run(*, job_id: UUID | str) -> str:
    """Write a job's files if this worker can claim it; publish them only when all are complete."""
    now = timezone.now()
    claimed = (
        ExportJob.objects.filter(pk=job_id, attempt__lt=settings.FHIR_EXPORT_MAX_ATTEMPTS)
        .filter(Q(status=ExportJob.Status.ACCEPTED) | Q(status=ExportJob.Status.RUNNING, lease_until__lt=now))
        .update(
            status=ExportJob.Status.RUNNING,
            attempt=F("attempt") + 1,
            lease_until=now + timedelta(seconds=settings.FHIR_EXPORT_LEASE_SECONDS),
            progress="Starting",
        )
    )
    if not claimed:
        return "not claimed"
    job = ExportJob.objects.get(pk=job_id)
    folder = export_folder(job.pk) / f"attempt-{job.attempt}"
    # A dead attempt's half-written files go before anything is written.
    if folder.parent.exists():
        shutil.rmtree(folder.parent)
    folder.mkdir(parents=True)
    files = NdjsonFiles(folder, settings.FHIR_EXPORT_FILE_MAX_BYTES)
    heartbeat = Heartbeat(job.pk, job.attempt)
    own_snapshot = uses_snapshot()
    try:
        with snapshot():
            transaction_time = snapshot_time() if own_snapshot else timezone.now()
            _write_all(job, transaction_time, files, heartbeat)
        files.finish()
    except ExportStopped:
        files.abandon()
        shutil.rmtree(folder.parent, ignore_errors=True)
        return "stopped"
    except BaseException:
        files.abandon()  # the next attempt deletes what this one left
        raise
    finally:
        heartbeat.close()
    return _publish(job, transaction_time, files.done)


def _write_all(job: ExportJob, transaction_time: datetime, files: NdjsonFiles, heartbeat: Heartbeat) -> None:
    searches = parse_type_filters(job.type_filters, job.resource_types)
    today = timezone.localdate()
    written = 0
    for resource_type in job.resource_types:
        for source in sources_of(resource_type):
            qs = export_queryset(source, job, searches.get(resource_type, []), transaction_time)
            if qs is None:
                continue
            batch: list[Any] = []
            for row in stream(source, qs):
                batch.append(row)
                if len(batch) == CHUNK_ROWS:
                    written += _write_batch(files, source, batch, today)
                    batch = []
                    if not heartbeat.beat(f"{written} resources written ({resource_type})"):
                        raise ExportStopped
            written += _write_batch(files, source, batch, today)
        if not heartbeat.beat(f"{written} resources written ({resource_type} done)", force=True):
            raise ExportStopped
    if job.ignored_parameters:
        # Bulk Data v2: under handling=lenient, one OperationOutcome per parameter not honoured,
        # in the manifest's error files.
        files.write("OperationOutcome", [ignored_parameter_outcome(name) for name in job.ignored_parameters])


def ignored_parameter_outcome(name: str) -> JSON:
    return operation_outcome(
        400,
        f"The export parameter {name} is not supported and was ignored (Prefer: handling=lenient).",
        severity="warning",
        code="not-supported",
    )


def _write_batch(files: NdjsonFiles, source: Source, rows: list[Any], today: date) -> int:
    if not rows:
        return 0
    resources = map_rows(source, rows, today)
    files.write(source.resource_type, resources)
    return len(resources)


def _publish(job: ExportJob, transaction_time: datetime, written: list[WrittenFile]) -> str:
    with transaction.atomic():
        current = ExportJob.objects.select_for_update().get(pk=job.pk)
        if current.status != ExportJob.Status.RUNNING or current.attempt != job.attempt:
            transaction.on_commit(lambda: shutil.rmtree(export_folder(job.pk), ignore_errors=True))
            return "stopped"
        ExportFile.objects.bulk_create(
            ExportFile(
                job=current, resource_type=f.resource_type, part=f.part, path=f.path, count=f.count, size_bytes=f.size
            )
            for f in written
        )
        now = timezone.now()
        current.status = ExportJob.Status.COMPLETED
        current.transaction_time = transaction_time
        current.finished_at = now
        current.expires_at = now + timedelta(hours=settings.FHIR_EXPORT_RETENTION_HOURS)
        current.lease_until = None
        current.progress = f"Complete: {sum(f.count for f in written)} resources in {len(written)} files"
        current.save()
    return "completed"


def export_files_delete(*, job_id: UUID | str) -> None:
    """Delete a cancelled or expired job's files (idempotent)."""
    shutil.rmtree(export_folder(job_id), ignore_errors=True)
    ExportFile.objects.filter(job_id=UUID(str(job_id))).delete()


def exports_to_rerun() -> list[UUID]:
    """Jobs whose worker died (lease ran out) with attempts left; those without are failed here."""
    now = timezone.now()
    stale = ExportJob.objects.filter(status=ExportJob.Status.RUNNING, lease_until__lt=now)
    for job_id in stale.filter(attempt__gte=settings.FHIR_EXPORT_MAX_ATTEMPTS).values_list("pk", flat=True):
        failed = ExportJob.objects.filter(pk=job_id, status=ExportJob.Status.RUNNING, lease_until__lt=now).update(
            status=ExportJob.Status.FAILED,
            finished_at=now,
            expires_at=now + timedelta(hours=settings.FHIR_EXPORT_RETENTION_HOURS),
            error=f"The export stopped {settings.FHIR_EXPORT_MAX_ATTEMPTS} times before finishing.",
        )
        if failed:
            shutil.rmtree(export_folder(job_id), ignore_errors=True)
    waiting = Q(status=ExportJob.Status.ACCEPTED, created_at__lt=now - timedelta(seconds=60))
    return list(
        ExportJob.objects.filter(Q(status=ExportJob.Status.RUNNING, lease_until__lt=now) | waiting).values_list(
            "pk", flat=True
        )
    )


def exports_expire() -> int:
    """Delete jobs (and files) past their expiry, and cancelled ones; forget used assertions and old tokens."""
    now = timezone.now()
    done = ExportJob.objects.filter(
        Q(expires_at__lt=now) | Q(status=ExportJob.Status.CANCELLED, finished_at__lt=now - timedelta(hours=1))
    )
    job_ids = list(done.values_list("pk", flat=True))
    for job_id in job_ids:
        export_files_delete(job_id=job_id)
    ExportJob.objects.filter(pk__in=job_ids).delete()
    UsedClientAssertion.objects.filter(expires_at__lt=now).delete()
    BackendAccessToken.objects.filter(expires_at__lt=now).delete()
    return len(job_ids)
