"""Recomputing trends: debounced after uploads, idempotent, and never twice at once."""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from diary import services, tasks
from diary.models import TrendRecompute, TrendSummary
from diary.trends import compute
from diary.trends import services as trend_services
from tests.conftest import enroll
from tests.diary.conftest import daily, entry
from tests.factories import PatientFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("now")]


def upload(patient, entries):
    return services.record_diary_entries(actor=patient.user, patient=patient, entries=list(enumerate(entries)))


@pytest.fixture
def enrolled(patient):
    enroll(patient)
    patient.refresh_from_db()
    return patient


def test_a_batch_of_500_entries_enqueues_one_recompute(enrolled, django_capture_on_commit_callbacks):
    entries = [entry(f"{date(2026, 7, 1) + timedelta(days=n // 4)}T{8 + n % 4:02d}:00:00-05:00", 5) for n in range(500)]

    with django_capture_on_commit_callbacks() as callbacks:
        upload(enrolled, entries)

    assert len(callbacks) == 1
    row = TrendRecompute.objects.get(patient=enrolled)
    assert (row.dirty_from, row.generation) == (date(2026, 7, 1), 1)


def test_uploads_while_a_recompute_waits_join_it(enrolled, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as first:
        upload(enrolled, [entry("2026-11-20T08:00:00-05:00", 4)])
    with django_capture_on_commit_callbacks() as second:
        upload(enrolled, [entry("2026-11-02T08:00:00-05:00", 6)])  # a back-dated entry moves the mark earlier

    assert (len(first), len(second)) == (1, 0)
    row = TrendRecompute.objects.get(patient=enrolled)
    assert (row.dirty_from, row.generation) == (date(2026, 11, 2), 2)

    for callback in first:
        callback()  # the one task runs (eagerly) and computes both uploads

    row.refresh_from_db()
    assert row.dirty_from is None
    assert TrendSummary.objects.filter(patient=enrolled, granularity="week").count() == 2
    with django_capture_on_commit_callbacks() as third:
        upload(enrolled, [entry("2026-11-21T08:00:00-05:00", 4)])
    assert len(third) == 1  # nothing is waiting any more: a new recompute


def test_a_correction_recomputes_the_periods_of_the_old_and_new_day(enrolled, record):
    original = entry("2026-11-10T08:00:00-05:00", 4)
    record(enrolled, [original, entry("2026-11-17T08:00:00-05:00", 6)])
    stored = enrolled.diary_entries.get(pk=original["id"])
    old_week = TrendSummary.objects.get(patient=enrolled, period_start=date(2026, 11, 9), granularity="week")

    services.diary_entry_update(
        actor=enrolled.user, entry=stored, changes={"occurred_at": entry("2026-11-18T08:00:00-05:00", 0)["occurred_at"]}
    )
    tasks.recompute_patient_trends(str(enrolled.pk))

    assert not TrendSummary.objects.filter(pk=old_week.pk).exists()  # its only entry moved away
    moved_to = TrendSummary.objects.get(patient=enrolled, period_start=date(2026, 11, 16), granularity="week")
    assert (moved_to.entry_count, moved_to.version) == (2, 2)


def test_running_the_recompute_again_changes_nothing(enrolled, record):
    record(enrolled, daily(date(2026, 10, 1), date(2026, 11, 24), 5))
    before = {s.pk: (s.version, s.updated_at) for s in TrendSummary.objects.all()}

    tasks.recompute_all_trends()
    tasks.recompute_all_trends()

    assert {s.pk: (s.version, s.updated_at) for s in TrendSummary.objects.all()} == before


def test_only_the_changed_period_gets_a_new_version(enrolled, record):
    record(enrolled, daily(date(2026, 11, 2), date(2026, 11, 20), 5))
    record(enrolled, [entry("2026-11-18T21:00:00-05:00", 9)])

    versions = dict(TrendSummary.objects.filter(granularity="week").values_list("period_start", "version"))

    assert versions == {date(2026, 11, 2): 1, date(2026, 11, 9): 1, date(2026, 11, 16): 2}


def test_nights_without_new_entries_rewrite_nothing_as_the_horizon_moves_on(enrolled, record):
    # A diary kept until October 2026; the nightly horizon (400 days) reaches back into 2025.
    with time_machine.travel(datetime.fromisoformat("2026-12-01T02:15:00+00:00"), tick=False):
        record(enrolled, daily(date(2025, 6, 2), date(2026, 10, 20), 5))
        compute.recompute([enrolled.pk])
    stored = TrendSummary.objects.count()

    written = []
    # The horizon's first day crosses a Monday (3 November 2025) and a month (1 November 2025).
    for night in range(2, 10):
        with time_machine.travel(datetime(2026, 12, night, 2, 15, tzinfo=UTC), tick=False):
            written.append(compute.recompute([enrolled.pk]).summaries_written)

    assert written == [0] * 8
    assert TrendSummary.objects.count() == stored


def test_one_new_entry_rewrites_its_periods_and_the_comparison_after_them_only(enrolled, record):
    record(enrolled, daily(date(2026, 8, 3), date(2026, 10, 30), 5))
    before = dict(TrendSummary.objects.values_list("pk", "inputs_hash"))

    record(enrolled, [entry("2026-10-07T20:00:00-04:00", 9)])  # Wednesday of the week of 5 October

    after = dict(TrendSummary.objects.values_list("pk", "inputs_hash"))
    rewritten = set(
        TrendSummary.objects.filter(pk__in=[pk for pk in after if after[pk] != before[pk]]).values_list(
            "granularity", "period_start"
        )
    )
    # Its week and month, and the week after, whose change against it moved; no later period.
    assert rewritten == {("week", date(2026, 10, 5)), ("month", date(2026, 10, 1)), ("week", date(2026, 10, 12))}
    assert compute.recompute([enrolled.pk]).summaries_written == 0  # and the night after, nothing


def test_a_patient_held_by_another_worker_is_left_alone(enrolled, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        upload(enrolled, [entry("2026-11-20T08:00:00-05:00", 4)])
    TrendRecompute.objects.filter(patient=enrolled).update(lease_until=timezone.now() + timedelta(minutes=5))

    tasks.recompute_patient_trends(str(enrolled.pk))

    assert not TrendSummary.objects.exists()
    assert TrendRecompute.objects.get(patient=enrolled).dirty_from == date(2026, 11, 20)


def test_an_upload_during_a_recompute_makes_the_patient_wait_for_another(enrolled, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        upload(enrolled, [entry("2026-11-20T08:00:00-05:00", 4)])
    claim = trend_services._claim([enrolled.pk])
    with django_capture_on_commit_callbacks() as during:
        upload(enrolled, [entry("2026-11-21T08:00:00-05:00", 5)])  # marks the row: generation moves on

    again = trend_services._finish(claim)

    assert (len(during), again) == (0, [enrolled.pk])
    row = TrendRecompute.objects.get(patient=enrolled)
    assert (row.dirty_from, row.lease_token) == (date(2026, 11, 20), None)


def test_the_nightly_run_covers_every_patient_in_chunks(settings, record):
    settings.TREND_CHUNK_PATIENTS = 2
    patients = [PatientFactory() for _ in range(5)]
    for patient in patients:
        record(patient, daily(date(2026, 11, 16), date(2026, 11, 18), 4))
    TrendSummary.objects.all().delete()

    assert tasks.recompute_all_trends() == 5

    assert TrendSummary.objects.filter(granularity="week").count() == 5
    assert not TrendRecompute.objects.filter(dirty_from__isnull=False).exists()


def test_the_sweep_enqueues_a_recompute_whose_task_was_lost(enrolled, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():  # the broker was down: the task never left
        upload(enrolled, [entry("2026-11-20T08:00:00-05:00", 4)])
    assert tasks.sweep_trend_recomputes() == 0  # too recent

    TrendRecompute.objects.update(requested_at=timezone.now() - timedelta(minutes=20))

    assert tasks.sweep_trend_recomputes() == 1
    assert TrendSummary.objects.filter(patient=enrolled).exists()


def test_the_operator_command_recomputes_everyone(record, patient):
    from io import StringIO

    from django.core.management import call_command

    record(patient, daily(date(2026, 11, 16), date(2026, 11, 18), 4))
    TrendSummary.objects.all().delete()
    out = StringIO()

    call_command("recompute_trends", stdout=out)
    call_command("recompute_trends", "--patient", str(patient.pk), stdout=out)

    assert "Recomputed 1 patients." in out.getvalue()
    assert TrendSummary.objects.filter(patient=patient).count() == 2


def test_an_operator_rerun_of_a_patient_another_worker_holds_is_not_lost(enrolled, django_capture_on_commit_callbacks):
    from io import StringIO

    from django.core.management import call_command

    with django_capture_on_commit_callbacks():
        upload(enrolled, [entry("2026-11-20T08:00:00-05:00", 4)])
    held = trend_services._claim([enrolled.pk])  # a worker is computing the patient
    out = StringIO()

    call_command("recompute_trends", "--patient", str(enrolled.pk), stdout=out)

    assert "being recomputed by a worker" in out.getvalue()
    assert trend_services._finish(held) == [enrolled.pk]  # the worker leaves the patient waiting
    assert TrendRecompute.objects.get(patient=enrolled).dirty_from == date.min
    tasks.recompute_patient_trends(str(enrolled.pk))  # ... and the task it enqueues runs the re-run
    assert TrendSummary.objects.filter(patient=enrolled).exists()


def test_new_figures_code_reshapes_every_period_but_keeps_versions_of_equal_figures(enrolled, record, monkeypatch):
    from diary.trends import compute

    record(enrolled, daily(date(2026, 11, 2), date(2026, 11, 20), 5))
    before = dict(TrendSummary.objects.values_list("pk", "inputs_hash"))
    monkeypatch.setattr(compute, "FIGURES_VERSION", compute.FIGURES_VERSION + 1)

    compute.recompute([enrolled.pk])

    after = dict(TrendSummary.objects.values_list("pk", "inputs_hash"))
    assert after.keys() == before.keys()
    assert all(after[pk] != before[pk] for pk in before)
    assert set(TrendSummary.objects.values_list("version", flat=True)) == {1}


def test_recompute_runs_with_sql_logging_on(enrolled, record):
    """DEBUG logs every statement with its parameters filled in: no stray % in the trend SQL."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from diary.trends import compute

    record(enrolled, daily(date(2026, 11, 2), date(2026, 11, 20), 5))
    with CaptureQueriesContext(connection) as queries:
        compute.recompute([enrolled.pk])

    assert any("diary_diaryentry" in q["sql"] for q in queries.captured_queries)


def test_a_failed_recompute_frees_the_patient_for_the_next_try(
    enrolled, django_capture_on_commit_callbacks, monkeypatch
):
    from diary.trends import compute

    with django_capture_on_commit_callbacks():
        upload(enrolled, [entry("2026-11-20T08:00:00-05:00", 4)])

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(compute, "recompute", broken)
    with pytest.raises(RuntimeError):
        trend_services.trends_recompute_waiting(patient_ids=[enrolled.pk])

    row = TrendRecompute.objects.get(patient=enrolled)
    assert (row.dirty_from, row.lease_until) == (date(2026, 11, 20), None)
