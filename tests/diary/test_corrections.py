"""Patients correct or delete their own recent entries; every version is kept."""

from datetime import timedelta

import time_machine
from django.utils import timezone

from clinic.models import AuditEvent
from diary.models import Alert, DiaryEntry, DiaryEntryRevision

URL = "/api/v1/diary/entries"


def create(api, payload) -> str:
    assert api.post(URL, payload, format="json").status_code == 201
    return payload["id"]


def test_correction_keeps_the_previous_version(patient_api, entry_payload):
    entry_id = create(patient_api, entry_payload(severity=6, triggers=["cold"]))

    response = patient_api.patch(f"{URL}/{entry_id}", {"severity": 4, "notes": "better later"}, format="json")

    assert response.status_code == 200
    assert (response.json()["severity"], response.json()["version"], response["ETag"]) == (4, 2, '"2"')
    assert response.json()["triggers"] == ["cold"]
    revision = DiaryEntryRevision.objects.get()
    assert (revision.version, revision.change, revision.snapshot["severity"]) == (1, "update", 6)
    assert AuditEvent.objects.filter(action="update", resource_type="diary_entry").exists()


def test_history_lists_earlier_versions_newest_first(patient_api, api_as, clinician, entry_payload):
    entry_id = create(patient_api, entry_payload(severity=6))
    patient_api.patch(f"{URL}/{entry_id}", {"severity": 5}, format="json")
    patient_api.patch(f"{URL}/{entry_id}", {"severity": 3}, format="json")

    history = api_as(clinician).get(f"{URL}/{entry_id}/history").json()

    assert [(h["version"], h["snapshot"]["severity"], h["changed_by"]) for h in history] == [
        (2, 5, "patient"),
        (1, 6, "patient"),
    ]


def test_correction_with_a_stale_etag_is_412(patient_api, entry_payload):
    entry_id = create(patient_api, entry_payload())
    patient_api.patch(f"{URL}/{entry_id}", {"severity": 2}, format="json")

    response = patient_api.patch(f"{URL}/{entry_id}", {"severity": 9}, format="json", HTTP_IF_MATCH='"1"')

    assert response.status_code == 412
    assert DiaryEntry.objects.get().severity == 2


def test_correction_with_the_current_etag_succeeds(patient_api, entry_payload):
    entry_id = create(patient_api, entry_payload())
    etag = patient_api.get(f"{URL}/{entry_id}")["ETag"]

    response = patient_api.patch(f"{URL}/{entry_id}", {"severity": 9}, format="json", HTTP_IF_MATCH=etag)

    assert response.status_code == 200


def test_correction_after_the_edit_window_is_refused(patient_api, entry_payload):
    entry_id = create(patient_api, entry_payload())

    with time_machine.travel(timezone.now() + timedelta(days=7, minutes=1)):
        response = patient_api.patch(f"{URL}/{entry_id}", {"severity": 1}, format="json")

    assert response.status_code == 403
    assert "7 days" in response.json()["detail"]
    assert not DiaryEntryRevision.objects.exists()


def test_bad_correction_is_400_and_changes_nothing(patient_api, entry_payload):
    entry_id = create(patient_api, entry_payload(severity=6))

    response = patient_api.patch(f"{URL}/{entry_id}", {"severity": 40, "id": "x"}, format="json")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"severity", "id"}
    assert DiaryEntry.objects.get().version == 1


def test_correction_moving_the_time_recomputes_the_local_day(patient_api, entry_payload):
    entry_id = create(patient_api, entry_payload(occurred_at="2026-11-20T07:30:00-05:00"))

    patient_api.patch(f"{URL}/{entry_id}", {"occurred_at": "2026-11-19T23:10:00+01:00"}, format="json")

    entry = DiaryEntry.objects.get()
    assert (entry.local_date.isoformat(), entry.local_hour, entry.utc_offset_minutes) == ("2026-11-19", 23, 60)


def test_adding_a_red_flag_in_a_correction_raises_an_alert(patient_api, entry_payload):
    entry_id = create(patient_api, entry_payload())

    body = patient_api.patch(f"{URL}/{entry_id}", {"red_flags": ["severe_pain"]}, format="json").json()

    assert Alert.objects.get().details["red_flags"] == ["severe_pain"]
    assert "urgent" in body


def test_deleted_entry_leaves_the_list_but_keeps_its_history(patient_api, entry_payload):
    entry_id = create(patient_api, entry_payload())

    response = patient_api.delete(f"{URL}/{entry_id}")

    assert response.status_code == 204
    assert patient_api.get(URL).json()["results"] == []
    assert patient_api.get(f"{URL}/{entry_id}").json()["deleted_at"] is not None
    assert DiaryEntryRevision.objects.get().change == "delete"
    assert patient_api.patch(f"{URL}/{entry_id}", {"severity": 1}, format="json").status_code == 403


def test_staff_cannot_correct_a_patient_diary(patient_api, api_as, clinician, entry_payload):
    entry_id = create(patient_api, entry_payload())

    assert api_as(clinician).patch(f"{URL}/{entry_id}", {"severity": 1}, format="json").status_code == 403
    assert api_as(clinician).delete(f"{URL}/{entry_id}").status_code == 403


def test_another_patient_cannot_touch_the_entry(patient_api, other_patient_api, entry_payload):
    entry_id = create(patient_api, entry_payload())

    assert other_patient_api.patch(f"{URL}/{entry_id}", {"severity": 1}, format="json").status_code == 404
    assert other_patient_api.delete(f"{URL}/{entry_id}").status_code == 404
    assert DiaryEntry.objects.get().deleted_at is None


def test_history_answers_only_get(patient_api, entry_payload):
    entry_id = create(patient_api, entry_payload())

    assert patient_api.delete(f"{URL}/{entry_id}/history").status_code == 405
    assert DiaryEntry.objects.get().deleted_at is None


def test_a_retried_red_flag_correction_still_tells_the_patient(patient_api, entry_payload):
    entry_id = create(patient_api, entry_payload())
    correction = {"red_flags": ["severe_pain"], "severity": 9}
    first = patient_api.patch(f"{URL}/{entry_id}", correction, format="json").json()

    retry = patient_api.patch(f"{URL}/{entry_id}", correction, format="json")

    assert retry.status_code == 200
    assert retry.json()["version"] == first["version"]  # nothing changed the second time
    assert retry.json()["urgent"] == first["urgent"]
    assert Alert.objects.count() == 1


def test_a_correction_without_red_flags_gives_no_urgent_advice(patient_api, entry_payload):
    entry_id = create(patient_api, entry_payload(red_flags=["fever"]))

    body = patient_api.patch(f"{URL}/{entry_id}", {"notes": "feeling better"}, format="json").json()

    assert "urgent" not in body
