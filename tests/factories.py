"""factory_boy factories for the domain; tests build what they need and nothing more."""

from datetime import date
from decimal import Decimal

import factory

from clinic.models import (
    BotulinumSession,
    Clinic,
    Goal,
    GoalRating,
    InjectionSite,
    ItbDose,
    ItbPump,
    ItbRefill,
    MedicationDose,
    MedicationRegimen,
    OrthoticPlan,
    OrthoticPlanVersion,
    Patient,
    TherapyActivity,
    TherapyPlan,
    TherapyPlanVersion,
    User,
)

PASSWORD = "correct horse battery staple"


class ClinicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clinic

    name = factory.Sequence(lambda n: f"Clinic {n}")
    phone = "+1 555 0100"
    notification_email = factory.Sequence(lambda n: f"alerts{n}@clinic.test")


class StaffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@clinic.test")
    clinic = factory.SubFactory(ClinicFactory)
    role = User.Role.CLINICIAN
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def saved(obj, create, extracted, **kwargs):  # noqa: N805
        if create:
            obj.save()


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    clinic = factory.SubFactory(ClinicFactory)
    mrn = factory.Sequence(lambda n: f"MRN{n:05d}")
    given_name = "Alex"
    family_name = factory.Sequence(lambda n: f"Patient{n}")
    birth_date = date(1970, 5, 17)
    sex = Patient.Sex.FEMALE
    time_zone = "America/Toronto"
    diagnosis = "multiple_sclerosis"


# --- Care plans: rows as the plan services store them (tests of rules go through the services) ---


class MedicationRegimenFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MedicationRegimen

    patient = factory.SubFactory(PatientFactory)
    drug = "baclofen"
    created_by = factory.SubFactory(StaffFactory, clinic=factory.SelfAttribute("..patient.clinic"))


class MedicationDoseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MedicationDose

    regimen = factory.SubFactory(MedicationRegimenFactory)
    effective_from = date(2026, 9, 1)
    dose_mg = Decimal("10")
    times_per_day = 3
    created_by = factory.SelfAttribute("regimen.created_by")


class ItbPumpFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ItbPump

    patient = factory.SubFactory(PatientFactory)
    model = "SynchroMed II"
    reservoir_ml = Decimal("20")
    alarm_ml = Decimal("2")
    implanted_on = date(2025, 3, 1)
    created_by = factory.SubFactory(StaffFactory, clinic=factory.SelfAttribute("..patient.clinic"))


class ItbDoseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ItbDose

    pump = factory.SubFactory(ItbPumpFactory)
    effective_from = date(2025, 3, 1)
    daily_dose_mcg = Decimal("400")
    created_by = factory.SelfAttribute("pump.created_by")


class ItbRefillFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ItbRefill

    pump = factory.SubFactory(ItbPumpFactory)
    refilled_on = date(2026, 10, 1)
    volume_ml = Decimal("20")
    concentration_mcg_per_ml = 2000
    performed_by = factory.SelfAttribute("pump.created_by")


class BotulinumSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BotulinumSession

    patient = factory.SubFactory(PatientFactory)
    injected_on = date(2026, 11, 2)
    product = "onabotulinumtoxinA"
    lot = "C1234"
    guidance = "ultrasound"
    clinician = factory.SubFactory(StaffFactory, clinic=factory.SelfAttribute("..patient.clinic"))
    created_by = factory.SelfAttribute("clinician")


class InjectionSiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InjectionSite

    session = factory.SubFactory(BotulinumSessionFactory)
    muscle = "gastrocnemius_medial_head"
    side = "left"
    units = Decimal("100")
    points = 2


class TherapyPlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TherapyPlan

    patient = factory.SubFactory(PatientFactory)
    discipline = "physical_therapy"
    title = "Calf stretching programme"
    created_by = factory.SubFactory(StaffFactory, role="therapist", clinic=factory.SelfAttribute("..patient.clinic"))


class TherapyPlanVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TherapyPlanVersion

    plan = factory.SubFactory(TherapyPlanFactory)
    effective_from = date(2026, 9, 1)
    created_by = factory.SelfAttribute("plan.created_by")


class TherapyActivityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TherapyActivity

    version = factory.SubFactory(TherapyPlanVersionFactory)
    kind = "stretching"
    body_region = "left_calf"
    minutes = 15
    days_per_week = 7


class OrthoticPlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrthoticPlan

    patient = factory.SubFactory(PatientFactory)
    device = "night_splint"
    side = "left"
    created_by = factory.SubFactory(StaffFactory, role="therapist", clinic=factory.SelfAttribute("..patient.clinic"))


class OrthoticPlanVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrthoticPlanVersion

    plan = factory.SubFactory(OrthoticPlanFactory)
    effective_from = date(2026, 9, 1)
    hours_per_day = Decimal("8")
    at_night = True
    created_by = factory.SelfAttribute("plan.created_by")


class GoalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Goal

    patient = factory.SubFactory(PatientFactory)
    description = "Put my left shoe on by myself"
    domain = "function"
    levels = {"-2": "Cannot", "-1": "With help", "0": "Alone, slowly", "1": "Alone", "2": "Alone, quickly"}
    baseline_level = -1
    set_on = date(2026, 9, 1)
    created_by = factory.SubFactory(StaffFactory, clinic=factory.SelfAttribute("..patient.clinic"))


class GoalRatingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GoalRating

    goal = factory.SubFactory(GoalFactory)
    rated_on = date(2026, 11, 1)
    level = 0
    rated_by = factory.SelfAttribute("goal.created_by")
