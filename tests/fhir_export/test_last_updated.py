"""meta.lastUpdated is what _lastUpdated, _since and If-Modified-Since read, for every source.

EHRs poll by it: an incremental export (``_since``) or a ``_lastUpdated`` search must deliver
a resource whenever what it says changed, including when the change was written to another row
(a dose ended by the next dose, a goal rated or closed, an alert resolved, a session voided).
"""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote, urlsplit

import orjson
import pytest
import time_machine
from django.utils import timezone

from clinic import plan_services
from clinic.models import BotulinumSession, Goal, ItbPump, MedicationRegimen, OrthoticPlan, TherapyPlan
from diary import services as diary_services
from diary.models import Alert
from fhir_export.mapping.common import instant
from fhir_export.selectors import map_rows
from fhir_export.sources import SOURCES
from tests.factories import GoalFactory, GoalRatingFactory
from tests.fhir_export.fhir import parsed

ASYNC = {"HTTP_PREFER": "respond-async", "HTTP_ACCEPT": "application/fhir+json"}


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path) -> Path:
    settings.FHIR_EXPORT_DIR = tmp_path / "exports"
    return settings.FHIR_EXPORT_DIR


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def change_everything(patient, clinician) -> None:
    """Through the services, the changes that reach a resource through another row."""
    today = timezone.localdate()
    regimen = MedicationRegimen.objects.get(patient=patient)
    step = plan_services.DoseStep
    plan_services.medication_change(
        actor=clinician,
        regimen=regimen,
        steps=[step(today + timedelta(days=7), Decimal("15"), 3), step(today + timedelta(days=14), Decimal("20"), 3)],
        reason="titrate",
    )
    # A change dated before the last step supersedes it.
    plan_services.medication_change(
        actor=clinician, regimen=regimen, steps=[step(today + timedelta(days=10), Decimal("12"), 3)], reason="slower"
    )
    pump = ItbPump.objects.get(patient=patient)
    plan_services.itb_dose_change(
        actor=clinician,
        pump=pump,
        effective_from=today - timedelta(days=30),
        daily_dose_mcg=Decimal("350"),
        reason="up",
    )
    plan_services.itb_pump_explant(actor=clinician, pump=pump, explanted_on=today, reason="infection")
    plan_services.botulinum_session_void(
        actor=clinician, session=BotulinumSession.objects.get(patient=patient), reason="wrong patient"
    )
    therapy = TherapyPlan.objects.get(patient=patient)
    plan_services.therapy_plan_change(
        actor=clinician,
        plan=therapy,
        effective_from=today + timedelta(days=7),
        activities=[plan_services.Activity("stretching", 5, minutes=20)],
        reason="more",
    )
    plan_services.plan_stop(
        actor=clinician,
        item=OrthoticPlan.objects.get(patient=patient),
        effective_from=today + timedelta(days=3),
        reason="healed",
    )
    goal = Goal.objects.get(patient=patient)
    plan_services.goal_rate(actor=clinician, goal=goal, rated_on=today - timedelta(days=1), level=0)
    plan_services.goal_close(actor=clinician, goal=goal, status=Goal.Status.ACHIEVED, closed_on=today)
    # A second goal rated on the first one's day: the T-score of that day changes.
    GoalRatingFactory(goal=GoalFactory(patient=patient), rated_on=goal.ratings.earliest("rated_on").rated_on)
    diary_services.alert_resolve(actor=clinician, alert=Alert.objects.get(patient=patient), note="seen")


def test_meta_last_updated_is_the_searched_value_for_every_source(full_patient, clinician):
    change_everything(full_patient, clinician)
    today = timezone.localdate()

    for source in SOURCES:
        rows = list(source.rows(full_patient.clinic_id).order_by("pk"))
        assert rows, f"no {source.name} rows to compare"
        resources = map_rows(source, rows, today)
        for row, resource in zip(rows, resources, strict=True):
            parsed(resource)
            searched = getattr(row, source.updated_field)
            assert resource["meta"]["lastUpdated"] == instant(searched), (source.name, resource["id"])


def test_an_incremental_export_delivers_what_changed_through_another_row(
    ehr_api, full_patient, clinician, django_capture_on_commit_callbacks
):
    start = timezone.now()
    with time_machine.travel(start + timedelta(hours=1), tick=False):
        change_everything(full_patient, clinician)
    since = quote((start + timedelta(minutes=30)).isoformat())

    with time_machine.travel(start + timedelta(hours=2)):
        api = ehr_api()
        with django_capture_on_commit_callbacks(execute=True):
            kickoff = api.get(f"/fhir/$export?_since={since}", **ASYNC)
        manifest = api.get(path_of(kickoff["Content-Location"])).json()
        exported: dict[str, dict[str, dict]] = {}
        for output in manifest["output"]:
            body = b"".join(api.get(path_of(output["url"])).streaming_content)
            for line in body.splitlines():
                resource = orjson.loads(line)
                exported.setdefault(resource["resourceType"], {})[resource["id"]] = resource

    assert {r["status"] for r in exported["Flag"].values()} == {"inactive"}
    assert {r["status"] for r in exported["Procedure"].values()} == {"entered-in-error"}
    assert {r["status"] for r in exported["MedicationAdministration"].values()} == {"entered-in-error"}
    assert [r["lifecycleStatus"] for r in exported["Goal"].values()].count("completed") == 1
    oral = [r for i, r in exported["MedicationStatement"].items() if i.startswith("oral-dose-")]
    first_dose = min(oral, key=lambda r: r["effectivePeriod"]["start"])
    assert first_dose["effectivePeriod"]["end"]  # the dose the change ended is delivered with its end
    assert "stopped" in {r["status"] for r in oral}  # the superseded titration step
    itb = [r for i, r in exported["MedicationStatement"].items() if i.startswith("itb-dose-")]
    assert all("end" in r["effectivePeriod"] for r in itb)  # the explant ended the last dose
    assert len(exported["CarePlan"]) == 2
    assert len(exported["DeviceRequest"]) == 1
    t_scores = [r for i, r in exported["Observation"].items() if i.startswith("gas-t-")]
    assert len(t_scores) == 2  # the day with the new rating, and the day a second goal was rated


def test_a_last_updated_search_finds_a_resolved_alert(ehr_api, full_patient, clinician):
    later = timezone.now() + timedelta(days=3)
    with time_machine.travel(later, tick=False):
        diary_services.alert_resolve(actor=clinician, alert=Alert.objects.get(patient=full_patient))
        api = ehr_api()

    found = api.get(f"/fhir/Flag?_lastUpdated=ge{quote((later - timedelta(hours=1)).isoformat())}").json()

    assert [e["resource"]["status"] for e in found["entry"]] == ["inactive"]


def test_closing_a_goal_changes_its_last_modified(ehr_api, full_patient, clinician):
    api = ehr_api()
    goal = Goal.objects.get(patient=full_patient)
    first = api.get(f"/fhir/Goal/{goal.pk}")

    with time_machine.travel(timezone.now() + timedelta(minutes=5), tick=False):
        plan_services.goal_close(
            actor=clinician, goal=goal, status=Goal.Status.DISCONTINUED, closed_on=timezone.localdate()
        )
    again = api.get(f"/fhir/Goal/{goal.pk}", HTTP_IF_MODIFIED_SINCE=first["Last-Modified"])

    assert again.status_code == 200
    assert again.json()["lifecycleStatus"] == "cancelled"
