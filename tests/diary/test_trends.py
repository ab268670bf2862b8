"""Trend summaries: every figure of a week and a month from a diary with known numbers."""

import uuid
from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from django.conf import settings
from hypothesis import HealthCheck, assume, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from diary import services
from diary.models import TrendSummary
from diary.trends import compute
from diary.trends.figures import Core, compare, median_from_histogram
from tests.conftest import enroll
from tests.diary.conftest import daily, entry
from tests.factories import (
    OrthoticPlanFactory,
    OrthoticPlanVersionFactory,
    PatientFactory,
    TherapyActivityFactory,
    TherapyPlanFactory,
    TherapyPlanVersionFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("now")]


def summary(patient, granularity: str, start: str) -> TrendSummary:
    return TrendSummary.objects.get(patient=patient, granularity=granularity, period_start=date.fromisoformat(start))


@pytest.fixture
def week_45(patient, record):
    """ISO week 2026-W45 (Mon 2 to Sun 8 November) of a patient in Toronto (UTC-5 in November)."""
    record(
        patient,
        [
            entry(
                "2026-11-02T07:30:00-05:00",
                4,
                spasms=2,
                triggers=["cold"],
                relief={"stretching": 2},
                impact={"walking": 2},
                body_regions=["left_calf"],
            ),
            entry(
                "2026-11-02T23:30:00-05:00",
                6,
                spasms=4,
                triggers=["cold", "fatigue"],
                relief={"stretching": 3, "heat": 1},
                impact={"walking": 3, "sleeping": 2},
                body_regions=["left_calf", "left_foot"],
            ),
            entry("2026-11-03T14:00:00-05:00", 5, triggers=["fatigue"], side_effects=["drowsiness"]),
            entry("2026-11-08T23:59:00-05:00", 8, spasms=6, triggers=["cold"], red_flags=["fever"]),
            # One minute after midnight: the next ISO week, still November.
            entry("2026-11-09T00:01:00-05:00", 2, spasms=1),
        ],
    )


def test_week_figures_from_known_entries(patient, week_45):
    week = summary(patient, "week", "2026-11-02")

    assert (week.entry_count, week.days_with_entries, week.complete) == (4, 3, True)
    assert week.period_end == date(2026, 11, 8)
    f = week.figures
    assert f["label"] == "2026-W45"
    assert (f["severity_mean"], f["severity_median"], f["severity_max"]) == (5.75, 5.5, 8)
    assert f["severity_histogram"] == [0, 0, 0, 0, 1, 1, 1, 0, 1, 0, 0]
    # Spasms were counted on 2 and 8 November; 3 November's entry left the count out, so that
    # day is unknown, not spasm-free: 12 spasms over 2 days.
    assert (f["spasms_total"], f["spasms_per_day"], f["days_with_spasm_counts"]) == (12, 6.0, 2)
    assert week.spasms_per_day == 6.0
    assert {k: f["time_of_day"][k] for k in ("night", "morning", "afternoon", "evening")} == {
        "night": 0,
        "morning": 1,
        "afternoon": 1,
        "evening": 2,
    }
    assert [f["time_of_day"]["by_hour"][h] for h in (7, 14, 23)] == [1, 1, 2]
    assert f["triggers"] == [{"trigger": "cold", "count": 3}, {"trigger": "fatigue", "count": 2}]
    assert f["relief"] == [
        {"measure": "stretching", "used": 2, "share_of_entries": 0.5, "helped_total": 5, "mean_helped": 2.5},
        {"measure": "heat", "used": 1, "share_of_entries": 0.25, "helped_total": 1, "mean_helped": 1.0},
    ]
    assert f["impact"] == {"walking": 2.5, "dressing": None, "sleeping": 2.0, "transfers": None, "pain": None}
    assert f["side_effects"] == [{"side_effect": "drowsiness", "count": 1}]
    assert f["red_flags"] == [{"red_flag": "fever", "count": 1}]


def test_month_counts_the_entry_after_midnight_that_the_week_does_not(patient, week_45):
    month = summary(patient, "month", "2026-11-01")
    next_week = summary(patient, "week", "2026-11-09")

    assert (month.entry_count, month.days_with_entries, month.period_end) == (5, 4, date(2026, 11, 30))
    assert month.figures["severity_mean"] == 5.0
    assert month.complete is False
    assert (next_week.entry_count, next_week.figures["time_of_day"]["night"]) == (1, 1)


def test_entries_across_a_daylight_saving_change_group_by_the_patients_own_day(record):
    toronto = PatientFactory(time_zone="America/Toronto")
    sydney = PatientFactory(time_zone="Australia/Sydney")
    record(
        toronto,
        [
            entry("2026-10-31T23:30:00-04:00", 3),  # Saturday, daylight time
            entry("2026-11-01T00:30:00-04:00", 4),  # Sunday, still daylight time
            entry("2026-11-01T23:30:00-05:00", 5),  # Sunday, standard time since 02:00
            entry("2026-11-02T00:10:00-05:00", 6),  # Monday: the next ISO week
        ],
    )
    record(
        sydney,
        [
            entry("2026-10-04T01:30:00+10:00", 7),  # Sunday before clocks go forward at 02:00
            entry("2026-10-04T03:30:00+11:00", 5),  # the same Sunday, an hour of sleep later
            entry("2026-10-05T00:15:00+11:00", 2),  # Monday locally, still Sunday in UTC
        ],
    )

    w44 = summary(toronto, "week", "2026-10-26")
    assert (w44.entry_count, w44.days_with_entries) == (3, 2)
    assert [w44.figures["time_of_day"]["by_hour"][h] for h in (0, 23)] == [1, 2]
    assert summary(toronto, "week", "2026-11-02").entry_count == 1
    assert (
        summary(toronto, "month", "2026-10-01").entry_count,
        summary(toronto, "month", "2026-11-01").entry_count,
    ) == (
        1,
        3,
    )
    w40 = summary(sydney, "week", "2026-09-28")
    assert (w40.entry_count, w40.days_with_entries, w40.severity_mean) == (2, 1, 6.0)
    assert [w40.figures["time_of_day"]["by_hour"][h] for h in (1, 3)] == [1, 1]
    assert summary(sydney, "week", "2026-10-05").figures["time_of_day"]["by_hour"][0] == 1


@pytest.mark.parametrize(
    ("later_severity", "mean", "direction", "relative"),
    [
        (9, 7.25, "worse", 0.261),  # +1.5 points, +26 %
        (7, 5.75, "unchanged", 0.0),
        (3, 2.75, "better", -0.522),
    ],
)
def test_change_against_the_previous_week_uses_the_documented_threshold(
    patient, week_45, record, later_severity, mean, direction, relative
):
    # W46 holds the entry at 00:01 on Monday 9 November (severity 2) and three more days.
    record(patient, daily(date(2026, 11, 10), date(2026, 11, 12), later_severity))

    week = summary(patient, "week", "2026-11-09")

    assert week.figures["change"]["previous_period"] == "2026-W45"
    assert week.figures["change"]["severity"] == {
        "before": 5.75,
        "after": mean,
        "relative": relative,
        "direction": direction,
    }
    assert week.direction == direction


def test_change_direction_for_known_means():
    assert compare(5.75, 7.0, enough_data=True)["direction"] == "worse"
    assert compare(5.75, 7.0, enough_data=True)["relative"] == 0.217
    assert compare(5.75, 6.5, enough_data=True)["direction"] == "unchanged"  # +13 %
    assert compare(2.0, 2.6, enough_data=True)["direction"] == "unchanged"  # +30 % but under one point
    assert compare(6.0, 4.0, enough_data=True)["direction"] == "better"
    assert compare(6.0, 4.0, enough_data=False)["direction"] == "not_enough_data"


def test_a_change_of_exactly_the_threshold_counts():
    assert compare(5.5, 6.6, enough_data=True)["direction"] == "worse"  # +20 % exactly, 1.1 points
    assert compare(5.0, 4.0, enough_data=True)["direction"] == "better"  # -20 % and -1 point exactly
    assert compare(3.0, 4.0, enough_data=True)["direction"] == "worse"  # 1 point exactly (+33 %)
    assert compare(7.1, 6.1, enough_data=True)["direction"] == "unchanged"  # 1 point, but -14 %
    assert compare(5.5, 6.59, enough_data=True)["direction"] == "unchanged"  # a hundredth short of 20 %


def expected_direction(before_cents: int, after_cents: int) -> str:
    """The documented rule in exact arithmetic, on means as shown (to the hundredth)."""
    move = Fraction(abs(after_cents - before_cents), 100)
    relative = Fraction(str(settings.TREND_CHANGE_RELATIVE))
    if move >= Fraction(str(settings.TREND_CHANGE_MIN_POINTS)) and move >= relative * Fraction(before_cents, 100):
        return "worse" if after_cents > before_cents else "better"
    return "unchanged"


def mean_of(entries: int, severity_sum: int) -> float | None:
    """A mean as the summaries hold it: a sum of severities over a number of entries."""
    return Core(entries, 1, severity_sum, None, 0, 0, 0, {}).severity_mean


MEANS = st.tuples(st.integers(1, 60), st.integers(0, 600)).filter(lambda n: n[1] <= 10 * n[0])


@hyp_settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=300)
@given(before=MEANS, after=MEANS)
def test_the_direction_of_means_of_any_entries_follows_the_rule_exactly(before, after):
    before_mean, after_mean = mean_of(*before), mean_of(*after)

    result = compare(before_mean, after_mean, enough_data=True)

    assert result["direction"] == expected_direction(round(before_mean * 100), round(after_mean * 100))


@hyp_settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=300)
@given(
    before_cents=st.integers(1, 200).map(lambda k: 5 * k),  # 20 % of these is a whole hundredth
    threshold=st.sampled_from(["relative", "points"]),
    sign=st.sampled_from([1, -1]),
    nudge=st.sampled_from([-1, 0, 1]),
)
def test_moves_at_the_thresholds_and_a_hundredth_either_side(before_cents, threshold, sign, nudge):
    step = before_cents // 5 if threshold == "relative" else 100
    after_cents = before_cents + sign * (step + nudge)
    assume(0 <= after_cents <= 1000)

    result = compare(before_cents / 100, after_cents / 100, enough_data=True)

    assert result["direction"] == expected_direction(before_cents, after_cents)


def test_a_week_with_too_few_diary_days_is_not_compared(patient, week_45, record):
    record(patient, daily(date(2026, 11, 16), date(2026, 11, 17), 9))  # 2 days in W47, fewer than 3

    assert summary(patient, "week", "2026-11-16").direction == "not_enough_data"


def test_median_of_an_even_and_odd_number_of_scores():
    assert median_from_histogram([0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0]) == 2.0  # scores 1 and 3
    assert median_from_histogram([0, 0, 2, 0, 0, 1, 0, 0, 0, 0, 0]) == 2.0  # 2, 2, 5
    assert median_from_histogram([0] * 11) is None


def test_adherence_counts_the_plan_version_in_force_on_each_day(patient, record):
    therapy = TherapyPlanFactory(patient=patient)
    TherapyActivityFactory(
        version=TherapyPlanVersionFactory(plan=therapy, effective_from=date(2026, 10, 1)), minutes=20, days_per_week=7
    )
    # A strengthening activity dosed in sets only has no minutes to count.
    TherapyActivityFactory(
        version=TherapyPlanVersionFactory(plan=therapy, effective_from=date(2026, 11, 5)),
        kind="stretching",
        minutes=10,
        days_per_week=7,
    )
    TherapyActivityFactory(
        version=therapy.versions.get(effective_from=date(2026, 11, 5)),
        kind="strengthening",
        minutes=None,
        sets=3,
        reps=10,
        days_per_week=3,
    )
    splint = OrthoticPlanFactory(patient=patient, device="night_splint")
    OrthoticPlanVersionFactory(plan=splint, effective_from=date(2026, 10, 1), hours_per_day=Decimal("8"))
    # Stretching minutes per day of W45; the splint worn 8 hours on every night but Sunday's.
    stretching = {2: 20, 3: 20, 4: 0, 5: 10, 6: 10, 7: 10, 8: 0}
    enroll(patient)
    services.record_adherence_logs(
        actor=patient.user,
        patient=patient,
        logs=[
            (
                n,
                {
                    "id": uuid.uuid4(),
                    "date": date(2026, 11, day),
                    # 30 minutes of heat, which is not in the plan, do not make up for stretching.
                    "therapy": {"stretching": minutes, **({"heat": 30} if day == 3 else {})},
                    "orthoses": {"night_splint": 8.0} if day != 8 else {},
                    "missed_doses": {},
                    "notes": "",
                },
            )
            for n, (day, minutes) in enumerate(stretching.items())
        ],
    )
    compute.recompute([patient.pk])

    therapy_figures = summary(patient, "week", "2026-11-02").figures["adherence"]["therapy"]
    orthoses = summary(patient, "week", "2026-11-02").figures["adherence"]["orthoses"]
    # Planned: 3 days x 20 min (version of 1 Oct), then 4 days x 10 min (version of 5 Nov) = 100.
    assert (therapy_figures["planned_minutes"], therapy_figures["logged_minutes"], therapy_figures["share"]) == (
        100.0,
        70.0,
        0.7,
    )
    assert {i["activity"]: i["share"] for i in therapy_figures["items"]} == {"heat": None, "stretching": 0.7}
    assert (orthoses["planned_hours"], orthoses["logged_hours"], orthoses["share"]) == (56.0, 48.0, 0.86)


def test_the_running_week_plans_only_the_days_so_far(patient, record):
    therapy = TherapyPlanFactory(patient=patient)
    TherapyActivityFactory(
        version=TherapyPlanVersionFactory(plan=therapy, effective_from=date(2026, 11, 1)), minutes=15, days_per_week=7
    )
    record(patient, daily(date(2026, 11, 23), date(2026, 11, 24), 4))

    week = summary(patient, "week", "2026-11-23")  # today is Wednesday 25 November

    assert (week.complete, week.figures["days_elapsed"]) == (False, 3)
    assert week.figures["adherence"]["therapy"]["planned_minutes"] == 45.0
