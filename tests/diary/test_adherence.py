"""Daily adherence logs: therapy minutes, orthosis hours, missed doses."""

import uuid
from datetime import date, timedelta

import pytest

from diary.models import AdherenceLog

URL = "/api/v1/diary/adherence"


def log_payload(**overrides):
    payload = {
        "id": str(uuid.uuid4()),
        "date": (date.today() - timedelta(days=1)).isoformat(),  # noqa: DTZ011
        "therapy": [{"activity": "stretching", "minutes": 15}, {"activity": "heat", "minutes": 10}],
        "orthoses": [{"device": "night_splint", "hours": 7.5}],
        "missed_doses": [{"drug": "baclofen", "doses": 1}],
        "notes": "",
    }
    payload.update(overrides)
    return payload


def test_a_day_of_adherence_is_stored(patient_api, patient):
    payload = log_payload()

    response = patient_api.post(URL, payload, format="json")

    assert response.status_code == 201, response.json()
    log = AdherenceLog.objects.get()
    assert log.patient == patient
    assert log.therapy_minutes == {"stretching": 15, "heat": 10}
    assert log.orthosis_hours == {"night_splint": 7.5}
    assert log.missed_doses == {"baclofen": 1}
    assert response.json()["orthoses"] == [{"device": "night_splint", "hours": 7.5}]


def test_adherence_replay_creates_nothing(patient_api):
    payload = log_payload()
    patient_api.post(URL, payload, format="json")

    replay = patient_api.post(URL, payload, format="json")

    assert replay.status_code == 200
    assert AdherenceLog.objects.count() == 1


def test_adherence_batch_answers_per_item(patient_api):
    batch = [log_payload(), log_payload(therapy=[{"activity": "yoga", "minutes": 5}]), log_payload()]

    body = patient_api.post(URL, {"logs": batch}, format="json").json()

    assert [r["status"] for r in body["results"]] == ["created", "rejected", "created"]
    assert "therapy.0.activity" in body["results"][1]["errors"]
    assert AdherenceLog.objects.count() == 2


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"therapy": [{"activity": "stretching", "minutes": -5}]}, "therapy.0.minutes"),
        ({"orthoses": [{"device": "night_splint", "hours": 25}]}, "orthoses.0.hours"),
        ({"orthoses": [{"device": "cape", "hours": 2}]}, "orthoses.0.device"),
        ({"missed_doses": [{"drug": "aspirin", "doses": 1}]}, "missed_doses.0.drug"),
        ({"therapy": [{"activity": "heat", "minutes": 5}, {"activity": "heat", "minutes": 9}]}, "therapy.1.activity"),
        ({"date": "2999-01-01"}, "date"),
    ],
)
def test_bad_adherence_is_400(patient_api, changes, field):
    response = patient_api.post(URL, log_payload(**changes), format="json")

    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not AdherenceLog.objects.exists()


def test_staff_read_a_patients_adherence(patient_api, api_as, therapist, patient):
    patient_api.post(URL, {"logs": [log_payload(), log_payload()]}, format="json")

    body = api_as(therapist).get(URL, {"patient": str(patient.pk)}).json()

    assert len(body["results"]) == 2


def test_patient_withdraws_a_log(patient_api):
    payload = log_payload()
    patient_api.post(URL, payload, format="json")

    assert patient_api.delete(f"{URL}/{payload['id']}").status_code == 204
    assert patient_api.get(URL).json()["results"] == []


def test_other_patients_adherence_is_out_of_reach(patient_api, other_patient_api, other_patient):
    payload = log_payload()
    other_patient_api.post(URL, payload, format="json")

    assert patient_api.get(URL, {"patient": str(other_patient.pk)}).status_code == 404
    assert patient_api.delete(f"{URL}/{payload['id']}").status_code == 404
