"""Fuzzing of every /fhir/ interaction, driven by our own CapabilityStatement (the FHIR API's
schema): whatever a caller sends, never a 500, always a FHIR document (``fhir.resources`` parses
it: a Bundle, the resource, or an OperationOutcome), and never another clinic's data.

Hypothesis draws searches from each type's declared parameters (with every prefix, modifier and
result parameter, and values both well formed and hostile: NULs, huge numbers, forged page
links), reads of ids both real and foreign, and bulk export kick-offs at the three levels.
"""

import base64
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diary.models import Alert
from fhir_export.capability import capability_statement
from fhir_export.models import ExportJob
from tests.fhir_export.conftest import FORM, diary_entry
from tests.fhir_export.fhir import valid

RESOURCES = {r["type"]: r for r in capability_statement()["rest"][0]["resource"]}
SEARCHABLE = sorted(t for t, r in RESOURCES.items() if r.get("searchParam"))
# The same examples every run (CI must not turn red by chance); for a deeper search, raise
# max_examples and drop derandomize locally: 400 per test (10,000 requests) found nothing more.
FUZZ = settings(
    max_examples=60, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck), database=None
)

# Text as a hostile client sends it: any code point a URL can carry, NUL and controls included.
JUNK = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=24)
NUMBERS = st.integers(-(10**20), 10**20).map(str)
DAYS = st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(date.isoformat)
# The ends of the calendar, where a day's end or a zone's offset runs past year 1 or 9999.
EXTREME_DATES = [
    "9999-12-31",
    "9999-12",
    "9999",
    "0001-01-01",
    "0001-01-01T00:30:00+01:00",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-05:00",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59.999999-12:00",
    "0000-01-01",
]
DATE_FORMS = st.sampled_from(
    [
        *("2026", "2026-11", "2026-11-20T07:30:00Z", "2026-11-20T07:30:00+05:00", "2026-13", "2026-02-30", "T07:30"),
        "-1",
        *EXTREME_DATES,
    ]
)
DATES = st.one_of(
    st.builds(
        str.__add__,
        st.sampled_from(["", "eq", "ne", "gt", "ge", "lt", "le", "sa", "eb", "ap", "xx"]),
        st.one_of(DAYS, DATE_FORMS),
    ),
    JUNK,
)
CODES = st.sampled_from(
    [
        "survey",
        "activity",
        "spasticity_nrs",
        "red_flag",
        "|survey",
        "http://terminology.hl7.org/CodeSystem/observation-category|survey",
        "http://terminology.hl7.org/CodeSystem/observation-category|",
        "|",
        "a|b|c",
        ",",
        "survey,activity",
    ]
)
TOKENS = st.one_of(CODES, st.builds(lambda s, c: f"{s}|{c}", JUNK, JUNK), JUNK, NUMBERS)
# Mostly none, so that most searches get past the parameter checks into the query.
MODIFIERS = st.sampled_from([""] * 12 + [":missing", ":exact", ":not", ":text", ":Patient", ":above", ":x"])
INCLUDES = st.sampled_from(["Observation:patient", "Flag:subject", "Patient:link", "*", "Observation:*", ""])


def page_link(raw: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(raw)).decode().rstrip("=")


HUGE = st.sampled_from(["9" * 20, "9" * 30, str(2**63), str(2**63 - 1), "0", "-1"])
PAGE_LINKS = st.one_of(
    st.builds(
        page_link,
        st.lists(
            st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=12), st.sampled_from(["n", "p"])),
            max_size=5,
        ),
    ),
    # Forged the way a client would tamper with ours: [direction, sort value, table, key].
    st.builds(
        lambda *parts: page_link(list(parts)),
        st.sampled_from(["n", "p", "x"]),
        st.one_of(
            st.none(),
            st.sampled_from([*EXTREME_DATES, "2026-11-20T07:30:00", "2026-11-20T07:30:00+00:00", "yesterday"]),
            st.integers(),
        ),
        st.one_of(st.integers(-2, 8), st.floats(allow_nan=False), st.text(max_size=3)),
        st.one_of(st.uuids().map(str), HUGE, st.text(max_size=70), st.none(), st.integers(-(2**70), 2**70)),
    ),
)
RESULT_VALUES = {
    "_count": st.one_of(st.integers(-10, 5000).map(str), NUMBERS, JUNK),
    "_sort": st.one_of(st.sampled_from(["date", "-date", "_lastUpdated", "-_lastUpdated", "code", "", ","]), JUNK),
    "_include": st.one_of(INCLUDES, JUNK),
    "_summary": st.one_of(st.sampled_from(["count", "true", "false", "data", "text"]), JUNK),
    "_total": st.one_of(st.sampled_from(["none", "accurate", "estimate"]), JUNK),
    "_format": st.one_of(st.sampled_from(["json", "application/fhir+json", "xml", "text/turtle"]), JUNK),
    "_page": st.one_of(PAGE_LINKS, JUNK),
    "_elements": JUNK,
    "_revinclude": st.one_of(INCLUDES, JUNK),
}
HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "HTTP_PREFER": st.sampled_from(["handling=strict", "handling=lenient", "respond-async", "return=minimal"]),
        "HTTP_ACCEPT": st.sampled_from(
            ["application/fhir+json"] * 4
            + ["application/json", "*/*", "application/fhir+json;q=0.9, */*;q=0.1", "text/html", "application/xml", ""]
        ),
    },
)


@pytest.fixture
def world(full_patient, other_patient, ehr_api, api_as, clinician) -> dict[str, Any]:
    """Our clinic's patient with one of everything, another clinic's patient with data, and two
    callers (a backend EHR client, and a clinician's staff token)."""
    foreign = diary_entry(other_patient)
    Alert.objects.create(clinic=other_patient.clinic, patient=other_patient, kind="red_flag", title="Red flag: Fever")
    return {
        "patient": str(full_patient.pk),
        "foreign": {str(other_patient.pk), str(foreign.pk)},
        "callers": {"ehr": ehr_api(), "staff": api_as(clinician)},
        "groups": [f"clinic-{full_patient.clinic_id}", f"clinic-{other_patient.clinic_id}"],
    }


def references(world: dict[str, Any]) -> st.SearchStrategy[str]:
    own = world["patient"]
    known = [own, f"Patient/{own}", *world["foreign"], *(f"Patient/{i}" for i in world["foreign"])]
    return st.one_of(
        st.sampled_from(known),
        st.lists(st.sampled_from(known), min_size=2, max_size=3).map(",".join),
        st.uuids().map(str),
        JUNK,
    )


def search_params(resource_type: str, world: dict[str, Any]) -> st.SearchStrategy[list[tuple[str, str]]]:
    values = {"date": DATES, "token": TOKENS, "reference": references(world)}

    @st.composite
    def draw_params(draw: Any) -> list[tuple[str, str]]:
        declared = draw(st.lists(st.sampled_from(RESOURCES[resource_type]["searchParam"]), max_size=4))
        pairs = [(p["name"] + draw(MODIFIERS), draw(values.get(p["type"], JUNK))) for p in declared]
        for name in draw(st.lists(st.sampled_from(sorted(RESULT_VALUES)), max_size=3)):
            pairs.append((name, draw(RESULT_VALUES[name])))
        pairs.extend(draw(st.lists(st.tuples(JUNK, JUNK), max_size=1)))  # a parameter nobody declared
        return pairs

    return draw_params()


def check_fhir_answer(response: Any, world: dict[str, Any]) -> dict[str, Any]:
    """The answer a FHIR client can rely on: no server error, FHIR JSON that parses, nothing foreign."""
    assert response.status_code < 500, response.content[:500]
    if response.status_code in (202, 304):
        return {}
    assert response["Content-Type"].split(";")[0] == "application/fhir+json", response["Content-Type"]
    body = valid(orjson.loads(response.content))
    if response.status_code >= 400:
        assert body["resourceType"] == "OperationOutcome"
    else:
        shown = [e["resource"] for e in body.get("entry", [])] if body["resourceType"] == "Bundle" else [body]
        for resource in shown:
            assert not any(foreign in orjson.dumps(resource).decode() for foreign in world["foreign"])
    return body


@pytest.mark.parametrize("resource_type", SEARCHABLE)
@pytest.mark.parametrize("caller", ["ehr", "staff"])
def test_fuzzed_searches_answer_fhir_and_only_our_clinics_data(world, resource_type, caller):
    api = world["callers"][caller]

    @given(params=search_params(resource_type, world), headers=HEADERS, method=st.sampled_from(["GET", "POST"]))
    @FUZZ
    def check(params: list[tuple[str, str]], headers: dict[str, str], method: str) -> None:
        if method == "GET":
            response = api.get(f"/fhir/{resource_type}?{urlencode(params)}", **headers)
        else:
            response = api.post(f"/fhir/{resource_type}/_search", urlencode(params), content_type=FORM, **headers)
        body = check_fhir_answer(response, world)
        if response.status_code == 200:
            assert (body["resourceType"], body["type"]) == ("Bundle", "searchset")

    check()


@pytest.mark.parametrize("caller", ["ehr", "staff"])
def test_fuzzed_reads_answer_fhir_and_never_another_clinics_resource(world, caller):
    api = world["callers"][caller]
    types = st.one_of(st.sampled_from([*RESOURCES, "Bundle", "Medication", "AuditEvent"]), JUNK)
    prefixes = ["", "gas-", "gas-t-", "adherence-", "trend-", "oral-dose-", "itb-dose-", "injection-", "clinic-"]
    ids = st.one_of(
        st.sampled_from(
            [world["patient"], *world["foreign"], *world["groups"], f"observations-{world['patient']}-2026-11"]
        ),
        st.uuids().map(str),
        JUNK,
        # Longer than a FHIR id, or with NULs and controls: never a lookup, never a 500.
        st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=65, max_size=300),
        st.builds(lambda a, b: f"{a}\x00{b}", JUNK, JUNK),
        st.builds(str.__add__, st.sampled_from(prefixes), HUGE),
        st.builds(
            lambda m: f"observations-{world['patient']}-{m}",
            st.sampled_from(["9999-12", "0001-01", "1900-01", "2099-12", "0000-00", "2026-13"]),
        ),
    )

    @given(resource_type=types, resource_id=ids, headers=HEADERS)
    @FUZZ
    def check(resource_type: str, resource_id: str, headers: dict[str, str]) -> None:
        response = api.get(f"/fhir/{quote(resource_type, safe='')}/{quote(resource_id, safe='')}", **headers)
        check_fhir_answer(response, world)
        if resource_id in world["foreign"]:
            assert response.status_code in (400, 404, 406)

    check()


def test_fuzzed_export_kickoffs_answer_fhir_and_create_nothing_when_refused(world):
    api = world["callers"]["ehr"]
    types = st.one_of(
        st.lists(st.sampled_from(sorted(RESOURCES)), min_size=1, max_size=3).map(",".join),
        st.lists(st.one_of(st.sampled_from(sorted(RESOURCES)), JUNK), max_size=3).map(",".join),
    )
    type_filters = st.builds(
        lambda t, params: f"{t}?{urlencode(params)}",
        st.sampled_from(SEARCHABLE),
        st.lists(st.tuples(st.sampled_from(["category", "code", "date", "_lastUpdated", "x"]), TOKENS), max_size=2),
    )
    params = st.fixed_dictionaries(
        {},
        optional={
            "_type": types,
            "_since": DATES,
            "_typeFilter": st.one_of(type_filters, JUNK),
            "_outputFormat": st.one_of(
                st.sampled_from(["application/fhir+ndjson", "application/ndjson", "ndjson", "text/csv"]), JUNK
            ),
            "_elements": JUNK,
            "patient": references(world),
        },
    )
    levels = st.one_of(
        st.sampled_from(["/fhir/$export", "/fhir/Patient/$export"]),
        st.builds(
            lambda g: f"/fhir/Group/{quote(g, safe='')}/$export",
            st.one_of(st.sampled_from(world["groups"]), st.uuids().map(str), JUNK),
        ),
    )

    # A kick-off needs Prefer: respond-async; most have it, so that most get past that check.
    prefer = st.sampled_from(
        ["respond-async"] * 6
        + ["", "handling=strict", "respond-async, handling=strict", "respond-async, handling=lenient"]
    )

    @given(level=levels, query=params, prefer=prefer, headers=HEADERS)
    @FUZZ
    def check(level: str, query: dict[str, str], prefer: str, headers: dict[str, str]) -> None:
        before = ExportJob.objects.count()
        response = api.get(f"{level}?{urlencode(query)}", **{**headers, "HTTP_PREFER": prefer})
        check_fhir_answer(response, world)
        if response.status_code == 202:
            assert response["Content-Location"]
            ExportJob.objects.all().delete()  # so the concurrency limit does not hide later answers
        else:
            assert ExportJob.objects.count() == before

    check()
