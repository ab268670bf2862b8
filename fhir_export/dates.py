"""FHIR date search: a search value is a range, and so is what it is compared with.

``2026-11`` is the month, ``2026-11-20T08:00Z`` that minute. A resource's value is a range too:
an instant (a diary entry), a day (an adherence log), or a period (a dose in force from one day
until the next dose, an alert until it is resolved, a month's summary), open-ended while it
runs. The prefixes compare the two ranges as the FHIR search specification defines them
(R4 §3.1.1.5.6, "date"): ``eq`` the search range contains the resource's, ``gt`` the resource's
range goes on after the search range, ``ge`` either of those, ``sa`` it starts after, and so on.
Dates without a time zone are UTC, and a day column stands for its UTC day.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from django.db.models import Q

from fhir_export.sources import Source


class DateSearchError(ValueError):
    """A date search value that is not a FHIR date (HTTP 400)."""


_DATE = re.compile(
    r"^(?P<prefix>eq|ne|gt|ge|lt|le|sa|eb)?(?P<year>\d{4})(-(?P<month>\d{2})(-(?P<day>\d{2})"
    r"(T(?P<hour>\d{2}):(?P<minute>\d{2})(:(?P<second>\d{2})(\.\d+)?)?(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
# Searches reach the ends of the calendar (9999-12-31, or 0001-01-01 in a zone east of UTC):
# a range that would run past them stops there.
EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)


def shifted(moment: datetime, delta: timedelta) -> datetime:
    """``moment + delta``, held at the ends of the calendar."""
    try:
        return moment + delta
    except OverflowError:
        return LATEST if delta > timedelta(0) else EARLIEST


@dataclass(frozen=True)
class DateRange:
    prefix: str
    start: datetime
    end: datetime  # exclusive


def _first_of(year: int, month: int) -> datetime:
    """The start of a month, or the end of the calendar after 9999-12."""
    return datetime(year, month, 1, tzinfo=UTC) if year <= LATEST.year else LATEST


def date_range(value: str) -> DateRange:
    """A FHIR date search value as its prefix and UTC range: 2026-11 is the month."""
    match = _DATE.match(value)
    if not match:
        raise DateSearchError(f"'{value}' is not a FHIR date (e.g. ge2026-11-01, 2026-11, lt2026-11-20T08:00:00Z).")
    g = match.groupdict()
    try:
        year, month, day = int(g["year"]), int(g["month"] or 1), int(g["day"] or 1)
        if g["hour"] is not None:
            offset = timedelta(0)
            if g["tz"] and g["tz"] != "Z":
                sign = 1 if g["tz"][0] == "+" else -1
                offset = sign * timedelta(hours=int(g["tz"][1:3]), minutes=int(g["tz"][4:6]))
            local = datetime(year, month, day, int(g["hour"]), int(g["minute"]), int(g["second"] or 0), tzinfo=UTC)
            start = shifted(local, -offset)
            end = shifted(start, timedelta(seconds=1) if g["second"] else timedelta(minutes=1))
        else:
            start = datetime(year, month, day, tzinfo=UTC)
            if g["day"]:
                end = shifted(start, timedelta(days=1))
            elif g["month"]:
                end = _first_of(year + month // 12, month % 12 + 1)
            else:
                end = _first_of(year + 1, 1)
    except ValueError:
        raise DateSearchError(f"'{value}' is not a real date.") from None
    return DateRange(g["prefix"] or "eq", start, end)


def compare(source: Source, path: str, op: str, moment: datetime) -> Q:
    """``path op moment`` (gt, gte, lt, lte), where a day column stands for the UTC day it starts."""
    if not source.is_day(path):
        return Q(**{f"{path}__{op}": moment})
    day, midnight = moment.date(), moment.time() == time(0)
    if op == "gt":
        return Q(**{f"{path}__gt": day})
    if op == "gte":
        return Q(**{f"{path}__{'gte' if midnight else 'gt'}": day})
    if op == "lt":
        return Q(**{f"{path}__{'lt' if midnight else 'lte'}": day})
    return Q(**{f"{path}__lte": day})


def instant_condition(source: Source, path: str, value: str) -> Q:
    """A date parameter on a point in time (an instant, or the start of a day)."""
    r = date_range(value)
    inside = compare(source, path, "gte", r.start) & compare(source, path, "lt", r.end)
    return {
        "eq": inside,
        "ne": ~inside,
        "gt": compare(source, path, "gte", r.end),
        "sa": compare(source, path, "gte", r.end),
        "ge": compare(source, path, "gte", r.start),
        "lt": compare(source, path, "lt", r.start),
        "eb": compare(source, path, "lt", r.start),
        "le": compare(source, path, "lt", r.end),
    }[r.prefix]


def period_condition(source: Source, value: str) -> Q:
    """A date parameter on the source's periods: from ``date_field`` to its end, open while null."""
    assert source.date_field is not None  # noqa: S101  only sources with a date are searched by date
    r = date_range(value)
    start = source.date_field

    def starts(op: str, moment: datetime) -> Q:
        return compare(source, start, op, moment)

    def ends(op: str, moment: datetime) -> Q:
        """The period's exclusive end ``op moment``; a last day ends at the next midnight."""
        if source.end_field is not None:
            return compare(source, source.end_field, op, moment)
        assert source.last_day_field is not None  # noqa: S101
        return compare(source, source.last_day_field, op, shifted(moment, timedelta(days=-1)))

    end_path = source.end_field or source.last_day_field
    running = Q(**{f"{end_path}__isnull": True})
    contained = starts("gte", r.start) & ~running & ends("lte", r.end)
    goes_on = running | ends("gt", r.end)  # the range after the search value meets the period
    began_before = starts("lt", r.start)  # the range before the search value meets the period
    condition = {
        "eq": contained,
        "ne": starts("lt", r.start) | running | ends("gt", r.end),
        "gt": goes_on,
        "ge": goes_on | starts("gte", r.start),
        "lt": began_before,
        "le": began_before | (~running & ends("lte", r.end)),
        "sa": starts("gte", r.end),
        "eb": ~running & ends("lte", r.start),
    }[r.prefix]
    # A plan version superseded before it took effect was never in force on any day: it has no
    # end (its resource says "stopped"), which would otherwise read as running for ever.
    if any(f.name == "superseded_at" for f in source.model._meta.get_fields()):
        condition &= Q(superseded_at__isnull=True)
    return condition


def date_condition(source: Source, path: str, value: str) -> Q:
    """A date parameter on ``path``: the source's periods when it is their start, else points."""
    if path == source.date_field and (source.end_field or source.last_day_field):
        return period_condition(source, value)
    return instant_condition(source, path, value)
