"""Diary services: storing uploads safely under races, and the bulk insert beneath them."""

import threading
import uuid
from datetime import datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction

from config.db import bulk_insert
from diary import services
from diary.models import DiaryEntry
from tests.conftest import enroll
from tests.factories import PatientFactory


def entry_data(**overrides):
    data = {
        "id": uuid.uuid4(),
        "occurred_at": datetime.fromisoformat("2026-11-20T07:30:00-05:00"),
        "severity": 5,
        "body_regions": ["left_calf"],
        "triggers": [],
        "relief": {"stretching": 2},
        "impact": {"walking": 1},
        "red_flags": [],
        "side_effects": [],
        "notes": "",
    }
    data.update(overrides)
    return data


def test_entry_fields_derive_local_day_hour_and_offset():
    fields = services.entry_fields(entry_data(occurred_at=datetime.fromisoformat("2026-03-08T01:59:00-08:00")))

    assert (fields["local_date"].isoformat(), fields["local_hour"], fields["utc_offset_minutes"]) == (
        "2026-03-08",
        1,
        -480,
    )
    assert fields["impact_walking"] == 1
    assert fields["impact_pain"] is None


def test_bulk_insert_refuses_a_duplicate_primary_key_as_an_integrity_error(patient):
    entry_id = uuid.uuid4()
    row = DiaryEntry(id=entry_id, patient=patient, **services.entry_fields(entry_data()))
    bulk_insert([row])

    again = DiaryEntry(id=entry_id, patient=patient, **services.entry_fields(entry_data()))
    with pytest.raises(IntegrityError), transaction.atomic():
        bulk_insert([again])
    assert DiaryEntry.objects.get().created_at is not None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_uploads_of_the_same_entry_store_it_once_and_answer_the_second_as_a_replay():
    patient = PatientFactory()
    enroll(patient)
    data = entry_data()
    inserted, release = threading.Event(), threading.Event()
    outcomes = {}

    def first_upload() -> None:
        with transaction.atomic():
            outcomes["first"] = services.record_diary_entries(actor=patient.user, patient=patient, entries=[(0, data)])
            inserted.set()
            release.wait(timeout=10)  # hold the uncommitted row while the second upload arrives
        connection.close()

    def second_upload() -> None:
        outcomes["second"] = services.record_diary_entries(actor=patient.user, patient=patient, entries=[(0, data)])
        connection.close()

    first = threading.Thread(target=first_upload)
    first.start()
    assert inserted.wait(timeout=10)
    second = threading.Thread(target=second_upload)
    second.start()
    second.join(timeout=0.5)  # it blocks on the first one's uncommitted key
    release.set()
    first.join(timeout=10)
    second.join(timeout=10)

    assert outcomes["first"].outcomes[0].status == "created"
    assert outcomes["second"].outcomes[0].status == "replayed"
    assert DiaryEntry.objects.count() == 1


def test_replay_is_detected_before_any_insert(patient):
    enroll(patient)
    data = entry_data()
    services.record_diary_entries(actor=patient.user, patient=patient, entries=[(0, data)])

    upload = services.record_diary_entries(actor=patient.user, patient=patient, entries=[(0, data)])

    assert [o.status for o in upload.outcomes] == ["replayed"]
    assert upload.outcomes[0].row.severity == 5
    assert timedelta(0) <= upload.outcomes[0].row.updated_at - upload.outcomes[0].row.created_at
