"""The clinical rules, pinned to the numbers of clinical-reference.md."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinic.clinical_rules import (
    Injection,
    PastSession,
    gas_t_score,
    months_before,
    next_injection_allowed_on,
    oral_dose_breaches,
    project_reservoir,
    toxin_session_breaches,
)

D = Decimal


@pytest.mark.parametrize(
    ("drug", "dose", "times", "allowed"),
    [
        ("baclofen", "20", 4, True),  # 80 mg/day, the label maximum (DBAC)
        ("baclofen", "21.25", 4, False),
        ("tizanidine", "12", 3, True),  # 36 mg/day (DTIZ)
        ("tizanidine", "9.5", 4, False),  # 38 mg/day, and 4 doses
        ("dantrolene", "100", 4, True),  # 400 mg/day (DANT)
        ("dantrolene", "101", 4, False),
        ("diazepam", "10", 4, True),  # 40 mg/day (DIAZ)
        ("diazepam", "10.5", 4, False),
        ("clonazepam", "5", 4, True),  # 20 mg/day (DCLON)
        ("clonazepam", "7", 3, False),
        ("gabapentin", "1200", 3, True),  # 3600 mg/day (GABA)
        ("gabapentin", "1300", 3, False),
    ],
)
def test_oral_daily_maxima(drug, dose, times, allowed):
    assert (oral_dose_breaches(drug, D(dose), times) == []) is allowed


def test_oral_breach_names_the_limit_and_its_source():
    (breach,) = oral_dose_breaches("baclofen", D("30"), 3)

    assert breach.field == "dose_mg"
    assert "90 mg a day" in breach.message
    assert "80 mg a day" in breach.message
    assert "DBAC" in breach.message


def test_tizanidine_at_most_three_doses_and_16_mg_at_once():
    assert [b.field for b in oral_dose_breaches("tizanidine", D("4"), 4)] == ["times_per_day"]
    assert [b.field for b in oral_dose_breaches("tizanidine", D("18"), 2)] == ["dose_mg"]
    assert oral_dose_breaches("tizanidine", D("16"), 2) == []


def session(product, *sites, on=date(2026, 11, 2), others=(), units_per_ml=None):
    injections = [Injection(m, side, D(u), p) for m, side, u, p in sites]
    return toxin_session_breaches(
        product=product, injected_on=on, injections=injections, units_per_ml=units_per_ml, other_sessions=others
    )


def test_onabotulinumtoxina_400_units_per_session():
    assert session("onabotulinumtoxinA", ("soleus", "left", 200, 2), ("gastrocnemius", "left", 200, 4)) == []
    (breach,) = session("onabotulinumtoxinA", ("soleus", "left", 250, 2), ("gastrocnemius", "left", 175, 4))
    assert "425 U is above the 400 U maximum per session" in breach.message
    assert "BTX" in breach.message


def test_onabotulinumtoxina_counts_every_session_in_the_interval():
    # An earlier session overridden into the 3 months counts towards the 400 U with this one.
    earlier = [PastSession(date(2026, 9, 1), "onabotulinumtoxinA", D(300))]

    breaches = session("onabotulinumtoxinA", ("soleus", "left", 150, 2), on=date(2026, 11, 2), others=earlier)

    assert [b.field for b in breaches] == ["sites", "injected_on"]
    assert "450 U in the 3 months from 2026-08-03 to 2026-11-02 is above 400 U (BTX" in breaches[0].message


def test_sessions_3_calendar_months_apart_may_each_give_the_maximum():
    # "400 U cumulative in a 3-month interval" [BTX]: the window of 2026-11-02 counts sessions
    # after 2026-08-02, so one on 2026-08-02 is outside it and one on 2026-08-03 inside.
    outside = [PastSession(date(2026, 8, 2), "onabotulinumtoxinA", D(400))]
    inside = [PastSession(date(2026, 8, 3), "onabotulinumtoxinA", D(400))]

    assert session("onabotulinumtoxinA", ("soleus", "left", 400, 4), on=date(2026, 11, 2), others=outside) == []
    (breach,) = session("onabotulinumtoxinA", ("soleus", "left", 400, 4), on=date(2026, 11, 2), others=inside)
    assert "800 U in the 3 months from 2026-08-03 to 2026-11-02 is above 400 U" in breach.message


def test_12_weeks_after_a_full_onabotulinumtoxina_session_the_interval_allows_but_the_window_does_not():
    # 84 days after 2026-08-10 is 2026-11-02: re-treatment is allowed, but 2026-08-10 is within
    # the 3 months before it, so together with the 400 U then, 1 U more is over the label.
    earlier = [PastSession(date(2026, 8, 10), "onabotulinumtoxinA", D(400))]

    (breach,) = session("onabotulinumtoxinA", ("soleus", "left", 1, 1), on=date(2026, 11, 2), others=earlier)

    assert breach.field == "sites"
    assert "401 U in the 3 months from 2026-08-03 to 2026-11-02" in breach.message


def test_the_3_month_window_ends_on_the_same_day_of_the_month_clamped_to_the_month_end():
    assert months_before(date(2026, 11, 2), 3) == date(2026, 8, 2)
    assert months_before(date(2026, 5, 31), 3) == date(2026, 2, 28)
    assert months_before(date(2028, 5, 31), 3) == date(2028, 2, 29)
    assert months_before(date(2026, 1, 15), 3) == date(2025, 10, 15)
    # A session on 2026-05-31 counts those after 2026-02-28, not the one on that day.
    on_the_edge = [PastSession(date(2026, 2, 28), "onabotulinumtoxinA", D(400))]
    day_after = [PastSession(date(2026, 3, 1), "onabotulinumtoxinA", D(400))]
    assert session("onabotulinumtoxinA", ("soleus", "left", 10, 1), on=date(2026, 5, 31), others=on_the_edge) == []
    assert session("onabotulinumtoxinA", ("soleus", "left", 10, 1), on=date(2026, 5, 31), others=day_after)


def test_a_back_dated_session_is_held_to_the_interval_before_the_next_one():
    later = [PastSession(date(2026, 11, 1), "onabotulinumtoxinA", D(300))]

    too_close = session("onabotulinumtoxinA", ("soleus", "left", 100, 2), on=date(2026, 10, 1), others=later)
    far_enough = session("onabotulinumtoxinA", ("soleus", "left", 100, 2), on=date(2026, 8, 9), others=later)

    assert [b.field for b in too_close] == ["injected_on"]
    assert "A later session is on record on 2026-11-01; a session before it must be on or before 2026-08-09" in (
        too_close[0].message
    )
    assert far_enough == []


def test_a_back_dated_session_counts_in_every_3_month_window_that_holds_it():
    # 2026-08-10 is 84 days before 2026-11-02 (the interval is met), but inside the window of
    # the later 300 U session (after 2026-08-02): 150 + 300 = 450 U.
    later = [PastSession(date(2026, 11, 2), "onabotulinumtoxinA", D(300))]

    (breach,) = session("onabotulinumtoxinA", ("soleus", "left", 150, 2), on=date(2026, 8, 10), others=later)

    assert "450 U in the 3 months from 2026-08-03 to 2026-11-02 is above 400 U" in breach.message
    # Other products' units are never added (not convertible): 300 U of Dysport later is no matter.
    dysport = [PastSession(date(2026, 11, 2), "abobotulinumtoxinA", D(300))]
    assert session("onabotulinumtoxinA", ("soleus", "left", 150, 2), on=date(2026, 8, 10), others=dysport) == []


def test_incobotulinumtoxina_counts_per_session_only():
    # "400 U cumulative per session" [XEO]: no window across sessions.
    earlier = [PastSession(date(2026, 8, 10), "incobotulinumtoxinA", D(400))]

    assert session("incobotulinumtoxinA", ("soleus", "left", 400, 4), on=date(2026, 11, 2), others=earlier) == []


def test_units_are_never_converted_between_products():
    big_dose = [("soleus", "left", 600, 4), ("gastrocnemius", "left", 600, 6)]

    assert session("abobotulinumtoxinA", *big_dose) == []
    assert session("onabotulinumtoxinA", *big_dose)
    assert session("incobotulinumtoxinA", *big_dose)


def test_abobotulinumtoxina_limb_and_session_limits():
    upper = ("biceps_brachii", "left", 1001, 10)
    assert ["1001 U in the upper limb is above 1000 U" in b.message for b in session("abobotulinumtoxinA", upper)] == [
        True
    ]
    lower = [("soleus", "left", 800, 8), ("gastrocnemius", "right", 800, 8)]
    messages = [b.message for b in session("abobotulinumtoxinA", *lower)]
    assert any("1600 U is above the 1500 U maximum per session" in m for m in messages)
    assert any("1600 U in the lower limb is above 1500 U" in m for m in messages)


def test_abobotulinumtoxina_at_most_one_ml_per_injection_point():
    # 500 U at 200 U/mL is 2.5 mL: over 2 points 1.25 mL each, over 3 points 0.83 mL.
    assert session("abobotulinumtoxinA", ("soleus", "left", 500, 3), units_per_ml=D(200)) == []
    (breach,) = session("abobotulinumtoxinA", ("soleus", "left", 500, 2), units_per_ml=D(200))
    assert "1.25 mL per injection point is above 1 mL" in breach.message


def test_re_treatment_no_sooner_than_12_weeks():
    earlier = [PastSession(date(2026, 8, 10), "onabotulinumtoxinA", D(100))]

    too_soon = session("onabotulinumtoxinA", ("soleus", "left", 100, 2), on=date(2026, 11, 1), others=earlier)
    on_time = session("onabotulinumtoxinA", ("soleus", "left", 100, 2), on=date(2026, 11, 2), others=earlier)

    assert [b.field for b in too_soon] == ["injected_on"]
    assert "next is allowed from 2026-11-02 (12 weeks" in too_soon[0].message
    assert on_time == []
    assert next_injection_allowed_on(date(2026, 8, 10), "abobotulinumtoxinA") == date(2026, 11, 2)


def test_rimabotulinumtoxinb_is_off_label_for_spasticity():
    (breach,) = session("rimabotulinumtoxinB", ("soleus", "left", 2500, 4))

    assert breach.field == "product"
    assert "no spasticity indication" in breach.message


def test_incobotulinumtoxina_400_units_per_session():
    assert session("incobotulinumtoxinA", ("flexor_carpi_radialis", "right", 400, 4)) == []
    assert session("incobotulinumtoxinA", ("flexor_carpi_radialis", "right", 401, 4))


def test_reservoir_example_of_the_reference_is_90_days():
    # 20 mL of 2000 mcg/mL at 400 mcg/day uses 0.2 mL a day: (20 - 2) / 0.2 = 90 days.
    projection = project_reservoir(
        refilled_on=date(2026, 1, 1),
        volume_ml=D(20),
        concentration_mcg_per_ml=2000,
        alarm_ml=D(2),
        doses=[(date(2025, 6, 1), D(400))],
        today=date(2026, 1, 11),
    )

    assert projection.alarm_on == date(2026, 4, 1)
    assert projection.remaining_ml_today == D("18.0")
    assert projection.daily_use_ml_now == D("0.200")


def test_reservoir_projection_follows_a_dose_change_between_refills():
    # 30 days at 0.2 mL/day leaves 14 mL; then 0.25 mL/day reaches 2 mL after 48 more days.
    projection = project_reservoir(
        refilled_on=date(2026, 1, 1),
        volume_ml=D(20),
        concentration_mcg_per_ml=2000,
        alarm_ml=D(2),
        doses=[(date(2025, 6, 1), D(400)), (date(2026, 1, 31), D(500))],
        today=date(2026, 2, 10),
    )

    assert projection.alarm_on == date(2026, 3, 20)
    assert projection.remaining_ml_today == D("11.5")


def test_reservoir_projection_rounds_part_days_to_the_earlier_date():
    # (20 - 2) / (350 / 2000) = 102.86 days: the alarm is projected on day 102.
    projection = project_reservoir(
        refilled_on=date(2026, 1, 1),
        volume_ml=D(20),
        concentration_mcg_per_ml=2000,
        alarm_ml=D(2),
        doses=[(date(2025, 6, 1), D(350))],
        today=date(2026, 1, 1),
    )

    assert projection.alarm_on == date(2026, 1, 1) + timedelta(days=102)


def test_no_dose_means_no_alarm_date():
    projection = project_reservoir(
        refilled_on=date(2026, 1, 1),
        volume_ml=D(20),
        concentration_mcg_per_ml=2000,
        alarm_ml=D(2),
        doses=[],
        today=date(2026, 1, 5),
    )

    assert projection.alarm_on is None


@given(
    low=st.integers(min_value=50, max_value=900),
    extra=st.integers(min_value=1, max_value=500),
    volume=st.integers(min_value=5, max_value=40),
    concentration=st.sampled_from([500, 1000, 2000]),
)
def test_a_higher_dose_never_projects_a_later_alarm(low, extra, volume, concentration):
    def alarm(dose: int) -> date | None:
        return project_reservoir(
            refilled_on=date(2026, 1, 1),
            volume_ml=D(volume),
            concentration_mcg_per_ml=concentration,
            alarm_ml=D(2),
            doses=[(date(2026, 1, 1), D(dose))],
            today=date(2026, 1, 1),
        ).alarm_on

    assert alarm(low + extra) <= alarm(low)


@pytest.mark.parametrize(
    ("levels_and_weights", "expected"),
    [
        ([(-1, 1)], 40.00),
        ([(0, 1), (0, 1), (0, 1)], 50.00),
        ([(-1, 1), (-1, 1), (-1, 1)], 36.31),
        ([(1, 1), (0, 1), (1, 1)], 59.13),
        ([(2, 1), (2, 1), (2, 1)], 77.39),
        ([(-2, 1), (-2, 1), (-2, 1)], 22.61),
        ([(1, 3), (-1, 1)], 55.82),
    ],
)
def test_gas_t_scores_match_the_reference_vectors(levels_and_weights, expected):
    assert round(gas_t_score(levels_and_weights), 2) == expected
