"""The clinical rules of care plans, as pure functions: limits, intervals, projections, scores.

Every number comes from ``clinical-reference.md``, through the vocabularies where it belongs to
a word (a drug's label maximum, a toxin's session maximum) or cited beside it here. Services
call these and decide what a breach means (refuse, or accept with a recorded override).
"""

import calendar
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from clinic.vocabulary import BOTULINUM_PRODUCTS, MUSCLES, ORAL_DRUGS


def plain(number: Decimal) -> str:
    """A quantity as people write it: 450, 12.5 (not 450.0 or 4.5E+2)."""
    return format(number.normalize(), "f")


@dataclass(frozen=True)
class RuleBreach:
    """A limit a plan change would exceed, said with the limit and its source."""

    field: str
    message: str


# --- Oral medicines (clinical-reference §3.2) -----------------------------------------------------

# Tizanidine: single doses above 16 mg were not studied [DTIZ].
TIZANIDINE_MAX_SINGLE_DOSE_MG = Decimal(16)


def oral_dose_breaches(drug: str, dose_mg: Decimal, times_per_day: int) -> list[RuleBreach]:
    """Label limits a dose of ``drug`` would exceed: the maximum daily dose, and drug-specific ones."""
    attrs = ORAL_DRUGS[drug].attrs
    breaches = []
    daily = dose_mg * times_per_day
    if daily > attrs["max_daily_mg"]:
        breaches.append(
            RuleBreach(
                "dose_mg",
                f"{plain(daily)} mg a day is above the label maximum of {attrs['max_daily_mg']} mg a day "
                f"for {ORAL_DRUGS[drug].label.lower()} ({attrs['limit_source']}).",
            )
        )
    max_times = attrs.get("max_times_per_day")
    if max_times is not None and times_per_day > max_times:
        breaches.append(
            RuleBreach("times_per_day", f"At most {max_times} doses in 24 hours ({attrs['limit_source']}).")
        )
    if drug == "tizanidine" and dose_mg > TIZANIDINE_MAX_SINGLE_DOSE_MG:
        breaches.append(RuleBreach("dose_mg", "Single tizanidine doses above 16 mg were not studied (DTIZ)."))
    return breaches


# --- Botulinum toxin (clinical-reference §3.4) ----------------------------------------------------


@dataclass(frozen=True)
class Injection:
    muscle: str
    side: str
    units: Decimal
    points: int


@dataclass(frozen=True)
class PastSession:
    injected_on: date
    product: str
    total_units: Decimal


def months_before(day: date, months: int) -> date:
    """The same day of the month ``months`` earlier, clamped to the end of a shorter month."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    month += 1
    last_day = calendar.monthrange(year, month)[1]
    return date(year, month, min(day.day, last_day))


def toxin_session_breaches(
    *,
    product: str,
    injected_on: date,
    injections: Sequence[Injection],
    units_per_ml: Decimal | None,
    other_sessions: Iterable[PastSession],
) -> list[RuleBreach]:
    """Label limits a session would exceed: units per session and per limb, the cumulative window,
    the re-treatment interval, the volume per injection point, and use off label.

    ``other_sessions`` are the patient's other sessions that count, before and after this one: a
    session recorded late (dated before sessions already on record) is held to the same limits.
    """
    attrs = BOTULINUM_PRODUCTS[product].attrs
    source = attrs["limit_source"]
    label = BOTULINUM_PRODUCTS[product].label
    total = sum((i.units for i in injections), Decimal(0))
    others = list(other_sessions)
    breaches = []
    if attrs.get("off_label_for_spasticity"):
        breaches.append(RuleBreach("product", f"{label} has no spasticity indication ({source})."))
    maximum = attrs.get("max_units_per_session")
    if maximum is not None and total > maximum:
        breaches.append(
            RuleBreach("sites", f"{plain(total)} U is above the {maximum} U maximum per session ({source}).")
        )
    for limb in ("upper", "lower"):
        limb_maximum = attrs.get(f"max_units_{limb}_limb")
        limb_total = sum((i.units for i in injections if MUSCLES[i.muscle].attrs["limb"] == limb), Decimal(0))
        if limb_maximum is not None and limb_total > limb_maximum:
            breaches.append(
                RuleBreach("sites", f"{plain(limb_total)} U in the {limb} limb is above {limb_maximum} U ({source}).")
            )
    months = attrs.get("cumulative_months")
    if months is not None and maximum is not None and total <= maximum:
        breaches.extend(_cumulative_breaches(product, injected_on, total, others, months, maximum, source))
    breaches.extend(_interval_breaches(product, injected_on, others))
    max_ml = attrs.get("max_ml_per_injection_point")
    if max_ml is not None and units_per_ml:
        for injection in injections:
            ml = injection.units / injection.points / units_per_ml
            if ml > max_ml:
                breaches.append(
                    RuleBreach(
                        "sites",
                        f"{injection.side} {injection.muscle}: {ml:.2f} mL per injection point is above "
                        f"{max_ml} mL ({source}).",
                    )
                )
    return breaches


def _cumulative_breaches(
    product: str,
    injected_on: date,
    total: Decimal,
    others: Sequence[PastSession],
    months: int,
    maximum: int,
    source: str,
) -> list[RuleBreach]:
    """Every window of ``months`` calendar months that holds the new session stays within the
    maximum. A window ending on day E counts the sessions after E minus ``months`` up to E; its
    total only grows on a session's day, so the windows ending on the new session and on each
    later session that still counts it are all there is to check."""
    same = [s for s in others if s.product == product]
    later = {s.injected_on for s in same if s.injected_on > injected_on > months_before(s.injected_on, months)}
    for end in sorted({injected_on} | later):
        start = months_before(end, months)
        cumulative = total + sum((s.total_units for s in same if start < s.injected_on <= end), Decimal(0))
        if cumulative > maximum:
            return [
                RuleBreach(
                    "sites",
                    f"{plain(cumulative)} U in the {months} months from {start + timedelta(days=1)} to {end} "
                    f"is above {maximum} U ({source}).",
                )
            ]
    return []


def _interval_breaches(product: str, injected_on: date, others: Sequence[PastSession]) -> list[RuleBreach]:
    """The re-treatment interval on both sides: after the nearest session on or before this one
    (this session's product decides), and before the nearest later one (that one's product decides)."""
    breaches = []
    previous = max((s.injected_on for s in others if s.injected_on <= injected_on), default=None)
    if previous is not None:
        interval = BOTULINUM_PRODUCTS[product].attrs["min_interval_days"]
        allowed = previous + timedelta(days=interval)
        if injected_on < allowed:
            breaches.append(
                RuleBreach(
                    "injected_on",
                    f"The last session was on {previous}; the next is allowed from {allowed} "
                    f"({interval // 7} weeks; {BOTULINUM_PRODUCTS[product].attrs['limit_source']}).",
                )
            )
    following = min((s for s in others if s.injected_on > injected_on), key=lambda s: s.injected_on, default=None)
    if following is not None:
        attrs = BOTULINUM_PRODUCTS[following.product].attrs
        latest = following.injected_on - timedelta(days=attrs["min_interval_days"])
        if injected_on > latest:
            breaches.append(
                RuleBreach(
                    "injected_on",
                    f"A later session is on record on {following.injected_on}; a session before it must be "
                    f"on or before {latest} ({attrs['min_interval_days'] // 7} weeks; {attrs['limit_source']}).",
                )
            )
    return breaches


def next_injection_allowed_on(last_injected_on: date, product: str) -> date:
    """The first day a new session is within the label's re-treatment interval [BTX] [DYS] [XEO] [MYO]."""
    return last_injected_on + timedelta(days=BOTULINUM_PRODUCTS[product].attrs["min_interval_days"])


# --- Intrathecal baclofen pump (clinical-reference §3.3) -------------------------------------------


@dataclass(frozen=True)
class ReservoirProjection:
    """When the reservoir reaches its low-reservoir alarm volume, from the last refill."""

    alarm_on: date | None  # None: no dose programmed, nothing is used
    remaining_ml_today: Decimal
    daily_use_ml_now: Decimal


def project_reservoir(
    *,
    refilled_on: date,
    volume_ml: Decimal,
    concentration_mcg_per_ml: int,
    alarm_ml: Decimal,
    doses: Sequence[tuple[date, Decimal]],
    today: date,
) -> ReservoirProjection:
    """Follow the reservoir through the dose history since the last refill.

    ``doses`` are (effective_from, mcg/day). Daily use in mL is dose / concentration, so days to
    alarm = (volume - alarm volume) / (dose / concentration) [DBAC]: 20 mL of 2000 mcg/mL at
    400 mcg/day reaches a 2 mL alarm after 90 days. A dose change between refills changes the
    rate from its date, and future-dated doses apply from theirs. Part days round towards the
    earlier date, the safe side for a reminder.
    """
    ordered = sorted(doses)
    concentration = Decimal(concentration_mcg_per_ml)

    def rate_on(day: date) -> Decimal:
        current = [mcg for start, mcg in ordered if start <= day]
        return current[-1] / concentration if current else Decimal(0)

    # Periods of constant daily use: from the refill, then from each later dose change.
    starts = [refilled_on, *(start for start, _ in ordered if start > refilled_on)]
    periods = [
        (start, starts[i + 1] if i + 1 < len(starts) else None, rate_on(start)) for i, start in enumerate(starts)
    ]

    remaining, alarm_on = volume_ml, None
    for start, end, rate in periods:
        length = None if end is None else (end - start).days
        if alarm_on is None and rate > 0:
            days_left = (remaining - alarm_ml) / rate
            if length is None or days_left <= length:
                alarm_on = start + timedelta(days=max(0, math.floor(days_left)))
        if length is not None:
            remaining -= rate * length

    used = sum(
        (rate * max(0, (min(end or today, today) - start).days) for start, end, rate in periods if start < today),
        Decimal(0),
    )
    return ReservoirProjection(
        alarm_on=alarm_on,
        remaining_ml_today=max(volume_ml - used, Decimal(0)).quantize(Decimal("0.1")),
        daily_use_ml_now=rate_on(today).quantize(Decimal("0.001")),
    )


# --- Goal Attainment Scaling (clinical-reference §1.6) ----------------------------------------------

# Kiresuk-Sherman with the usual inter-goal correlation rho = 0.3 [TS].
GAS_RHO = 0.3


def gas_t_score(levels_and_weights: Sequence[tuple[int, int]]) -> float:
    """T = 50 + 10 * sum(w*x) / sqrt((1 - rho) * sum(w^2) + rho * sum(w)^2) for levels x, weights w [TS]."""
    if not levels_and_weights:
        raise ValueError("a T-score needs at least one goal")
    weighted = sum(w * x for x, w in levels_and_weights)
    sum_w = sum(w for _, w in levels_and_weights)
    sum_w2 = sum(w * w for _, w in levels_and_weights)
    return 50 + 10 * weighted / math.sqrt((1 - GAS_RHO) * sum_w2 + GAS_RHO * sum_w**2)
