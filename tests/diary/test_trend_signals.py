"""Signals from trends: worsening weeks, doubled spasms, silence; each raised once, with its numbers."""

from datetime import date, timedelta

import pytest
import time_machine

from diary import tasks
from diary.models import Alert
from diary.trends import compute, signals
from tests.conftest import enroll
from tests.diary.conftest import NOW, daily
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


def test_13_days_of_silence_or_an_inactive_or_unenrolled_patient_raise_nothing(patient, record):
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
