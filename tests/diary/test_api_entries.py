"""Posting and reading diary entries: single and batch, replays, offsets, scoping, bad input."""

import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from clinic.models import AuditEvent
from diary.models import Alert, DiaryEntry

URL = "/api/v1/diary/entries"


def post(api, body):
    return api.post(URL, body, format="json")


def test_entry_is_stored_with_its_local_offset_kept(patient_api, patient, entry_payload):
    payload = entry_payload(occurred_at="2026-11-20T07:30:00-05:00")

    response = post(patient_api, payload)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["occurred_at"] == "2026-11-20T07:30:00-05:00"
    assert body["relief"] == payload["relief"]
    assert body["impact"] == payload["impact"]
    assert "urgent" not in body
    entry = DiaryEntry.objects.get(pk=payload["id"])
    assert entry.patient == patient
    assert entry.occurred_at == datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
    assert (entry.utc_offset_minutes, entry.local_date.isoformat(), entry.local_hour) == (-300, "2026-11-20", 7)


def test_local_day_and_hour_follow_the_offset_not_utc(patient_api, entry_payload):
    # 23:30 in Sydney (UTC+11) is 12:30 UTC on the previous day.
    payload = entry_payload(occurred_at="2026-11-21T23:30:00+11:00")

    post(patient_api, payload)

    entry = DiaryEntry.objects.get(pk=payload["id"])
    assert entry.occurred_at.date().isoformat() == "2026-11-21"
    assert (entry.local_date.isoformat(), entry.local_hour) == ("2026-11-21", 23)
    assert entry.occurred_at == datetime(2026, 11, 21, 12, 30, tzinfo=UTC)


def test_zulu_time_is_offset_zero(patient_api, entry_payload):
    payload = entry_payload(occurred_at="2026-11-20T07:30:00Z")

    assert post(patient_api, payload).json()["occurred_at"] == "2026-11-20T07:30:00+00:00"


def test_only_id_time_and_severity_are_required(patient_api, entry_payload):
    full = entry_payload()
    minimal = {key: full[key] for key in ("id", "occurred_at", "severity")}

    response = post(patient_api, minimal)

    assert response.status_code == 201
    assert response.json()["body_regions"] == []
    assert response.json()["spasm_count"] is None


def test_replaying_an_entry_returns_the_stored_one_and_creates_nothing(patient_api, entry_payload):
    payload = entry_payload()
    first = post(patient_api, payload)

    replay = post(patient_api, {**payload, "severity": 9})

    assert replay.status_code == 200
    assert replay.json() == first.json()
    assert DiaryEntry.objects.count() == 1
    assert DiaryEntry.objects.get().severity == 6


def test_same_id_from_another_patient_is_refused(patient_api, other_patient_api, entry_payload):
    payload = entry_payload()
    post(patient_api, payload)

    response = post(other_patient_api, {**payload, "severity": 1})

    assert response.status_code == 409
    assert response.json()["errors"] == {"id": ["This id is already in use."]}
    assert DiaryEntry.objects.get().severity == 6


def test_batch_stores_valid_items_and_names_the_invalid_ones(patient_api, entry_payload):
    good = [entry_payload() for _ in range(3)]
    bad = entry_payload(severity=11, triggers=["moonlight"])
    batch = [good[0], bad, good[1], {"id": "nope"}, good[2]]

    response = post(patient_api, {"entries": batch})

    assert response.status_code == 200
    body = response.json()
    assert (body["created"], body["replayed"], body["rejected"]) == (3, 0, 2)
    assert [r["status"] for r in body["results"]] == ["created", "rejected", "created", "rejected", "created"]
    assert body["results"][1]["index"] == 1
    assert body["results"][1]["id"] == bad["id"]
    assert set(body["results"][1]["errors"]) == {"severity", "triggers.0"}
    assert set(body["results"][3]["errors"]) == {"id", "occurred_at", "severity"}
    assert set(DiaryEntry.objects.values_list("id", flat=True)) == {uuid.UUID(e["id"]) for e in good}


def test_batch_replay_is_safe_after_a_lost_response(patient_api, entry_payload):
    batch = {"entries": [entry_payload() for _ in range(5)]}
    post(patient_api, batch)

    again = post(patient_api, batch).json()

    assert (again["created"], again["replayed"]) == (0, 5)
    assert DiaryEntry.objects.count() == 5


def test_duplicate_id_inside_one_batch_is_stored_once(patient_api, entry_payload):
    payload = entry_payload()

    body = post(patient_api, {"entries": [payload, payload]}).json()

    assert [r["status"] for r in body["results"]] == ["created", "replayed"]
    assert DiaryEntry.objects.count() == 1


def test_batch_of_500_is_accepted_and_501_refused(patient_api, entry_payload):
    entries = [entry_payload() for _ in range(501)]

    too_many = post(patient_api, {"entries": entries})
    just_right = post(patient_api, {"entries": entries[:500]})

    assert too_many.status_code == 400
    assert "entries" in too_many.json()["errors"]
    assert just_right.json()["created"] == 500
    assert DiaryEntry.objects.count() == 500


def test_batch_of_500_costs_a_fixed_number_of_queries(patient_api, entry_payload, django_assert_max_num_queries):
    entries = [entry_payload() for _ in range(500)]

    # token, patient, existing ids, audit, savepoint, and the bulk insert: one statement on
    # PostgreSQL, 13 on SQLite (Django splits its inserts at 999 parameters). Never one per entry.
    with django_assert_max_num_queries(20):
        post(patient_api, {"entries": entries})


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"severity": 11}, "severity"),
        ({"severity": -1}, "severity"),
        ({"severity": "high"}, "severity"),
        ({"severity": None}, "severity"),
        ({"spasm_count": -3}, "spasm_count"),
        ({"duration_minutes": 2000}, "duration_minutes"),
        ({"body_regions": ["left_tail"]}, "body_regions.0"),
        ({"body_regions": "left_calf"}, "body_regions"),
        ({"body_regions": ["left_calf", "left_calf"]}, "body_regions"),
        ({"triggers": ["cold", 7]}, "triggers.1"),
        ({"relief": [{"measure": "heat", "helped": 4}]}, "relief.0.helped"),
        ({"relief": [{"measure": "magic", "helped": 1}]}, "relief.0.measure"),
        ({"relief": [{"measure": "heat", "helped": 1}, {"measure": "heat", "helped": 2}]}, "relief.1.measure"),
        ({"relief": [{"measure": "heat", "helped": 1, "extra": True}]}, "relief.0.extra"),
        ({"impact": {"walking": 5}}, "impact.walking"),
        ({"impact": {"flying": 1}}, "impact.flying"),
        ({"red_flags": ["feeling blue"]}, "red_flags.0"),
        ({"side_effects": ["hiccups"]}, "side_effects.0"),
        ({"notes": "x" * 2001}, "notes"),
        ({"occurred_at": "2026-11-20T07:30:00"}, "occurred_at"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": "2026-11-20T07:30:00+15:00"}, "occurred_at"),
        ({"occurred_at": "2020-01-01T07:30:00+00:00"}, "occurred_at"),
        ({"id": "not-a-uuid"}, "id"),
        ({"patient_id": "0b6d1c4e-0000-4000-8000-000000000000"}, "patient_id"),
        ({"version": 7}, "version"),
    ],
)
def test_bad_entries_are_a_400_naming_the_field_and_store_nothing(patient_api, entry_payload, changes, field):
    response = post(patient_api, entry_payload(**changes))

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert field in body["errors"], body
    assert body["status"] == 400
    assert not DiaryEntry.objects.exists()


def test_entry_in_the_future_is_refused(patient_api, entry_payload):
    future = (datetime.now(UTC) + timedelta(hours=2)).isoformat()

    response = post(patient_api, entry_payload(occurred_at=future))

    assert response.status_code == 400
    assert response.json()["errors"]["occurred_at"] == ["This time is in the future."]


def test_a_few_minutes_of_phone_clock_drift_is_tolerated(patient_api, entry_payload):
    ahead = (datetime.now(UTC) + timedelta(minutes=2)).isoformat()

    assert post(patient_api, entry_payload(occurred_at=ahead)).status_code == 201


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"entry"', b"", b'{"entries": "lots"}', b'{"entries": []}'])
def test_malformed_bodies_are_400(patient_api, body):
    response = patient_api.generic("POST", URL, body, content_type="application/json")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"


def test_batch_envelope_with_unknown_keys_is_400(patient_api, entry_payload):
    response = post(patient_api, {"entries": [entry_payload()], "device": "x"})

    assert response.status_code == 400
    assert response.json()["errors"] == {"device": ["This field is not known."]}


def test_oversized_body_is_413(patient_api, settings, entry_payload):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = orjson.dumps({"entries": [entry_payload(notes="n" * 1000) for _ in range(20)]})

    response = patient_api.generic("POST", URL, body, content_type="application/json")

    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    assert not DiaryEntry.objects.exists()


def test_staff_cannot_post_entries(api_as, clinician, entry_payload):
    assert post(api_as(clinician), entry_payload()).status_code == 403


def test_entries_list_newest_first_with_pagination(patient_api, entry_payload):
    times = [f"2026-11-{day:02d}T08:00:00-05:00" for day in range(1, 8)]
    post(patient_api, {"entries": [entry_payload(occurred_at=t) for t in times]})

    first = patient_api.get(URL + "?page_size=4").json()
    second = patient_api.get(first["next"]).json()

    listed = [e["occurred_at"] for e in first["results"] + second["results"]]
    assert listed == list(reversed(times))
    assert second["next"] is None


def test_entries_filter_by_since_and_until(patient_api, entry_payload):
    times = [f"2026-11-{day:02d}T08:00:00+00:00" for day in range(1, 8)]
    post(patient_api, {"entries": [entry_payload(occurred_at=t) for t in times]})

    body = patient_api.get(URL, {"since": "2026-11-03T00:00:00Z", "until": "2026-11-05T08:00:00Z"}).json()

    assert [e["occurred_at"][:10] for e in body["results"]] == ["2026-11-05", "2026-11-04", "2026-11-03"]


def test_bad_filter_is_400(patient_api):
    response = patient_api.get(URL, {"since": "last tuesday"})

    assert response.status_code == 400
    assert "since" in response.json()["errors"]


def test_staff_read_a_patient_diary_with_the_patient_parameter(api_as, clinician, patient, patient_api, entry_payload):
    post(patient_api, {"entries": [entry_payload() for _ in range(3)]})

    response = api_as(clinician).get(URL, {"patient": str(patient.pk)})

    assert response.status_code == 200
    assert len(response.json()["results"]) == 3
    event = AuditEvent.objects.get(action="read", resource_type="diary_entry")
    assert (event.actor, event.patient, event.detail) == (clinician, patient, {"count": 3})


def test_staff_must_name_the_patient(api_as, clinician):
    response = api_as(clinician).get(URL)

    assert response.status_code == 400
    assert "patient" in response.json()["errors"]


def test_staff_of_another_clinic_get_404(api_as, staff, other_clinic, patient, patient_api, entry_payload):
    post(patient_api, entry_payload())
    stranger = api_as(staff("clinician", clinic=other_clinic))

    assert stranger.get(URL, {"patient": str(patient.pk)}).status_code == 404
    entry_id = DiaryEntry.objects.get().pk
    assert stranger.get(f"{URL}/{entry_id}").status_code == 404
    assert AuditEvent.objects.filter(outcome="denied").count() == 2


def test_a_patient_cannot_read_another_patients_diary(patient_api, other_patient_api, other_patient, entry_payload):
    theirs = entry_payload()
    post(other_patient_api, theirs)

    assert patient_api.get(URL, {"patient": str(other_patient.pk)}).status_code == 404
    assert patient_api.get(f"{URL}/{theirs['id']}").status_code == 404
    assert patient_api.get(URL).json()["results"] == []


def test_entries_list_costs_a_fixed_number_of_queries(patient_api, entry_payload, django_assert_num_queries):
    post(patient_api, {"entries": [entry_payload() for _ in range(50)]})

    # token (with its patient), page, audit insert
    with django_assert_num_queries(3):
        response = patient_api.get(URL + "?page_size=50")

    assert len(response.json()["results"]) == 50


def test_red_flag_entry_creates_an_urgent_alert_and_tells_the_patient(patient_api, patient, entry_payload):
    payload = entry_payload(red_flags=["fever", "new_weakness"])

    body = post(patient_api, payload).json()

    alert = Alert.objects.get()
    assert (alert.priority, alert.kind, alert.status) == ("urgent", "red_flag", "open")
    assert alert.patient == patient
    assert str(alert.diary_entry_id) == payload["id"]
    assert alert.details["red_flags"] == ["fever", "new_weakness"]
    assert body["urgent"]["alert_ids"] == [str(alert.pk)]
    assert "now" in body["urgent"]["message"]
    assert body["urgent"]["clinic_phone"] == patient.clinic.phone


def test_replayed_red_flag_entry_does_not_raise_a_second_alert(patient_api, entry_payload):
    payload = entry_payload(red_flags=["fever"])
    post(patient_api, payload)

    post(patient_api, payload)

    assert Alert.objects.count() == 1


def test_batch_with_red_flags_tells_the_patient_once(patient_api, entry_payload):
    batch = [entry_payload(red_flags=["fever"]), entry_payload(), entry_payload(red_flags=["itching"])]

    body = post(patient_api, {"entries": batch}).json()

    assert Alert.objects.count() == 2
    assert len(body["urgent"]["alert_ids"]) == 2


def test_a_retried_red_flag_entry_still_tells_the_patient_to_contact_the_clinic(patient_api, entry_payload):
    payload = entry_payload(red_flags=["fever"])
    first = post(patient_api, payload).json()  # the phone never got this answer

    retry = post(patient_api, payload)

    assert retry.status_code == 200
    assert retry.json()["urgent"] == first["urgent"]
    assert Alert.objects.count() == 1


def test_a_retried_batch_still_tells_the_patient_about_its_red_flags(patient_api, entry_payload):
    batch = [entry_payload(red_flags=["fever"]), entry_payload(), entry_payload(red_flags=["severe_pain"])]
    first = post(patient_api, {"entries": batch}).json()

    retry = post(patient_api, {"entries": [*batch, entry_payload()]}).json()

    assert (retry["created"], retry["replayed"]) == (1, 3)
    assert sorted(retry["urgent"]["alert_ids"]) == sorted(first["urgent"]["alert_ids"])
    assert Alert.objects.count() == 2


def test_a_retry_after_the_clinic_resolved_the_alert_gives_no_urgent_advice(patient_api, api_as, nurse, entry_payload):
    payload = entry_payload(red_flags=["fever"])
    alert_id = post(patient_api, payload).json()["urgent"]["alert_ids"][0]
    api_as(nurse).post(f"/api/v1/alerts/{alert_id}/resolve", {"note": "called, seen in clinic"}, format="json")

    retry = post(patient_api, payload)

    assert retry.status_code == 200
    assert "urgent" not in retry.json()


def test_a_replay_costs_one_query_for_the_alerts_of_the_whole_batch(
    patient_api, entry_payload, django_assert_num_queries
):
    batch = [entry_payload(red_flags=["fever"]) for _ in range(20)]
    post(patient_api, {"entries": batch})

    # token, savepoint, stored ids, stored rows, replay audit, their open alerts, release,
    # the clinic's phone for the advice
    with django_assert_num_queries(8):
        body = post(patient_api, {"entries": batch}).json()

    assert len(body["urgent"]["alert_ids"]) == 20


def test_a_replay_is_audited_as_a_read_of_the_stored_entry(patient_api, patient, entry_payload):
    payload = entry_payload()
    post(patient_api, payload)

    post(patient_api, payload)

    event = AuditEvent.objects.order_by("id").last()
    assert (event.action, event.resource_type, event.outcome, event.patient_id) == (
        "read",
        "diary_entry",
        "success",
        patient.pk,
    )
    assert event.detail["ids"] == [payload["id"]]
    assert event.request_id


def test_an_id_of_another_patient_is_audited_as_denied(patient_api, other_patient_api, other_patient, entry_payload):
    payload = entry_payload()
    post(patient_api, payload)

    response = post(other_patient_api, payload)

    event = AuditEvent.objects.order_by("id").last()
    assert response.status_code == 409
    assert (event.action, event.resource_type, event.outcome, event.patient_id) == (
        "create",
        "diary_entry",
        "denied",
        other_patient.pk,
    )
    assert event.detail["ids"] == [payload["id"]]
