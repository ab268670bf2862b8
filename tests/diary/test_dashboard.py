"""The clinic dashboard pages: staff only, their own clinic only, and the acknowledge button."""

from datetime import date
from decimal import Decimal

import pytest
from django.test import Client

from clinic.models import AuditEvent
from diary.models import Alert
from tests.conftest import enroll
from tests.diary.conftest import daily, entry
from tests.factories import (
    BotulinumSessionFactory,
    InjectionSiteFactory,
    MedicationDoseFactory,
    MedicationRegimenFactory,
    OrthoticPlanFactory,
    OrthoticPlanVersionFactory,
    PatientFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("now")]


@pytest.fixture
def signed_in(clinician) -> Client:
    client = Client()
    client.force_login(clinician)
    return client


@pytest.fixture
def followed(patient, record):
    """A patient with a plan, an injection, a red flag and two months of diary."""
    regimen = MedicationRegimenFactory(patient=patient, drug="tizanidine")
    MedicationDoseFactory(regimen=regimen, effective_from=date(2026, 9, 1), dose_mg=Decimal("2"), times_per_day=3)
    MedicationDoseFactory(regimen=regimen, effective_from=date(2026, 10, 12), dose_mg=Decimal("4"), times_per_day=3)
    splint = OrthoticPlanFactory(patient=patient, device="ankle_foot_orthosis", side="left")
    OrthoticPlanVersionFactory(plan=splint, effective_from=date(2026, 9, 1), hours_per_day=Decimal("6"), at_night=False)
    session = BotulinumSessionFactory(patient=patient, injected_on=date(2026, 10, 5))
    InjectionSiteFactory(session=session, muscle="soleus", side="left", units=Decimal("75"))
    record(
        patient,
        [
            *daily(date(2026, 9, 1), date(2026, 11, 23), 5, spasms=2),
            entry("2026-11-24T08:00:00-05:00", 8, red_flags=["fever"]),
        ],
    )
    return patient


def test_signing_in_is_required(db):
    response = Client().get("/dashboard/")

    assert response.status_code == 302
    assert response["Location"] == "/dashboard/login/?next=/dashboard/"


def test_staff_sign_in_with_username_and_password(clinician):
    client = Client()
    page = client.get("/dashboard/login/")
    response = client.post(
        "/dashboard/login/", {"username": clinician.username, "password": "correct horse battery staple"}
    )

    assert page.status_code == 200
    assert (response.status_code, response["Location"]) == (302, "/dashboard/")


def test_the_attention_list_puts_the_red_flag_first(signed_in, followed, clinic, record):
    calm = PatientFactory(clinic=clinic, family_name="Aardvark")
    record(calm, daily(date(2026, 11, 16), date(2026, 11, 24), 3))

    html = signed_in.get("/dashboard/").content.decode()

    assert html.index(followed.family_name) < html.index("Aardvark")
    assert "Red flag: Fever" in html


def test_the_patient_page_shows_alerts_charts_plan_and_before_after(signed_in, followed):
    response = signed_in.get(f"/dashboard/patients/{followed.pk}/")
    html = response.content.decode()

    assert response.status_code == 200
    assert "Red flag: Fever" in html
    assert ">Acknowledge<" in html
    assert f"/api/v1/patients/{followed.pk}/charts/severity.svg" in html
    assert "Tizanidine 4 mg x 3/day" in html
    assert "Left ankle-foot orthosis: 6 h a day" in html
    assert "left soleus 75 U" in html
    assert "Next session allowed from <strong>28 Dec 2026</strong>" in html
    assert "Tizanidine 4 mg x 3/day (was 2 mg x 3/day)" in html
    assert "onabotulinumtoxinA (Botox) 75 U: left soleus" in html


def test_the_acknowledge_button_acknowledges_and_comes_back(signed_in, followed, clinician):
    alert = Alert.objects.get(kind=Alert.Kind.RED_FLAG)
    page = f"/dashboard/patients/{followed.pk}/"

    response = signed_in.post(f"/dashboard/alerts/{alert.pk}/acknowledge", {"next": page})

    assert (response.status_code, response["Location"]) == (302, page)
    alert.refresh_from_db()
    assert (alert.status, alert.acknowledged_by) == ("acknowledged", clinician)
    assert ">Acknowledge<" not in signed_in.get(page).content.decode()


def test_an_acknowledged_alert_stays_open_saying_who_acknowledged_it_and_when(signed_in, followed, clinician):
    clinician.first_name, clinician.last_name = "Ada", "Okafor"
    clinician.save()
    alert = Alert.objects.get(kind=Alert.Kind.RED_FLAG)
    page = f"/dashboard/patients/{followed.pk}/"

    signed_in.post(f"/dashboard/alerts/{alert.pk}/acknowledge", {"next": page})
    html = signed_in.get(page).content.decode()

    assert "Red flag: Fever" in html
    assert "Acknowledged by Ada Okafor at 25 Nov 2026 12:00" in html
    assert ">Acknowledge<" not in html


def test_acknowledge_will_not_redirect_off_site(signed_in, followed):
    alert = Alert.objects.get(kind=Alert.Kind.RED_FLAG)

    response = signed_in.post(f"/dashboard/alerts/{alert.pk}/acknowledge", {"next": "https://evil.example/"})

    assert response["Location"] == f"/dashboard/patients/{followed.pk}/"


def test_another_clinics_patient_and_alert_are_not_found(staff, other_clinic, followed):
    stranger = Client()
    stranger.force_login(staff("nurse", clinic=other_clinic))
    alert = Alert.objects.get(kind=Alert.Kind.RED_FLAG)

    assert stranger.get(f"/dashboard/patients/{followed.pk}/").status_code == 404
    assert stranger.post(f"/dashboard/alerts/{alert.pk}/acknowledge").status_code == 404
    alert.refresh_from_db()
    assert alert.status == "open"
    # Both attempts are on the audit trail as denied, as through the API.
    denied = AuditEvent.objects.filter(outcome="denied").values_list("resource_type", "resource_id")
    assert set(denied) == {("patient", str(followed.pk)), ("alert", str(alert.pk))}


def test_a_long_attention_list_comes_in_pages_and_says_how_many(signed_in, clinic, monkeypatch):
    from diary.dashboard import views

    monkeypatch.setattr(views, "ATTENTION_PAGE_SIZE", 2)
    for name in ("Avery", "Blake", "Casey"):
        PatientFactory(clinic=clinic, family_name=name)

    first = signed_in.get("/dashboard/").content.decode()
    second = signed_in.get("/dashboard/?page=2").content.decode()

    assert "Patients 1\N{EN DASH}2 of 3." in first
    assert ("Avery" in first, "Casey" in first) == (True, False)
    assert 'href="?page=2"' in first
    assert "Patients 3\N{EN DASH}3 of 3." in second
    assert "Casey" in second


def test_a_patient_account_is_refused(patient):
    enroll(patient)
    patient.refresh_from_db()
    client = Client()
    client.force_login(patient.user)

    assert client.get("/dashboard/").status_code == 403


def test_recent_weeks_show_trigger_labels_and_a_zero_severity(signed_in, patient, record):
    record(patient, daily(date(2026, 11, 16), date(2026, 11, 18), 0, triggers=["full_bladder"]))

    html = signed_in.get(f"/dashboard/patients/{patient.pk}/").content.decode()

    assert "Full bladder (3)" in html
    assert "<td>0.0 · 0.0 · 0</td>" in html
