"""Signals from trends: worsening weeks, doubled spasms, silence; each raised once, with its numbers."""

from datetime import date, datetime, timedelta

import pytest
import time_machine
from django.core import mail

from diary import tasks
from diary.models import Alert, TrendSummary
from diary.trends import compute, signals
from tests.conftest import enroll
from tests.diary.conftest import NOW, daily, entry
from tests.factories import PatientFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("now")]


def three_days(monday: date, severity: int, spasms: int | None = None) -> list:
    return daily(monday, monday + timedelta(days=2), severity, spasms=spasms)


def run_signals(*patients) -> list[Alert]:
    result = compute.recompute([p.pk for p in patients])
    return signals.raise_signals(
        patient_ids=[p.pk for p in patients], todays=result.todays, comparisons=result.comparisons
    )


def test_severity_worse_two_complete_weeks_running_raises_one_alert(patient, record):
    # W45 mean 3, W46 4.5 (+50 %, +1.5), W47 6 (+33 %, +1.5); today is in W48.
    record(
        patient,
        [
            *three_days(date(2026, 11, 2), 3),
            *daily(date(2026, 11, 9), date(2026, 11, 10), 4),
            *daily(date(2026, 11, 11), date(2026, 11, 12), 5),
            *three_days(date(2026, 11, 16), 6),
        ],
    )

    alert = Alert.objects.get(kind=Alert.Kind.SEVERITY_WORSENING)

    assert alert.priority == "high"
    assert alert.dedupe_key == f"severity_worsening:{patient.pk}:2026-11-16"
    assert alert.details["weeks"] == ["2026-W45", "2026-W46", "2026-W47"]
    assert alert.details["severity_means"] == [3.0, 4.5, 6.0]
    assert alert.details["relative_changes"] == [0.5, 0.333]
    assert alert.title == "Severity worse two weeks running (3 → 4.5 → 6)"
    assert run_signals(patient) == []  # recomputing raises nothing new
    assert Alert.objects.filter(kind=Alert.Kind.SEVERITY_WORSENING).count() == 1


def test_one_worse_week_is_not_a_worsening_signal(patient, record):
    record(patient, [*three_days(date(2026, 11, 9), 3), *three_days(date(2026, 11, 16), 6)])

    assert not Alert.objects.filter(kind=Alert.Kind.SEVERITY_WORSENING).exists()


def test_spasms_doubling_in_the_last_complete_week_raises_an_alert(patient, record):
    record(patient, [*three_days(date(2026, 11, 9), 4, spasms=2), *three_days(date(2026, 11, 16), 4, spasms=5)])

    alert = Alert.objects.get(kind=Alert.Kind.SPASMS_DOUBLED)

    assert alert.details["spasms_per_day"] == [2.0, 5.0]
    assert alert.details["ratio"] == 2.5
    assert alert.dedupe_key == f"spasms_doubled:{patient.pk}:2026-11-16"


def without_counts(monday: date, days: int, severity: int = 4) -> list:
    """Entries on the days after the first three of a week that leave the spasm count out."""
    return daily(monday + timedelta(days=3), monday + timedelta(days=2 + days), severity)


def test_days_whose_entries_leave_the_spasm_count_out_do_not_dilute_the_rate(patient, record):
    # W46: 3 spasms on each of 3 days, and 3 days without a count (1.5 a day if those were 0);
    # W47: the same 3 a day. Nothing doubled.
    record(
        patient,
        [
            *three_days(date(2026, 11, 9), 4, spasms=3),
            *without_counts(date(2026, 11, 9), 3),
            *three_days(date(2026, 11, 16), 4, spasms=3),
        ],
    )

    w46 = TrendSummary.objects.get(patient=patient, granularity="week", period_start=date(2026, 11, 9))
    assert (w46.spasms_per_day, w46.figures["days_with_spasm_counts"], w46.days_with_entries) == (3.0, 3, 6)
    assert not Alert.objects.filter(kind=Alert.Kind.SPASMS_DOUBLED).exists()


def test_a_doubling_is_seen_through_days_without_a_count(patient, record):
    # W46: 2 a day; W47: 5 a day on 3 days, and 3 days without a count (2.5 a day if those were 0).
    record(
        patient,
        [
            *three_days(date(2026, 11, 9), 4, spasms=2),
            *three_days(date(2026, 11, 16), 4, spasms=5),
            *without_counts(date(2026, 11, 16), 3),
        ],
    )

    assert Alert.objects.get(kind=Alert.Kind.SPASMS_DOUBLED).details["spasms_per_day"] == [2.0, 5.0]


def test_spasms_from_none_to_many_raise_an_alert_against_the_floor_of_one_a_day(patient, record):
    record(patient, [*three_days(date(2026, 11, 9), 4, spasms=0), *three_days(date(2026, 11, 16), 4, spasms=12)])

    alert = Alert.objects.get(kind=Alert.Kind.SPASMS_DOUBLED)
    assert (alert.details["spasms_per_day"], alert.details["ratio"], alert.details["baseline_floor"]) == (
        [0.0, 12.0],
        12.0,
        1.0,
    )


@pytest.mark.parametrize("first_week", [[0, 0, 0], [1, 0, 0]], ids=["none", "a-third-a-day"])
def test_spasms_from_under_one_a_day_must_reach_two_a_day(patient, record, first_week):
    # W46: none, or one spasm in 3 days (0.33 a day); W47: 1 a day, three times as many but not 2 a day.
    record(
        patient,
        [
            *[entry(f"2026-11-{9 + n:02d}T09:00:00-05:00", 4, spasms=count) for n, count in enumerate(first_week)],
            *three_days(date(2026, 11, 16), 4, spasms=1),
        ],
    )

    assert not Alert.objects.filter(kind=Alert.Kind.SPASMS_DOUBLED).exists()


def test_spasms_counted_on_too_few_days_are_not_compared(patient, record):
    # W46 has 3 diary days but spasms counted on one of them only.
    record(
        patient,
        [
            entry("2026-11-09T09:00:00-05:00", 4, spasms=1),
            *daily(date(2026, 11, 10), date(2026, 11, 11), 4),
            *three_days(date(2026, 11, 16), 4, spasms=6),
        ],
    )

    w47 = TrendSummary.objects.get(patient=patient, granularity="week", period_start=date(2026, 11, 16))
    assert w47.figures["change"]["spasms_per_day"] == {"before": 1.0, "after": 6.0, "ratio": None}
    assert not Alert.objects.filter(kind=Alert.Kind.SPASMS_DOUBLED).exists()


def test_a_high_priority_trend_alert_is_emailed_to_staff_once(patient, record, staff):
    staff("clinician", email="doc@c.test")
    record(patient, [*three_days(date(2026, 11, 9), 4, spasms=2), *three_days(date(2026, 11, 16), 4, spasms=5)])

    alert = Alert.objects.get(kind=Alert.Kind.SPASMS_DOUBLED)
    assert (alert.needs_notification, alert.notified_at is not None) == (True, True)
    assert len(mail.outbox) == 1
    assert {"doc@c.test", patient.clinic.notification_email} <= set(mail.outbox[0].to)
    assert "Spasms per day up 2.5x" in mail.outbox[0].subject

    tasks.recompute_all_trends()  # the next night finds the same week: nothing new to send

    assert len(mail.outbox) == 1


def test_a_routine_trend_alert_is_not_emailed(patient, record):
    with time_machine.travel(NOW - timedelta(days=14), tick=False):
        record(patient, daily(date(2026, 11, 9), date(2026, 11, 11), 4))

    run_signals(patient)

    assert Alert.objects.get(kind=Alert.Kind.DIARY_SILENT).needs_notification is False
    assert mail.outbox == []


def test_spasms_up_by_less_than_double_raise_nothing(patient, record):
    record(patient, [*three_days(date(2026, 11, 9), 4, spasms=2), *three_days(date(2026, 11, 16), 4, spasms=3)])

    assert not Alert.objects.filter(kind=Alert.Kind.SPASMS_DOUBLED).exists()


def test_an_active_enrolled_patient_silent_for_14_days_raises_one_alert(patient, record):
    with time_machine.travel(NOW - timedelta(days=14), tick=False):  # sent on 11 November, 14 days ago
        record(patient, daily(date(2026, 11, 9), date(2026, 11, 11), 4))

    run_signals(patient)
    run_signals(patient)

    alert = Alert.objects.get(kind=Alert.Kind.DIARY_SILENT)
    assert (alert.priority, alert.details["days_without_entries"], alert.details["last_entry_day"]) == (
        "routine",
        14,
        "2026-11-11",
    )


def test_13_days_of_silence_or_an_inactive_or_unenrolled_patient_raise_nothing(patient, record, settings):
    with time_machine.travel(NOW - timedelta(days=13), tick=False):  # sent on 12 November, 13 days ago
        record(patient, daily(date(2026, 11, 10), date(2026, 11, 12), 4))
    discharged = PatientFactory(clinic=patient.clinic)
    enroll(discharged)
    discharged.is_active = False
    discharged.save()
    never_enrolled = PatientFactory(clinic=patient.clinic)
    with time_machine.travel(NOW + timedelta(days=30), tick=False):
        run_signals(discharged, never_enrolled)

    run_signals(patient)

    assert not Alert.objects.filter(kind=Alert.Kind.DIARY_SILENT).exists()
    settings.TREND_SILENT_DAYS = 13  # one day less, and the same 13 days are silence
    run_signals(patient)
    assert Alert.objects.get(kind=Alert.Kind.DIARY_SILENT).details["days_without_entries"] == 13


def test_silence_is_counted_in_the_patients_own_days(patient, record):
    # Sent at 21:30 in Toronto on 10 November, already 11 November in UTC.
    with time_machine.travel(datetime.fromisoformat("2026-11-11T02:30:00+00:00"), tick=False):
        record(patient, daily(date(2026, 11, 8), date(2026, 11, 10), 4, hour=21))

    # 21:00 on 24 November in Toronto (25 November in UTC): 14 of the patient's days later.
    with time_machine.travel(datetime.fromisoformat("2026-11-25T02:00:00+00:00"), tick=False):
        run_signals(patient)

    alert = Alert.objects.get(kind=Alert.Kind.DIARY_SILENT)
    assert (alert.details["days_without_entries"], alert.dedupe_key) == (14, f"diary_silent:{patient.pk}:2026-11-10")


def test_a_phone_enrolled_yesterday_is_not_silent_however_old_the_record(clinic):
    with time_machine.travel(datetime.fromisoformat("2026-01-05T12:00:00+00:00"), tick=False):
        newcomer = PatientFactory(clinic=clinic)  # registered in January
    enroll(newcomer)  # the phone enrolled on 25 November, no entry yet

    with time_machine.travel(NOW + timedelta(days=1), tick=False):
        tasks.recompute_all_trends()
    assert not Alert.objects.filter(kind=Alert.Kind.DIARY_SILENT).exists()

    with time_machine.travel(NOW + timedelta(days=14), tick=False):
        tasks.recompute_all_trends()
        tasks.recompute_all_trends()
    alert = Alert.objects.get(kind=Alert.Kind.DIARY_SILENT)
    assert (alert.details["days_without_entries"], alert.details["last_entry_day"]) == (14, None)
    assert alert.dedupe_key == f"diary_silent:{newcomer.pk}:2026-11-25"


def test_a_phone_enrolled_again_counts_silence_from_the_new_enrollment(patient, record):
    with time_machine.travel(NOW - timedelta(days=40), tick=False):
        record(patient, daily(date(2026, 10, 12), date(2026, 10, 14), 4))
    with time_machine.travel(NOW - timedelta(days=5), tick=False):
        enroll(patient, device="new phone")  # the old phone was lost

    run_signals(patient)

    assert not Alert.objects.filter(kind=Alert.Kind.DIARY_SILENT).exists()


def test_a_backlog_sent_today_by_a_phone_that_was_offline_is_not_silence(patient, record):
    record(patient, daily(date(2026, 10, 20), date(2026, 11, 3), 4))  # kept on the phone, sent today

    run_signals(patient)

    assert not Alert.objects.filter(kind=Alert.Kind.DIARY_SILENT).exists()


def test_the_nightly_task_raises_silence_for_patients_without_new_entries(patient, record):
    with time_machine.travel(NOW - timedelta(days=22), tick=False):
        record(patient, daily(date(2026, 11, 1), date(2026, 11, 3), 4))
    Alert.objects.filter(kind=Alert.Kind.DIARY_SILENT).delete()  # the upload's own recompute raised it

    assert tasks.recompute_all_trends() >= 1

    assert Alert.objects.filter(kind=Alert.Kind.DIARY_SILENT, patient=patient).count() == 1
