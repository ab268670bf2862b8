"""Hostile input the schema fuzz does not reach: any If-Match header, dates at the calendar's ends,
NUL and other control characters in query strings, and JSON of the wrong type. Never a 500.

Each property runs through the whole stack with real tokens; on PostgreSQL (.ci/run) a NUL that
reached a text or jsonb column would fail there, so the same tests guard both databases.
"""

import uuid
from datetime import date, timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from clinic.models import AuditEvent
from diary.models import DiaryEntry

pytestmark = pytest.mark.django_db

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)

# Text as clients could send it in a header or a query string, NULs and odd digits included.
hostile_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30) | st.sampled_from(
    ["\x00", "a\x00b", '"\u00b2"', '"\u0663"', '"' + "9" * 5000 + '"', 'W/"-1"', '"3', "*", '"1e3"']
)


def test_any_if_match_on_a_correction_is_answered_without_a_server_error(patient_api, entry_payload):
    entry = entry_payload()
    patient_api.post("/api/v1/diary/entries", entry, format="json")
    patient_api.raise_request_exception = False

    @FUZZ
    @given(header=hostile_text)
    @example(header='"\u00b2"')
    def check(header: str) -> None:
        response = patient_api.patch(
            f"/api/v1/diary/entries/{entry['id']}", {"notes": "x"}, format="json", HTTP_IF_MATCH=header
        )
        assert response.status_code in (200, 400, 412), header

    check()


def test_a_superscript_digit_in_if_match_is_a_400_naming_the_header(patient_api, entry_payload):
    entry = entry_payload()
    patient_api.post("/api/v1/diary/entries", entry, format="json")

    response = patient_api.patch(
        f"/api/v1/diary/entries/{entry['id']}", {"severity": 3}, format="json", HTTP_IF_MATCH='"\u00b2"'
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["If-Match"]


def test_any_if_match_on_a_plan_item_is_answered_without_a_server_error(api_as, therapist, patient):
    api = api_as(therapist)
    api.raise_request_exception = False
    today = timezone.localdate()
    plan = {
        "discipline": "physical_therapy",
        "title": "Calf stretches",
        "effective_from": today.isoformat(),
        "activities": [{"kind": "stretching", "minutes": 15, "days_per_week": 7}],
    }
    created = api.post(f"/api/v1/patients/{patient.pk}/therapy-plans", plan, format="json")
    assert created.status_code == 201, created.content
    url = f"/api/v1/patients/{patient.pk}/therapy-plans/{created.json()['id']}/versions"
    change = {**plan, "effective_from": (today + timedelta(days=30)).isoformat(), "reason": "progressing"}
    del change["discipline"], change["title"]

    @FUZZ
    @given(header=hostile_text)
    @example(header='"\u00b2"')
    def check(header: str) -> None:
        response = api.post(url, change, format="json", HTTP_IF_MATCH=header)
        assert response.status_code < 500, header

    check()


def test_adherence_summary_dates_anywhere_in_the_calendar_are_answered(api_as, clinician, patient):
    api = api_as(clinician)
    api.raise_request_exception = False
    url = f"/api/v1/patients/{patient.pk}/adherence-summary"

    @FUZZ
    @given(start=st.none() | st.dates(), end=st.none() | st.dates())
    @example(start=None, end=date(1, 1, 1))
    @example(start=date(9999, 12, 31), end=date(9999, 12, 31))
    def check(start, end) -> None:
        query = {k: v.isoformat() for k, v in {"from": start, "to": end}.items() if v is not None}
        response = api.get(url, query)
        assert response.status_code in (200, 400), query

    check()


@pytest.mark.parametrize("query", ["to=0001-01-01", "to=0001-01-27", "to=9999-12-31", "from=9999-12-31&to=9999-12-31"])
def test_adherence_summary_at_the_calendars_ends_is_a_400(api_as, clinician, patient, query):
    response = api_as(clinician).get(f"/api/v1/patients/{patient.pk}/adherence-summary?{query}")

    assert response.status_code == 400


def test_a_birth_date_before_1900_is_refused(api_as, nurse):
    response = api_as(nurse).post(
        "/api/v1/patients",
        {
            "mrn": "X1",
            "given_name": "A",
            "family_name": "B",
            "birth_date": "0001-01-01",
            "sex": "female",
            "time_zone": "Pacific/Kiritimati",
            "diagnosis": "stroke",
        },
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["birth_date"]


LISTS = [
    "/api/v1/audit-events",
    "/api/v1/audit-events.csv",
    "/api/v1/audit-events.ndjson",
    "/api/v1/alerts",
    "/api/v1/patients",
    "/api/v1/staff",
]


@pytest.mark.parametrize("path", LISTS)
def test_query_strings_with_nul_and_control_characters_never_fail(api_as, admin_user, path):
    api = api_as(admin_user)
    api.raise_request_exception = False

    @FUZZ
    @given(
        name=st.sampled_from(["note", "action", "since", "patient", "status", "search", "page", "\x00"]),
        value=hostile_text,
    )
    @example(name="note", value="\x00")
    @example(name="action", value="\x00")
    def check(name: str, value: str) -> None:
        response = api.get(path, {name: value})
        assert response.status_code in (200, 400, 404), (name, value)
        if response.status_code == 200 and path.endswith((".csv", ".ndjson")):
            b"".join(response.streaming_content)

    check()


def test_the_audit_export_records_only_the_filters_it_applied(api_as, admin_user):
    api = api_as(admin_user)

    response = api.get("/api/v1/audit-events.csv?note=%00&outcome=denied")
    b"".join(response.streaming_content)

    export = AuditEvent.objects.filter(action="export").get()
    assert response.status_code == 200
    assert export.detail == {"format": "csv", "outcome": "denied"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"severity": "6"}, "severity"),
        ({"severity": 6.0}, "severity"),
        ({"severity": True}, "severity"),
        ({"spasm_count": "4"}, "spasm_count"),
        ({"duration_minutes": False}, "duration_minutes"),
        ({"id": 5}, "id"),
        ({"id": uuid.uuid4().int}, "id"),
    ],
)
def test_diary_numbers_and_ids_of_the_wrong_json_type_are_refused(patient_api, entry_payload, changes, field):
    response = patient_api.post("/api/v1/diary/entries", entry_payload(**changes), format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]
    assert not DiaryEntry.objects.exists()


@pytest.mark.parametrize("bad_id", [5, True, None, ["x"]])
def test_adherence_ids_must_be_strings(patient_api, bad_id):
    response = patient_api.post(
        "/api/v1/diary/adherence", {"id": bad_id, "date": timezone.localdate().isoformat()}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["id"]


@pytest.mark.parametrize("kind", ["trends", "trends/events", "adherence-summary", "record", "care-plan"])
def test_a_nul_in_a_patients_query_string_is_never_a_server_error(api_as, clinician, patient, kind):
    api = api_as(clinician)
    api.raise_request_exception = False

    response = api.get(f"/api/v1/patients/{patient.pk}/{kind}", {"x": "\x00", "granularity": "week"})

    assert response.status_code in (200, 400)
