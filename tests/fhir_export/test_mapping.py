"""Mapping: every mapper's output parses as its R4 resource and says what the domain row says."""

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from clinic.vocabulary import MDC, SNOMED, local_system
from diary.models import AdherenceLog, Alert, DiaryEntry
from fhir_export.mapping.care_plan import therapy_care_plans
from fhir_export.mapping.device import itb_pump_device
from fhir_export.mapping.device_request import orthotic_device_requests
from fhir_export.mapping.flag import alert_flag
from fhir_export.mapping.goal import goal_resource
from fhir_export.mapping.medication_administration import injection_administration
from fhir_export.mapping.medication_statement import itb_medication_statements, oral_medication_statements
from fhir_export.mapping.observation import (
    adherence_observation,
    diary_observation,
    gas_level_observation,
    gas_t_score_observation,
)
from fhir_export.mapping.patient import clinic_group, patient_resource
from fhir_export.mapping.procedure import botulinum_procedure
from tests.factories import (
    BotulinumSessionFactory,
    GoalFactory,
    GoalRatingFactory,
    InjectionSiteFactory,
    ItbDoseFactory,
    ItbPumpFactory,
    MedicationDoseFactory,
    MedicationRegimenFactory,
    OrthoticPlanVersionFactory,
    TherapyActivityFactory,
    TherapyPlanVersionFactory,
)
from tests.fhir_export.fhir import parsed

TODAY = date(2026, 11, 20)


def make_entry(patient, **fields) -> DiaryEntry:
    occurred = datetime(2026, 11, 20, 7, 30, tzinfo=timezone(timedelta(hours=-5)))
    defaults = {
        "id": uuid.uuid4(),
        "patient": patient,
        "occurred_at": occurred,
        "utc_offset_minutes": -300,
        "local_date": occurred.date(),
        "local_hour": 7,
        "severity": 6,
        "spasm_count": 4,
        "duration_minutes": 10,
        "body_regions": ["left_calf", "trunk"],
        "triggers": ["cold", "position_change"],
        "relief": {"heat": 1, "stretching": 2},
        "impact_walking": 2,
        "impact_dressing": 1,
        "impact_sleeping": 0,
        "side_effects": ["drowsiness"],
        "red_flags": ["fever"],
        "notes": "stiff on getting up",
    }
    defaults.update(fields)
    return DiaryEntry.objects.create(**defaults)


def codes(concept: dict) -> set[tuple[str, str]]:
    return {(c["system"], c["code"]) for c in concept["coding"]}


@pytest.mark.django_db
def test_diary_entry_keeps_its_original_offset_and_uuid(patient):
    entry = make_entry(patient)

    resource = diary_observation(entry)

    parsed(resource)
    assert resource["effectiveDateTime"] == "2026-11-20T07:30:00-05:00" == entry.local_occurred_at.isoformat()
    assert resource["id"] == str(entry.id)
    assert resource["identifier"] == [{"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{entry.id}"}]
    assert resource["valueInteger"] == 6
    assert resource["performer"] == [{"reference": f"Patient/{patient.pk}"}] == [resource["subject"]]
    assert resource["category"][0]["coding"][0]["code"] == "survey"


@pytest.mark.django_db
def test_diary_components_carry_every_item_with_standard_codes_where_verified(patient):
    resource = diary_observation(make_entry(patient))

    by_code = {}
    for component in resource["component"]:
        by_code.setdefault(component["code"]["coding"][-1]["code"], []).append(component)
    assert by_code["spasm_count"][0]["valueInteger"] == 4
    assert by_code["spasm_duration"][0]["valueQuantity"]["code"] == "min"
    calf = by_code["body_region"][0]["valueCodeableConcept"]
    assert (SNOMED, "30021000") in codes(calf)
    assert calf["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "7771000"
    assert "extension" not in by_code["body_region"][1]["valueCodeableConcept"]  # the trunk has no side
    triggers = {c["valueCodeableConcept"]["coding"][0]["code"] for c in by_code["trigger"]}
    assert triggers == {"cold", "position_change"}
    assert by_code["stretching"][0]["valueInteger"] == 2
    assert by_code["stretching"][0]["code"]["coding"][0]["system"] == local_system("relief-measure")
    assert by_code["walking"][0]["valueInteger"] == 2
    assert by_code["red_flag"][0]["valueCodeableConcept"]["coding"][0]["code"] == "fever"


@pytest.mark.django_db
def test_minimal_diary_entry_has_no_empty_elements(patient):
    entry = make_entry(
        patient,
        spasm_count=None,
        duration_minutes=None,
        body_regions=[],
        triggers=[],
        relief={},
        impact_walking=None,
        impact_dressing=None,
        impact_sleeping=None,
        side_effects=[],
        red_flags=[],
        notes="",
    )

    resource = diary_observation(entry)

    parsed(resource)
    assert "component" not in resource
    assert "note" not in resource


@pytest.mark.django_db
def test_adherence_log_is_an_activity_observation(patient):
    log = AdherenceLog.objects.create(
        id=uuid.uuid4(),
        patient=patient,
        date=date(2026, 11, 19),
        therapy_minutes={"stretching": 20},
        orthosis_hours={"night_splint": 8},
        missed_doses={"baclofen": 1},
    )

    resource = adherence_observation(log)

    parsed(resource)
    assert resource["category"][0]["coding"][0]["code"] == "activity"
    assert resource["effectiveDateTime"] == "2026-11-19"
    values = [c.get("valueQuantity", c.get("valueInteger")) for c in resource["component"]]
    assert values[0]["value"] == 20
    assert values[1]["value"] == 8
    assert values[2] == 1
    assert ("http://www.nlm.nih.gov/research/umls/rxnorm", "1292") in codes(resource["component"][2]["code"])


@pytest.mark.django_db
def test_patient_identifier_is_the_mrn_in_a_clinic_specific_system(patient, other_patient):
    mine, theirs = patient_resource(patient), patient_resource(other_patient)

    parsed(mine)
    assert mine["identifier"][0]["value"] == theirs["identifier"][0]["value"] == "MRN-1"
    assert mine["identifier"][0]["system"] != theirs["identifier"][0]["system"]
    assert mine["birthDate"] == "1970-05-17"


@pytest.mark.django_db
def test_clinic_group_lists_its_patients(patient, clinic):
    group = clinic_group(clinic, [patient.pk], patient.updated_at)

    parsed(group)
    assert group["member"] == [{"entity": {"reference": f"Patient/{patient.pk}"}}]
    assert group["quantity"] == 1


@pytest.mark.django_db
def test_red_flag_alert_is_an_active_safety_flag_until_resolved(patient):
    alert = Alert.objects.create(
        clinic=patient.clinic, patient=patient, kind="red_flag", priority="urgent", title="Red flag: Fever"
    )
    flag = alert_flag(alert)
    parsed(flag)
    assert (flag["status"], flag["category"][0]["coding"][0]["code"]) == ("active", "safety")
    assert flag["code"]["text"] == "Red flag: Fever"

    alert.status, alert.resolved_at = "resolved", datetime(2026, 11, 21, tzinfo=UTC)
    flag = alert_flag(alert)
    assert flag["status"] == "inactive"
    assert flag["period"]["end"].startswith("2026-11-21")


@pytest.mark.django_db
def test_oral_regimen_is_one_statement_per_dose_period(patient):
    regimen = MedicationRegimenFactory(patient=patient, drug="baclofen")
    first = MedicationDoseFactory(regimen=regimen, effective_from=date(2026, 9, 1), dose_mg=Decimal("5"))
    second = MedicationDoseFactory(
        regimen=regimen,
        effective_from=date(2026, 10, 1),
        dose_mg=Decimal("10"),
        times_of_day=["08:00", "14:00", "20:00"],
    )
    MedicationDoseFactory(
        regimen=regimen, effective_from=date(2026, 12, 1), dose_mg=None, times_per_day=None, stopped=True
    )

    statements = oral_medication_statements(regimen, [*regimen.doses.all()], TODAY)

    for s in statements:
        parsed(s)
    assert [s["status"] for s in statements] == ["completed", "active"]
    assert statements[0]["effectivePeriod"] == {"start": "2026-09-01", "end": "2026-09-30"}
    assert statements[1]["effectivePeriod"] == {"start": "2026-10-01", "end": "2026-11-30"}
    assert statements[1]["medicationCodeableConcept"]["coding"][0] == {
        "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
        "code": "1292",
        "display": "baclofen",
    }
    dosage = statements[1]["dosage"][0]
    assert dosage["doseAndRate"][0]["doseQuantity"]["value"] == 10
    assert dosage["maxDosePerPeriod"]["numerator"]["value"] == 80
    assert dosage["timing"]["repeat"]["timeOfDay"] == ["08:00:00", "14:00:00", "20:00:00"]
    assert statements[0]["id"] != statements[1]["id"]
    assert str(first.pk) in statements[0]["id"]
    assert second


@pytest.mark.django_db
def test_titration_steps_cancelled_before_their_day_are_stopped_and_end_nothing(patient):
    regimen = MedicationRegimenFactory(patient=patient, drug="baclofen")
    start = MedicationDoseFactory(regimen=regimen, effective_from=date(2026, 11, 10), dose_mg=Decimal("5"))
    cancelled = MedicationDoseFactory(
        regimen=regimen,
        effective_from=date(2026, 11, 25),
        dose_mg=Decimal("15"),
        superseded_at=datetime(2026, 11, 19, 9, 0, tzinfo=UTC),
    )
    MedicationDoseFactory(regimen=regimen, effective_from=date(2026, 12, 10), dose_mg=Decimal("10"))

    statements = {s["id"]: s for s in oral_medication_statements(regimen, [*regimen.doses.all()], TODAY)}

    for statement in statements.values():
        parsed(statement)
    kept = statements[f"oral-dose-{start.pk}"]
    assert kept["effectivePeriod"] == {"start": "2026-11-10", "end": "2026-12-09"}
    dropped = statements[f"oral-dose-{cancelled.pk}"]
    assert dropped["status"] == "stopped"
    assert dropped["meta"]["lastUpdated"].startswith("2026-11-19T09:00:00")


@pytest.mark.django_db
def test_a_superseded_therapy_version_is_a_revoked_care_plan(patient):
    first = TherapyPlanVersionFactory(plan__patient=patient, effective_from=date(2026, 11, 1))
    TherapyActivityFactory(version=first)
    cancelled = TherapyPlanVersionFactory(
        plan=first.plan, effective_from=date(2026, 12, 1), superseded_at=datetime(2026, 11, 15, tzinfo=UTC)
    )
    TherapyActivityFactory(version=cancelled)
    versions = [*first.plan.versions.all()]
    activities = {v.pk: list(v.activities.all()) for v in versions}

    plans = {p["id"]: p for p in therapy_care_plans(first.plan, versions, activities, TODAY)}

    for plan in plans.values():
        parsed(plan)
    assert plans[f"therapy-{first.pk}"]["status"] == "active"
    assert "end" not in plans[f"therapy-{first.pk}"]["period"]
    assert plans[f"therapy-{cancelled.pk}"]["status"] == "revoked"
    assert plans[f"therapy-{cancelled.pk}"]["activity"][0]["detail"]["status"] == "cancelled"
    assert "replaces" not in plans[f"therapy-{cancelled.pk}"]


@pytest.mark.django_db
def test_tizanidine_has_only_our_code(patient):
    regimen = MedicationRegimenFactory(patient=patient, drug="tizanidine")
    MedicationDoseFactory(regimen=regimen, dose_mg=Decimal("2"))

    statement = oral_medication_statements(regimen, [*regimen.doses.all()], TODAY)[0]

    assert codes(statement["medicationCodeableConcept"]) == {(local_system("antispasticity-drug"), "tizanidine")}


@pytest.mark.django_db
def test_itb_pump_is_a_device_and_intrathecal_daily_doses(patient):
    pump = ItbPumpFactory(patient=patient, serial_number="NGV123")
    ItbDoseFactory(pump=pump, effective_from=date(2025, 3, 1), daily_dose_mcg=Decimal("300"))
    ItbDoseFactory(pump=pump, effective_from=date(2026, 6, 1), daily_dose_mcg=Decimal("400"))

    device = itb_pump_device(pump)
    statements = itb_medication_statements(pump, [*pump.doses.all()], TODAY)

    parsed(device)
    for s in statements:
        parsed(s)
    assert device["property"][0]["valueQuantity"][0]["value"] == 20
    current = statements[-1]
    assert current["status"] == "active"
    assert current["dosage"][0]["route"]["coding"][0]["code"] == "intrathecal"
    assert current["dosage"][0]["doseAndRate"][0]["rateRatio"]["numerator"] == {
        "value": 400,
        "unit": "mcg",
        "system": "http://unitsofmeasure.org",
        "code": "ug",
    }
    assert current["derivedFrom"] == [{"reference": f"Device/{pump.pk}"}]


@pytest.mark.django_db
def test_botulinum_session_is_a_procedure_with_one_administration_per_site(patient):
    session = BotulinumSessionFactory(patient=patient)
    medial = InjectionSiteFactory(
        session=session, muscle="gastrocnemius_medial_head", side="left", units=Decimal("100")
    )
    pec = InjectionSiteFactory(session=session, muscle="pectoralis_major", side="right", units=Decimal("75"))
    sites = [medial, pec]

    procedure = botulinum_procedure(session, sites)
    administrations = [injection_administration(site, session) for site in sites]

    parsed(procedure)
    for a in administrations:
        parsed(a)
    assert ("http://www.ama-assn.org/go/cpt", "64642") in codes(procedure["code"])
    assert administrations[0]["partOf"] == [{"reference": f"Procedure/{session.pk}"}]
    site = administrations[0]["dosage"]["site"]
    assert site["coding"][0] == {"system": MDC, "code": "459681"}  # no verified SNOMED code: MDC, left = base + 1
    assert site["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "7771000"
    assert (SNOMED, "60005003") in codes(administrations[1]["dosage"]["site"])
    dose = administrations[0]["dosage"]["dose"]
    assert (dose["value"], dose["code"]) == (100, "{Units}")
    assert administrations[0]["dosage"]["route"]["coding"][0]["code"] == "intramuscular"
    assert administrations[0]["contained"][0]["batch"]["lotNumber"] == "C1234"


@pytest.mark.django_db
def test_five_muscles_in_one_extremity_is_cpt_64644(patient):
    session = BotulinumSessionFactory(patient=patient)
    muscles = ["soleus", "gastrocnemius_medial_head", "gastrocnemius_lateral_head", "tibialis_posterior", "gracilis"]
    sites = [InjectionSiteFactory(session=session, muscle=m, side="left", units=Decimal("20")) for m in muscles]

    assert ("http://www.ama-assn.org/go/cpt", "64644") in codes(botulinum_procedure(session, sites)["code"])


@pytest.mark.django_db
def test_voided_session_is_entered_in_error(patient):
    session = BotulinumSessionFactory(
        patient=patient, voided_at=datetime(2026, 11, 3, tzinfo=UTC), void_reason="wrong patient"
    )
    site = InjectionSiteFactory(session=session)

    assert botulinum_procedure(session, [site])["status"] == "entered-in-error"
    assert injection_administration(site, session)["status"] == "entered-in-error"


@pytest.mark.django_db
def test_therapy_plan_versions_are_care_plans_that_replace_each_other(patient):
    first = TherapyPlanVersionFactory(plan__patient=patient, effective_from=date(2026, 9, 1))
    second = TherapyPlanVersionFactory(plan=first.plan, effective_from=date(2026, 11, 1))
    activity = TherapyActivityFactory(version=second, sets=2, reps=10, instructions="Hold 30 s")

    plans = therapy_care_plans(first.plan, [first, second], {second.pk: [activity]}, TODAY)

    for p in plans:
        parsed(p)
    assert [p["status"] for p in plans] == ["completed", "active"]
    assert plans[1]["replaces"] == [{"reference": f"CarePlan/{plans[0]['id']}"}]
    detail = plans[1]["activity"][0]["detail"]
    assert detail["scheduledTiming"]["repeat"] == {
        "frequency": 7,
        "period": 1,
        "periodUnit": "wk",
        "duration": 15,
        "durationUnit": "min",
    }
    assert detail["status"] == "in-progress"
    assert "Left calf" in detail["description"]


@pytest.mark.django_db
def test_goal_and_gas_ratings(patient):
    goal = GoalFactory(patient=patient, weight=3)
    other = GoalFactory(patient=patient, description="Sleep through", weight=1)
    rating = GoalRatingFactory(goal=goal, rated_on=date(2026, 11, 1), level=1)
    other_rating = GoalRatingFactory(goal=other, rated_on=date(2026, 11, 1), level=-1)

    resource = goal_resource(goal, [rating])
    level = gas_level_observation(rating, patient.pk)
    t_score = gas_t_score_observation(patient.pk, date(2026, 11, 1), [(rating, 3), (other_rating, 1)])

    for r in (resource, level, t_score):
        parsed(r)
    assert resource["achievementStatus"]["coding"][0]["code"] == "achieved"
    assert resource["outcomeReference"] == [{"reference": f"Observation/{level['id']}"}]
    assert level["focus"] == [{"reference": f"Goal/{goal.pk}"}]
    assert t_score["valueQuantity"]["value"] == 55.82  # clinical-reference §1.6: (+1, -1) with weights (3, 1)
    assert t_score["valueQuantity"]["code"] == "{score}"
    assert {r["reference"] for r in t_score["derivedFrom"]} == {
        f"Observation/gas-{rating.pk}",
        f"Observation/gas-{other_rating.pk}",
    }


@pytest.mark.django_db
def test_orthotic_plan_is_a_device_request_with_side_and_schedule(patient):
    version = OrthoticPlanVersionFactory(plan__patient=patient)

    request = orthotic_device_requests(version.plan, [version], TODAY)[0]

    parsed(request)
    assert request["codeCodeableConcept"]["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "7771000"
    assert request["occurrenceTiming"]["repeat"]["when"] == ["NIGHT"]
    assert request["status"] == "active"


def test_every_exported_type_declares_its_search_parameters():
    from fhir_export.search import PARAMETERS
    from fhir_export.sources import RESOURCE_TYPES

    assert set(PARAMETERS) == set(RESOURCE_TYPES)


# The mappers read these fields of the effective-dated plan models (clinic/models/plans.py). A new
# field can change what a version means (for example a version cancelled before it took
# effect): this fails until someone decides how the FHIR mapping treats it.
KNOWN_PLAN_FIELDS = {
    "MedicationDose": {
        "id",
        "regimen",
        "effective_from",
        "reason",
        "created_at",
        "created_by",
        "dose_mg",
        "times_per_day",
        "times_of_day",
        "stopped",
        "override_reason",
        "superseded_at",
    },
    "ItbDose": {
        "id",
        "pump",
        "effective_from",
        "reason",
        "created_at",
        "created_by",
        "daily_dose_mcg",
        "superseded_at",
    },
    "TherapyPlanVersion": {
        "id",
        "plan",
        "effective_from",
        "reason",
        "created_at",
        "created_by",
        "stopped",
        "superseded_at",
    },
    "OrthoticPlanVersion": {
        "id",
        "plan",
        "effective_from",
        "reason",
        "created_at",
        "created_by",
        "stopped",
        "hours_per_day",
        "at_night",
        "wear_schedule",
        "review_on",
        "skin_check",
        "superseded_at",
    },
}


@pytest.mark.parametrize("model_name", sorted(KNOWN_PLAN_FIELDS))
def test_the_mapping_knows_every_field_of_the_plan_versions(model_name):
    from django.apps import apps

    fields = {f.name for f in apps.get_model("clinic", model_name)._meta.concrete_fields}

    assert fields == KNOWN_PLAN_FIELDS[model_name], "a plan field changed: decide how fhir_export maps it"


def test_the_judge_refuses_what_r4b_added_over_r4():
    from tests.fhir_export.fhir import parsed as judged

    patient = {
        "resourceType": "Patient",
        "name": [{"family": "X", "_family": {"extension": [{"url": "http://x", "valueRatioRange": {}}]}}],
    }

    with pytest.raises(AssertionError, match="R4B-only"):
        judged(patient)
