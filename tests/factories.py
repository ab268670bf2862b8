"""factory_boy factories for the domain; tests build what they need and nothing more."""

from datetime import date

import factory

from clinic.models import Clinic, Patient, User

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
