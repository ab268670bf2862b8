"""Before/after comparisons around plan events, wear-off of injections, regions still troublesome.

Events are every oral dose version (``MedicationDose``: a start, a change or a stop), every pump
dose version (``ItbDose``) and every botulinum toxin session that was not voided. Day 0 is the
event's day; the windows are in settings (by default days -28..-1 against days 7..55, the 4 weeks
before against weeks 2-8 after). Each side needs entries on ``TREND_EVENT_MIN_DAYS`` days, or
the comparison says "not enough data".
"""

import math
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings

from clinic.clinical_rules import next_injection_allowed_on
from clinic.models import BotulinumSession, ItbDose, MedicationDose
from clinic.vocabulary import BODY_REGIONS, BOTULINUM_PRODUCTS, MUSCLES, ORAL_DRUGS
from diary.models import Direction, TrendEventComparison
from diary.trends import sql
from diary.trends.figures import EMPTY_CORE, Core, compare, plain, sum_cores

Kind = TrendEventComparison.EventKind


@dataclass
class PlanEvent:
    kind: str
    ref: str
    patient_id: uuid.UUID
    day: date
    title: str
    increase: bool = False  # a dose went up (or started): look for new side effects
    product: str = ""
    sites: list[tuple[str, str, Decimal]] = field(default_factory=list)  # muscle, side, units
    next_day: date | None = None  # the next session's day, which ends this one's follow-up

    def key(self) -> str:
        return f"{self.kind}:{self.ref}"


def dose_text(dose: MedicationDose) -> str:
    return "stopped" if dose.stopped else f"{plain(dose.dose_mg)} mg x {dose.times_per_day}/day"


def events_of(patient_ids: Sequence[uuid.UUID], today: date) -> list[PlanEvent]:
    """Every plan event of the patients up to ``today`` (three queries and one for sites)."""
    events: list[PlanEvent] = []
    previous: dict[object, Any] = {}
    doses = MedicationDose.objects.in_force().filter(regimen__patient_id__in=patient_ids).select_related("regimen")
    for dose in doses.order_by("regimen_id", "effective_from"):
        before = previous.get(dose.regimen_id)
        previous[dose.regimen_id] = dose
        drug = ORAL_DRUGS[dose.regimen.drug].label
        was = f" (was {dose_text(before)})" if before is not None else " started"
        if dose.effective_from <= today:
            events.append(
                PlanEvent(
                    Kind.MEDICATION_DOSE,
                    str(dose.pk),
                    dose.regimen.patient_id,
                    dose.effective_from,
                    f"{drug} {dose_text(dose)}{was}",
                    increase=(dose.daily_mg or 0) > ((before.daily_mg or 0) if before is not None else 0),
                )
            )
    pump_doses = ItbDose.objects.in_force().filter(pump__patient_id__in=patient_ids).select_related("pump")
    for pump_dose in pump_doses.order_by("pump_id", "effective_from"):
        before = previous.get(pump_dose.pump_id)
        previous[pump_dose.pump_id] = pump_dose
        was = f" (was {plain(before.daily_dose_mcg)})" if before is not None else ""
        if pump_dose.effective_from <= today:
            events.append(
                PlanEvent(
                    Kind.ITB_DOSE,
                    str(pump_dose.pk),
                    pump_dose.pump.patient_id,
                    pump_dose.effective_from,
                    f"Intrathecal baclofen {plain(pump_dose.daily_dose_mcg)} mcg/day{was}",
                    increase=before is None or pump_dose.daily_dose_mcg > before.daily_dose_mcg,
                )
            )
    sessions = list(
        BotulinumSession.objects.filter(patient_id__in=patient_ids, voided_at__isnull=True, injected_on__lte=today)
        .prefetch_related("sites")
        .order_by("patient_id", "injected_on", "created_at")
    )
    for index, session in enumerate(sessions):
        sites = [(s.muscle, s.side, s.units) for s in session.sites.all()]
        following = sessions[index + 1] if index + 1 < len(sessions) else None
        total = sum((units for _, _, units in sites), Decimal(0))
        muscles = ", ".join(f"{side} {MUSCLES[muscle].label.lower()}" for muscle, side, _ in sites)
        events.append(
            PlanEvent(
                Kind.BOTULINUM_SESSION,
                str(session.pk),
                session.patient_id,
                session.injected_on,
                f"{BOTULINUM_PRODUCTS[session.product].label} {plain(total)} U: {muscles}",
                product=session.product,
                sites=sites,
                next_day=following.injected_on
                if following is not None and following.patient_id == session.patient_id
                else None,
            )
        )
    return events


def bucket_days() -> int:
    """Days per bucket of an event's window: every edge of a span falls between buckets.

    With the default edges (28 days before, days 7 and 55 after, 28 days of side effects, and
    weeks for wear-off) that is 7, so a window of 16 weeks comes back as 16 rows.
    """
    edges = (
        settings.TREND_EVENT_BEFORE_DAYS,
        settings.TREND_EVENT_AFTER_FROM_DAY,
        settings.TREND_EVENT_AFTER_TO_DAY + 1,
        settings.TREND_SIDE_EFFECT_DAYS,
        7,
    )
    return math.gcd(*edges)


def _lead_days(event: PlanEvent) -> int:
    """Days of the window before the event day."""
    if event.increase:
        return max(settings.TREND_EVENT_BEFORE_DAYS, settings.TREND_SIDE_EFFECT_DAYS)
    return settings.TREND_EVENT_BEFORE_DAYS


def _follow_up_end(event: PlanEvent) -> date:
    """The last day whose weeks count for wear-off: 26 weeks on, or the day before the next session."""
    end = event.day + timedelta(weeks=settings.TREND_WEAR_OFF_MAX_WEEKS) - timedelta(days=1)
    return end if event.next_day is None else min(end, event.next_day - timedelta(days=1))


def window_of(event: PlanEvent, today: date) -> sql.Window:
    """The one window of an event: from its lead days before to the end of everything measured after."""
    last = event.day + timedelta(days=max(settings.TREND_EVENT_AFTER_TO_DAY, settings.TREND_SIDE_EFFECT_DAYS - 1))
    if event.kind == Kind.BOTULINUM_SESSION:
        last = max(last, _follow_up_end(event))
    words = "body_regions" if event.kind == Kind.BOTULINUM_SESSION else "side_effects" if event.increase else ""
    first = event.day - timedelta(days=_lead_days(event))
    return (event.key(), event.patient_id, first, min(last, today), bucket_days(), words)


def after_complete(event: PlanEvent, today: date) -> bool:
    """Whether the last day of the "after" window has passed: its figures are final from then on.

    The window stops at its last day, so the day after that changes nothing it aggregates; this
    flag is the one figure that still moves then, so it is part of the event's inputs too.
    """
    return event.day + timedelta(days=settings.TREND_EVENT_AFTER_TO_DAY) < today


@dataclass
class Measured:
    """An event's window as buckets: core figures and word counts per bucket."""

    event: PlanEvent
    today: date
    cores: dict[int, Core]
    words: dict[int, dict[str, int]]

    def _buckets(self, first: int, last: int) -> list[int]:
        """Buckets covering days ``first``..``last`` from the event day (both multiples of the bucket)."""
        size, lead = bucket_days(), _lead_days(self.event)
        return list(range((first + lead) // size, (last + 1 + lead) // size))

    def core(self, first: int, last: int) -> Core:
        return sum_cores(self.cores.get(b, EMPTY_CORE) for b in self._buckets(first, last))

    def word_counts(self, first: int, last: int) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for bucket in self._buckets(first, last):
            for word, n in self.words.get(bucket, {}).items():
                counts[word] += n
        return dict(counts)

    def dates(self, first: int, last: int) -> dict[str, str]:
        to = min(self.event.day + timedelta(days=last), self.today)
        return {"from": (self.event.day + timedelta(days=first)).isoformat(), "to": to.isoformat()}


def _side(core: Core, dates: dict[str, str] | None) -> dict[str, Any]:
    figures = core.as_json()
    if dates is not None:
        figures.update(dates)
    return figures


def comparison_figures(event: PlanEvent, measured: Measured) -> dict[str, Any]:
    """Everything the before/after table shows for one event, from its window's buckets."""
    today, minimum = measured.today, settings.TREND_EVENT_MIN_DAYS
    before_span = (-settings.TREND_EVENT_BEFORE_DAYS, -1)
    after_span = (settings.TREND_EVENT_AFTER_FROM_DAY, settings.TREND_EVENT_AFTER_TO_DAY)
    before, after = measured.core(*before_span), measured.core(*after_span)
    started = event.day + timedelta(days=after_span[0]) <= today
    enough = before.days >= minimum and after.days >= minimum
    figures: dict[str, Any] = {
        "before": _side(before, measured.dates(*before_span)),
        "after": {
            **_side(after, measured.dates(*after_span) if started else None),
            "complete": after_complete(event, today),
        },
        "minimum_days_each_side": minimum,
        "enough_data": enough,
        "severity": compare(before.severity_mean, after.severity_mean, enough_data=enough),
        "spasms_per_day": {"before": before.spasms_per_day, "after": after.spasms_per_day},
    }
    if not enough:
        figures["not_enough_data"] = (
            f"Needs diary entries on at least {minimum} days on each side: "
            f"{before.days} days before, {after.days} days after."
        )
    if event.increase:
        span = settings.TREND_SIDE_EFFECT_DAYS
        figures["side_effects"] = _side_effects(measured.word_counts(-span, -1), measured.word_counts(0, span - 1))
    if event.kind == Kind.BOTULINUM_SESSION:
        figures["wear_off"] = wear_off(event, before, figures["severity"], measured)
        figures["regions"] = regions_after_injection(
            event, measured.word_counts(*before_span), measured.word_counts(*after_span), before.entries, after.entries
        )
    return figures


def _side_effects(before_counts: dict[str, int], after_counts: dict[str, int]) -> dict[str, Any]:
    return {
        "days": settings.TREND_SIDE_EFFECT_DAYS,
        "before": dict(sorted(before_counts.items())),
        "after": dict(sorted(after_counts.items())),
        "new_or_more": sorted(w for w, n in after_counts.items() if n > before_counts.get(w, 0)),
    }


def wear_off(event: PlanEvent, before: Core, severity: dict[str, Any], measured: Measured) -> dict:
    """The first week after the session whose mean severity has climbed back
    ``TREND_WEAR_OFF_RETURN_SHARE`` of the way from the best week (of weeks 2-8) to the level before
    the injection. Only for a session that helped (severity direction "better"). Weeks reaching
    past the next session do not count."""
    allowed = next_injection_allowed_on(event.day, event.product)
    last_day = (min(_follow_up_end(event), measured.today) - event.day).days
    weekly = []
    for week in range(settings.TREND_WEAR_OFF_MAX_WEEKS):
        if 7 * week > last_day or (event.next_day is not None and 7 * week + 6 > last_day):
            break
        core = measured.core(7 * week, 7 * week + 6)
        if core.entries:
            weekly.append(
                {
                    "week": week + 1,
                    "from": (event.day + timedelta(weeks=week)).isoformat(),
                    "days_with_entries": core.days,
                    "severity_mean": core.severity_mean,
                    "counted": core.days >= settings.TREND_MIN_DAYS_PER_WEEK,
                }
            )
    result: dict[str, Any] = {
        "next_injection_allowed_on": allowed.isoformat(),
        "responded": severity["direction"] == Direction.BETTER,
        "weekly": weekly,
        "detected": False,
    }
    counted = [w for w in weekly if w["counted"]]
    first_after, last_after = settings.TREND_EVENT_AFTER_FROM_DAY // 7 + 1, settings.TREND_EVENT_AFTER_TO_DAY // 7 + 1
    effect_weeks = [w for w in counted if first_after <= w["week"] <= last_after]
    if not result["responded"] or not effect_weeks or before.severity_mean is None:
        return result
    best = min(effect_weeks, key=lambda w: (w["severity_mean"], w["week"]))
    threshold = best["severity_mean"] + settings.TREND_WEAR_OFF_RETURN_SHARE * (
        before.severity_mean - best["severity_mean"]
    )
    result.update(best_week=best["week"], best_mean=best["severity_mean"], threshold_mean=round(threshold, 2))
    back = next((w for w in counted if w["week"] > best["week"] and w["severity_mean"] >= threshold), None)
    if back is not None:
        started = date.fromisoformat(back["from"])
        result.update(detected=True, week=back["week"], from_day=back["from"], before_allowed=started < allowed)
    return result


def regions_after_injection(
    event: PlanEvent, before: dict[str, int], after: dict[str, int], before_entries: int, after_entries: int
) -> dict[str, Any]:
    """Body regions reported before and after, grouped by the injected limbs and sides.

    Muscles map to regions by limb (upper or lower, clinic.vocabulary.MUSCLES) and side: a left
    gastrocnemius injection is judged against the left lower-limb regions (calf, ankle, foot...).
    """
    injected: dict[tuple[str, str], list[str]] = defaultdict(list)
    for muscle, side, _ in event.sites:
        injected[(MUSCLES[muscle].attrs["limb"], side)].append(muscle)

    def share(count: int, entries: int) -> float | None:
        return round(count / entries, 2) if entries else None

    def row(region: str) -> dict[str, Any]:
        b, a = before.get(region, 0), after.get(region, 0)
        return {
            "body_region": region,
            "before": b,
            "after": a,
            "before_share": share(b, before_entries),
            "after_share": share(a, after_entries),
        }

    def place(region: str) -> tuple[str, str]:
        attrs = BODY_REGIONS[region].attrs if region in BODY_REGIONS else {}
        return attrs.get("limb", ""), attrs.get("laterality", "")

    groups = []
    for (limb, side), muscles in sorted(injected.items()):
        regions = sorted(r for r in {*before, *after} if place(r) == (limb, side))
        groups.append(
            {
                "limb": limb,
                "side": side,
                "muscles": muscles,
                "regions": [row(r) for r in regions],
                "still_reported": [r for r in regions if after.get(r, 0)],
            }
        )
    elsewhere = sorted(r for r in after if place(r) not in injected)
    return {"injected": groups, "elsewhere_after": [row(r) for r in elsewhere]}
