"""The Django admin: every model has a page, operators see every clinic, a clinic admin sees only
their own and only reads patient data there, and reading patient data there is audited."""

import uuid
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib import admin
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from clinic.models import AuditEvent, Patient, User
from diary.models import Alert, DiaryEntry
from diary.trends.services import trends_recompute_now
from fhir_export import services as fhir_services
from tests.factories import (
    PASSWORD,
    GoalRatingFactory,
    InjectionSiteFactory,
    ItbDoseFactory,
    ItbRefillFactory,
    MedicationDoseFactory,
    OrthoticPlanVersionFactory,
    PatientFactory,
    TherapyActivityFactory,
)

pytestmark = pytest.mark.django_db


def signed_in(user: User) -> Client:
    browser = Client()
    assert browser.login(username=user.username, password=PASSWORD)
    return browser


def changelist(model: type) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def with_everything(patient: Patient) -> Patient:
    """One row of every kind of patient data, and an EHR client of the patient's clinic."""
    now = timezone.now()
    entry = DiaryEntry.objects.create(
        id=uuid.uuid4(),
        patient=patient,
        occurred_at=now - timedelta(hours=2),
        utc_offset_minutes=0,
        local_date=(now - timedelta(hours=2)).date(),
        local_hour=(now - timedelta(hours=2)).hour,
        severity=6,
    )
    Alert.objects.create(
        clinic=patient.clinic, patient=patient, kind="red_flag", priority="urgent", title="Red flag", diary_entry=entry
    )
    MedicationDoseFactory(regimen__patient=patient)
    dose = ItbDoseFactory(pump__patient=patient)
    ItbRefillFactory(pump=dose.pump)
    InjectionSiteFactory(session__patient=patient)
    TherapyActivityFactory(version__plan__patient=patient)
    OrthoticPlanVersionFactory(plan__patient=patient)
    GoalRatingFactory(goal__patient=patient)
    trends_recompute_now(patient=patient)
    fhir_services.backend_client_register(
        clinic=patient.clinic, name="EHR", scopes="system/*.rs", jwks_url="https://ehr.example.org/jwks.json"
    )
    return patient


@pytest.fixture
def clinic_admin(admin_user: User) -> User:
    admin_user.is_staff = True  # as staff_create makes clinic admins
    admin_user.save()
    return admin_user


@pytest.fixture
def operator(db) -> User:
    return User.objects.create_superuser(username="operator", password=PASSWORD)


def test_every_model_of_the_service_is_in_the_admin():
    ours = {"clinic", "diary", "fhir_export"}
    missing = [m for m in apps.get_models() if m._meta.app_label in ours and m not in admin.site._registry]

    assert missing == []


def test_every_model_has_a_working_list_and_page_for_operators(operator, patient, other_patient):
    with_everything(patient)
    with_everything(other_patient)
    browser = signed_in(operator)

    for model, model_admin in admin.site._registry.items():
        listing = browser.get(changelist(model))
        assert listing.status_code == 200, model
        row = model_admin.get_queryset(listing.wsgi_request).first()
        if row is not None:
            info = (model._meta.app_label, model._meta.model_name)
            page = browser.get(reverse("admin:{}_{}_change".format(*info), args=[row.pk]))
            assert page.status_code == 200, model


def test_operators_see_every_clinic(operator, patient, other_patient):
    body = signed_in(operator).get(changelist(Patient)).content.decode()

    assert patient.family_name in body
    assert other_patient.family_name in body


def test_a_clinic_admin_sees_only_their_clinic(clinic_admin, patient, other_patient, staff, other_clinic):
    with_everything(patient)
    with_everything(other_patient)
    stranger = staff(User.Role.NURSE, clinic=other_clinic, username="elsewhere-nurse")
    browser = signed_in(clinic_admin)

    for model, model_admin in admin.site._registry.items():
        listing = browser.get(changelist(model))
        if listing.status_code == 403:  # operators' bookkeeping
            continue
        shown = model_admin.get_queryset(listing.wsgi_request)
        path = getattr(model_admin, "clinic_path", "clinic")
        assert set(shown.values_list("pk" if path == "id" else path, flat=True)) <= {patient.clinic_id}, model
    assert stranger.username not in browser.get(changelist(User)).content.decode()
    assert other_patient.family_name not in browser.get(changelist(Patient)).content.decode()
    foreign = browser.get(reverse("admin:clinic_patient_change", args=[other_patient.pk]))
    assert foreign.status_code == 302  # "does not exist", back to the index


def test_a_clinic_admin_only_reads_patient_data(clinic_admin, patient):
    with_everything(patient)
    browser = signed_in(clinic_admin)
    entry = DiaryEntry.objects.get()

    page = browser.get(reverse("admin:diary_diaryentry_change", args=[entry.pk]))
    change = browser.post(reverse("admin:clinic_patient_change", args=[patient.pk]), {"given_name": "Changed"})
    delete = browser.post(reverse("admin:diary_diaryentry_delete", args=[entry.pk]), {"post": "yes"})
    add = browser.get(reverse("admin:clinic_patient_add"))

    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert (change.status_code, delete.status_code, add.status_code) == (403, 403, 403)
    patient.refresh_from_db()
    assert patient.given_name != "Changed"
    assert DiaryEntry.objects.filter(pk=entry.pk).exists()


def test_operators_only_pages_are_refused_to_clinic_admins(clinic_admin):
    assert signed_in(clinic_admin).get(reverse("admin:fhir_export_sweepmark_changelist")).status_code == 403


def test_a_list_of_patient_data_is_audited_once_with_the_patients_shown(clinic_admin, patient, clinic):
    second = PatientFactory(clinic=clinic)
    with_everything(patient)
    with_everything(second)
    browser = signed_in(clinic_admin)
    before = AuditEvent.objects.count()

    patients_page = browser.get(changelist(Patient))
    diary_page = browser.get(changelist(DiaryEntry))

    events = list(AuditEvent.objects.order_by("id")[before:])
    assert (patients_page.status_code, diary_page.status_code) == (200, 200)
    assert [(e.action, e.resource_type, e.actor_id) for e in events] == [
        ("read", "patient", clinic_admin.pk),
        ("read", "diaryentry", clinic_admin.pk),
    ]
    assert events[0].detail["patient_ids"] == sorted([str(patient.pk), str(second.pk)])
    assert events[1].detail == {
        "count": 2,
        "patient_ids": sorted([str(patient.pk), str(second.pk)]),
        "via": "admin",
    }
    assert all(e.request_id for e in events)


def test_a_list_page_costs_the_same_however_many_rows_it_shows(clinic_admin, clinic, django_assert_max_num_queries):
    for _ in range(30):
        with_everything(PatientFactory(clinic=clinic))
    browser = signed_in(clinic_admin)

    with django_assert_max_num_queries(15):
        assert browser.get(changelist(DiaryEntry)).status_code == 200
