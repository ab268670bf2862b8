"""The trends API, charts and the attention overview: who may see what, shapes, query counts."""

import re
from datetime import date, datetime
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from clinic.models import AuditEvent
from diary.models import Alert
from diary.trends import compute
from tests.conftest import bearer_client, enroll
from tests.diary.conftest import daily, entry
from tests.factories import (
    BotulinumSessionFactory,
    InjectionSiteFactory,
    MedicationDoseFactory,
    MedicationRegimenFactory,
    PatientFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("now")]


@pytest.fixture
def diary(patient, record):
    record(
        patient,
        [
            *daily(date(2026, 10, 5), date(2026, 11, 24), 5, spasms=3, triggers=["cold"], relief={"heat": 2}),
            entry("2026-11-24T22:00:00-05:00", 7, triggers=["fatigue"]),
        ],
    )
    return patient


def trends_url(patient, **query) -> str:
    params = "&".join(f"{k}={v}" for k, v in query.items())
    return f"/api/v1/patients/{patient.pk}/trends" + (f"?{params}" if params else "")


def test_staff_read_weekly_trends_newest_first_with_what_they_derive_from(api_as, clinician, diary):
    body = api_as(clinician).get(trends_url(diary)).json()

    latest = body["results"][0]
    assert [r["label"] for r in body["results"][:2]] == ["2026-W48", "2026-W47"]
    assert latest["derived_from"] == {
        "patient_id": str(diary.pk),
        "local_date_from": "2026-11-23",
        "local_date_to": "2026-11-29",
    }
    assert (latest["entry_count"], latest["complete"], latest["version"]) == (3, False, 1)
    assert latest["figures"]["triggers"] == [{"trigger": "cold", "count": 2}, {"trigger": "fatigue", "count": 1}]
    assert AuditEvent.objects.filter(resource_type="trend_summary", patient_id=diary.pk).exists()


def test_monthly_granularity(api_as, clinician, diary):
    body = api_as(clinician).get(trends_url(diary, granularity="month")).json()

    assert [(r["label"], r["entry_count"]) for r in body["results"]] == [("2026-11", 25), ("2026-10", 27)]


def test_an_unknown_granularity_is_a_problem_naming_the_field(api_as, clinician, diary):
    response = api_as(clinician).get(trends_url(diary, granularity="year"))

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert "granularity" in response.json()["errors"]


def test_the_patients_own_app_reads_their_trends_but_not_anyone_elses(diary, record):
    someone_else = PatientFactory(clinic=diary.clinic)
    record(someone_else, daily(date(2026, 11, 2), date(2026, 11, 4), 4))
    own_app = bearer_client(enroll(diary, device="second phone"))

    assert own_app.get(trends_url(diary)).status_code == 200
    assert own_app.get(trends_url(someone_else)).status_code == 404
    assert own_app.get(f"/api/v1/patients/{someone_else.pk}/charts/severity.svg").status_code == 404


def test_another_clinic_never_sees_the_patient(api_as, staff, other_clinic, diary):
    stranger = api_as(staff("clinician", clinic=other_clinic))

    for url in (
        trends_url(diary),
        f"/api/v1/patients/{diary.pk}/trends/events",
        f"/api/v1/patients/{diary.pk}/charts/severity.png",
    ):
        response = stranger.get(url)
        assert response.status_code == 404, url
        assert response["Content-Type"] == "application/problem+json"
    assert AuditEvent.objects.filter(outcome=AuditEvent.Outcome.DENIED, resource_type="trend_summary").exists()


def test_trend_list_costs_a_fixed_number_of_queries(api_as, clinician, diary, django_assert_num_queries):
    api = api_as(clinician)

    # token, patient (scoped), the page, audit
    with django_assert_num_queries(4):
        response = api.get(trends_url(diary, page_size=100))
    assert len(response.json()["results"]) == 8


def test_event_comparisons_are_listed(api_as, clinician, diary):
    session = BotulinumSessionFactory(patient=diary, injected_on=date(2026, 10, 26))
    InjectionSiteFactory(session=session)
    from diary.trends import compute

    compute.recompute([diary.pk])

    body = api_as(clinician).get(f"/api/v1/patients/{diary.pk}/trends/events").json()

    (row,) = body["results"]
    assert (row["event_kind"], row["event_ref"], row["event_date"]) == (
        "botulinum_session",
        str(session.pk),
        "2026-10-26",
    )
    assert row["figures"]["before"]["days_with_entries"] == 21
    assert row["enough_data"] is True


@pytest.mark.parametrize(
    ("fmt", "content_type", "magic"), [("svg", "image/svg+xml", b"<?xml"), ("png", "image/png", b"\x89PNG")]
)
@pytest.mark.parametrize("name", ["severity", "time-of-day", "triggers", "relief"])
def test_charts_are_served_as_svg_and_png(api_as, clinician, diary, name, fmt, content_type, magic):
    response = api_as(clinician).get(f"/api/v1/patients/{diary.pk}/charts/{name}.{fmt}", HTTP_ACCEPT="image/*")

    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response.content.startswith(magic)


def test_the_severity_chart_marks_injections_on_the_time_axis(api_as, clinician, diary):
    session = BotulinumSessionFactory(patient=diary, injected_on=date(2026, 10, 26))
    InjectionSiteFactory(session=session)

    svg = api_as(clinician).get(f"/api/v1/patients/{diary.pk}/charts/severity.svg").content.decode()

    assert "Injection" in svg
    assert "onabotulinumtoxinA (Botox)" in svg
    assert "Mean severity" in svg


def severity_svg(api, patient) -> str:
    return api.get(f"/api/v1/patients/{patient.pk}/charts/severity.svg").content.decode()


def test_the_severity_chart_draws_only_changes_that_stand_and_have_happened(api_as, clinician, patient, record):
    regimen = MedicationRegimenFactory(patient=patient)
    MedicationDoseFactory(regimen=regimen, effective_from=date(2026, 9, 1), dose_mg=Decimal("10"))
    # Cancelled before it took effect: it never happened.
    MedicationDoseFactory(
        regimen=regimen, effective_from=date(2026, 10, 5), dose_mg=Decimal("99"), superseded_at=timezone.now()
    )
    MedicationDoseFactory(regimen=regimen, effective_from=date(2026, 11, 9), dose_mg=Decimal("15"))  # after the diary
    MedicationDoseFactory(regimen=regimen, effective_from=date(2026, 12, 20), dose_mg=Decimal("20"))  # planned
    record(patient, daily(date(2026, 9, 1), date(2026, 10, 20), 5, spasms=2))  # stopped in October

    svg = severity_svg(api_as(clinician), patient)

    assert "Baclofen 10 mg x 3/day" in svg
    assert "Baclofen 15 mg x 3/day" in svg  # the axis reaches the change made since the diary stopped
    assert "99 mg" not in svg
    assert "20 mg" not in svg


def test_the_severity_line_breaks_at_a_week_without_entries_and_unknown_spasms_have_no_bar(
    api_as, clinician, patient, record
):
    record(
        patient,
        [
            *daily(date(2026, 10, 5), date(2026, 10, 18), 5, spasms=2),  # two weeks
            # no entries in the week of 19 October
            *daily(date(2026, 10, 26), date(2026, 11, 1), 6),  # spasms not counted
            *daily(date(2026, 11, 2), date(2026, 11, 8), 4, spasms=3),
        ],
    )

    svg = severity_svg(api_as(clinician), patient)

    line = re.search(r'<g id="mean-severity">\s*<path d="([^"]+)"', svg)
    assert line is not None
    assert line.group(1).count("M") == 2  # two stretches: 5 and 12 October, then 26 October on
    bars = set(re.findall(r'<g id="spasms-([0-9-]+)">', svg))
    assert bars == {"2026-10-05", "2026-10-12", "2026-11-02"}


def test_a_chart_of_a_patient_without_entries_says_so(api_as, clinician, patient):
    svg = api_as(clinician).get(f"/api/v1/patients/{patient.pk}/charts/triggers.svg").content.decode()

    assert "Nothing recorded in this time" in svg


def test_an_unknown_chart_is_a_404_problem(api_as, clinician, diary):
    response = api_as(clinician).get(f"/api/v1/patients/{diary.pk}/charts/horoscope.svg")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


@pytest.fixture
def clinic_patients(clinic, record, entry_payload, patient_api, patient):
    """Patients needing attention for different reasons, and one who needs none."""
    calm = PatientFactory(clinic=clinic, family_name="Calm")
    record(calm, daily(date(2026, 11, 16), date(2026, 11, 24), 4))
    worse = PatientFactory(clinic=clinic, family_name="Worse")
    record(worse, [*daily(date(2026, 11, 9), date(2026, 11, 11), 3), *daily(date(2026, 11, 16), date(2026, 11, 24), 6)])
    refill = PatientFactory(clinic=clinic, family_name="Refill")
    record(refill, daily(date(2026, 11, 16), date(2026, 11, 24), 4))
    Alert.objects.create(
        clinic=clinic,
        patient=refill,
        kind=Alert.Kind.PUMP_REFILL_DUE,
        priority=Alert.Priority.ROUTINE,
        title="Pump refill due by 2026-12-03",
        dedupe_key="pump_refill_due:test",
    )
    urgent = PatientFactory(clinic=clinic, family_name="Urgent")
    record(urgent, [entry("2026-11-24T08:00:00-05:00", 8, red_flags=["fever"])])
    PatientFactory(clinic=clinic, family_name="Discharged", is_active=False)
    return {"calm": calm, "worse": worse, "refill": refill, "urgent": urgent}


def test_overview_orders_patients_by_need_of_attention_with_reasons(api_as, clinician, clinic_patients, patient):
    body = api_as(clinician).get("/api/v1/clinic/overview").json()

    names = [row["family_name"] for row in body["results"]]
    assert names[:3] == ["Urgent", "Worse", "Refill"]
    assert set(names[3:]) == {"Calm", patient.family_name}
    assert "Discharged" not in names
    urgent, worse, refill = body["results"][:3]
    assert urgent["open_alerts"] == {"urgent": 1, "high": 0, "routine": 0}
    assert urgent["reasons"][0]["title"] == "Red flag: Fever"
    assert worse["latest_week_direction"] == "worse"
    assert worse["reasons"] == [
        {"kind": "trend_worse", "priority": "routine", "title": "Severity worse in 2026-W47 (3 → 6)", "alert_id": None}
    ]
    assert refill["reasons"][0]["kind"] == "pump_refill_due"
    assert refill["last_entry_day"] == "2026-11-24"


def test_a_worse_week_months_ago_is_no_reason_for_attention_today(api_as, clinician, clinic, record):
    long_ago = PatientFactory(clinic=clinic, family_name="Zed")
    record(long_ago, [*daily(date(2026, 6, 1), date(2026, 6, 3), 3), *daily(date(2026, 6, 8), date(2026, 6, 10), 6)])
    refill = PatientFactory(clinic=clinic, family_name="Able")
    record(refill, daily(date(2026, 11, 16), date(2026, 11, 24), 4))
    Alert.objects.create(
        clinic=clinic,
        patient=refill,
        kind=Alert.Kind.PUMP_REFILL_DUE,
        priority=Alert.Priority.ROUTINE,
        title="Pump refill due",
        dedupe_key="pump_refill_due:test",
    )

    rows = api_as(clinician).get("/api/v1/clinic/overview").json()["results"]

    assert [r["family_name"] for r in rows] == ["Able", "Zed"]
    assert (rows[1]["latest_week_direction"], rows[1]["reasons"]) == (None, [])


def test_the_last_complete_week_is_the_patients_own(api_as, clinician, clinic, record):
    toronto = PatientFactory(clinic=clinic, family_name="West", time_zone="America/Toronto")
    record(
        toronto, [*daily(date(2026, 11, 9), date(2026, 11, 11), 3), *daily(date(2026, 11, 16), date(2026, 11, 18), 6)]
    )

    # 03:00 UTC on Monday 23 November is still Sunday evening in Toronto: the week of the 16th
    # is not over there, so the last complete week is that of the 9th.
    with time_machine.travel(datetime.fromisoformat("2026-11-23T03:00:00+00:00"), tick=False):
        compute.recompute([toronto.pk])
        (row,) = api_as(clinician).get("/api/v1/clinic/overview").json()["results"]
    assert row["latest_week_direction"] == "not_enough_data"

    with time_machine.travel(datetime.fromisoformat("2026-11-23T06:00:00+00:00"), tick=False):  # Monday there
        compute.recompute([toronto.pk])
        (row,) = api_as(clinician).get("/api/v1/clinic/overview").json()["results"]
    assert row["latest_week_direction"] == "worse"


def test_overview_costs_a_fixed_number_of_queries(api_as, clinician, clinic_patients, django_assert_num_queries):
    api = api_as(clinician)

    # token, the patients' time zones, count, page, open alerts, latest weeks, audit
    with django_assert_num_queries(7):
        response = api.get("/api/v1/clinic/overview")
    assert response.json()["count"] == 5


def test_overview_is_for_staff_only(patient_api, clinic_patients):
    assert patient_api.get("/api/v1/clinic/overview").status_code == 403
