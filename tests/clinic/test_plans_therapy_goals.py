"""Therapy and orthotic plans, goals with GAS T-scores, the plan of the day, adherence against it."""

import uuid
from datetime import date

import pytest
import time_machine

from clinic.models import AuditEvent, Goal, TherapyPlan
from tests.factories import (
    GoalFactory,
    GoalRatingFactory,
    MedicationDoseFactory,
    MedicationRegimenFactory,
    OrthoticPlanFactory,
    OrthoticPlanVersionFactory,
    TherapyActivityFactory,
    TherapyPlanFactory,
    TherapyPlanVersionFactory,
)

TODAY = "2026-11-20T12:00:00Z"

CALF_PLAN = {
    "discipline": "physical_therapy",
    "title": "Calf and hamstring stretches",
    "effective_from": "2026-11-01",
    "activities": [
        {
            "kind": "stretching",
            "body_region": "left_calf",
            "minutes": 15,
            "days_per_week": 7,
            "instructions": "Slow stretch against the wall, hold 30 s",
        },
        {"kind": "strengthening", "sets": 3, "reps": 10, "days_per_week": 3},
    ],
}


def base(patient, kind):
    return f"/api/v1/patients/{patient.pk}/{kind}"


@time_machine.travel(TODAY, tick=False)
def test_therapist_writes_and_changes_a_therapy_plan(api_as, therapist, patient):
    api = api_as(therapist)
    created = api.post(base(patient, "therapy-plans"), CALF_PLAN, format="json")
    plan_id = created.json()["id"]

    changed = api.post(
        f"{base(patient, 'therapy-plans')}/{plan_id}/versions",
        {
            "effective_from": "2026-11-20",
            "reason": "progressing",
            "activities": [
                {"kind": "stretching", "minutes": 20, "days_per_week": 7},
                {"kind": "task_practice", "minutes": 10, "days_per_week": 5, "instructions": "Sit to stand"},
            ],
        },
        format="json",
        HTTP_IF_MATCH=created["ETag"],
    )

    assert created.status_code == 201, created.json()
    body = changed.json()
    assert changed.status_code == 200, body
    assert [a["kind"] for a in body["current"]["activities"]] == ["stretching", "task_practice"]
    assert len(body["history"]) == 2
    assert body["history"][0]["activities"][0]["instructions"] == "Slow stretch against the wall, hold 30 s"


@pytest.mark.parametrize(
    ("activity", "field"),
    [
        ({"kind": "yoga", "minutes": 10, "days_per_week": 3}, "activities.0.kind"),
        ({"kind": "stretching", "days_per_week": 3}, "activities.0.minutes"),
        ({"kind": "stretching", "minutes": 10, "days_per_week": 8}, "activities.0.days_per_week"),
        ({"kind": "stretching", "minutes": -10, "days_per_week": 3}, "activities.0.minutes"),
        (
            {"kind": "stretching", "minutes": 10, "days_per_week": 3, "body_region": "left_wing"},
            "activities.0.body_region",
        ),
    ],
)
@time_machine.travel(TODAY, tick=False)
def test_bad_therapy_activities_are_400(api_as, therapist, patient, activity, field):
    response = api_as(therapist).post(
        base(patient, "therapy-plans"), {**CALF_PLAN, "activities": [activity]}, format="json"
    )

    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert not TherapyPlan.objects.exists()


@pytest.mark.parametrize(("role", "status"), [("therapist", 201), ("clinician", 201), ("nurse", 403), ("admin", 403)])
@time_machine.travel(TODAY, tick=False)
def test_who_writes_therapy_plans(api_as, staff, patient, role, status):
    assert api_as(staff(role)).post(base(patient, "therapy-plans"), CALF_PLAN, format="json").status_code == status


@time_machine.travel(TODAY, tick=False)
def test_orthotic_plan_with_night_wear_and_review(api_as, therapist, patient):
    api = api_as(therapist)
    created = api.post(
        base(patient, "orthotic-plans"),
        {
            "device": "night_splint",
            "side": "left",
            "effective_from": "2026-11-01",
            "hours_per_day": 8,
            "at_night": True,
            "review_on": "2027-01-10",
            "skin_check": "Check the heel for redness each morning",
        },
        format="json",
    )
    stopped = api.post(
        f"{base(patient, 'orthotic-plans')}/{created.json()['id']}/stop",
        {"effective_from": "2026-11-25", "reason": "contracture resolved"},
        format="json",
    )

    assert created.status_code == 201, created.json()
    assert created.json()["current"]["skin_check"] == "Check the heel for redness each morning"
    assert stopped.json()["history"][-1]["stopped"] is True
    with time_machine.travel("2026-11-26T12:00:00Z", tick=False):
        later = api_as(therapist).get(base(patient, "orthotic-plans")).json()
    assert later["results"][0]["current"] is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"device": "jetpack"}, "device"),
        ({"hours_per_day": 30}, "hours_per_day"),
        ({"hours_per_day": None, "at_night": False}, "hours_per_day"),
        ({"review_on": "2026-10-01"}, "review_on"),
        ({"side": "up"}, "side"),
    ],
)
@time_machine.travel(TODAY, tick=False)
def test_bad_orthotic_plans_are_400(api_as, therapist, patient, changes, field):
    body = {
        "device": "ankle_foot_orthosis",
        "side": "right",
        "effective_from": "2026-11-01",
        "hours_per_day": 6,
        **changes,
    }

    response = api_as(therapist).post(base(patient, "orthotic-plans"), body, format="json")

    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()


GOAL = {
    "description": "Put my left shoe on by myself",
    "domain": "function",
    "levels": {"-2": "Cannot", "-1": "With help", "0": "Alone, slowly", "1": "Alone", "2": "Alone, quickly"},
    "baseline_level": -1,
    "set_on": "2026-09-01",
}


@time_machine.travel(TODAY, tick=False)
def test_goals_ratings_and_t_scores_by_hand(api_as, therapist, patient):
    api = api_as(therapist)
    first = api.post(base(patient, "goals"), GOAL, format="json").json()
    second = api.post(
        base(patient, "goals"), {**GOAL, "description": "Less pain at night", "domain": "pain"}, format="json"
    ).json()
    third = api.post(
        base(patient, "goals"),
        {**GOAL, "description": "Easier hand hygiene", "domain": "care", "set_on": "2026-10-01"},
        format="json",
    ).json()
    for goal, level in ((first, 1), (second, 0), (third, 1)):
        rated = api.post(
            f"{base(patient, 'goals')}/{goal['id']}/ratings", {"rated_on": "2026-11-15", "level": level}, format="json"
        )
        assert rated.status_code == 201, rated.json()

    scores = api.get(f"{base(patient, 'goals')}/t-scores").json()

    # Baseline with two goals at -1: 50 + 10(-2)/sqrt(0.7*2 + 0.3*4) = 37.60; on 2026-10-01 a
    # third goal at -1: 36.31 (reference); on 2026-11-15 levels (+1, 0, +1): 59.13 (reference).
    assert scores == [
        {"on": "2026-09-01", "t_score": 37.6, "goals": 2},
        {"on": "2026-10-01", "t_score": 36.31, "goals": 3},
        {"on": "2026-11-15", "t_score": 59.13, "goals": 3},
    ]


@time_machine.travel(TODAY, tick=False)
def test_weights_count_in_the_t_score(api_as, therapist, patient):
    goal = GoalFactory(patient=patient, weight=3, baseline_level=-1, set_on=date(2026, 9, 1))
    other = GoalFactory(patient=patient, weight=1, baseline_level=-1, set_on=date(2026, 9, 1))
    GoalRatingFactory(goal=goal, rated_on=date(2026, 11, 1), level=1)
    GoalRatingFactory(goal=other, rated_on=date(2026, 11, 1), level=-1)

    scores = api_as(therapist).get(f"{base(patient, 'goals')}/t-scores").json()

    assert scores[-1] == {"on": "2026-11-01", "t_score": 55.82, "goals": 2}  # the reference's (+1, -1), w (3, 1)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"levels": {"-2": "a", "-1": "b", "0": "c", "1": "d"}}, "levels"),
        ({"baseline_level": 3}, "baseline_level"),
        ({"weight": 0}, "weight"),
        ({"domain": "fame"}, "domain"),
        ({"set_on": "2999-01-01"}, "set_on"),
    ],
)
@time_machine.travel(TODAY, tick=False)
def test_bad_goals_are_400(api_as, therapist, patient, changes, field):
    response = api_as(therapist).post(base(patient, "goals"), {**GOAL, **changes}, format="json")

    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert not Goal.objects.exists()


@time_machine.travel(TODAY, tick=False)
def test_one_rating_per_goal_and_day_and_levels_in_range(api_as, therapist, patient):
    api = api_as(therapist)
    goal = api.post(base(patient, "goals"), GOAL, format="json").json()
    ratings = f"{base(patient, 'goals')}/{goal['id']}/ratings"

    assert api.post(ratings, {"rated_on": "2026-11-01", "level": 0}, format="json").status_code == 201
    assert api.post(ratings, {"rated_on": "2026-11-01", "level": 1}, format="json").status_code == 400
    assert api.post(ratings, {"rated_on": "2026-11-02", "level": 3}, format="json").status_code == 400
    assert api.post(ratings, {"rated_on": "2026-08-01", "level": 0}, format="json").status_code == 400


@time_machine.travel(TODAY, tick=False)
def test_closed_goals_stop_counting(api_as, therapist, patient):
    api = api_as(therapist)
    kept = api.post(base(patient, "goals"), GOAL, format="json").json()
    closed = api.post(base(patient, "goals"), {**GOAL, "description": "Walk to the shop"}, format="json").json()
    api.post(
        f"{base(patient, 'goals')}/{closed['id']}/close",
        {"status": "discontinued", "closed_on": "2026-10-01"},
        format="json",
    )
    api.post(f"{base(patient, 'goals')}/{kept['id']}/ratings", {"rated_on": "2026-11-01", "level": 0}, format="json")

    scores = api.get(f"{base(patient, 'goals')}/t-scores").json()

    assert scores[-1] == {"on": "2026-11-01", "t_score": 50.0, "goals": 1}


def test_what_the_patient_does_today(patient_api, patient):
    regimen = MedicationRegimenFactory(patient=patient, drug="tizanidine")
    MedicationDoseFactory(
        regimen=regimen,
        effective_from=date(2026, 11, 1),
        dose_mg=2,
        times_per_day=3,
        times_of_day=["08:00", "14:00", "22:00"],
    )
    TherapyActivityFactory(
        version=TherapyPlanVersionFactory(plan=TherapyPlanFactory(patient=patient)),
        kind="stretching",
        minutes=15,
        days_per_week=7,
    )
    OrthoticPlanVersionFactory(plan=OrthoticPlanFactory(patient=patient, device="night_splint"), hours_per_day=8)

    plan = patient_api.get(f"/api/v1/patients/{patient.pk}/care-plan", {"on": "2026-11-20"}).json()

    assert plan["medications"] == [
        {
            "regimen_id": str(regimen.pk),
            "drug": "tizanidine",
            "label": "Tizanidine",
            "dose_mg": "2.00",
            "times_per_day": 3,
            "times_of_day": ["08:00", "14:00", "22:00"],
            "daily_mg": "6.00",
        }
    ]
    assert [(e["kind"], e["minutes"], e["days_per_week"]) for e in plan["exercises"]] == [("stretching", 15, 7)]
    assert [(o["device"], o["hours_per_day"], o["at_night"]) for o in plan["orthoses"]] == [
        ("night_splint", "8.0", True)
    ]
    assert plan["pumps"] == []


def test_today_is_the_patients_own_day(patient_api, patient):
    patient.time_zone = "Pacific/Kiritimati"  # UTC+14
    patient.save()
    regimen = MedicationRegimenFactory(patient=patient)
    MedicationDoseFactory(regimen=regimen, effective_from=date(2026, 11, 21))

    with time_machine.travel("2026-11-20T11:00:00Z", tick=False):
        plan = patient_api.get(f"/api/v1/patients/{patient.pk}/care-plan").json()

    assert plan["on"] == "2026-11-21"
    assert len(plan["medications"]) == 1


@time_machine.travel(TODAY, tick=False)
def test_adherence_is_matched_against_the_plan(patient_api, api_as, therapist, patient):
    TherapyActivityFactory(
        version=TherapyPlanVersionFactory(plan=TherapyPlanFactory(patient=patient), effective_from=date(2026, 11, 1)),
        kind="stretching",
        minutes=15,
        days_per_week=7,
    )
    OrthoticPlanVersionFactory(
        plan=OrthoticPlanFactory(patient=patient), effective_from=date(2026, 11, 1), hours_per_day=8
    )
    regimen = MedicationRegimenFactory(patient=patient)
    MedicationDoseFactory(regimen=regimen, effective_from=date(2026, 11, 1), times_per_day=3)
    logs = [
        {
            "id": str(uuid.uuid4()),
            "date": f"2026-11-{day:02d}",
            "therapy": [{"activity": "stretching", "minutes": 10}],
            "orthoses": [{"device": "night_splint", "hours": 6}],
            "missed_doses": [{"drug": "baclofen", "doses": 1}] if day == 15 else [],
        }
        for day in range(14, 21)
    ]
    patient_api.post("/api/v1/diary/adherence", {"logs": logs}, format="json")

    report = (
        api_as(therapist)
        .get(f"/api/v1/patients/{patient.pk}/adherence-summary", {"from": "2026-11-14", "to": "2026-11-20"})
        .json()
    )

    assert report["therapy"] == [{"what": "stretching", "planned": 105.0, "done": 70.0, "unit": "min", "share": 0.667}]
    assert report["orthoses"] == [{"what": "night_splint", "planned": 56.0, "done": 42.0, "unit": "h", "share": 0.75}]
    assert report["medications"] == [
        {"what": "baclofen", "planned": 21.0, "done": 20.0, "unit": "doses", "share": 0.952}
    ]


def test_adherence_window_is_checked(api_as, therapist, patient):
    api = api_as(therapist)
    url = f"/api/v1/patients/{patient.pk}/adherence-summary"

    assert api.get(url, {"from": "2026-11-20", "to": "2026-11-01"}).status_code == 400
    assert api.get(url, {"from": "2024-01-01", "to": "2026-11-01"}).status_code == 400
    assert api.get(url, {"from": "someday"}).status_code == 400


@pytest.mark.parametrize(
    ("kind", "queries"),
    [
        # token, patient, count, page, versions (with authors), activities, audit insert
        ("therapy-plans", 7),
        # token, patient, count, page, versions (with authors), audit insert
        ("orthotic-plans", 6),
        # token, patient, count, page, ratings, audit insert
        ("goals", 6),
    ],
)
def test_plan_lists_cost_a_fixed_number_of_queries(
    api_as, therapist, patient, django_assert_num_queries, kind, queries
):
    for number in range(4):
        version = TherapyPlanVersionFactory(plan=TherapyPlanFactory(patient=patient))
        TherapyActivityFactory.create_batch(3, version=version)
        OrthoticPlanVersionFactory(plan=OrthoticPlanFactory(patient=patient))
        goal = GoalFactory(patient=patient)
        for day in range(3):
            GoalRatingFactory(goal=goal, rated_on=date(2026, 10, 1 + day + 3 * number))
    api = api_as(therapist)

    with django_assert_num_queries(queries):
        response = api.get(base(patient, kind))

    assert response.json()["count"] == 4


# --- Changes: reasons, dates, If-Match, audit, roles ----------------------------------------------------


WEAR = {"device": "night_splint", "side": "left", "effective_from": "2026-11-01", "hours_per_day": 8, "at_night": True}


@pytest.fixture
def therapy_plan(api_as, therapist, patient):
    with time_machine.travel(TODAY, tick=False):
        return api_as(therapist).post(base(patient, "therapy-plans"), CALF_PLAN, format="json")


@pytest.fixture
def orthotic_plan(api_as, therapist, patient):
    with time_machine.travel(TODAY, tick=False):
        return api_as(therapist).post(base(patient, "orthotic-plans"), WEAR, format="json")


def activities(minutes=20):
    return [{"kind": "stretching", "minutes": minutes, "days_per_week": 7}]


@time_machine.travel(TODAY, tick=False)
def test_therapy_and_orthotic_changes_need_a_reason(api_as, therapist, patient, therapy_plan, orthotic_plan):
    api = api_as(therapist)

    therapy = api.post(
        f"{base(patient, 'therapy-plans')}/{therapy_plan.json()['id']}/versions",
        {"effective_from": "2026-11-21", "activities": activities()},
        format="json",
    )
    orthosis = api.post(
        f"{base(patient, 'orthotic-plans')}/{orthotic_plan.json()['id']}/versions",
        {"effective_from": "2026-11-21", "hours_per_day": 10},
        format="json",
    )

    assert (therapy.status_code, orthosis.status_code) == (400, 400)
    assert "reason" in therapy.json()["errors"]
    assert "reason" in orthosis.json()["errors"]


@time_machine.travel(TODAY, tick=False)
def test_changes_on_the_day_of_a_version_that_took_effect_are_refused(
    api_as, therapist, patient, therapy_plan, orthotic_plan
):
    api = api_as(therapist)
    therapy_url = f"{base(patient, 'therapy-plans')}/{therapy_plan.json()['id']}"
    orthotic_url = f"{base(patient, 'orthotic-plans')}/{orthotic_plan.json()['id']}"

    responses = [
        api.post(
            f"{therapy_url}/versions",
            {"effective_from": "2026-11-01", "activities": activities(), "reason": "x"},
            format="json",
        ),
        api.post(
            f"{orthotic_url}/versions",
            {"effective_from": "2026-11-01", "hours_per_day": 10, "reason": "x"},
            format="json",
        ),
        api.post(f"{therapy_url}/stop", {"effective_from": "2026-11-01", "reason": "x"}, format="json"),
    ]

    assert [r.status_code for r in responses] == [400, 400, 400]
    assert all("has taken effect" in r.json()["errors"]["effective_from"][0] for r in responses)
    assert api.get(therapy_url).json()["history"][0]["superseded_at"] is None


@time_machine.travel(TODAY, tick=False)
def test_stale_if_match_is_412_for_therapy_orthoses_stops_and_goals(
    api_as, therapist, patient, therapy_plan, orthotic_plan
):
    api = api_as(therapist)
    therapy_url = f"{base(patient, 'therapy-plans')}/{therapy_plan.json()['id']}"
    orthotic_url = f"{base(patient, 'orthotic-plans')}/{orthotic_plan.json()['id']}"
    goal_url = f"{base(patient, 'goals')}/{api.post(base(patient, 'goals'), GOAL, format='json').json()['id']}"
    api.post(f"{therapy_url}/versions", {"activities": activities(), "reason": "progressing"}, format="json")
    api.post(f"{orthotic_url}/versions", {"hours_per_day": 10, "reason": "tolerating it"}, format="json")
    api.post(f"{goal_url}/ratings", {"rated_on": "2026-11-10", "level": 0}, format="json")
    stale = {"format": "json", "HTTP_IF_MATCH": '"1"'}

    responses = {
        "therapy version": api.post(f"{therapy_url}/versions", {"activities": activities(30), "reason": "x"}, **stale),
        "therapy stop": api.post(f"{therapy_url}/stop", {"reason": "x"}, **stale),
        "orthotic version": api.post(f"{orthotic_url}/versions", {"hours_per_day": 12, "reason": "x"}, **stale),
        "orthotic stop": api.post(f"{orthotic_url}/stop", {"reason": "x"}, **stale),
        "goal rating": api.post(f"{goal_url}/ratings", {"rated_on": "2026-11-15", "level": 1}, **stale),
        "goal close": api.post(f"{goal_url}/close", {"status": "achieved"}, **stale),
    }

    assert {name: r.status_code for name, r in responses.items()} == dict.fromkeys(responses, 412)
    assert len(api.get(therapy_url).json()["history"]) == 2
    assert api.get(goal_url).json()["status"] == "active"


@time_machine.travel(TODAY, tick=False)
def test_therapy_orthotic_and_goal_writes_are_audited(api_as, therapist, patient, therapy_plan, orthotic_plan):
    api = api_as(therapist)
    therapy_url = f"{base(patient, 'therapy-plans')}/{therapy_plan.json()['id']}"
    orthotic_url = f"{base(patient, 'orthotic-plans')}/{orthotic_plan.json()['id']}"
    goal = api.post(base(patient, "goals"), GOAL, format="json").json()
    api.post(
        f"{therapy_url}/versions",
        {"effective_from": "2026-11-21", "activities": activities(), "reason": "progressing"},
        format="json",
    )
    api.post(f"{therapy_url}/stop", {"effective_from": "2026-11-28", "reason": "discharged"}, format="json")
    api.post(
        f"{orthotic_url}/versions", {"effective_from": "2026-11-21", "hours_per_day": 10, "reason": "ok"}, format="json"
    )
    api.post(f"{orthotic_url}/stop", {"effective_from": "2026-11-28", "reason": "healed"}, format="json")
    api.post(f"{base(patient, 'goals')}/{goal['id']}/ratings", {"rated_on": "2026-11-10", "level": 1}, format="json")
    api.post(
        f"{base(patient, 'goals')}/{goal['id']}/close", {"status": "achieved", "closed_on": "2026-11-20"}, format="json"
    )

    writes = AuditEvent.objects.filter(patient=patient).exclude(action="read").order_by("id")
    assert [(e.resource_type, e.action, e.actor) for e in writes] == [
        ("therapy_plan", "create", therapist),
        ("orthotic_plan", "create", therapist),
        ("goal", "create", therapist),
        ("therapy_plan", "update", therapist),
        ("therapy_plan", "stop", therapist),
        ("orthotic_plan", "update", therapist),
        ("orthotic_plan", "stop", therapist),
        ("goal", "rate", therapist),
        ("goal", "close", therapist),
    ]
    details = [e.detail for e in writes]
    assert details[3] == {"activities": 1, "effective_from": "2026-11-21", "reason": "progressing"}
    assert details[4] == {"effective_from": "2026-11-28", "reason": "discharged"}
    assert details[5] == {"effective_from": "2026-11-21", "reason": "ok"}
    assert details[7] == {"level": 1, "rated_on": "2026-11-10"}
    assert details[8] == {"status": "achieved", "closed_on": "2026-11-20"}


@pytest.mark.parametrize(("role", "status"), [("therapist", 201), ("clinician", 201), ("nurse", 403), ("admin", 403)])
@time_machine.travel(TODAY, tick=False)
def test_who_writes_orthotic_plans(api_as, staff, patient, role, status):
    api = api_as(staff(role))
    existing = OrthoticPlanFactory(patient=patient)
    OrthoticPlanVersionFactory(plan=existing)
    existing_url = f"{base(patient, 'orthotic-plans')}/{existing.pk}"

    created = api.post(base(patient, "orthotic-plans"), WEAR, format="json")
    changed = api.post(f"{existing_url}/versions", {"hours_per_day": 10, "reason": "x"}, format="json")
    stopped = api.post(f"{existing_url}/stop", {"reason": "x"}, format="json")

    assert (created.status_code, changed.status_code, stopped.status_code) == (
        status,
        200 if status == 201 else 403,
        200 if status == 201 else 403,
    )


@pytest.mark.parametrize(
    ("role", "allowed"), [("therapist", True), ("clinician", True), ("nurse", False), ("admin", False)]
)
@time_machine.travel(TODAY, tick=False)
def test_who_sets_rates_and_closes_goals(api_as, staff, patient, role, allowed):
    api = api_as(staff(role))
    goal_url = f"{base(patient, 'goals')}/{GoalFactory(patient=patient).pk}"

    created = api.post(base(patient, "goals"), GOAL, format="json")
    rated = api.post(f"{goal_url}/ratings", {"rated_on": "2026-11-10", "level": 0}, format="json")
    closed = api.post(f"{goal_url}/close", {"status": "achieved"}, format="json")

    expected = (201, 201, 200) if allowed else (403, 403, 403)
    assert (created.status_code, rated.status_code, closed.status_code) == expected
    assert Goal.objects.count() == (2 if allowed else 1)
