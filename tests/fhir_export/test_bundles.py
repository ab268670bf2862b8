"""Observation bundles built by Celery: per patient and month, debounced rebuilds, nightly runs."""

from datetime import UTC, date, datetime, timedelta, timezone

import orjson
import time_machine
from django.utils import timezone as django_timezone

from diary.models import DiaryEntry
from fhir_export import bundles, tasks
from fhir_export.models import ObservationBundle
from tests.fhir_export.conftest import diary_entry
from tests.fhir_export.fhir import valid

NOV = date(2026, 11, 1)


def stored(patient, month=NOV) -> dict:
    return orjson.loads(bytes(ObservationBundle.objects.get(patient=patient, month=month).content))


def test_a_month_holds_the_entries_of_the_patients_own_days(patient):
    # 23:30 on 31 October in Toronto is already November in UTC: it belongs to October.
    late = diary_entry(patient, when=datetime(2026, 10, 31, 23, 30, tzinfo=timezone(timedelta(hours=-4))))
    november = diary_entry(patient, when=datetime(2026, 11, 1, 0, 30, tzinfo=timezone(timedelta(hours=-4))))

    assert tasks.build_observation_bundle(str(patient.pk), NOV.isoformat()) is True

    bundle = valid(stored(patient))
    ids = [e["resource"]["id"] for e in bundle["entry"]]
    assert ids == [str(patient.pk), str(november.pk)]
    assert str(late.pk) not in ids
    assert bundle["id"] == f"observations-{patient.pk}-2026-11"


def test_rebuilding_unchanged_content_keeps_the_etag(patient):
    diary_entry(patient)
    bundles.observation_bundle_build(patient_id=patient.pk, month=NOV)
    first = ObservationBundle.objects.get()

    assert bundles.observation_bundle_build(patient_id=patient.pk, month=NOV) is False
    again = ObservationBundle.objects.get()
    assert (again.etag, again.changed_at, bytes(again.content)) == (first.etag, first.changed_at, bytes(first.content))
    assert again.built_at >= first.built_at


def test_changed_entries_are_rebuilt_once_they_have_been_quiet(patient, settings, django_capture_on_commit_callbacks):
    settings.FHIR_BUNDLE_DEBOUNCE_SECONDS = 60
    start = django_timezone.now()
    with time_machine.travel(start, tick=False):
        tasks.rebuild_changed_bundles()  # sets the watermark
        entry = diary_entry(patient, when=datetime(2026, 11, 5, 9, 0, tzinfo=UTC))
        assert tasks.rebuild_changed_bundles() == 0  # still inside the debounce window
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        assert tasks.rebuild_changed_bundles() == 1
        assert tasks.rebuild_changed_bundles() == 0  # nothing new since
    assert [e["resource"]["id"] for e in stored(patient)["entry"]][1:] == [str(entry.pk)]

    with time_machine.travel(start + timedelta(seconds=120), tick=False):
        DiaryEntry.objects.filter(pk=entry.pk).update(
            deleted_at=django_timezone.now(), updated_at=django_timezone.now()
        )
    with time_machine.travel(start + timedelta(seconds=200), tick=False):
        assert tasks.rebuild_changed_bundles() == 1
    assert len(stored(patient)["entry"]) == 1  # only the patient now


def test_nightly_run_builds_this_and_last_month_for_active_patients(patient, clinic):
    from tests.factories import PatientFactory

    PatientFactory(clinic=clinic, is_active=False)
    with time_machine.travel(datetime(2026, 11, 20, 2, 30, tzinfo=UTC)):
        assert tasks.rebuild_recent_bundles() == 2

    assert sorted(ObservationBundle.objects.values_list("month", flat=True)) == [date(2026, 10, 1), NOV]


def test_gas_ratings_bring_their_goal_and_its_other_ratings(patient):
    from tests.factories import GoalFactory, GoalRatingFactory

    goal = GoalFactory(patient=patient)
    GoalRatingFactory(goal=goal, rated_on=date(2026, 10, 1), level=-1)
    GoalRatingFactory(goal=goal, rated_on=date(2026, 11, 2), level=0)

    bundles.observation_bundle_build(patient_id=patient.pk, month=NOV)

    types = [e["resource"]["resourceType"] for e in valid(stored(patient))["entry"]]
    assert types.count("Goal") == 1
    assert types.count("Observation") == 3  # November's level and T-score, October's level for the Goal


def sweep_after(start, seconds: int) -> int:
    with time_machine.travel(start + timedelta(seconds=seconds), tick=False):
        return tasks.rebuild_changed_bundles()


def test_trend_summaries_written_after_the_entries_rebuild_the_month(patient, settings):
    from diary.trends.services import trends_recompute_now

    settings.FHIR_BUNDLE_DEBOUNCE_SECONDS = 60
    start = django_timezone.now()
    with time_machine.travel(start, tick=False):
        tasks.rebuild_changed_bundles()  # sets the watermark
        diary_entry(patient, when=datetime(2026, 11, 5, 9, tzinfo=UTC))
    assert sweep_after(start, 61) == 1  # built before the trend worker ran
    assert not any(e["resource"]["id"].startswith("trend-") for e in stored(patient)["entry"])

    with time_machine.travel(start + timedelta(seconds=90), tick=False):
        trends_recompute_now(patient=patient)

    assert sweep_after(start, 300) == 1
    assert any(e["resource"]["id"].startswith("trend-") for e in valid(stored(patient))["entry"])


def test_closing_a_goal_rebuilds_every_month_that_shows_it(patient, clinician, settings):
    from clinic import plan_services
    from tests.factories import GoalFactory, GoalRatingFactory

    settings.FHIR_BUNDLE_DEBOUNCE_SECONDS = 60
    goal = GoalFactory(patient=patient)
    GoalRatingFactory(goal=goal, rated_on=date(2026, 10, 1), level=-1)
    GoalRatingFactory(goal=goal, rated_on=NOV, level=0)
    start = django_timezone.now()
    with time_machine.travel(start, tick=False):
        for month in (date(2026, 10, 1), NOV):
            bundles.observation_bundle_build(patient_id=patient.pk, month=month)
        tasks.rebuild_changed_bundles()
    with time_machine.travel(start + timedelta(seconds=10), tick=False):
        plan_services.goal_close(actor=clinician, goal=goal, status="achieved", closed_on=NOV)

    assert sweep_after(start, 100) == 2
    for month in (date(2026, 10, 1), NOV):
        (shown,) = [e["resource"] for e in stored(patient, month)["entry"] if e["resource"]["resourceType"] == "Goal"]
        assert shown["lifecycleStatus"] == "completed"


def test_a_changed_patient_rebuilds_the_months_already_built(patient, settings):
    settings.FHIR_BUNDLE_DEBOUNCE_SECONDS = 60
    diary_entry(patient)
    start = django_timezone.now()
    with time_machine.travel(start, tick=False):
        bundles.observation_bundle_build(patient_id=patient.pk, month=NOV)
        tasks.rebuild_changed_bundles()
    with time_machine.travel(start + timedelta(seconds=10), tick=False):
        patient.family_name = "Renamed"
        patient.save()

    assert sweep_after(start, 100) == 1
    assert stored(patient)["entry"][0]["resource"]["name"][0]["family"] == "Renamed"
