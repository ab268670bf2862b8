"""Oral medicine regimens: effective-dated doses, titration, limits with override, roles, ETags."""

from datetime import date, timedelta

import pytest
import time_machine
from django.utils import timezone

from clinic.models import AuditEvent, MedicationDose, MedicationRegimen
from tests.factories import MedicationDoseFactory, MedicationRegimenFactory, PatientFactory


def url(patient, *rest):
    return "/".join([f"/api/v1/patients/{patient.pk}/medications", *rest])


def day(offset: int) -> str:
    return (timezone.localdate() + timedelta(days=offset)).isoformat()


@pytest.fixture
def prescribe(api_as, clinician, patient):
    api = api_as(clinician)

    def send(**body):
        return api.post(url(patient), {"drug": "baclofen", "reason": "start low", **body}, format="json")

    return send


def test_clinician_prescribes_a_dose_from_a_start_date(prescribe, patient):
    response = prescribe(dose_mg=10, times_per_day=3, start_date=day(0), times_of_day=["08:00", "14:00", "20:00"])

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["drug"], body["status"], body["revision"]) == ("baclofen", "active", 1)
    assert body["current"]["daily_mg"] == "30.00"
    assert body["current"]["times_of_day"] == ["08:00", "14:00", "20:00"]
    assert response["ETag"] == '"1"'
    assert AuditEvent.objects.filter(resource_type="medication_regimen", action="create", patient=patient).exists()


def test_titration_steps_take_effect_on_their_dates(prescribe, patient_api, patient):
    steps = [
        {"start_date": day(0), "dose_mg": 5, "times_per_day": 3},
        {"start_date": day(3), "dose_mg": 10, "times_per_day": 3},
        {"start_date": day(6), "dose_mg": 15, "times_per_day": 3},
    ]
    regimen_id = prescribe(steps=steps).json()["id"]

    def current_dose(offset: int) -> str:
        with time_machine.travel(timezone.now() + timedelta(days=offset)):
            return patient_api.get(url(patient, regimen_id)).json()["current"]["dose_mg"]

    assert [current_dose(0), current_dose(2), current_dose(3), current_dose(5), current_dose(6)] == [
        "5.00",
        "5.00",
        "10.00",
        "10.00",
        "15.00",
    ]
    plan = patient_api.get(f"/api/v1/patients/{patient.pk}/care-plan", {"on": day(3)}).json()
    assert plan["medications"][0]["daily_mg"] == "30.00"
    assert [c["dose_mg"] for c in plan["upcoming_medication_changes"]] == ["15.00"]


def test_dose_above_the_label_maximum_is_refused_with_the_limit_and_source(prescribe):
    response = prescribe(dose_mg=30, times_per_day=3, start_date=day(0))

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert "80 mg a day" in errors["dose_mg"][0]
    assert "DBAC" in errors["dose_mg"][0]
    assert "override_reason" in errors
    assert not MedicationRegimen.objects.exists()


def test_a_clinician_may_override_the_limit_with_a_recorded_reason(prescribe):
    response = prescribe(
        dose_mg=30, times_per_day=3, start_date=day(0), override_reason="Specialist advice; monitored weekly"
    )

    assert response.status_code == 201
    assert response.json()["history"][0]["override_reason"] == "Specialist advice; monitored weekly"
    audit = AuditEvent.objects.get(resource_type="medication_regimen", action="create")
    assert audit.detail["override_reason"] == "Specialist advice; monitored weekly"


def test_change_keeps_history_and_supersedes_pending_titration(prescribe, api_as, clinician, patient):
    steps = [
        {"start_date": day(0), "dose_mg": 5, "times_per_day": 3},
        {"start_date": day(3), "dose_mg": 10, "times_per_day": 3},
        {"start_date": day(6), "dose_mg": 15, "times_per_day": 3},
    ]
    regimen_id = prescribe(steps=steps).json()["id"]

    response = api_as(clinician).post(
        url(patient, regimen_id, "doses"),
        {"start_date": day(1), "dose_mg": 5, "times_per_day": 2, "reason": "drowsy"},
        format="json",
        HTTP_IF_MATCH='"1"',
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["revision"] == 2
    assert body["upcoming"][0]["times_per_day"] == 2
    assert len(body["upcoming"]) == 1
    history = body["history"]
    assert len(history) == 4
    assert [(h["effective_from"], h["superseded_at"] is not None) for h in history] == [
        (day(0), False),
        (day(1), False),
        (day(3), True),
        (day(6), True),
    ]
    assert MedicationDose.objects.count() == 4


def test_a_change_cannot_reach_back_before_the_dose_in_force(prescribe, api_as, clinician, patient):
    regimen_id = prescribe(dose_mg=10, times_per_day=3, start_date=day(-5)).json()["id"]

    response = api_as(clinician).post(
        url(patient, regimen_id, "doses"),
        {"start_date": day(-10), "dose_mg": 5, "times_per_day": 3, "reason": "drowsy"},
        format="json",
    )

    assert response.status_code == 400
    assert "before the version in force" in response.json()["errors"]["start_date"][0]


def test_stale_if_match_is_412_and_changes_nothing(prescribe, api_as, clinician, patient):
    regimen_id = prescribe(dose_mg=10, times_per_day=3, start_date=day(0)).json()["id"]
    api = api_as(clinician)
    api.post(
        url(patient, regimen_id, "doses"),
        {"start_date": day(2), "dose_mg": 15, "times_per_day": 3, "reason": "more tone"},
        format="json",
    )

    response = api.post(
        url(patient, regimen_id, "doses"),
        {"start_date": day(4), "dose_mg": 20, "times_per_day": 3, "reason": "more tone"},
        format="json",
        HTTP_IF_MATCH='"1"',
    )

    assert response.status_code == 412
    assert MedicationDose.objects.count() == 2


def test_stopping_baclofen_warns_against_abrupt_withdrawal(prescribe, api_as, clinician, patient):
    regimen_id = prescribe(dose_mg=20, times_per_day=3, start_date=day(-30)).json()["id"]

    response = api_as(clinician).post(url(patient, regimen_id, "stop"), {"reason": "no benefit"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "stopped"
    assert body["current"] is None
    assert "tapered" in body["warnings"][0]
    assert body["history"][-1]["stopped"] is True


def test_a_second_regimen_of_the_same_drug_is_refused_until_the_first_stops(prescribe, api_as, clinician, patient):
    first = prescribe(dose_mg=10, times_per_day=3, start_date=day(-10)).json()["id"]

    duplicate = prescribe(dose_mg=5, times_per_day=3, start_date=day(0))
    api_as(clinician).post(
        url(patient, first, "stop"), {"reason": "switching", "effective_from": day(0)}, format="json"
    )
    again = prescribe(dose_mg=5, times_per_day=3, start_date=day(0))

    assert duplicate.status_code == 400
    assert again.status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"drug": "aspirin", "dose_mg": 10, "times_per_day": 3, "start_date": "2026-11-01"}, "drug"),
        ({"dose_mg": -5, "times_per_day": 3, "start_date": "2026-11-01"}, "dose_mg"),
        ({"dose_mg": 10, "times_per_day": 0, "start_date": "2026-11-01"}, "times_per_day"),
        ({"dose_mg": 10, "times_per_day": 3}, "start_date"),
        (
            {"dose_mg": 10, "times_per_day": 2, "start_date": "2026-11-01", "times_of_day": ["8am", "20:00"]},
            "times_of_day.0",
        ),
        ({"dose_mg": 10, "times_per_day": 3, "start_date": "2026-11-01", "times_of_day": ["08:00"]}, "times_of_day"),
        ({"dose_mg": 10, "times_per_day": 3, "start_date": "2999-01-01"}, "start_date"),
        (
            {
                "steps": [
                    {"start_date": "2026-11-05", "dose_mg": 5, "times_per_day": 3},
                    {"start_date": "2026-11-01", "dose_mg": 10, "times_per_day": 3},
                ]
            },
            "steps",
        ),
        ({"dose_mg": 10, "times_per_day": 3, "start_date": "2026-11-01", "patient": "x"}, "patient"),
        ({"dose_mg": 10, "times_per_day": "3", "start_date": "2026-11-01"}, "times_per_day"),
        ({"dose_mg": 10, "times_per_day": True, "start_date": "2026-11-01"}, "times_per_day"),
    ],
)
def test_bad_prescriptions_are_400_and_store_nothing(prescribe, body, field):
    response = prescribe(**body)

    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert not MedicationRegimen.objects.exists()


@pytest.mark.parametrize("role", ["nurse", "therapist", "admin"])
def test_only_clinicians_prescribe(api_as, staff, patient, role):
    response = api_as(staff(role)).post(
        url(patient), {"drug": "baclofen", "dose_mg": 5, "times_per_day": 3, "start_date": day(0)}, format="json"
    )

    assert response.status_code == 403
    assert not MedicationRegimen.objects.exists()


def test_the_patient_reads_but_cannot_write_their_medicines(prescribe, patient_api, patient):
    prescribe(dose_mg=5, times_per_day=3, start_date=day(0))

    assert patient_api.get(url(patient)).json()["count"] == 1
    response = patient_api.post(
        url(patient), {"drug": "tizanidine", "dose_mg": 2, "times_per_day": 3, "start_date": day(0)}, format="json"
    )
    assert response.status_code == 403


def test_another_clinic_cannot_see_or_prescribe(api_as, staff, other_clinic, patient, prescribe):
    prescribe(dose_mg=5, times_per_day=3, start_date=day(0))
    stranger = api_as(staff("clinician", clinic=other_clinic))

    assert stranger.get(url(patient)).status_code == 404
    response = stranger.post(
        url(patient), {"drug": "tizanidine", "dose_mg": 2, "times_per_day": 3, "start_date": day(0)}, format="json"
    )
    assert response.status_code == 404
    assert MedicationRegimen.objects.count() == 1


def test_an_item_of_another_patient_is_404(api_as, clinician, clinic, patient):
    other = PatientFactory(clinic=clinic)
    regimen = MedicationRegimenFactory(patient=other)

    assert api_as(clinician).get(url(patient, str(regimen.pk))).status_code == 404


def test_medication_list_costs_a_fixed_number_of_queries(api_as, clinician, patient, django_assert_num_queries):
    for drug in ("baclofen", "tizanidine", "dantrolene", "diazepam"):
        regimen = MedicationRegimenFactory(patient=patient, drug=drug, created_by=clinician)
        for offset in range(3):
            MedicationDoseFactory(regimen=regimen, effective_from=date(2026, 9, 1) + timedelta(days=offset))
    api = api_as(clinician)

    # token, patient, count, page, doses (with their authors), audit insert
    with django_assert_num_queries(6):
        response = api.get(url(patient))

    assert len(response.json()["results"]) == 4


def test_action_endpoints_answer_only_post(prescribe, api_as, clinician, patient):
    regimen_id = prescribe(dose_mg=5, times_per_day=3, start_date=day(0)).json()["id"]
    api = api_as(clinician)

    assert api.get(url(patient, regimen_id, "doses")).status_code == 405
    assert api.patch(url(patient, regimen_id, "stop"), {}, format="json").status_code == 405


def test_a_dose_change_asks_for_the_trends_to_be_recomputed_from_its_day(prescribe, api_as, clinician, patient):
    from diary.models import TrendRecompute

    regimen_id = prescribe(dose_mg=10, times_per_day=3, start_date=day(-20)).json()["id"]
    TrendRecompute.objects.filter(patient=patient).update(dirty_from=None)

    api_as(clinician).post(
        url(patient, regimen_id, "doses"),
        {"start_date": day(-2), "dose_mg": 15, "times_per_day": 3, "reason": "more tone"},
        format="json",
    )

    assert TrendRecompute.objects.get(patient=patient).dirty_from.isoformat() <= day(-2)


# --- One regimen per drug, dated changes, reasons, audit -------------------------------------------------

TODAY = "2026-11-20T12:00:00Z"


def baclofen(api, patient, start, dose=20, times=3, **extra):
    body = {"drug": "baclofen", "dose_mg": dose, "times_per_day": times, "start_date": start, **extra}
    return api.post(url(patient), body, format="json")


@time_machine.travel(TODAY, tick=False)
def test_a_stopped_regimen_cannot_restart_beside_another_of_the_same_drug(api_as, clinician, patient, patient_api):
    api = api_as(clinician)
    first = baclofen(api, patient, "2026-11-01").json()["id"]  # 20 mg x 3 = 60 mg/day
    api.post(url(patient, first, "stop"), {"reason": "switch", "effective_from": "2026-11-10"}, format="json")
    second = baclofen(api, patient, "2026-11-15")  # 60 mg/day again, on its own line

    # Restarting the first at 60 mg/day would give 120 mg/day of baclofen, above the 80 mg of DBAC.
    restart = api.post(
        url(patient, first, "doses"),
        {"start_date": "2026-11-20", "dose_mg": 20, "times_per_day": 3, "reason": "restart"},
        format="json",
    )

    assert second.status_code == 201
    assert restart.status_code == 400
    assert "already prescribed in another regimen, dosed on 2026-11-20" in restart.json()["errors"]["start_date"][0]
    plan = patient_api.get(f"/api/v1/patients/{patient.pk}/care-plan", {"on": "2026-11-20"}).json()
    assert [(m["drug"], m["daily_mg"]) for m in plan["medications"]] == [("baclofen", "60.00")]
    assert MedicationDose.objects.filter(regimen_id=first).count() == 2


@time_machine.travel(TODAY, tick=False)
def test_a_new_regimen_may_start_on_the_day_the_other_stops_and_not_before(api_as, clinician, patient):
    api = api_as(clinician)
    first = baclofen(api, patient, "2026-11-01").json()["id"]
    api.post(url(patient, first, "stop"), {"reason": "switch", "effective_from": "2026-12-01"}, format="json")

    overlapping = baclofen(api, patient, "2026-11-30")
    after = baclofen(api, patient, "2026-12-01")
    restart_first = api.post(
        url(patient, first, "doses"),
        {"start_date": "2026-12-15", "dose_mg": 5, "times_per_day": 3, "reason": "restart"},
        format="json",
    )

    assert overlapping.status_code == 400
    assert "dosed on 2026-11-30" in overlapping.json()["errors"]["drug"][0]
    assert after.status_code == 201
    assert restart_first.status_code == 400  # the second regimen is dosed from 2026-12-01 on
    assert MedicationRegimen.objects.count() == 2


@time_machine.travel(TODAY, tick=False)
def test_a_regimen_planned_for_later_blocks_another_that_would_overlap_it(api_as, clinician, patient):
    api = api_as(clinician)
    baclofen(api, patient, "2026-12-01")

    response = baclofen(api, patient, "2026-11-20")

    assert response.status_code == 400
    assert "dosed on 2026-12-01" in response.json()["errors"]["drug"][0]


@time_machine.travel(TODAY, tick=False)
def test_a_change_needs_a_reason(api_as, clinician, patient):
    api = api_as(clinician)
    regimen = baclofen(api, patient, "2026-11-01").json()["id"]

    missing = api.post(
        url(patient, regimen, "doses"), {"start_date": "2026-11-25", "dose_mg": 15, "times_per_day": 3}, format="json"
    )
    blank = api.post(
        url(patient, regimen, "doses"),
        {"start_date": "2026-11-25", "dose_mg": 15, "times_per_day": 3, "reason": "  "},
        format="json",
    )

    assert (missing.status_code, blank.status_code) == (400, 400)
    assert "reason" in missing.json()["errors"]
    assert "reason" in blank.json()["errors"]
    assert MedicationDose.objects.count() == 1


@time_machine.travel(TODAY, tick=False)
def test_a_change_on_the_day_of_a_dose_that_took_effect_is_refused(api_as, clinician, patient):
    api = api_as(clinician)
    regimen = baclofen(api, patient, "2026-10-01", dose=10).json()["id"]

    response = api.post(
        url(patient, regimen, "doses"),
        {"start_date": "2026-10-01", "dose_mg": 20, "times_per_day": 3, "reason": "typo?"},
        format="json",
    )

    assert response.status_code == 400
    assert "The version of 2026-10-01 has taken effect" in response.json()["errors"]["start_date"][0]
    assert MedicationDose.objects.get().superseded_at is None


@time_machine.travel(TODAY, tick=False)
def test_a_dose_started_today_may_be_corrected_today(api_as, clinician, patient):
    api = api_as(clinician)
    regimen = baclofen(api, patient, "2026-11-20", dose=10).json()["id"]

    response = api.post(
        url(patient, regimen, "doses"),
        {"start_date": "2026-11-20", "dose_mg": 5, "times_per_day": 3, "reason": "meant 5 mg"},
        format="json",
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["current"]["dose_mg"] == "5.00"
    assert [(h["dose_mg"], h["superseded_at"] is not None) for h in body["history"]] == [
        ("10.00", True),
        ("5.00", False),
    ]


@time_machine.travel(TODAY, tick=False)
def test_an_override_is_audited_with_the_limits_it_overrode(api_as, clinician, patient):
    api = api_as(clinician)
    regimen = baclofen(api, patient, "2026-11-20", dose=25, times=4, override_reason="Specialist advice").json()["id"]

    changed = api.post(
        url(patient, regimen, "doses"),
        {"start_date": "2026-11-27", "dose_mg": 30, "times_per_day": 3, "reason": "spasms", "override_reason": "ok"},
        format="json",
    )

    assert changed.status_code == 200
    limit = "above the label maximum of 80 mg a day for baclofen (DBAC: 80 mg/day (20 mg four times daily))."
    created = AuditEvent.objects.get(resource_type="medication_regimen", action="create")
    assert created.detail["overridden"] == [f"100 mg a day is {limit}"]
    assert created.detail["override_reason"] == "Specialist advice"
    update = AuditEvent.objects.get(resource_type="medication_regimen", action="update")
    assert update.detail["overridden"] == [f"90 mg a day is {limit}"]
    assert (update.detail["override_reason"], update.detail["reason"]) == ("ok", "spasms")


@time_machine.travel(TODAY, tick=False)
def test_dose_changes_and_stops_are_audited(api_as, clinician, patient):
    api = api_as(clinician)
    regimen = baclofen(api, patient, "2026-11-01", dose=10).json()["id"]

    api.post(
        url(patient, regimen, "doses"),
        {
            "steps": [
                {"start_date": "2026-11-21", "dose_mg": 15, "times_per_day": 3},
                {"start_date": "2026-11-24", "dose_mg": 20, "times_per_day": 3},
            ],
            "reason": "more tone",
        },
        format="json",
    )
    api.post(url(patient, regimen, "stop"), {"reason": "no benefit", "effective_from": "2026-11-22"}, format="json")

    update = AuditEvent.objects.get(resource_type="medication_regimen", action="update", resource_id=regimen)
    assert {k: update.detail[k] for k in ("steps", "effective_from", "daily_mg", "superseded", "reason")} == {
        "steps": 2,
        "effective_from": "2026-11-21",
        "daily_mg": ["45", "60"],
        "superseded": 0,
        "reason": "more tone",
    }
    stop = AuditEvent.objects.get(resource_type="medication_regimen", action="stop", resource_id=regimen)
    assert stop.detail == {"effective_from": "2026-11-22", "reason": "no benefit"}
    assert (stop.actor, stop.patient_id) == (clinician, patient.pk)


def test_today_on_the_medicine_list_is_the_patients_own_day(patient, patient_api):
    # 02:00 UTC on 2026-11-21 is 18:00 on 2026-11-20 in Los Angeles: tomorrow's step is not yet current.
    patient.time_zone = "America/Los_Angeles"
    patient.save()
    regimen = MedicationRegimenFactory(patient=patient)
    MedicationDoseFactory(regimen=regimen, effective_from=date(2026, 11, 1), dose_mg=5)
    MedicationDoseFactory(regimen=regimen, effective_from=date(2026, 11, 21), dose_mg=10)

    with time_machine.travel("2026-11-21T02:00:00Z", tick=False):
        listed = patient_api.get(url(patient)).json()["results"][0]
        plan = patient_api.get(f"/api/v1/patients/{patient.pk}/care-plan").json()

    assert listed["current"]["dose_mg"] == "5.00"
    assert [u["effective_from"] for u in listed["upcoming"]] == ["2026-11-21"]
    assert (plan["on"], plan["medications"][0]["dose_mg"]) == ("2026-11-20", "5.00")


def test_a_change_dated_the_patients_today_is_not_refused_as_too_early(api_as, clinician, patient):
    # At 02:00 UTC on 2026-11-21 it is still 2026-11-20 in Los Angeles: the dose of 2026-11-20
    # started today there, so a same-day correction is allowed.
    patient.time_zone = "America/Los_Angeles"
    patient.save()
    with time_machine.travel("2026-11-21T02:00:00Z", tick=False):
        api = api_as(clinician)
        regimen = baclofen(api, patient, "2026-11-20", dose=10).json()["id"]
        corrected = api.post(
            url(patient, regimen, "doses"),
            {"start_date": "2026-11-20", "dose_mg": 5, "times_per_day": 3, "reason": "meant 5 mg"},
            format="json",
        )

    assert corrected.status_code == 200, corrected.json()
