"""Intrathecal baclofen: implant, doses, refills, the reservoir projection and the refill reminders."""

from datetime import date
from decimal import Decimal

import pytest
import time_machine

from clinic.models import AuditEvent, ItbDose, ItbPump, ItbRefill
from diary import tasks
from diary.models import Alert
from tests.factories import ItbDoseFactory, ItbPumpFactory, ItbRefillFactory

TODAY = "2026-11-20T12:00:00Z"
FILL = {"fill_volume_ml": 20, "concentration_mcg_per_ml": 2000}  # the fill a pump is implanted with


def url(patient, *rest):
    return "/".join([f"/api/v1/patients/{patient.pk}/itb-pump", *rest])


@pytest.fixture
def pump(patient, clinician):
    """A 20 mL pump at 400 mcg/day, refilled on 2026-10-01 with 20 mL of 2000 mcg/mL."""
    pump = ItbPumpFactory(patient=patient, created_by=clinician, implanted_on=date(2025, 3, 1))
    ItbDoseFactory(pump=pump, effective_from=date(2025, 3, 1), daily_dose_mcg=Decimal(400))
    ItbRefillFactory(pump=pump, refilled_on=date(2026, 10, 1), volume_ml=Decimal(20), concentration_mcg_per_ml=2000)
    return pump


@time_machine.travel(TODAY, tick=False)
def test_pump_shows_the_projected_alarm_and_refill_due_dates(api_as, nurse, patient, pump):
    body = api_as(nurse).get(url(patient)).json()

    # 18 mL above the alarm at 0.2 mL/day: 90 days after 2026-10-01; the refill is due 7 days earlier.
    assert body["projected_alarm_date"] == "2026-12-30"
    assert body["refill_due_date"] == "2026-12-23"
    assert body["remaining_ml"] == "10.0"  # 50 days at 0.2 mL/day
    assert body["current_daily_dose_mcg"] == "400.0"


@time_machine.travel(TODAY, tick=False)
def test_a_dose_change_between_refills_moves_the_projection_to_the_day(api_as, clinician, patient, pump):
    response = api_as(clinician).post(
        url(patient, "doses"),
        {"effective_from": "2026-11-20", "daily_dose_mcg": 500, "reason": "more tone"},
        format="json",
    )

    # 50 days at 0.2 mL/day leave 10 mL; at 0.25 mL/day the 2 mL alarm comes 32 days later.
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["projected_alarm_date"] == "2026-12-22"
    assert body["refill_due_date"] == "2026-12-15"
    assert [d["daily_dose_mcg"] for d in body["dose_history"]] == ["400.0", "500.0"]
    assert body["warnings"] == []


@time_machine.travel(TODAY, tick=False)
def test_a_dose_change_that_puts_the_alarm_in_the_past_is_flagged(api_as, clinician, patient, pump):
    # Recorded late: 1000 mcg/day (0.5 mL/day) since 2026-10-02. One day at 0.2 mL left 19.8 mL,
    # and the 17.8 mL above the alarm lasted 35.6 days: the alarm date was 2026-11-06, already past.
    flagged = api_as(clinician).post(
        url(patient, "doses"),
        {"effective_from": "2026-10-02", "daily_dose_mcg": 1000, "reason": "other site"},
        format="json",
    )

    assert flagged.status_code == 201
    assert flagged.json()["projected_alarm_date"] == "2026-11-06"
    assert "2026-11-06" in flagged.json()["warnings"][0]
    alert = Alert.objects.get(kind="pump_dose_check")
    assert (alert.priority, alert.patient) == ("high", patient)


@time_machine.travel(TODAY, tick=False)
def test_reminder_is_raised_once_per_refill_cycle(patient, pump, settings, nurse, api_as):
    settings.ITB_REMINDER_DAYS_AHEAD = 30  # due 2026-12-23, 33 days ahead: not yet
    assert tasks.pump_refill_reminders() == 0

    settings.ITB_REMINDER_DAYS_AHEAD = 40
    first = tasks.pump_refill_reminders()
    second = tasks.pump_refill_reminders()

    alert = Alert.objects.get(kind="pump_refill_due")
    assert (first, second) == (1, 0)
    assert alert.priority == "high"
    assert alert.details["refill_due_date"] == "2026-12-23"
    assert alert.details["projected_alarm_date"] == "2026-12-30"

    api_as(nurse).post(url(patient, "refills"), {"volume_ml": 20, "concentration_mcg_per_ml": 2000}, format="json")
    assert tasks.pump_refill_reminders() == 0  # a fresh refill is months from due

    with time_machine.travel("2027-02-10T12:00:00Z", tick=False):
        assert tasks.pump_refill_reminders() == 1
    assert Alert.objects.filter(kind="pump_refill_due").count() == 2


def test_reminder_is_urgent_once_the_alarm_date_has_passed(pump):
    # Alarm projected 2026-12-30, refill due 2026-12-23: the high reminder comes 14 days ahead.
    with time_machine.travel("2026-12-10T12:00:00Z", tick=False):
        assert tasks.pump_refill_reminders() == 1
    with time_machine.travel("2026-12-29T12:00:00Z", tick=False):
        assert tasks.pump_refill_reminders() == 0  # still the same cycle and dates
    with time_machine.travel("2026-12-30T12:00:00Z", tick=False):  # the alarm day, no refill
        raised = tasks.pump_refill_reminders()
        again = tasks.pump_refill_reminders()

    assert (raised, again) == (1, 0)
    high, urgent = Alert.objects.filter(kind="pump_refill_due").order_by("created_at")
    assert (urgent.priority, urgent.status) == ("urgent", "open")
    assert urgent.title == "Pump reservoir at its alarm volume since 2026-12-30: refill now"
    assert urgent.needs_notification is True
    assert (high.priority, high.status) == ("high", "resolved")
    assert "Superseded" in high.resolution_note


def test_a_dose_increase_after_the_reminder_raises_one_with_the_new_dates(api_as, clinician, pump):
    with time_machine.travel("2026-12-10T12:00:00Z", tick=False):
        tasks.pump_refill_reminders()
        # 70 days at 0.2 mL/day leave 6 mL; at 800 mcg/day (0.4 mL/day) the 2 mL alarm comes in 10 days.
        changed = api_as(clinician).post(
            url(pump.patient, "doses"),
            {"effective_from": "2026-12-10", "daily_dose_mcg": 800, "reason": "rebound spasms"},
            format="json",
        )
        raised = tasks.pump_refill_reminders()
        again = tasks.pump_refill_reminders()

    assert changed.json()["projected_alarm_date"] == "2026-12-20"
    assert (raised, again) == (1, 0)
    reminders = Alert.objects.filter(kind="pump_refill_due")
    old = reminders.get(dedupe_key__endswith=":2026-12-30")
    new = reminders.get(dedupe_key__endswith=":2026-12-20")
    assert (new.status, new.details["projected_alarm_date"], new.details["refill_due_date"]) == (
        "open",
        "2026-12-20",
        "2026-12-13",
    )
    assert new.title == "Pump refill due by 2026-12-13 (alarm projected 2026-12-20)"
    assert (old.status, old.details["projected_alarm_date"]) == ("resolved", "2026-12-30")
    assert AuditEvent.objects.filter(action="resolve", resource_type="alert", resource_id=str(old.pk)).exists()


def test_a_dose_decrease_leaves_the_earlier_reminder_standing(api_as, clinician, pump):
    with time_machine.travel("2026-12-10T12:00:00Z", tick=False):
        tasks.pump_refill_reminders()
        api_as(clinician).post(
            url(pump.patient, "doses"),
            {"effective_from": "2026-12-10", "daily_dose_mcg": 300, "reason": "drowsy"},
            format="json",
        )
        raised = tasks.pump_refill_reminders()

    reminder = Alert.objects.get(kind="pump_refill_due")
    assert raised == 0
    assert (reminder.status, reminder.details["projected_alarm_date"]) == ("open", "2026-12-30")


def test_reminders_follow_the_patients_own_day(patient, pump):
    # The alarm is projected on 2026-12-30. At 03:00 UTC that day it is still 19:00 on 2026-12-29
    # in Los Angeles: not urgent yet; at 09:00 UTC it is 01:00 on the alarm day there.
    patient.time_zone = "America/Los_Angeles"
    patient.save()
    with time_machine.travel("2026-12-09T12:00:00Z", tick=False):
        assert tasks.pump_refill_reminders() == 1
    with time_machine.travel("2026-12-30T03:00:00Z", tick=False):
        assert tasks.pump_refill_reminders() == 0
    with time_machine.travel("2026-12-30T09:00:00Z", tick=False):
        assert tasks.pump_refill_reminders() == 1

    assert Alert.objects.get(kind="pump_refill_due", status="open").priority == "urgent"


@time_machine.travel(TODAY, tick=False)
def test_booked_refill_after_the_projected_alarm_is_flagged(api_as, nurse, patient, pump):
    body = (
        api_as(nurse)
        .post(
            url(patient, "refills"),
            {
                "volume_ml": 18,
                "concentration_mcg_per_ml": 2000,
                "residual_ml": 9.2,
                "next_refill_booked_on": "2027-03-01",
            },
            format="json",
        )
        .json()
    )

    # 16 mL above the alarm at 0.2 mL/day: 80 days after 2026-11-20 is 2027-02-08.
    assert body["projected_alarm_date"] == "2027-02-08"
    assert body["booked_refill_after_alarm"] is True
    refill = ItbRefill.objects.get(refilled_on=date(2026, 11, 20))
    assert (refill.residual_ml, refill.performed_by) == (Decimal("9.2"), nurse)
    assert AuditEvent.objects.filter(action="refill", patient=patient).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"volume_ml": 25, "concentration_mcg_per_ml": 2000}, "volume_ml"),
        ({"volume_ml": 20, "concentration_mcg_per_ml": 1500}, "concentration_mcg_per_ml"),
        ({"volume_ml": -1, "concentration_mcg_per_ml": 2000}, "volume_ml"),
        ({"volume_ml": 2, "concentration_mcg_per_ml": 2000}, "volume_ml"),  # at the 2 mL alarm volume
        ({"volume_ml": 20, "concentration_mcg_per_ml": 2000, "refilled_on": "2026-09-01"}, "refilled_on"),
        (
            {"volume_ml": 20, "concentration_mcg_per_ml": 2000, "next_refill_booked_on": "2026-11-01"},
            "next_refill_booked_on",
        ),
    ],
)
@time_machine.travel(TODAY, tick=False)
def test_bad_refills_are_400(api_as, nurse, patient, pump, body, field):
    response = api_as(nurse).post(url(patient, "refills"), body, format="json")

    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert ItbRefill.objects.count() == 1


@time_machine.travel(TODAY, tick=False)
def test_nurses_refill_but_do_not_change_doses(api_as, nurse, patient, pump):
    api = api_as(nurse)

    assert (
        api.post(
            url(patient, "refills"), {"volume_ml": 20, "concentration_mcg_per_ml": 2000}, format="json"
        ).status_code
        == 201
    )
    assert (
        api.post(url(patient, "doses"), {"daily_dose_mcg": 450, "reason": "more tone"}, format="json").status_code
        == 403
    )


@time_machine.travel(TODAY, tick=False)
def test_implant_then_reprogram_alarm_then_explant(api_as, clinician, patient):
    api = api_as(clinician)
    implanted = api.post(
        url(patient),
        {"model": "SynchroMed II", "reservoir_ml": 40, "implanted_on": "2026-11-01", "daily_dose_mcg": 150, **FILL},
        format="json",
    )
    etag = implanted["ETag"]

    raised = api.patch(
        url(patient), {"alarm_ml": 4, "reason": "withdrawal above 2 mL"}, format="json", HTTP_IF_MATCH=etag
    )
    stale = api.patch(url(patient), {"alarm_ml": 3, "reason": "x"}, format="json", HTTP_IF_MATCH=etag)
    explanted = api.post(url(patient, "explant"), {"explanted_on": "2026-11-19", "reason": "infection"}, format="json")
    second = api.post(
        url(patient),
        {"model": "SynchroMed II", "reservoir_ml": 20, "implanted_on": "2026-11-20", "daily_dose_mcg": 150, **FILL},
        format="json",
    )

    assert implanted.status_code == 201
    assert implanted.json()["alarm_ml"] == "2.0"  # the manufacturer's default
    assert (raised.status_code, raised.json()["alarm_ml"]) == (200, "4.0")
    assert stale.status_code == 412
    assert explanted.json()["explanted_on"] == "2026-11-19"
    assert second.status_code == 201


@time_machine.travel(TODAY, tick=False)
def test_a_second_pump_while_one_is_implanted_is_refused(api_as, clinician, patient, pump):
    response = api_as(clinician).post(
        url(patient),
        {"model": "SynchroMed II", "reservoir_ml": 20, "implanted_on": "2026-11-01", "daily_dose_mcg": 100, **FILL},
        format="json",
    )

    assert response.status_code == 400
    assert "implanted_on" in response.json()["errors"]


def test_no_pump_is_404(api_as, clinician, patient):
    assert api_as(clinician).get(url(patient)).status_code == 404


@time_machine.travel(TODAY, tick=False)
def test_patient_sees_their_pump_and_refill_date(patient_api, patient, pump):
    body = patient_api.get(f"/api/v1/patients/{patient.pk}/care-plan", {"on": "2026-11-20"}).json()

    assert body["pumps"] == [
        {
            "pump_id": str(pump.pk),
            "daily_dose_mcg": "400.0",
            "projected_alarm_date": "2026-12-30",
            "refill_due_date": "2026-12-23",
            "next_refill_booked_on": None,
        }
    ]


IMPLANT = {"model": "SynchroMed II", "reservoir_ml": 20, "implanted_on": "2026-11-01", "daily_dose_mcg": 400, **FILL}


@time_machine.travel(TODAY, tick=False)
def test_a_new_pump_is_projected_from_its_implant_fill(api_as, clinician, patient):
    response = api_as(clinician).post(url(patient), IMPLANT, format="json")

    # 20 mL of 2000 mcg/mL at 400 mcg/day: 90 days from 2026-11-01 to the 2 mL alarm.
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["projected_alarm_date"], body["refill_due_date"], body["remaining_ml"]) == (
        "2027-01-30",
        "2027-01-23",
        "16.2",  # 19 days at 0.2 mL/day
    )
    assert [(r["refilled_on"], r["volume_ml"], r["concentration_mcg_per_ml"]) for r in body["refills"]] == [
        ("2026-11-01", "20.0", 2000)
    ]
    with time_machine.travel("2027-01-09T12:00:00Z", tick=False):
        assert tasks.pump_refill_reminders() == 1
    assert Alert.objects.get(kind="pump_refill_due").details["refill_due_date"] == "2027-01-23"


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"fill_volume_ml": None, "concentration_mcg_per_ml": None}, {"fill_volume_ml", "concentration_mcg_per_ml"}),
        ({"concentration_mcg_per_ml": 1500}, {"concentration_mcg_per_ml"}),
        ({"fill_volume_ml": 25}, {"fill_volume_ml"}),
        ({"fill_volume_ml": 2}, {"fill_volume_ml"}),  # at the alarm volume the pump alarms at once
    ],
)
@time_machine.travel(TODAY, tick=False)
def test_an_implant_needs_its_fill(api_as, clinician, patient, changes, fields):
    body = {k: v for k, v in {**IMPLANT, **changes}.items() if v is not None}

    response = api_as(clinician).post(url(patient), body, format="json")

    assert response.status_code == 400
    assert fields <= set(response.json()["errors"]), response.json()
    assert not ItbPump.objects.exists()


@time_machine.travel(TODAY, tick=False)
def test_alarm_volume_changes_are_listed_and_move_the_projection(api_as, clinician, patient):
    api = api_as(clinician)
    api.post(url(patient), IMPLANT, format="json")

    raised = api.patch(url(patient), {"alarm_ml": 4, "reason": "withdrawal above 2 mL"}, format="json")

    # 16 mL above a 4 mL alarm at 0.2 mL/day: 80 days from 2026-11-01.
    assert raised.status_code == 200, raised.json()
    body = raised.json()
    assert (body["alarm_ml"], body["projected_alarm_date"], body["refill_due_date"]) == (
        "4.0",
        "2027-01-20",
        "2027-01-13",
    )
    assert [(a["effective_from"], a["alarm_ml"], a["reason"]) for a in body["alarm_history"]] == [
        ("2026-11-01", "2.0", ""),
        ("2026-11-20", "4.0", "withdrawal above 2 mL"),
    ]
    audit = AuditEvent.objects.get(resource_type="itb_pump", action="update")
    assert audit.detail == {
        "alarm_ml": ["2.0", "4.0"],
        "effective_from": "2026-11-20",
        "reason": "withdrawal above 2 mL",
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"alarm_ml": 4}, "reason"),
        ({"alarm_ml": 4, "reason": "x", "effective_from": "2026-11-21"}, "effective_from"),  # never ahead
        ({"alarm_ml": 4, "reason": "x", "effective_from": "2026-11-01"}, "effective_from"),  # the implant setting
        ({"alarm_ml": 4, "reason": "x", "effective_from": "2026-10-01"}, "effective_from"),  # before the implant
    ],
)
@time_machine.travel(TODAY, tick=False)
def test_bad_alarm_changes_are_400(api_as, clinician, patient, body, field):
    api = api_as(clinician)
    api.post(url(patient), IMPLANT, format="json")

    response = api.patch(url(patient), body, format="json")

    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert ItbPump.objects.get().alarm_ml == 2


@time_machine.travel(TODAY, tick=False)
def test_a_dose_change_on_the_day_of_a_dose_that_took_effect_is_refused(api_as, clinician, patient, pump):
    response = api_as(clinician).post(
        url(patient, "doses"), {"effective_from": "2025-03-01", "daily_dose_mcg": 200, "reason": "x"}, format="json"
    )

    assert response.status_code == 400
    assert "The version of 2025-03-01 has taken effect" in response.json()["errors"]["effective_from"][0]
    assert ItbDose.objects.get(pump=pump).superseded_at is None


@time_machine.travel(TODAY, tick=False)
def test_a_pump_dose_change_needs_a_reason(api_as, clinician, patient, pump):
    response = api_as(clinician).post(url(patient, "doses"), {"daily_dose_mcg": 450}, format="json")

    assert response.status_code == 400
    assert "reason" in response.json()["errors"]
    assert ItbDose.objects.count() == 1


@time_machine.travel(TODAY, tick=False)
def test_a_refill_from_a_stale_copy_is_412(api_as, nurse, patient, pump):
    api = api_as(nurse)
    etag = api.get(url(patient))["ETag"]

    first = api.post(
        url(patient, "refills"), {"volume_ml": 20, "concentration_mcg_per_ml": 2000}, format="json", HTTP_IF_MATCH=etag
    )
    stale = api.post(
        url(patient, "refills"), {"volume_ml": 20, "concentration_mcg_per_ml": 2000}, format="json", HTTP_IF_MATCH=etag
    )

    assert first.status_code == 201
    assert first["ETag"] == '"2"'
    assert stale.status_code == 412
    assert ItbRefill.objects.count() == 2  # the fixture's and the first


@time_machine.travel(TODAY, tick=False)
def test_pump_dose_changes_and_explant_are_audited(api_as, clinician, patient, pump):
    api = api_as(clinician)
    api.post(
        url(patient, "doses"), {"effective_from": "2026-11-21", "daily_dose_mcg": 450, "reason": "tone"}, format="json"
    )
    api.post(url(patient, "explant"), {"explanted_on": "2026-11-20", "reason": "infection"}, format="json")

    dose = AuditEvent.objects.get(resource_type="itb_pump", action="update")
    explant = AuditEvent.objects.get(resource_type="itb_pump", action="explant")
    assert dose.detail == {"daily_dose_mcg": "450.0", "effective_from": "2026-11-21", "reason": "tone"}
    assert explant.detail == {"explanted_on": "2026-11-20", "reason": "infection"}
    assert {dose.resource_id, explant.resource_id} == {str(pump.pk)}


@time_machine.travel(TODAY, tick=False)
def test_a_refill_dated_the_patients_tomorrow_is_refused(api_as, nurse, patient, pump):
    # 12:00 UTC on 2026-11-20 is already 2026-11-21 on Kiritimati (UTC+14), and 2026-11-22 is ahead there.
    patient.time_zone = "Pacific/Kiritimati"
    patient.save()
    api = api_as(nurse)
    body = {"volume_ml": 20, "concentration_mcg_per_ml": 2000}

    ahead = api.post(url(patient, "refills"), {**body, "refilled_on": "2026-11-22"}, format="json")
    today_there = api.post(url(patient, "refills"), {**body, "refilled_on": "2026-11-21"}, format="json")

    assert ahead.status_code == 400
    assert "refilled_on" in ahead.json()["errors"]
    assert today_there.status_code == 201


@time_machine.travel(TODAY, tick=False)
def test_the_pump_costs_a_fixed_number_of_queries(api_as, nurse, patient, pump, django_assert_num_queries):
    for day in range(2, 6):
        ItbDoseFactory(pump=pump, effective_from=date(2025, 3, day))
        ItbRefillFactory(pump=pump, refilled_on=date(2026, 10, day))
    api = api_as(nurse)

    # token, patient, pumps (with patient), doses, alarm settings, refills, audit insert
    with django_assert_num_queries(7):
        response = api.get(url(patient))

    assert len(response.json()["dose_history"]) == 5
