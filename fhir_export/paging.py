"""Keyset pages over the sources of one resource type (see ``search.py`` for the why)."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from django.db.models import Model, Q, QuerySet, prefetch_related_objects
from django.utils import timezone

from fhir_export.dates import compare
from fhir_export.mapping.common import JSON
from fhir_export.search import Cursor, Search, filtered
from fhir_export.sources import Source, primary_key, sources_of


@dataclass
class Page:
    resources: list[JSON] = field(default_factory=list)
    total: int | None = None
    next: Cursor | None = None
    previous: Cursor | None = None
    patient_ids: set[Any] = field(default_factory=set)


def attribute(row: Model, path: str) -> Any:
    value: Any = row
    for part in path.split("__"):
        value = getattr(value, part)
    return value


def sort_value(value: date | datetime | None) -> datetime | None:
    """Dates sort as the start of their UTC day, so days and instants interleave."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.combine(value, time(0), tzinfo=UTC)


def _sort_path(source: Source, search: Search) -> str | None:
    if search.sort == "date":
        return source.date_field
    if search.sort == "updated":
        return source.updated_field
    return None


def _beyond(source: Source, rank: int, path: str | None, cursor: Cursor, later: bool) -> Q | None:
    """Rows whose key ``(path value, rank, pk)`` comes after (``later``) or before the cursor's.

    ``Cursor.decode`` has checked the key against the type's tables (a forged one is a 400), and
    ``parse_search`` that a sorted page's key has a value.
    """
    strict, loose, pk_op = ("gt", "gte", "gt") if later else ("lt", "lte", "lt")
    pk = primary_key(source.model, cursor.pk) if rank == cursor.rank else None
    if path is None or cursor.value is None:
        if rank == cursor.rank:
            return Q(**{f"pk__{pk_op}": pk})
        return Q() if (rank > cursor.rank) == later else None
    if rank == cursor.rank:
        return compare(source, path, loose, cursor.value) & (
            compare(source, path, strict, cursor.value) | Q(**{f"pk__{pk_op}": pk})
        )
    return compare(source, path, loose if (rank > cursor.rank) == later else strict, cursor.value)


def search_page(search: Search, clinic_id: int, today: date | None = None) -> Page:
    """One page of a search, its total, and the cursors of the pages around it."""
    today = today or timezone.localdate()
    candidates = [(rank, s, filtered(s, search, clinic_id)) for rank, s in enumerate(sources_of(search.resource_type))]
    matching: list[tuple[int, Source, QuerySet[Any]]] = [(r, s, qs) for r, s, qs in candidates if qs is not None]
    page = Page()
    if search.with_total or search.summary_count:
        page.total = sum(qs.count() for _, _, qs in matching)
    if search.summary_count:
        return page
    cursor = search.cursor
    backwards = cursor is not None and cursor.backwards
    # Walking backwards is walking forwards in the reversed order.
    descending = search.descending != backwards
    fetched: list[tuple[tuple[Any, ...], int, Source, Model]] = []
    # Unsorted, a type's sources follow one another (the key starts with the rank): once the
    # sources before have filled the page, the later ones cannot be on it and are not queried.
    unsorted = search.sort is None
    for rank, source, qs in reversed(matching) if unsorted and descending else matching:
        if unsorted and len(fetched) > search.count:
            break
        path = _sort_path(source, search)
        if cursor is not None:
            condition = _beyond(source, rank, path, cursor, later=not descending)
            if condition is None:
                continue
            qs = qs.filter(condition)
        order = [path, "pk"] if path else ["pk"]
        qs = qs.order_by(*(f"-{o}" if descending else o for o in order))
        for row in qs[: search.count + 1]:
            value = sort_value(attribute(row, path)) if path else None
            fetched.append(((value, rank, row.pk), rank, source, row))
    fetched.sort(key=lambda item: item[0], reverse=descending)
    more = len(fetched) > search.count
    kept = fetched[: search.count]
    if backwards:
        kept.reverse()
    page.resources = _map(kept, today)
    page.patient_ids = {attribute(row, s.patient_path) for _, _, s, row in kept if s.patient_path}
    if kept:
        first, last = kept[0][0], kept[-1][0]
        has_next, has_previous = (cursor is not None, more) if backwards else (more, cursor is not None)
        if has_next:
            page.next = Cursor(False, last[0], last[1], str(last[2]))
        if has_previous:
            page.previous = Cursor(True, first[0], first[1], str(first[2]))
    return page


def _map(kept: list[tuple[tuple[Any, ...], int, Source, Model]], today: date) -> list[JSON]:
    """Map the kept rows in page order, prefetching per source (one set of queries each)."""
    by_source: dict[int, tuple[Source, list[Model]]] = {}
    for _, rank, source, row in kept:
        by_source.setdefault(rank, (source, []))[1].append(row)
    mapped: dict[tuple[int, Any], JSON] = {}
    for rank, (source, rows) in by_source.items():
        if source.prefetch:
            prefetch_related_objects(rows, *source.prefetch)
        for row, resource in zip(rows, source.map_rows(rows, today), strict=True):
            mapped[(rank, row.pk)] = resource
    return [mapped[(rank, row.pk)] for _, rank, _, row in kept]
