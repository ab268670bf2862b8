"""The FHIR REST API: CapabilityStatement, read with validators, search with keyset pages, $everything."""

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
from django.utils import timezone as django_timezone
from rest_framework.test import APIClient

from clinic.models import AuditEvent
from diary.models import DiaryEntry
from diary.trends.services import trends_recompute_now
from fhir_export import services
from fhir_export.search import PARAMETERS
from fhir_export.sources import RESOURCE_TYPES
from tests.factories import PatientFactory
from tests.fhir_export.conftest import diary_entry
from tests.fhir_export.fhir import assert_references_resolve, parsed, valid

FHIR_JSON = "application/fhir+json"


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


# --- CapabilityStatement -------------------------------------------------------------------------


def test_capability_statement_is_open_and_tells_what_search_supports(db):
    response = APIClient().get("/fhir/metadata")

    assert response.status_code == 200
    assert response["Content-Type"] == FHIR_JSON
    statement = parsed(response.content)
    assert statement.fhirVersion == "4.0.1"
    rest = statement.rest[0]
    declared = {r.type: {p.name for p in r.searchParam or []} for r in rest.resource}
    assert {t: {p.name for p in PARAMETERS[t]} for t in RESOURCE_TYPES} == {t: declared[t] for t in RESOURCE_TYPES}
    assert "http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data" in statement.instantiates
    assert rest.operation[0].name == "export"
    assert rest.security.service[0].coding[0].code == "SMART-on-FHIR"
    token = rest.security.extension[0].extension[0]
    assert token.valueUri.endswith("/fhir/auth/token")


# --- Read ----------------------------------------------------------------------------------------


def all_resources(api, patient) -> list[dict]:
    bundle = api.get(f"/fhir/Patient/{patient.pk}/$everything").json()
    return [entry["resource"] for entry in bundle["entry"]]


def test_every_resource_reads_back_as_itself_with_validators(ehr_api, full_patient):
    api = ehr_api()
    resources = all_resources(api, full_patient)

    assert {r["resourceType"] for r in resources} == set(RESOURCE_TYPES) - {"Group"}
    for resource in resources:
        response = api.get(f"/fhir/{resource['resourceType']}/{resource['id']}")
        assert response.status_code == 200, resource["id"]
        assert response.json() == resource
        parsed(response.content)
        assert response["ETag"].startswith('W/"')
        assert response["Last-Modified"]


def test_if_none_match_and_if_modified_since_answer_304(ehr_api, full_patient):
    api = ehr_api()
    url = f"/fhir/Patient/{full_patient.pk}"
    first = api.get(url)

    assert api.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    assert api.get(url, HTTP_IF_MODIFIED_SINCE=first["Last-Modified"]).status_code == 304
    assert api.get(url, HTTP_IF_NONE_MATCH='W/"something-else"').status_code == 200


def test_if_match_on_a_changed_resource_is_412(ehr_api, patient):
    response = ehr_api().get(f"/fhir/Patient/{patient.pk}", HTTP_IF_MATCH='W/"old"')

    assert response.status_code == 412
    assert parsed(response.content).issue[0].code == "conflict"


def test_deleted_diary_entry_is_410_gone(ehr_api, patient):
    entry = diary_entry(patient, deleted_at=django_timezone.now())

    response = ehr_api().get(f"/fhir/Observation/{entry.pk}")

    assert response.status_code == 410
    assert parsed(response.content).issue[0].code == "deleted"


def test_another_clinics_resources_are_404_and_the_attempt_is_audited(ehr_api, other_patient):
    entry = diary_entry(other_patient)
    api = ehr_api()

    for url in (
        f"/fhir/Patient/{other_patient.pk}",
        f"/fhir/Observation/{entry.pk}",
        f"/fhir/Patient/{other_patient.pk}/$everything",
    ):
        response = api.get(url)
        assert response.status_code == 404, url
        assert parsed(response.content).issue[0].code == "not-found"
    assert AuditEvent.objects.filter(outcome="denied", actor_label="Riverside EHR").count() == 3


def test_another_clinics_resources_never_show_in_searches(ehr_api, patient, other_patient):
    diary_entry(patient)
    diary_entry(other_patient)

    bundle = ehr_api().get("/fhir/Observation").json()
    patients = ehr_api().get("/fhir/Patient").json()

    assert bundle["total"] == 1
    assert [e["resource"]["id"] for e in patients["entry"]] == [str(patient.pk)]


def test_reads_are_audited_with_the_patient(ehr_api, patient):
    entry = diary_entry(patient)

    ehr_api().get(f"/fhir/Observation/{entry.pk}")

    event = AuditEvent.objects.get(action="read", resource_type="fhir:Observation")
    assert (event.patient_id, event.actor_label, event.resource_id) == (patient.pk, "Riverside EHR", str(entry.pk))


@pytest.mark.parametrize("bad_id", ["nope", "gas-x", "gas-t-123", "adherence-1", "oral-dose-abc", "clinic-999"])
def test_malformed_or_unknown_ids_are_404(ehr_api, patient, bad_id):
    resource_type = "Group" if bad_id.startswith("clinic") else "Observation"

    assert ehr_api().get(f"/fhir/{resource_type}/{bad_id}").status_code == 404


@pytest.mark.parametrize("path", ["/fhir/%0A/", "/fhir/Patient/%0A/x", "/fhir/Patient/a/b/c", "/fhir//"])
def test_paths_that_name_nothing_are_fhir_404s(ehr_api, patient, path):
    response = ehr_api().get(path)

    assert (response.status_code, response["Content-Type"]) == (404, "application/fhir+json")
    assert parsed(response.content).issue[0].code == "not-found"


def test_the_clinic_group_lists_its_patients(ehr_api, patient, clinic):
    PatientFactory(clinic=clinic)

    group = ehr_api().get(f"/fhir/Group/clinic-{clinic.pk}").json()

    valid(group)
    assert group["quantity"] == 2


# --- Search --------------------------------------------------------------------------------------


@pytest.fixture
def entries(patient) -> list[DiaryEntry]:
    start = datetime(2026, 10, 1, 8, 0, tzinfo=timezone(timedelta(hours=2)))
    return [diary_entry(patient, when=start + timedelta(hours=7 * i), severity=i % 11) for i in range(23)]


def walk(api, url: str) -> list[dict]:
    """Every page of a search, following next links, each page parsed."""
    pages = []
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.content
        assert response["Content-Type"] == FHIR_JSON
        pages.append(valid(response.json()))
        url = next((path_of(link["url"]) for link in pages[-1]["link"] if link["relation"] == "next"), "")
    return pages


def ids(page: dict) -> list[str]:
    return [e["resource"]["id"] for e in page.get("entry", []) if e["search"]["mode"] == "match"]


def test_pages_cover_every_match_once_with_total_and_links(ehr_api, entries, patient):
    pages = walk(ehr_api(), f"/fhir/Observation?patient={patient.pk}&_count=5")

    seen = [i for page in pages for i in ids(page)]
    assert len(pages) == 5
    assert sorted(seen) == sorted(str(e.pk) for e in entries)
    assert {page["total"] for page in pages} == {23}
    assert not any(link["relation"] == "previous" for link in pages[0]["link"])
    assert pages[0]["link"][0]["relation"] == "self"


def test_unsorted_pages_walk_across_every_source_both_ways(ehr_api, full_patient, django_assert_num_queries):
    for day in range(6):
        diary_entry(full_patient, when=datetime(2026, 10, 5, 9, tzinfo=UTC) + timedelta(days=day))
    trends_recompute_now(patient=full_patient)
    api = ehr_api()
    everything = ids(api.get("/fhir/Observation?_count=500").json())

    pages = walk(api, "/fhir/Observation?_count=3")
    back, url = [], next(path_of(link["url"]) for link in pages[-1]["link"] if link["relation"] == "previous")
    while url:
        page = api.get(url).json()
        back.insert(0, ids(page))
        url = next((path_of(link["url"]) for link in page["link"] if link["relation"] == "previous"), "")
    with django_assert_num_queries(3):  # token, one page of diary entries, audit: the other sources wait
        api.get("/fhir/Observation?_count=3&_total=none")

    assert [i for page in pages for i in ids(page)] == everything
    assert [i for page in back for i in page] == everything[: -len(ids(pages[-1]))]
    assert {i.split("-")[0] for i in everything} >= {"adherence", "gas", "trend"}


def test_date_sort_both_ways_and_previous_links_walk_back(ehr_api, entries, patient):
    api = ehr_api()
    ascending = [
        i for page in walk(api, f"/fhir/Observation?patient={patient.pk}&_sort=date&_count=4") for i in ids(page)
    ]
    descending = walk(api, f"/fhir/Observation?patient=Patient/{patient.pk}&_sort=-date&_count=4")

    by_time = [str(e.pk) for e in sorted(entries, key=lambda e: e.occurred_at)]
    assert ascending == by_time
    assert [i for page in descending for i in ids(page)] == by_time[::-1]
    third = descending[2]
    previous = next(link["url"] for link in third["link"] if link["relation"] == "previous")
    assert ids(api.get(path_of(previous)).json()) == ids(descending[1])


def test_rows_added_while_paging_do_not_shift_pages(ehr_api, entries, patient):
    api = ehr_api()
    first = api.get(f"/fhir/Observation?patient={patient.pk}&_sort=date&_count=5").json()
    diary_entry(patient, when=datetime(2026, 9, 1, tzinfo=UTC))  # sorts before everything already seen

    second = api.get(path_of(next(link["url"] for link in first["link"] if link["relation"] == "next"))).json()

    assert ids(second) == [str(e.pk) for e in sorted(entries, key=lambda e: e.occurred_at)][5:10]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("date=2026-10-01", 3),  # partial date: the whole day (UTC)
        ("date=2026-10", 23),
        ("date=ge2026-10-05", 10),
        ("date=lt2026-10-02T00:00:00Z", 3),
        ("date=gt2026-10-05T06:00:00%2B02:00&date=le2026-10-06", 6),  # 04:00Z onwards, to the end of the 6th
        ("date=ne2026-10-01", 20),
        ("date=2025", 0),
    ],
)
def test_date_prefixes_and_partial_dates(ehr_api, entries, patient, query, expected):
    bundle = ehr_api().get(f"/fhir/Observation?patient={patient.pk}&{query}&_summary=count").json()

    assert bundle["total"] == expected


def test_category_code_and_id_filters(ehr_api, full_patient):
    api = ehr_api()
    survey = api.get("/fhir/Observation?category=survey").json()
    activity = api.get(
        "/fhir/Observation?category=http://terminology.hl7.org/CodeSystem/observation-category|activity"
    ).json()
    nrs = api.get("/fhir/Observation?code=spasticity_nrs").json()
    rxnorm = api.get("/fhir/MedicationStatement?code=http://www.nlm.nih.gov/research/umls/rxnorm|1292").json()
    neither = api.get("/fhir/Observation?code=http://loinc.org|72514-3").json()

    assert {e["resource"]["code"]["coding"][-1]["code"] for e in survey["entry"]} == {
        "spasticity_nrs",
        "gas_level",
        "gas_t_score",
        "week",  # the diary summaries
        "month",
    }
    assert [e["resource"]["id"][:10] for e in activity["entry"]] == ["adherence-"]
    assert nrs["total"] == 1
    assert rxnorm["total"] == 2  # the oral baclofen dose and the pump's intrathecal baclofen
    assert neither["total"] == 0
    first = nrs["entry"][0]["resource"]["id"]
    by_id = api.get(f"/fhir/Observation?_id={first},gas-999").json()
    assert ids(by_id) == [first]


def test_last_updated_filter(ehr_api, patient):
    old = diary_entry(patient)
    DiaryEntry.objects.filter(pk=old.pk).update(updated_at=datetime(2026, 1, 1, tzinfo=UTC))
    diary_entry(patient)

    bundle = ehr_api().get("/fhir/Observation?_lastUpdated=ge2026-06-01").json()

    assert bundle["total"] == 1


def test_include_adds_each_patient_once(ehr_api, entries, patient):
    bundle = valid(ehr_api().get("/fhir/Observation?_include=Observation:patient&_count=10").json())

    included = [e for e in bundle["entry"] if e["search"]["mode"] == "include"]
    assert [e["resource"]["id"] for e in included] == [str(patient.pk)]
    assert_references_resolve(bundle)


def test_summary_count_has_only_the_total(ehr_api, entries):
    bundle = valid(ehr_api().get("/fhir/Observation?_summary=count").json())

    assert bundle["total"] == 23
    assert "entry" not in bundle


def test_patient_search_by_mrn_identifier(ehr_api, patient, clinic):
    PatientFactory(clinic=clinic, mrn="MRN-2")
    system = ehr_api().get(f"/fhir/Patient/{patient.pk}").json()["identifier"][0]["system"]

    assert ids(ehr_api().get(f"/fhir/Patient?identifier={system}|MRN-1").json()) == [str(patient.pk)]
    assert ehr_api().get("/fhir/Patient?identifier=http://elsewhere.example|MRN-1").json()["total"] == 0


def test_count_is_capped(ehr_api, entries, settings):
    settings.FHIR_SEARCH_MAX_COUNT = 10

    bundle = ehr_api().get("/fhir/Observation?_count=1000").json()

    assert len(bundle["entry"]) == 10


@pytest.mark.parametrize("count", ["²", "-1", "1.5", "9" * 40])
def test_a_count_that_is_not_plain_digits_is_a_400(ehr_api, entries, count):
    response = ehr_api().get("/fhir/Observation", {"_count": count})

    assert response.status_code == 400
    assert valid(response.json())["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("group_id", ["clinic-²", "clinic-" + "9" * 30])
def test_a_group_id_that_is_no_clinic_number_finds_nothing(ehr_api, clinic, group_id):
    assert ehr_api().get("/fhir/Group", {"_id": group_id}).json()["total"] == 0


def test_post_search_takes_a_form(ehr_api, entries, patient):
    from urllib.parse import urlencode

    response = ehr_api().post(
        "/fhir/Observation/_search",
        urlencode({"patient": str(patient.pk), "_count": "3"}),
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    assert len(response.json()["entry"]) == 3


@pytest.mark.parametrize(
    ("url", "headers", "status", "code"),
    [
        ("/fhir/Observation?colour=blue", {"HTTP_PREFER": "handling=strict"}, 400, "invalid"),
        ("/fhir/Observation?date=yesterday", {}, 400, "invalid"),
        ("/fhir/Observation?date=2026-02-30", {}, 400, "invalid"),
        ("/fhir/Observation?date=ap2026-01-01", {}, 400, "invalid"),
        ("/fhir/Observation?_sort=severity", {}, 400, "invalid"),
        ("/fhir/Observation?_count=many", {}, 400, "invalid"),
        ("/fhir/Observation?_page=garbage", {}, 400, "invalid"),
        ("/fhir/Observation?code:text=nrs", {}, 400, "invalid"),
        ("/fhir/Patient?_sort=date", {}, 400, "invalid"),
        ("/fhir/Observation?_format=xml", {}, 406, "not-supported"),
        ("/fhir/Observation", {"HTTP_ACCEPT": "application/fhir+xml"}, 406, "not-supported"),
        ("/fhir/Medication", {}, 404, "not-found"),
        ("/fhir/Observation/x/y/z", {}, 404, "not-found"),
    ],
)
def test_bad_requests_are_operation_outcomes(ehr_api, patient, url, headers, status, code):
    response = ehr_api().get(url, **headers)

    assert response.status_code == status
    outcome = parsed(response.content)
    assert outcome.issue[0].code == code
    assert "Traceback" not in outcome.issue[0].diagnostics


def test_unknown_parameters_are_ignored_without_strict_handling(ehr_api, entries):
    bundle = ehr_api().get("/fhir/Observation?colour=blue&_count=2").json()

    assert bundle["total"] == 23
    assert "colour" not in bundle["link"][0]["url"]


def test_writes_are_405(ehr_api, patient):
    response = ehr_api().put(f"/fhir/Patient/{patient.pk}", {"resourceType": "Patient"}, format="json")

    assert response.status_code == 405
    parsed(response.content)


def test_format_json_is_accepted(ehr_api, patient):
    for value in ("json", "application/fhir+json", "application/json"):
        assert ehr_api().get(f"/fhir/Patient/{patient.pk}?_format={value}").status_code == 200


# --- Query counts ------------------------------------------------------------------------------------


def test_search_pages_cost_the_same_whatever_their_size(ehr_api, patient, django_assert_num_queries):
    api = ehr_api()  # auth: 1 query (token), audit: 1 insert
    for _ in range(3):
        diary_entry(patient)
    trends_recompute_now(patient=patient)
    # token, 5 sources x (count + page), the summaries' diary entries, audit
    with django_assert_num_queries(13):
        api.get("/fhir/Observation?_count=50")
    for day in range(30):
        diary_entry(patient, when=datetime(2026, 10, 1, 9, tzinfo=UTC) + timedelta(days=day))
    trends_recompute_now(patient=patient)
    with django_assert_num_queries(13):
        body = api.get("/fhir/Observation?_count=50").json()
    assert sum(e["resource"]["id"].startswith("trend-") for e in body["entry"]) > 4


def test_plan_searches_prefetch_instead_of_querying_per_row(ehr_api, clinic, django_assert_num_queries):
    from tests.factories import MedicationDoseFactory, MedicationRegimenFactory

    api = ehr_api()
    patients = [PatientFactory(clinic=clinic) for _ in range(5)]
    for p in patients:
        MedicationDoseFactory(regimen=MedicationRegimenFactory(patient=p))
    with django_assert_num_queries(7):  # token; oral: count, page, doses; itb: count, page; audit
        response = api.get("/fhir/MedicationStatement")
    assert response.json()["total"] == 5


def test_everything_costs_a_fixed_number_of_queries(ehr_api, full_patient, django_assert_num_queries):
    api = ehr_api()
    diary_entry(full_patient)
    trends_recompute_now(patient=full_patient)
    # token, patient, 18 source reads, 5 prefetches, the trend summaries' diary entries, audit
    with django_assert_num_queries(26) as first:
        api.get(f"/fhir/Patient/{full_patient.pk}/$everything")
    for day in range(10):
        diary_entry(full_patient, when=datetime(2026, 9, 1, 9, tzinfo=UTC) + timedelta(days=3 * day))
    trends_recompute_now(patient=full_patient)
    with django_assert_num_queries(len(first.captured_queries)):
        api.get(f"/fhir/Patient/{full_patient.pk}/$everything")


# --- $everything -----------------------------------------------------------------------------------------


def test_everything_holds_the_patient_and_all_their_resources(ehr_api, full_patient, other_patient):
    diary_entry(other_patient)

    bundle = valid(ehr_api().get(f"/fhir/Patient/{full_patient.pk}/$everything").json())

    types = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert types[0] == "Patient"
    assert set(types) == set(RESOURCE_TYPES) - {"Group"}
    assert bundle["total"] == len(types)
    assert_references_resolve(bundle)
    assert all(
        e["resource"].get("subject", e["resource"].get("patient", {"reference": f"Patient/{full_patient.pk}"}))[
            "reference"
        ]
        == f"Patient/{full_patient.pk}"
        for e in bundle["entry"][1:]
    )


def test_everything_type_and_since(ehr_api, full_patient):
    api = ehr_api()
    observations = api.get(f"/fhir/Patient/{full_patient.pk}/$everything?_type=Observation").json()
    later = (django_timezone.now() + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    nothing = api.get(f"/fhir/Patient/{full_patient.pk}/$everything?_since={later}").json()
    bad = api.get(f"/fhir/Patient/{full_patient.pk}/$everything?_type=Medication")

    assert {e["resource"]["resourceType"] for e in observations["entry"]} == {"Observation"}
    assert nothing["total"] == 0
    assert bad.status_code == 400


# --- Observation bundles ---------------------------------------------------------------------------------------


def test_observation_bundle_is_served_ready_with_caching_headers(ehr_api, full_patient):
    api = ehr_api()
    url = f"/fhir/Bundle/observations-{full_patient.pk}-2026-11"

    response = api.get(url)

    assert response.status_code == 200
    bundle = valid(response.json())
    assert bundle["type"] == "collection"
    assert_references_resolve(bundle)
    observations = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    days = [o.get("effectiveDateTime") or o["effectivePeriod"]["start"] for o in observations]
    assert {day[:7] for day in days} == {"2026-11"}
    assert {o["code"]["coding"][-1]["code"] for o in observations if "effectivePeriod" in o} == {"week", "month"}
    assert response["Cache-Control"].startswith("private, max-age=")
    assert api.get(url, HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304


def test_observation_bundle_of_another_clinic_is_404(ehr_api, other_patient):
    assert ehr_api().get(f"/fhir/Bundle/observations-{other_patient.pk}-2026-11").status_code == 404
    assert ehr_api().get("/fhir/Bundle/whatever").status_code == 404


def test_search_is_audited_with_the_patients_shown(ehr_api, entries, patient):
    ehr_api().get("/fhir/Observation")

    event = AuditEvent.objects.get(action="search")
    assert event.detail["patient_ids"] == [str(patient.pk)]
    assert event.actor_label == "Riverside EHR"


def test_a_narrow_client_of_another_clinic_sees_nothing_here(other_clinic, jwks, sign, patient, ehr_api):
    diary_entry(patient)
    theirs = services.backend_client_register(clinic=other_clinic, name="Hillside EHR", scopes="system/*.rs", jwks=jwks)

    api = ehr_api(theirs)

    assert api.get("/fhir/Observation").json()["total"] == 0
    assert api.get(f"/fhir/Patient/{patient.pk}").status_code == 404
    assert uuid.UUID(str(patient.pk))


# --- Dates over periods, and at the ends of the calendar ---------------------------------------------


@pytest.fixture
def doses(patient):
    """5 mg from 1 September to 30 September, then 10 mg from 1 October, still taken."""
    from decimal import Decimal

    from tests.factories import MedicationDoseFactory, MedicationRegimenFactory

    regimen = MedicationRegimenFactory(patient=patient, drug="baclofen")
    first = MedicationDoseFactory(regimen=regimen, effective_from=date(2026, 9, 1), dose_mg=Decimal(5))
    second = MedicationDoseFactory(regimen=regimen, effective_from=date(2026, 10, 1), dose_mg=Decimal(10))
    return f"oral-dose-{first.pk}", f"oral-dose-{second.pk}"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("ge2026-10-15", ["second"]),  # still taken: its period goes on after the 15th
        ("gt2026-12-31", ["second"]),
        ("2026-09", ["first"]),  # eq: September contains the first dose's period
        ("2026", ["first"]),  # the ongoing dose is not contained in any year
        ("ne2026-09", ["second"]),
        ("lt2026-10-01", ["first"]),  # began before October
        ("le2026-09-30", ["first"]),
        ("sa2026-09-30", ["second"]),
        ("eb2026-10-01", ["first"]),  # the first dose ended on 30 September
        ("ge2026-09-15", ["first", "second"]),
    ],
)
def test_date_search_on_dose_periods_compares_ranges(ehr_api, doses, query, expected):
    bundle = ehr_api().get(f"/fhir/MedicationStatement?effective={query}&_sort=date").json()

    named = dict(zip(("first", "second"), doses, strict=True))
    assert ids(bundle) == [named[n] for n in expected]


@pytest.mark.parametrize("query", ["ge2030-01-01", "gt2026-12-31", "ne2026-09", "le2030-01-01", "sa2026-10-01"])
def test_a_dose_cancelled_before_its_day_is_found_by_no_date(ehr_api, patient, doses, query):
    from decimal import Decimal

    from django.utils import timezone

    from clinic.models import MedicationRegimen
    from tests.factories import MedicationDoseFactory

    regimen = MedicationRegimen.objects.get(patient=patient)
    MedicationDoseFactory(
        regimen=regimen, effective_from=date(2026, 11, 1), dose_mg=Decimal(15), superseded_at=timezone.now()
    )

    found = ids(ehr_api().get(f"/fhir/MedicationStatement?effective={query}").json())

    assert set(found) <= set(doses)


def test_an_unresolved_alert_is_found_by_any_later_date_and_a_resolved_one_is_not(ehr_api, patient):
    from diary.models import Alert

    still = Alert.objects.create(clinic=patient.clinic, patient=patient, kind="red_flag", title="A", priority="urgent")
    done = Alert.objects.create(clinic=patient.clinic, patient=patient, kind="red_flag", title="B", priority="urgent")
    Alert.objects.filter(pk__in=[still.pk, done.pk]).update(created_at=datetime(2026, 1, 5, tzinfo=UTC))
    Alert.objects.filter(pk=done.pk).update(status="resolved", resolved_at=datetime(2026, 2, 1, tzinfo=UTC))

    bundle = ehr_api().get("/fhir/Flag?date=ge2026-06-01").json()

    assert ids(bundle) == [str(still.pk)]


@pytest.mark.parametrize(
    "query",
    [
        "Observation?date=9999-12-31",
        "Observation?date=gt9999-12-31",
        "Observation?date=9999-12",
        "Observation?date=9999",
        "Observation?date=0001-01-01T00:30:00%2B01:00",
        "Observation?date=le9999-12-31T23:59:59-05:00",
        "Observation?date=eb0001-01-01",
        "Observation?_lastUpdated=9999-12-31",
        "Observation?_lastUpdated=ne0001-01-01T00:00:00%2B14:00",
        "MedicationStatement?effective=ge9999-12-31",
        "MedicationStatement?effective=0001-01-01T00:30:00%2B01:00",
        "Observation?code=month&date=gt9999-12-31T23:59:59Z",
        "Flag?date=9999-12-31T23:59:59-05:00",
    ],
)
def test_dates_at_the_ends_of_the_calendar_search_without_failing(ehr_api, full_patient, query):
    response = ehr_api().get(f"/fhir/{query}")

    assert response.status_code == 200, response.content
    valid(response.json())


def forged(raw) -> str:
    import base64

    import orjson

    return base64.urlsafe_b64encode(orjson.dumps(raw)).decode().rstrip("=")


@pytest.mark.parametrize(
    "query",
    [
        f"Observation?_sort=date&_page={forged(['n', None, 0, str(uuid.uuid4())])}",  # a sorted page needs a value
        f"Observation?_page={forged(['n', None, 0, 'x'])}",  # not a diary entry's key
        f"Observation?_page={forged(['n', None, 4, 'abc'])}",  # not a T-score's key
        f"Observation?_page={forged(['n', None, 9, '1'])}",  # no such table
        f"Observation?_page={forged(['n', None, -1, '1'])}",
        f"Observation?_page={forged(['n', None, 1.5, '1'])}",
        f"Observation?_page={forged(['x', None, 0, str(uuid.uuid4())])}",
        f"Observation?_page={forged(['n', None, 2, '99999999999999999999999'])}",
        f"Observation?_sort=date&_page={forged(['n', '2026-11-20T00:00:00', 0, str(uuid.uuid4())])}",  # no zone
        f"Observation?_sort=date&_page={forged(['n', '0001-01-01T00:00:00+01:00', 0, str(uuid.uuid4())])}",
        f"Observation?_page={forged(['n', '2026-11-20T00:00:00+00:00', 0, str(uuid.uuid4())])}",  # unsorted
        f"Group?_page={forged(['n', None, 0, 'clinic-1'])}",
        "Observation?_page=bm90IGpzb24",
    ],
)
def test_forged_page_links_are_400(ehr_api, full_patient, query):
    response = ehr_api().get(f"/fhir/{query}")

    assert response.status_code == 400, response.content
    assert parsed(response.content).issue[0].code == "invalid"


def test_a_code_without_a_system_matches_nothing_here(ehr_api, full_patient):
    api = ehr_api()

    assert api.get("/fhir/Observation?code=|spasticity_nrs").json()["total"] == 0
    assert api.get("/fhir/Observation?code=spasticity_nrs").json()["total"] == 1


def test_total_none_stays_on_the_next_and_previous_pages(ehr_api, entries):
    api = ehr_api()
    first = api.get("/fhir/Observation?_count=5&_total=none").json()
    second = api.get(path_of(next(link["url"] for link in first["link"] if link["relation"] == "next"))).json()

    assert "total" not in first
    assert "total" not in second
    assert all("_total=none" in link["url"] for link in second["link"])


def test_device_includes_its_patient_by_the_patient_parameter_only(ehr_api, full_patient):
    api = ehr_api()
    statement = APIClient().get("/fhir/metadata").json()
    device = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Device")

    assert device["searchInclude"] == ["Device:patient"]
    assert api.get("/fhir/Device?_include=Device:subject", HTTP_PREFER="handling=strict").status_code == 400
    included = api.get("/fhir/Device?_include=Device:patient").json()
    assert [e["search"]["mode"] for e in included["entry"]] == ["match", "include"]


# --- Scopes, ids and months ------------------------------------------------------------------------


def test_include_leaves_out_patients_the_token_may_not_read_and_says_so(ehr_api, entries):
    bundle = valid(ehr_api(scope="system/Observation.rs").get("/fhir/Observation?_include=Observation:patient").json())

    modes = {e["search"]["mode"] for e in bundle["entry"]}
    assert modes == {"match", "outcome"}
    outcome = next(e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "outcome")
    assert outcome["issue"][0]["severity"] == "warning"
    assert "Patient" in outcome["issue"][0]["diagnostics"]


def test_a_stored_bundle_needs_scopes_for_everything_it_holds(ehr_api, full_patient):
    url = f"/fhir/Bundle/observations-{full_patient.pk}-2026-11"

    for scope in ("system/Observation.rs", "system/Observation.rs system/Patient.rs"):
        response = ehr_api(scope=scope).get(url)
        assert response.status_code == 403, scope
        assert parsed(response.content).issue[0].code == "forbidden"
    allowed = ehr_api(scope="system/Observation.rs system/Patient.rs system/Goal.rs").get(url)
    assert allowed.status_code == 200


@pytest.mark.parametrize(
    "month",
    [
        "9999-12",  # the last month of the calendar
        "1900-01",  # long before the patient's first entry
        "2099-01",  # not yet
        "2026-13",
    ],
)
def test_bundles_outside_the_patients_months_are_404_and_store_nothing(ehr_api, full_patient, month):
    from fhir_export.models import ObservationBundle

    response = ehr_api().get(f"/fhir/Bundle/observations-{full_patient.pk}-{month}")

    assert response.status_code == 404
    assert parsed(response.content).issue[0].code == "not-found"
    assert not ObservationBundle.objects.exists()


def test_the_month_of_the_first_entry_and_this_month_are_served(ehr_api, full_patient):
    diary_entry(full_patient, when=datetime(2026, 3, 5, 9, tzinfo=UTC))
    this_month = django_timezone.now().strftime("%Y-%m")
    api = ehr_api()

    assert api.get(f"/fhir/Bundle/observations-{full_patient.pk}-2026-03").status_code == 200
    assert api.get(f"/fhir/Bundle/observations-{full_patient.pk}-{this_month}").status_code == 200
    assert api.get(f"/fhir/Bundle/observations-{full_patient.pk}-2026-02").status_code == 404


@pytest.mark.parametrize(
    "bad_id",
    ["a" * 65, "x\x00y", "\x00", "ab c", "é", "a:b", "trend-" + "9" * 70, "gas-1\n"],
)
def test_ids_that_are_not_fhir_ids_are_404_and_the_attempt_is_audited(ehr_api, patient, bad_id):
    from urllib.parse import quote

    api = ehr_api()

    for url in (f"/fhir/Observation/{quote(bad_id, safe='')}", f"/fhir/Patient/{quote(bad_id, safe='')}/$everything"):
        response = api.get(url)
        assert response.status_code == 404, url
        assert parsed(response.content).issue[0].code == "not-found"
    denied = AuditEvent.objects.filter(outcome="denied")
    assert denied.count() == 2
    assert all(len(e.resource_id) <= 100 and "\x00" not in e.resource_id for e in denied)
