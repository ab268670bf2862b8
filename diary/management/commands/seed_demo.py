"""``manage.py seed_demo``: a demo clinic with synthetic patients, care plans and a year of diaries.

Runs once; later runs leave the data alone. Staff passwords come from ``DEMO_PASSWORD`` or are
generated and printed; setting ``DEMO_PASSWORD`` on a later run resets them to it. Everything is
written through the same services the API uses, so the demo obeys the same rules (dose limits,
injection intervals) and has a complete audit trail.
"""

import os
import random
import secrets
from datetime import date, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from clinic import clinical_rules, patient_time, plan_services
from clinic import services as clinic_services
from clinic.models import Clinic, ItbPump, MedicationRegimen, Patient, User
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
    help = "Load a demo clinic with realistic synthetic patients, plans and a year of diaries (once)."

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
        days = options["days"]
        start = timezone.localdate() - timedelta(days=days - 1)
        clinic, staff = self.create_clinic(password)
        first_code = None
        for number in range(1, options["patients"] + 1):
            profile = synthetic.patient_profile(rng, number)
            patient = clinic_services.patient_create(actor=staff[User.Role.NURSE], **profile.registration())
            plan = synthetic.care_plan(rng, profile, days)
            self.record_plan(plan, patient, staff, start)
            code = clinic_services.enrollment_code_create(actor=staff[User.Role.NURSE], patient=patient)
            if first_code is None:
                # Left unused, so the person trying the demo can enroll the app as this patient.
                first_code = (patient, code.secret)
                code = clinic_services.enrollment_code_create(actor=staff[User.Role.NURSE], patient=patient)
            clinic_services.enrollment_redeem(code=code.secret, device_name="demo phone")
            patient.refresh_from_db()
            self.load_diary(rng, profile, plan, patient, start, days, with_red_flag=number in (2, 5))
        services.raise_pump_refill_reminders()
        self.stdout.write(self.style.SUCCESS(f"Demo clinic {clinic.pk} loaded with {options['patients']} patients."))
        self.stdout.write(f"Staff sign-in (password {password}): " + ", ".join(s[0] for s in DEMO_STAFF))
        if first_code:
            self.stdout.write(f"Enrollment code for {first_code[0]}: {first_code[1]}")

    def create_clinic(self, password: str) -> tuple[Clinic, dict[str, User]]:
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
            staff = {User.Role.ADMIN.value: admin}
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
        return clinic, staff

    def record_plan(self, plan: synthetic.CarePlan, patient: Patient, staff: dict[str, User], start: date) -> None:
        """Record the plan history in date order, as the clinic would have, through the services."""
        today = patient_time.patient_today(patient)
        clinician, nurse, therapist = staff[User.Role.CLINICIAN], staff[User.Role.NURSE], staff[User.Role.THERAPIST]

        def on(day: int) -> date:
            return start + timedelta(days=day)

        for drug, steps in plan.medications:
            doses = [plan_services.DoseStep(on(day), dose, times) for day, dose, times in steps if on(day) <= today]
            first = [d for d in doses if d.effective_from < on(30)] or doses[:1]
            change = plan_services.medication_start(
                actor=clinician, patient=patient, drug=drug, steps=first, reason="start low, go slow"
            )
            regimen = MedicationRegimen.objects.get(pk=change.item.pk)
            for step in doses[len(first) :]:
                plan_services.medication_change(actor=clinician, regimen=regimen, steps=[step], reason="more tone")
        if plan.pump is not None:
            pump_plan = plan.pump
            # The first fill is made at implant; later refills are events of their own.
            (_, fill_volume), *refills = pump_plan.refills
            change = plan_services.itb_pump_implant(
                actor=clinician,
                patient=patient,
                model="SynchroMed II",
                reservoir_ml=pump_plan.reservoir_ml,
                alarm_ml=pump_plan.reservoir_ml / 10,
                implanted_on=on(pump_plan.implanted_day),
                daily_dose_mcg=pump_plan.daily_dose_mcg,
                fill_volume_ml=fill_volume,
                concentration_mcg_per_ml=2000,
                reason="screening bolus effective",
            )
            pump = ItbPump.objects.get(pk=change.item.pk)
            events = [("refill", day, volume) for day, volume in refills] + [("dose", *pump_plan.increase)]
            for kind, day, amount in sorted(events, key=lambda e: e[1]):
                if on(day) > today:
                    continue
                if kind == "refill":
                    plan_services.itb_refill_record(
                        actor=nurse, pump=pump, refilled_on=on(day), volume_ml=amount, concentration_mcg_per_ml=2000
                    )
                else:
                    plan_services.itb_dose_change(
                        actor=clinician,
                        pump=pump,
                        effective_from=on(day),
                        daily_dose_mcg=amount,
                        reason="breakthrough spasms",
                    )
        for session in plan.injections:
            if on(session.day) <= today:
                plan_services.botulinum_session_record(
                    actor=clinician,
                    patient=patient,
                    injected_on=on(session.day),
                    product=session.product,
                    lot=f"L{session.day:04d}",
                    guidance="ultrasound",
                    injections=[
                        clinical_rules.Injection(m, side, units, points) for m, side, units, points in session.sites
                    ],
                )
        plan_services.therapy_plan_create(
            actor=therapist,
            patient=patient,
            discipline="physical_therapy",
            title="Daily stretching and strength",
            effective_from=start,
            activities=[
                plan_services.Activity("stretching", 7, minutes=15, instructions="Slow stretch, hold 30 seconds"),
                plan_services.Activity("strengthening", 3, sets=3, reps=10),
            ],
        )
        device, side, hours, at_night = plan.orthosis
        plan_services.orthotic_plan_create(
            actor=therapist,
            patient=patient,
            device=device,
            side=side,
            effective_from=start,
            wear=plan_services.Wear(hours, at_night, skin_check="Look for red marks when you take it off"),
        )
        for text, domain, ratings in plan.goals:
            goal = plan_services.goal_create(
                actor=therapist,
                patient=patient,
                description=text,
                domain=domain,
                baseline_level=-1,
                set_on=start,
                levels={"-2": "Worse", "-1": "As now", "0": "Expected", "1": "Better", "2": "Much better"},
            ).item
            for day, level in ratings:
                if on(day) <= today:
                    plan_services.goal_rate(actor=therapist, goal=goal, rated_on=on(day), level=level)

    def load_diary(
        self,
        rng: random.Random,
        profile: synthetic.PatientProfile,
        plan: synthetic.CarePlan,
        patient: Patient,
        start: date,
        days: int,
        *,
        with_red_flag: bool,
    ) -> None:
        app_user = patient.user
        assert app_user is not None, "the patient was enrolled just before"  # noqa: S101
        entries = list(synthetic.diary_entries(rng, profile, start, days))
        if with_red_flag and entries:
            entries[-1]["red_flags"] = ["sudden_tone_change"]
        entry_input = DiaryEntryInput()
        for offset in range(0, len(entries), BATCH):
            batch = [(i, entry_input.run_validation(e)) for i, e in enumerate(entries[offset : offset + BATCH])]
            services.record_diary_entries(actor=app_user, patient=patient, entries=batch)
        log_input = AdherenceInput()
        logs = list(synthetic.adherence_logs(rng, profile, plan, start, days))
        for offset in range(0, len(logs), BATCH):
            batch = [(i, log_input.run_validation(log)) for i, log in enumerate(logs[offset : offset + BATCH])]
            services.record_adherence_logs(actor=app_user, patient=patient, logs=batch)
