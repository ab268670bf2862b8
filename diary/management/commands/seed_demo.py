"""``manage.py seed_demo``: a demo clinic with synthetic patients and a year of diaries.

Runs once; later runs leave the data alone. Staff passwords come from ``DEMO_PASSWORD`` or are
generated and printed; setting ``DEMO_PASSWORD`` on a later run resets them to it.
"""

import os
import random
import secrets
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from clinic import services as clinic_services
from clinic.models import Clinic, Patient, User
from diary import services, synthetic
from diary.api.serializers import AdherenceInput, DiaryEntryInput

DEMO_CLINIC = "Riverside Spasticity Clinic (demo)"
DEMO_STAFF = [
    ("demo-admin", User.Role.ADMIN, "Avery", "Admin"),
    ("dr-demo", User.Role.CLINICIAN, "Robin", "Okoye"),
    ("nurse-demo", User.Role.NURSE, "Sam", "Lee"),
    ("therapist-demo", User.Role.THERAPIST, "Jo", "Marsh"),
]
BATCH = 500


class Command(BaseCommand):
    help = "Load a demo clinic with realistic synthetic patients and months of diaries (once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--patients", type=int, default=12)
        parser.add_argument("--days", type=int, default=365)
        parser.add_argument("--seed", type=int, default=2026)

    def handle(self, *args: Any, **options: Any) -> None:
        password = os.environ.get("DEMO_PASSWORD")
        clinic = Clinic.objects.filter(name=DEMO_CLINIC).first()
        if clinic is not None:
            if password:
                for user in User.objects.filter(clinic=clinic, username__in=[s[0] for s in DEMO_STAFF]):
                    user.set_password(password)
                    user.save(update_fields=["password"])
                self.stdout.write("Demo data already loaded; staff passwords reset to DEMO_PASSWORD.")
            else:
                self.stdout.write("Demo data already loaded. To reset the staff passwords: DEMO_PASSWORD=... seed_demo")
            return
        password = password or secrets.token_urlsafe(12)
        rng = random.Random(options["seed"])
        clinic, nurse = self.create_clinic(password)
        first_code = None
        for number in range(1, options["patients"] + 1):
            profile = synthetic.patient_profile(rng, number)
            patient = clinic_services.patient_create(actor=nurse, **profile.registration())
            code = clinic_services.enrollment_code_create(actor=nurse, patient=patient)
            if first_code is None:
                # Left unused, so the person trying the demo can enroll the app as this patient.
                first_code = (patient, code.secret)
                code = clinic_services.enrollment_code_create(actor=nurse, patient=patient)
            clinic_services.enrollment_redeem(code=code.secret, device_name="demo phone")
            patient.refresh_from_db()
            self.load_diary(rng, profile, patient, options["days"], with_red_flag=number in (2, 5))
        self.stdout.write(self.style.SUCCESS(f"Demo clinic {clinic.pk} loaded with {options['patients']} patients."))
        self.stdout.write(f"Staff sign-in (password {password}): " + ", ".join(s[0] for s in DEMO_STAFF))
        if first_code:
            self.stdout.write(f"Enrollment code for {first_code[0]}: {first_code[1]}")

    def create_clinic(self, password: str) -> tuple[Clinic, User]:
        with transaction.atomic():
            clinic = clinic_services.clinic_create(
                name=DEMO_CLINIC,
                admin_username=DEMO_STAFF[0][0],
                admin_password=password,
                admin_email="admin@demo-clinic.invalid",
            )
            Clinic.objects.filter(pk=clinic.pk).update(
                phone="+1 555 0100", notification_email="alerts@demo-clinic.invalid"
            )
            admin = User.objects.get(username=DEMO_STAFF[0][0])
            staff = {}
            for username, role, first, last in DEMO_STAFF[1:]:
                staff[role] = clinic_services.staff_create(
                    actor=admin,
                    username=username,
                    password=password,
                    role=role,
                    first_name=first,
                    last_name=last,
                    email=f"{username}@demo-clinic.invalid",
                )
        return clinic, staff[User.Role.NURSE]

    def load_diary(
        self, rng: random.Random, profile: synthetic.PatientProfile, patient: Patient, days: int, *, with_red_flag: bool
    ) -> None:
        app_user = patient.user
        assert app_user is not None, "the patient was enrolled just before"  # noqa: S101
        today = timezone.localdate()
        start = today - timedelta(days=days - 1)
        entries = list(synthetic.diary_entries(rng, profile, start, days))
        if with_red_flag and entries:
            entries[-1]["red_flags"] = ["sudden_tone_change"]
        entry_input = DiaryEntryInput()
        for offset in range(0, len(entries), BATCH):
            batch = [(i, entry_input.run_validation(e)) for i, e in enumerate(entries[offset : offset + BATCH])]
            services.record_diary_entries(actor=app_user, patient=patient, entries=batch)
        log_input = AdherenceInput()
        logs = list(synthetic.adherence_logs(rng, profile, start, days))
        for offset in range(0, len(logs), BATCH):
            batch = [(i, log_input.run_validation(log)) for i, log in enumerate(logs[offset : offset + BATCH])]
            services.record_adherence_logs(actor=app_user, patient=patient, logs=batch)
