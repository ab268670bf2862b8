"""Trend summaries as FHIR Observations: known diaries in, known figures and derivedFrom out."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
import time_machine
from django.utils import timezone as django_timezone
from rest_framework.test import APIClient

from clinic.vocabulary import local_system
from diary.models import TrendSummary
from diary.trends.services import trends_recompute_now
from tests.fhir_export.conftest import diary_entry
from tests.fhir_export.fhir import assert_references_resolve, parsed, valid

TORONTO = timezone(timedelta(hours=-5))
WEEK = f"{local_system('diary-summary')}|week"


@pytest.fixture(autouse=True)
def friday_of_week_47():
    """Friday 20 November 2026: ISO week 47 (16-22 November) is still running."""
    with time_machine.travel(datetime(2026, 11, 20, 17, 0, tzinfo=UTC), tick=False):
        yield


@pytest.fixture
def diary(patient, other_patient):
    """Week 46 (9-15 November): four entries on four days, one more deleted; week 47: one entry,
    six minutes after the patient's midnight. Another clinic's patient wrote in week 46 too."""
    entries = [
        diary_entry(patient, when=datetime(2026, 11, 9, 8, 0, tzinfo=TORONTO), severity=4, spasm_count=2),
        diary_entry(patient, when=datetime(2026, 11, 10, 8, 0, tzinfo=TORONTO), severity=6, spasm_count=4),
        diary_entry(patient, when=datetime(2026, 11, 11, 8, 0, tzinfo=TORONTO), severity=5, spasm_count=None),
        diary_entry(patient, when=datetime(2026, 11, 15, 23, 30, tzinfo=TORONTO), severity=8, spasm_count=6),
        diary_entry(patient, when=datetime(2026, 11, 16, 0, 6, tzinfo=TORONTO), severity=3, spasm_count=1),
    ]
    diary_entry(patient, when=datetime(2026, 11, 12, 8, 0, tzinfo=TORONTO), deleted_at=django_timezone.now())
    diary_entry(other_patient, when=datetime(2026, 11, 10, 8, 0, tzinfo=TORONTO))
    trends_recompute_now(patient=patient)
    trends_recompute_now(patient=other_patient)
    return entries


def figures(observation: dict) -> dict:
    return {
        c["code"]["coding"][-1]["code"]: c.get("valueInteger", c.get("valueQuantity", {}).get("value"))
        for c in observation["component"]
    }


def test_a_week_is_an_observation_of_its_figures_derived_from_its_entries(ehr_api, patient, diary):
    body = valid(ehr_api().get(f"/fhir/Observation?patient={patient.pk}&code={WEEK}&_sort=date").json())

    week_46, week_47 = (e["resource"] for e in body["entry"])
    assert parsed(week_46).effectivePeriod.start.isoformat() == "2026-11-09"
    assert week_46["effectivePeriod"] == {"start": "2026-11-09", "end": "2026-11-15"}
    assert week_46["status"] == "final"
    assert figures(week_46) == {
        "diary_entries": 4,
        "diary_days": 4,
        "spasticity_nrs_mean": 5.75,
        "spasticity_nrs_median": 5.5,
        "spasticity_nrs_max": 8,
        "spasms_total": 12,
        "spasms_per_day": 4,  # 12 spasms over the 3 days they were counted (11 November's entry left it out)
        "walking": 2,  # every entry rated walking 2
    }
    assert [r["reference"] for r in week_46["derivedFrom"]] == [f"Observation/{e.pk}" for e in diary[:4]]
    assert week_46["interpretation"][0]["coding"][-1]["code"] == "not_enough_data"  # week 45 was empty
    assert week_47["status"] == "preliminary"
    assert [r["reference"] for r in week_47["derivedFrom"]] == [f"Observation/{diary[4].pk}"]


def test_the_month_holds_every_entry_of_the_patients_november(ehr_api, patient, diary):
    month_code = f"{local_system('diary-summary')}|month"
    body = valid(ehr_api().get(f"/fhir/Observation?patient={patient.pk}&code={month_code}").json())

    (month,) = (e["resource"] for e in body["entry"])
    assert month["effectivePeriod"] == {"start": "2026-11-01", "end": "2026-11-30"}
    assert [r["reference"] for r in month["derivedFrom"]] == [f"Observation/{e.pk}" for e in diary]
    assert figures(month)["diary_entries"] == 5


def test_a_summary_reads_back_without_a_version_the_server_cannot_vread_and_is_in_everything(ehr_api, patient, diary):
    api = ehr_api()
    summary = TrendSummary.objects.get(patient=patient, granularity="week", period_start="2026-11-09")

    read = api.get(f"/fhir/Observation/trend-{summary.pk}")
    everything = valid(api.get(f"/fhir/Patient/{patient.pk}/$everything").json())

    assert read.status_code == 200
    assert parsed(read.content).meta.versionId is None
    statement = APIClient().get("/fhir/metadata").json()
    observation = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Observation")
    assert observation["versioning"] == "no-version"
    assert {"code": "vread"} not in observation["interaction"]
    assert read["ETag"]
    ids = {e["resource"]["id"] for e in everything["entry"]}
    assert {f"trend-{s.pk}" for s in TrendSummary.objects.filter(patient=patient)} <= ids


def test_another_clinic_never_sees_the_summaries(ehr_api, patient, other_patient, diary):
    foreign = TrendSummary.objects.filter(patient=other_patient).first()

    api = ehr_api()
    searched = api.get("/fhir/Observation?code=" + WEEK).json()

    assert api.get(f"/fhir/Observation/trend-{foreign.pk}").status_code == 404
    assert {e["resource"]["subject"]["reference"] for e in searched["entry"]} == {f"Patient/{patient.pk}"}


@pytest.mark.parametrize(
    ("query", "weeks"),
    [
        ("ge2026-11-16", ["2026-11-16"]),  # week 46 ended on the 15th
        ("2026-11", ["2026-11-09", "2026-11-16"]),  # eq: the month contains both weeks
        ("2026-11-12", []),  # eq: one day does not contain a week
        ("ne2026-11-12", ["2026-11-09", "2026-11-16"]),
        ("gt2026-11-12", ["2026-11-09", "2026-11-16"]),  # week 46 goes on after the 12th
        ("lt2026-11-10", ["2026-11-09"]),  # it began before the 10th
        ("le2026-11-15", ["2026-11-09"]),
        ("sa2026-11-15", ["2026-11-16"]),  # starts after the 15th ends
        ("eb2026-11-16", ["2026-11-09"]),  # ends before the 16th begins
    ],
)
def test_date_search_compares_the_whole_period(ehr_api, patient, diary, query, weeks):
    body = ehr_api().get(f"/fhir/Observation?patient={patient.pk}&code={WEEK}&date={query}&_sort=date").json()

    assert [e["resource"]["effectivePeriod"]["start"] for e in body.get("entry", [])] == weeks


def test_a_running_month_is_found_by_a_day_after_its_start(ehr_api, patient, diary):
    month_code = f"{local_system('diary-summary')}|month"
    api = ehr_api()

    for query in ("ge2026-11-15", "gt2026-11-20", "le2026-11-20", "2026-11"):
        assert api.get(f"/fhir/Observation?code={month_code}&date={query}").json()["total"] == 1, query
    assert api.get(f"/fhir/Observation?code={month_code}&date=sa2026-11-20").json()["total"] == 0


def test_a_months_bundle_holds_its_summaries_but_not_a_week_that_crosses_into_the_next(ehr_api, patient, diary):
    week_44_entry = diary_entry(patient, when=datetime(2026, 10, 28, 8, 0, tzinfo=TORONTO))  # week 26 Oct-1 Nov
    trends_recompute_now(patient=patient)
    api = ehr_api()

    october = valid(api.get(f"/fhir/Bundle/observations-{patient.pk}-2026-10").json())
    november = valid(api.get(f"/fhir/Bundle/observations-{patient.pk}-2026-11").json())

    def summaries(bundle: dict) -> set[tuple[str, str]]:
        return {
            (e["resource"]["code"]["coding"][-1]["code"], e["resource"]["effectivePeriod"]["start"])
            for e in bundle["entry"]
            if e["resource"]["id"].startswith("trend-")
        }

    assert summaries(october) == {("month", "2026-10-01")}
    assert summaries(november) == {("month", "2026-11-01"), ("week", "2026-11-09"), ("week", "2026-11-16")}
    assert f"Observation/{week_44_entry.pk}" in {e["fullUrl"].split("/fhir/", 1)[1] for e in october["entry"]}
    assert_references_resolve(october)
    assert_references_resolve(november)
