"""Botulinum toxin sessions: limits per product, the interval, overrides, voiding, roles."""

import pytest
import time_machine

from clinic.models import AuditEvent, BotulinumSession, InjectionSite

TODAY = "2026-11-20T12:00:00Z"

DESIGN_SESSION = {
    "date": "2026-11-02",
    "product": "onabotulinumtoxinA",
    "guidance": "ultrasound",
    "lot": "C1234",
    "sites": [
        {"muscle": "gastrocnemius_medial_head", "side": "left", "units": 100, "points": 2},
        {"muscle": "soleus", "side": "left", "units": 75, "points": 2},
    ],
}


def url(patient, *rest):
    return "/".join([f"/api/v1/patients/{patient.pk}/botulinum-sessions", *rest])


@pytest.fixture
def inject(api_as, clinician, patient):
    api = api_as(clinician)

    def send(**changes):
        return api.post(url(patient), {**DESIGN_SESSION, **changes}, format="json")

    return send


@time_machine.travel(TODAY, tick=False)
def test_clinician_records_the_design_example_session(inject, patient):
    response = inject()

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["total_units"], body["next_session_allowed_from"], body["clinician"]) == (
        "175.0",
        "2027-01-25",
        "clinician1",
    )
    assert [(s["muscle"], s["side"], s["limb"], s["units"]) for s in body["sites"]] == [
        ("gastrocnemius_medial_head", "left", "lower", "100.0"),
        ("soleus", "left", "lower", "75.0"),
    ]
    assert body["warnings"] == []


@time_machine.travel(TODAY, tick=False)
def test_a_session_over_the_product_maximum_is_refused(inject):
    response = inject(sites=[{"muscle": "soleus", "side": "left", "units": 450, "points": 4}])

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert "450 U is above the 400 U maximum per session" in errors["sites"][0]
    assert "override_reason" in errors
    assert not BotulinumSession.objects.exists()
    assert not InjectionSite.objects.exists()


@time_machine.travel(TODAY, tick=False)
def test_an_override_reason_lets_the_clinician_go_ahead_and_is_audited(inject):
    response = inject(
        sites=[{"muscle": "soleus", "side": "left", "units": 450, "points": 4}],
        override_reason="Severe equinus; discussed with patient",
    )

    assert response.status_code == 201
    assert response.json()["override_reason"] == "Severe equinus; discussed with patient"
    assert "Overridden" in response.json()["warnings"][0]
    audit = AuditEvent.objects.get(resource_type="botulinum_session", action="create")
    assert audit.detail["override_reason"] == "Severe equinus; discussed with patient"
    assert "400 U" in audit.detail["overridden"][0]


@time_machine.travel(TODAY, tick=False)
def test_a_session_sooner_than_12_weeks_after_the_last_is_refused(inject):
    inject(date="2026-09-01")

    response = inject(date="2026-11-02")

    assert response.status_code == 400
    assert "next is allowed from 2026-11-24" in response.json()["errors"]["injected_on"][0]
    assert BotulinumSession.objects.count() == 1


@time_machine.travel(TODAY, tick=False)
def test_units_are_product_specific(inject):
    dysport = inject(
        product="abobotulinumtoxinA",
        sites=[
            {"muscle": "gastrocnemius", "side": "left", "units": 500, "points": 4},
            {"muscle": "soleus", "side": "left", "units": 500, "points": 4},
        ],
    )

    assert dysport.status_code == 201  # 1000 U of Dysport is within its own label
    assert dysport.json()["total_units"] == "1000.0"


@time_machine.travel(TODAY, tick=False)
def test_rimabotulinumtoxinb_needs_a_recorded_reason(inject):
    refused = inject(product="rimabotulinumtoxinB")
    accepted = inject(product="rimabotulinumtoxinB", override_reason="Antibodies to type A")

    assert refused.status_code == 400
    assert "no spasticity indication" in refused.json()["errors"]["product"][0]
    assert accepted.status_code == 201
    assert "off-label" in accepted.json()["warnings"][-1]


@time_machine.travel(TODAY, tick=False)
def test_a_void_session_no_longer_counts_for_the_interval(inject, api_as, clinician, patient):
    first = inject(date="2026-09-01").json()

    void = api_as(clinician).post(url(patient, first["id"], "void"), {"reason": "wrong patient"}, format="json")
    second = inject(date="2026-11-02")

    assert void.status_code == 200
    assert void.json()["voided_by"] == "clinician1"
    assert second.status_code == 201
    assert (
        api_as(clinician).post(url(patient, first["id"], "void"), {"reason": "again"}, format="json").status_code == 400
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"product": "botox_generic"}, "product"),
        ({"sites": [{"muscle": "tail", "side": "left", "units": 50}]}, "sites.0.muscle"),
        ({"sites": [{"muscle": "soleus", "side": "middle", "units": 50}]}, "sites.0.side"),
        ({"sites": [{"muscle": "soleus", "side": "left", "units": -50}]}, "sites.0.units"),
        ({"sites": [{"muscle": "soleus", "side": "left", "units": 50, "points": 0}]}, "sites.0.points"),
        ({"sites": []}, "sites"),
        (
            {
                "sites": [
                    {"muscle": "soleus", "side": "left", "units": 50},
                    {"muscle": "soleus", "side": "left", "units": 20},
                ]
            },
            "sites",
        ),
        ({"guidance": "intuition"}, "guidance"),
        ({"date": "2999-01-01"}, "injected_on"),
    ],
)
@time_machine.travel(TODAY, tick=False)
def test_bad_sessions_are_400_and_store_nothing(inject, changes, field):
    response = inject(**changes)

    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert not BotulinumSession.objects.exists()


@pytest.mark.parametrize("role", ["nurse", "therapist"])
@time_machine.travel(TODAY, tick=False)
def test_only_clinicians_inject(api_as, staff, patient, role):
    assert api_as(staff(role)).post(url(patient), DESIGN_SESSION, format="json").status_code == 403


@time_machine.travel(TODAY, tick=False)
def test_the_patient_sees_when_the_next_session_is_possible(inject, patient_api, patient):
    inject()

    plan = patient_api.get(f"/api/v1/patients/{patient.pk}/care-plan", {"on": "2026-11-20"}).json()
    sessions = patient_api.get(url(patient)).json()

    assert plan["next_injection_allowed_on"] == "2027-01-25"
    assert sessions["results"][0]["next_session_allowed_from"] == "2027-01-25"


@time_machine.travel(TODAY, tick=False)
def test_session_list_costs_a_fixed_number_of_queries(inject, api_as, clinician, patient, django_assert_num_queries):
    for day in ("2025-11-01", "2026-02-01", "2026-05-01", "2026-08-01", "2026-11-01"):
        inject(date=day)
    api = api_as(clinician)

    # token, patient, count, page (with clinicians), sites, audit insert
    with django_assert_num_queries(6):
        response = api.get(url(patient))

    assert response.json()["count"] == 5


@time_machine.travel(TODAY, tick=False)
def test_a_back_dated_session_too_close_to_a_later_one_is_refused(inject):
    inject(date="2026-11-01", sites=[{"muscle": "soleus", "side": "left", "units": 300, "points": 4}])

    response = inject(date="2026-10-01", sites=[{"muscle": "soleus", "side": "left", "units": 300, "points": 4}])

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert (
        "A later session is on record on 2026-11-01; a session before it must be on or before 2026-08-09"
        in (errors["injected_on"][0])
    )
    assert "600 U in the 3 months from 2026-08-02 to 2026-11-01 is above 400 U" in errors["sites"][0]
    assert BotulinumSession.objects.count() == 1


@time_machine.travel(TODAY, tick=False)
def test_onabotulinumtoxina_400_units_twice_within_3_months_is_refused(inject):
    # 85 days apart meets the 12-week interval, but both are within the 3 months up to 2026-11-19.
    full = [{"muscle": "soleus", "side": "left", "units": 400, "points": 4}]
    inject(date="2026-08-26", sites=full)

    within = inject(date="2026-11-19", sites=full)

    assert within.status_code == 400
    assert "800 U in the 3 months from 2026-08-20 to 2026-11-19" in within.json()["errors"]["sites"][0]
    assert "injected_on" not in within.json()["errors"]


@time_machine.travel(TODAY, tick=False)
def test_a_session_too_soon_goes_ahead_with_an_override_that_is_audited(inject):
    inject(date="2026-09-01")

    response = inject(date="2026-11-02", override_reason="Severe relapse; discussed with patient")

    assert response.status_code == 201, response.json()
    assert response.json()["warnings"] == [
        "Overridden: The last session was on 2026-09-01; the next is allowed from 2026-11-24 (12 weeks; "
        "BTX: 400 U cumulative in a 3-month interval; re-treatment generally at least 12 weeks)."
    ]
    audit = AuditEvent.objects.get(
        resource_type="botulinum_session", action="create", resource_id=response.json()["id"]
    )
    assert audit.detail["override_reason"] == "Severe relapse; discussed with patient"
    assert audit.detail["overridden"] == [response.json()["warnings"][0].removeprefix("Overridden: ")]
    # 175 U on each day: within the 400 U of the 3 months, so only the interval was overridden.
    assert audit.detail["total_units"] == "175.0"


@time_machine.travel(TODAY, tick=False)
def test_a_void_is_audited_and_a_stale_if_match_is_412(inject, api_as, clinician, patient):
    session = inject().json()
    api = api_as(clinician)
    etag = api.get(url(patient, session["id"]))["ETag"]

    voided = api.post(
        url(patient, session["id"], "void"), {"reason": "wrong patient"}, format="json", HTTP_IF_MATCH=etag
    )
    stale = api.post(url(patient, session["id"], "void"), {"reason": "again"}, format="json", HTTP_IF_MATCH=etag)

    assert etag == '"1"'
    assert (voided.status_code, voided["ETag"], voided.json()["revision"]) == (200, '"2"', 2)
    assert stale.status_code == 412
    audit = AuditEvent.objects.get(resource_type="botulinum_session", action="void")
    assert (audit.resource_id, audit.detail, audit.actor) == (session["id"], {"reason": "wrong patient"}, clinician)
