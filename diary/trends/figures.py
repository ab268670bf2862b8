"""Turning aggregate rows into the figures clinicians read: pure functions, no queries.

Periods are the patient's local ISO weeks (Monday to Sunday) and calendar months. Severity is
the spasticity NRS 0-10 [FAR]; lower is better. A change is "better" or "worse" when the mean
moves by at least ``TREND_CHANGE_RELATIVE`` of the earlier mean [TAND] and at least
``TREND_CHANGE_MIN_POINTS`` NRS points (settings.py says why).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings

from diary.models import Direction
from diary.trends.sql import IMPACT_DOMAINS
from diary.vocabulary import TIME_OF_DAY

WEEK, MONTH = "week", "month"


def plain(number: object) -> str:
    """A dose or unit count as people write it: 15, 7.5, 400 (not 15.00 or 4E+2)."""
    value = Decimal(str(number)).normalize()
    return format(value, "f")


# --- Periods ------------------------------------------------------------------------------------


def period_start_of(granularity: str, day: date) -> date:
    return day - timedelta(days=day.weekday()) if granularity == WEEK else day.replace(day=1)


def period_end_of(granularity: str, start: date) -> date:
    if granularity == WEEK:
        return start + timedelta(days=6)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def previous_period_start(granularity: str, start: date) -> date:
    return period_start_of(granularity, start - timedelta(days=1))


def period_label(granularity: str, start: date) -> str:
    """``2026-W47`` or ``2026-11``."""
    if granularity == WEEK:
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{start:%Y-%m}"


def min_days(granularity: str) -> int:
    return settings.TREND_MIN_DAYS_PER_WEEK if granularity == WEEK else settings.TREND_MIN_DAYS_PER_MONTH


# --- Figures from one aggregate row ---------------------------------------------------------------


def _ratio(numerator: float | None, denominator: float | None, digits: int = 2) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, digits)


@dataclass(frozen=True)
class Core:
    """The figures of ``sql.CORE_COLUMNS`` for one period or window."""

    entries: int
    days: int
    severity_sum: int
    severity_max: int | None
    spasm_sum: int
    spasm_entries: int
    spasm_days: int  # days with at least one spasm count
    impact: dict[str, tuple[int, int]]  # domain -> (sum, entries that rated it)

    @classmethod
    def from_row(cls, values: tuple[Any, ...]) -> "Core":
        entries, days, severity_sum, severity_max, spasm_sum, spasm_entries, spasm_days, *impact = values
        return cls(
            entries=int(entries),
            days=int(days),
            severity_sum=int(severity_sum or 0),
            severity_max=None if severity_max is None else int(severity_max),
            spasm_sum=int(spasm_sum or 0),
            spasm_entries=int(spasm_entries),
            spasm_days=int(spasm_days or 0),
            impact={
                domain: (int(impact[2 * i] or 0), int(impact[2 * i + 1])) for i, domain in enumerate(IMPACT_DOMAINS)
            },
        )

    @property
    def severity_mean(self) -> float | None:
        return _ratio(self.severity_sum, self.entries)

    @property
    def spasms_per_day(self) -> float | None:
        """Spasms per day on which spasms were counted. A day without entries, or whose entries
        leave the count out, is unknown, not spasm-free; a count of 0 is a spasm-free day."""
        return _ratio(self.spasm_sum, self.spasm_days)

    def as_json(self) -> dict[str, Any]:
        return {
            "entries": self.entries,
            "days_with_entries": self.days,
            "severity_mean": self.severity_mean,
            "severity_max": self.severity_max,
            "spasms_total": self.spasm_sum,
            "spasms_per_day": self.spasms_per_day,
            "days_with_spasm_counts": self.spasm_days,
            "impact": {domain: _ratio(total, n) for domain, (total, n) in self.impact.items()},
        }


EMPTY_CORE = Core(0, 0, 0, None, 0, 0, 0, dict.fromkeys(IMPACT_DOMAINS, (0, 0)))


def sum_cores(cores: Iterable[Core]) -> Core:
    """The figures of disjoint stretches of days together (days with entries add up: the days differ)."""
    total = EMPTY_CORE
    for core in cores:
        maxima = [m for m in (total.severity_max, core.severity_max) if m is not None]
        total = Core(
            entries=total.entries + core.entries,
            days=total.days + core.days,
            severity_sum=total.severity_sum + core.severity_sum,
            severity_max=max(maxima) if maxima else None,
            spasm_sum=total.spasm_sum + core.spasm_sum,
            spasm_entries=total.spasm_entries + core.spasm_entries,
            spasm_days=total.spasm_days + core.spasm_days,
            impact={
                domain: (total.impact[domain][0] + n[0], total.impact[domain][1] + n[1])
                for domain, n in core.impact.items()
            },
        )
    return total


def median_from_histogram(histogram: list[int]) -> float | None:
    """The median severity from counts of each score 0-10 (the mean of the middle two if even)."""
    total = sum(histogram)
    if not total:
        return None

    def nth(n: int) -> int:  # the n-th smallest score, from 0
        seen = 0
        for score, count in enumerate(histogram):
            seen += count
            if n < seen:
                return score
        raise ValueError(n)

    if total % 2:
        return float(nth(total // 2))
    return (nth(total // 2 - 1) + nth(total // 2)) / 2


def time_of_day(by_hour: list[int]) -> dict[str, Any]:
    """Entries per part of the local day and per local hour."""
    parts = {word.name: sum(by_hour[word.attrs["first_hour"] : word.attrs["last_hour"] + 1]) for word in TIME_OF_DAY}
    return {**parts, "by_hour": by_hour}


# Means are shown to 2 decimals and thresholds are short decimals: a change that is exactly the
# threshold in decimals (5.5 -> 6.6 is +20 %) must count, whatever binary floats make of it, so
# both sides are rounded to this many decimals before they are compared.
TOLERANCE_DIGITS = 6


def compare(before: float | None, after: float | None, *, enough_data: bool) -> dict[str, Any]:
    """How mean severity moved from ``before`` to ``after``, with the direction in words.

    "Better" or "worse" needs a move of at least ``TREND_CHANGE_MIN_POINTS`` and at least
    ``TREND_CHANGE_RELATIVE`` of ``before``; a move of exactly the threshold counts.
    """
    if not enough_data or before is None or after is None:
        return {"before": before, "after": after, "relative": None, "direction": Direction.NOT_ENOUGH_DATA.value}
    difference = round(abs(after - before), TOLERANCE_DIGITS)
    relative = round((after - before) / before, 3) if before else None
    large_enough = difference >= round(settings.TREND_CHANGE_MIN_POINTS, TOLERANCE_DIGITS) and (
        difference >= round(settings.TREND_CHANGE_RELATIVE * before, TOLERANCE_DIGITS)
    )
    direction = Direction.UNCHANGED
    if large_enough:
        direction = Direction.WORSE if after > before else Direction.BETTER
    return {"before": before, "after": after, "relative": relative, "direction": direction.value}


def spasm_ratio(before: float | None, after: float | None) -> float | None:
    """Spasms per day after against before, with the earlier rate taken as at least
    ``TREND_SPASM_BASELINE_FLOOR``: from none (or a few a week) a ratio means nothing, so 0 -> 12 a
    day is measured against 1 a day (12x), and 0.3 -> 0.6 (one or two spasms more a week) is not a
    doubling."""
    if before is None or after is None:
        return None
    return _ratio(after, max(before, settings.TREND_SPASM_BASELINE_FLOOR))


def words_figures(words: dict[str, dict[str, tuple[int, int]]], entries: int) -> dict[str, Any]:
    """Triggers, relief, side effects and red flags from per-word counts.

    ``words[list name][word] = (entries naming it, sum of relief scores)``. Lists are ordered by
    count, then word, so the top trigger is first.
    """

    def counted(name: str, key: str) -> list[dict[str, Any]]:
        items = sorted(words.get(name, {}).items(), key=lambda item: (-item[1][0], item[0]))
        return [{key: word, "count": count} for word, (count, _) in items]

    relief = sorted(words.get("relief", {}).items(), key=lambda item: (-item[1][0], item[0]))
    return {
        "triggers": counted("triggers", "trigger"),
        "relief": [
            {
                "measure": m,
                "used": used,
                "share_of_entries": _ratio(used, entries),
                "helped_total": total,
                "mean_helped": _ratio(total, used),
            }
            for m, (used, total) in relief
        ],
        "side_effects": counted("side_effects", "side_effect"),
        "red_flags": counted("red_flags", "red_flag"),
    }
