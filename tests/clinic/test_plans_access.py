"""Who reaches which plan: another clinic's staff get 404, a patient's token reads but never writes."""

from datetime import date

import pytest
import time_machine

from clinic.models import (
    AuditEvent,
    BotulinumSession,
    Goal,
    ItbDose,
    ItbPump,
    ItbRefill,
    MedicationDose,
    MedicationRegimen,
    OrthoticPlanVersion,
    TherapyPlanVersion,
)
from tests.factories import (
    BotulinumSessionFactory,
    GoalFactory,
    InjectionSiteFactory,
    ItbDoseFactory,
    ItbPumpFactory,
    ItbRefillFactory,
    MedicationDoseFactory,
    MedicationRegimenFactory,
    OrthoticPlanFactory,
    OrthoticPlanVersionFactory,
    PatientFactory,
    TherapyActivityFactory,
    TherapyPlanFactory,
    TherapyPlanVersionFactory,
)

TODAY = "2026-11-20T12:00:00Z"
LEVELS = {"-2": "Cannot", "-1": "With help", "0": "Alone, slowly", "1": "Alone", "2": "Alone, quickly"}
ACTIVITY = [{"kind": "stretching", "minutes": 15, "days_per_week": 7}]


def medications(patient):
    regimen = MedicationRegimenFactory(patient=patient)
    MedicationDoseFactory(regimen=regimen)
    dose = {"dose_mg": 5, "times_per_day": 3, "start_date": "2026-11-21", "reason": "x"}
    writes = [
        ("post", "medications", {"drug": "tizanidine", **dose}),
        ("post", f"medications/{regimen.pk}/doses", dose),
        ("post", f"medications/{regimen.pk}/stop", {"reason": "x"}),
    ]
    return (
        f"medications/{regimen.pk}",
        writes,
        lambda: (MedicationRegimen.objects.count(), MedicationDose.objects.count()),
    )


def itb_pump(patient):
    pump = ItbPumpFactory(patient=patient)
    ItbDoseFactory(pump=pump)
    ItbRefillFactory(pump=pump)
    writes = [
        (
            "post",
            "itb-pump",
            {
                "model": "SynchroMed II",
                "reservoir_ml": 20,
                "implanted_on": "2026-11-20",
                "daily_dose_mcg": 100,
                "fill_volume_ml": 20,
                "concentration_mcg_per_ml": 500,
            },
        ),
        ("patch", "itb-pump", {"alarm_ml": 4, "reason": "x"}),
        ("post", "itb-pump/doses", {"daily_dose_mcg": 450, "reason": "x"}),
        ("post", "itb-pump/refills", {"volume_ml": 20, "concentration_mcg_per_ml": 2000}),
        ("post", "itb-pump/explant", {"explanted_on": "2026-11-20", "reason": "x"}),
    ]
    return "itb-pump", writes, lambda: (ItbPump.objects.count(), ItbDose.objects.count(), ItbRefill.objects.count())


def botulinum_sessions(patient):
    session = BotulinumSessionFactory(patient=patient, injected_on=date(2026, 6, 1))
    InjectionSiteFactory(session=session)
    site = [{"muscle": "soleus", "side": "left", "units": 100, "points": 2}]
    writes = [
        (
            "post",
            "botulinum-sessions",
            {
                "date": "2026-11-20",
                "product": "onabotulinumtoxinA",
                "guidance": "ultrasound",
                "lot": "C1",
                "sites": site,
            },
        ),
        ("post", f"botulinum-sessions/{session.pk}/void", {"reason": "x"}),
    ]
    return (
        f"botulinum-sessions/{session.pk}",
        writes,
        lambda: (BotulinumSession.objects.count(), BotulinumSession.objects.filter(voided_at=None).count()),
    )


def therapy_plans(patient):
    plan = TherapyPlanFactory(patient=patient)
    TherapyActivityFactory(version=TherapyPlanVersionFactory(plan=plan))
    writes = [
        ("post", "therapy-plans", {"discipline": "physical_therapy", "title": "t", "activities": ACTIVITY}),
        ("post", f"therapy-plans/{plan.pk}/versions", {"activities": ACTIVITY, "reason": "x"}),
        ("post", f"therapy-plans/{plan.pk}/stop", {"reason": "x"}),
    ]
    return f"therapy-plans/{plan.pk}", writes, lambda: TherapyPlanVersion.objects.count()


def orthotic_plans(patient):
    plan = OrthoticPlanFactory(patient=patient)
    OrthoticPlanVersionFactory(plan=plan)
    writes = [
        ("post", "orthotic-plans", {"device": "night_splint", "side": "left", "hours_per_day": 8}),
        ("post", f"orthotic-plans/{plan.pk}/versions", {"hours_per_day": 10, "reason": "x"}),
        ("post", f"orthotic-plans/{plan.pk}/stop", {"reason": "x"}),
    ]
    return f"orthotic-plans/{plan.pk}", writes, lambda: OrthoticPlanVersion.objects.count()


def goals(patient):
    goal = GoalFactory(patient=patient)
    writes = [
        ("post", "goals", {"description": "x", "domain": "pain", "levels": LEVELS, "baseline_level": -1}),
        ("post", f"goals/{goal.pk}/ratings", {"level": 1}),
        ("post", f"goals/{goal.pk}/close", {"status": "achieved"}),
    ]
    return f"goals/{goal.pk}", writes, lambda: (Goal.objects.count(), Goal.objects.filter(status="active").count())


FAMILIES = {
    "medications": (medications, "medications"),
    "itb-pump": (itb_pump, None),
    "botulinum-sessions": (botulinum_sessions, "botulinum-sessions"),
    "therapy-plans": (therapy_plans, "therapy-plans"),
    "orthotic-plans": (orthotic_plans, "orthotic-plans"),
    "goals": (goals, "goals"),
}


def send(api, patient, method, path, body=None):
    return getattr(api, method)(f"/api/v1/patients/{patient.pk}/{path}", body, format="json")


@pytest.mark.parametrize("family", FAMILIES)
@time_machine.travel(TODAY, tick=False)
def test_another_clinic_gets_404_for_every_read_and_write(api_as, staff, other_clinic, patient, family):
    make, list_path = FAMILIES[family]
    item_path, writes, stored = make(patient)
    before = stored()
    outsider = staff("clinician", clinic=other_clinic)
    stranger = api_as(outsider)

    reads = [send(stranger, patient, "get", item_path)]
    if list_path:
        reads.append(send(stranger, patient, "get", list_path))
    written = [send(stranger, patient, method, path, body) for method, path, body in writes]

    assert [r.status_code for r in reads + written] == [404] * (len(reads) + len(written))
    assert stored() == before
    denied = AuditEvent.objects.filter(outcome="denied", actor=outsider, resource_id=str(patient.pk))
    assert denied.count() == len(reads) + len(written)


@pytest.mark.parametrize("family", FAMILIES)
@time_machine.travel(TODAY, tick=False)
def test_a_patient_token_reads_its_own_plan_but_every_write_is_403(patient_api, patient, family):
    make, _ = FAMILIES[family]
    item_path, writes, stored = make(patient)
    before = stored()

    read = send(patient_api, patient, "get", item_path)
    written = {
        f"{method} {path}": send(patient_api, patient, method, path, body).status_code for method, path, body in writes
    }

    assert read.status_code == 200
    assert written == dict.fromkeys(written, 403)
    assert stored() == before


@time_machine.travel(TODAY, tick=False)
def test_another_patients_token_gets_404_for_the_plan_of_the_day_and_scores(other_patient_api, patient):
    assert send(other_patient_api, patient, "get", "care-plan").status_code == 404
    assert send(other_patient_api, patient, "get", "goals/t-scores").status_code == 404
    assert send(other_patient_api, patient, "get", "itb-pump").status_code == 404


@pytest.mark.parametrize("family", [f for f, (_, listed) in FAMILIES.items() if listed])
@time_machine.travel(TODAY, tick=False)
def test_another_patients_item_under_this_patients_url_is_404_and_audited(api_as, clinician, patient, family):
    make, _ = FAMILIES[family]
    item_path, _, _ = make(PatientFactory(clinic=patient.clinic))

    response = send(api_as(clinician), patient, "get", item_path)

    assert response.status_code == 404
    item_id = item_path.rsplit("/", 1)[1]
    assert AuditEvent.objects.filter(outcome="denied", actor=clinician, resource_id=item_id).count() == 1
