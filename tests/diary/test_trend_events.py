"""Before/after comparisons around dose changes and injections, wear-off, regions, side effects."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from diary import tasks
from diary.models import Alert, TrendEventComparison
from diary.trends import compute
from tests.diary.conftest import daily, entry
from tests.factories import (
    BotulinumSessionFactory,
    InjectionSiteFactory,
    ItbDoseFactory,
    ItbPumpFactory,
    MedicationDoseFactory,
    MedicationRegimenFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("now")]

CHANGE = date(2026, 9, 15)


def comparison(kind: str, ref) -> TrendEventComparison:
    return TrendEventComparison.objects.get(event_kind=kind, event_ref=str(ref))


@pytest.fixture
def dose_change(patient):
    regimen = MedicationRegimenFactory(patient=patient)
    MedicationDoseFactory(regimen=regimen, effective_from=date(2026, 6, 1), dose_mg=Decimal("10"))
    return MedicationDoseFactory(regimen=regimen, effective_from=CHANGE, dose_mg=Decimal("15"))


def test_before_after_uses_the_4_weeks_before_and_weeks_2_to_8_after(patient, record, dose_change):
    record(
        patient,
        [
            entry("2026-08-17T09:00:00-04:00", 10),  # day -29: outside the before window
            *daily(date(2026, 8, 18), date(2026, 9, 14), 6, offset="-04:00", spasms=4),  # days -28..-1
            *daily(CHANGE, date(2026, 9, 21), 9, offset="-04:00"),  # week 1: excluded from both sides
            *daily(date(2026, 9, 22), date(2026, 11, 9), 3, offset="-04:00", spasms=1),  # days 7..55
            entry("2026-11-10T09:00:00-05:00", 10),  # day 56: after the window
        ],
    )

    row = comparison("medication_dose", dose_change.pk)
    f = row.figures
    assert row.title == "Baclofen 15 mg x 3/day (was 10 mg x 3/day)"
    assert (f["before"]["from"], f["before"]["to"], f["after"]["from"], f["after"]["to"]) == (
        "2026-08-18",
        "2026-09-14",
        "2026-09-22",
        "2026-11-09",
    )
    assert (f["before"]["entries"], f["before"]["days_with_entries"], f["before"]["severity_mean"]) == (28, 28, 6.0)
    assert (f["after"]["entries"], f["after"]["days_with_entries"], f["after"]["severity_mean"]) == (49, 49, 3.0)
    assert f["spasms_per_day"] == {"before": 4.0, "after": 1.0}
    assert f["severity"] == {"before": 6.0, "after": 3.0, "relative": -0.5, "direction": "better"}
    assert (row.enough_data, row.direction, f["after"]["complete"]) == (True, "better", True)


def test_the_after_side_is_complete_once_its_last_day_has_passed(patient, record, dose_change):
    day_55 = CHANGE + timedelta(days=55)  # 9 November, the last day of the "after" window
    with time_machine.travel(datetime.fromisoformat("2026-11-09T17:00:00+00:00"), tick=False):
        record(patient, daily(date(2026, 8, 18), day_55, 5, offset="-04:00"))
    row = comparison("medication_dose", dose_change.pk)
    assert (row.figures["after"]["to"], row.figures["after"]["complete"]) == ("2026-11-09", False)

    tasks.recompute_all_trends()  # 25 November, day 71: no new entry, but the window has closed

    row.refresh_from_db()
    assert (row.figures["after"]["to"], row.figures["after"]["complete"]) == ("2026-11-09", True)


def test_too_few_diary_days_after_says_not_enough_data(patient, record, dose_change):
    record(
        patient,
        [
            *daily(date(2026, 8, 18), date(2026, 9, 14), 6, offset="-04:00"),
            *daily(date(2026, 9, 22), date(2026, 9, 27), 3, offset="-04:00"),  # 6 days, one short
        ],
    )

    row = comparison("medication_dose", dose_change.pk)

    assert (row.enough_data, row.direction) == (False, "not_enough_data")
    assert row.figures["after"]["entries"] == 6
    assert row.figures["severity"]["direction"] == "not_enough_data"
    assert (
        row.figures["not_enough_data"]
        == "Needs diary entries on at least 7 days on each side: 28 days before, 6 days after."
    )


def test_side_effects_reported_after_a_dose_increase(patient, record, dose_change):
    record(
        patient,
        [
            *daily(date(2026, 8, 18), date(2026, 9, 14), 5, offset="-04:00"),
            entry("2026-09-01T09:30:00-04:00", 5, side_effects=["dizziness"]),
            entry("2026-09-16T09:30:00-04:00", 5, side_effects=["drowsiness", "dizziness"]),
            entry("2026-09-18T21:00:00-04:00", 5, side_effects=["drowsiness"]),
            entry("2026-10-14T09:30:00-04:00", 5, side_effects=["weakness"]),  # day 29: after the 28 days
        ],
    )

    side_effects = comparison("medication_dose", dose_change.pk).figures["side_effects"]

    assert side_effects == {
        "days": 28,
        "before": {"dizziness": 1},
        "after": {"dizziness": 1, "drowsiness": 2},
        "new_or_more": ["drowsiness"],
    }


def test_pump_dose_changes_are_compared_too(patient, record):
    pump = ItbPumpFactory(patient=patient)
    ItbDoseFactory(pump=pump, effective_from=date(2025, 3, 1), daily_dose_mcg=Decimal("400"))
    change = ItbDoseFactory(pump=pump, effective_from=CHANGE, daily_dose_mcg=Decimal("450"))
    record(patient, daily(date(2026, 8, 18), date(2026, 11, 9), 5, offset="-04:00"))

    row = comparison("itb_dose", change.pk)

    assert row.title == "Intrathecal baclofen 450 mcg/day (was 400)"
    assert (row.direction, row.figures["severity"]["relative"]) == ("unchanged", 0.0)


@pytest.fixture
def injection(patient):
    """Onabotulinumtoxin A into the left calf on Monday 3 August; re-injection allowed 84 days later."""
    session = BotulinumSessionFactory(patient=patient, injected_on=date(2026, 8, 3))
    InjectionSiteFactory(session=session, muscle="gastrocnemius_medial_head", side="left", units=Decimal("100"))
    InjectionSiteFactory(session=session, muscle="soleus", side="left", units=Decimal("75"))
    return session


def weeks_after(session, severities: list[int], **fields):
    """One entry a day, week by week from the injection day, with the given severity per week."""
    entries = []
    for week, severity in enumerate(severities):
        first = session.injected_on + timedelta(weeks=week)
        entries += daily(first, first + timedelta(days=6), severity, offset="-04:00", **fields)
    return entries


def test_wear_off_before_the_allowed_reinjection_is_detected_and_alerted(patient, record, injection):
    record(
        patient,
        [
            *daily(date(2026, 7, 6), date(2026, 8, 2), 7, offset="-04:00", body_regions=["left_calf"]),
            # Week 1 settling, weeks 2-6 at their best (3), then climbing back: half way to 7 is 5.
            *weeks_after(injection, [6, 3, 3, 3, 3, 3, 4, 5, 6], body_regions=["left_foot"]),
        ],
    )

    wear = comparison("botulinum_session", injection.pk).figures["wear_off"]

    assert (wear["responded"], wear["best_week"], wear["best_mean"], wear["threshold_mean"]) == (True, 2, 3.0, 5.0)
    assert (wear["detected"], wear["week"], wear["from_day"]) == (True, 8, "2026-09-21")
    assert (wear["next_injection_allowed_on"], wear["before_allowed"]) == ("2026-10-26", True)
    alert = Alert.objects.get(kind=Alert.Kind.INJECTION_WEAR_OFF)
    assert alert.dedupe_key == f"injection_wear_off:{injection.pk}"
    assert (alert.priority, alert.details["wear_off_from"], alert.details["severity_before"]) == (
        "high",
        "2026-09-21",
        7.0,
    )


def test_a_session_that_did_not_help_has_no_wear_off(patient, record, injection):
    record(
        patient,
        [
            *daily(date(2026, 7, 6), date(2026, 8, 2), 5, offset="-04:00"),
            *weeks_after(injection, [5, 5, 5, 5, 5, 5, 6, 7, 7]),
        ],
    )

    row = comparison("botulinum_session", injection.pk)

    assert (row.direction, row.figures["wear_off"]["responded"], row.figures["wear_off"]["detected"]) == (
        "unchanged",
        False,
        False,
    )
    assert not Alert.objects.filter(kind=Alert.Kind.INJECTION_WEAR_OFF).exists()


def test_regions_still_reported_after_injection_against_the_injected_limb_and_side(patient, record, injection):
    record(
        patient,
        [
            *daily(date(2026, 7, 6), date(2026, 8, 2), 7, offset="-04:00", body_regions=["left_calf", "left_ankle"]),
            *daily(date(2026, 8, 10), date(2026, 8, 23), 3, offset="-04:00", body_regions=["left_ankle"]),
            *daily(date(2026, 8, 24), date(2026, 9, 27), 3, offset="-04:00", body_regions=["right_hand"]),
        ],
    )

    regions = comparison("botulinum_session", injection.pk).figures["regions"]

    (left_leg,) = regions["injected"]
    assert (left_leg["limb"], left_leg["side"], left_leg["muscles"]) == (
        "lower",
        "left",
        ["gastrocnemius_medial_head", "soleus"],
    )
    assert left_leg["still_reported"] == ["left_ankle"]
    assert left_leg["regions"] == [
        {"body_region": "left_ankle", "before": 28, "after": 14, "before_share": 1.0, "after_share": 0.29},
        {"body_region": "left_calf", "before": 28, "after": 0, "before_share": 1.0, "after_share": 0.0},
    ]
    assert [r["body_region"] for r in regions["elsewhere_after"]] == ["right_hand"]


def test_a_voided_session_loses_its_comparison(patient, record, injection):
    record(patient, daily(date(2026, 7, 6), date(2026, 8, 20), 5, offset="-04:00"))
    assert TrendEventComparison.objects.filter(event_ref=str(injection.pk)).exists()

    injection.voided_at = injection.created_at
    injection.save()
    compute.recompute([patient.pk])

    assert not TrendEventComparison.objects.filter(event_ref=str(injection.pk)).exists()
