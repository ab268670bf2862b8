"""Intrathecal baclofen: implant, doses, refills, the reservoir projection and the refill reminders."""

from datetime import date
from decimal import Decimal

import pytest
import time_machine

from clinic.models import AuditEvent, ItbRefill
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


@time_machine.travel("2027-01-02T12:00:00Z", tick=False)
def test_reminder_is_urgent_once_the_alarm_date_has_passed(pump):
    tasks.pump_refill_reminders()

    assert Alert.objects.get(kind="pump_refill_due").priority == "urgent"


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
