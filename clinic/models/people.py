"""Clinics, their staff and patients, enrollment codes and access tokens."""

import uuid
from datetime import date

from django.contrib.auth.models import AbstractUser
from django.db import models

from clinic.vocabulary import ADMINISTRATIVE_SEX, DIAGNOSES, STAFF_ROLES


class Clinic(models.Model):
    name = models.CharField(max_length=200, unique=True)
    phone = models.CharField(max_length=40, blank=True, help_text="Shown to patients when they must call now.")
    notification_email = models.EmailField(
        blank=True, help_text="Receives urgent alerts, besides clinicians and nurses."
    )
    webhook_url = models.URLField(blank=True, help_text="Optional: receives a signed JSON POST for every urgent alert.")
    webhook_secret = models.CharField(
        max_length=128, blank=True, help_text="HMAC-SHA256 key for the webhook signature."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A person who signs in: clinic staff (with a role) or a patient's app account.

    Staff belong to exactly one clinic. A patient account is created when the patient first
    redeems an enrollment code; it has no usable password and is reached through ``patient``.
    Operators (superusers) belong to no clinic and see no patient data through the API.
    """

    class Role(models.TextChoices):
        ADMIN = "admin", STAFF_ROLES["admin"].label
        CLINICIAN = "clinician", STAFF_ROLES["clinician"].label
        NURSE = "nurse", STAFF_ROLES["nurse"].label
        THERAPIST = "therapist", STAFF_ROLES["therapist"].label
        PATIENT = "patient", "Patient"

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, null=True, blank=True, related_name="users")
    role = models.CharField(max_length=20, choices=Role.choices, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="user_role_needs_clinic",
                condition=models.Q(role="") | models.Q(clinic__isnull=False),
            ),
        ]

    @property
    def is_clinic_staff(self) -> bool:
        return self.clinic_id is not None and self.role not in ("", self.Role.PATIENT)

    @property
    def is_patient(self) -> bool:
        return self.role == self.Role.PATIENT


class Patient(models.Model):
    class Sex(models.TextChoices):
        FEMALE = "female", ADMINISTRATIVE_SEX["female"].label
        MALE = "male", ADMINISTRATIVE_SEX["male"].label
        OTHER = "other", ADMINISTRATIVE_SEX["other"].label
        UNKNOWN = "unknown", ADMINISTRATIVE_SEX["unknown"].label

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="patients")
    user = models.OneToOneField(User, on_delete=models.PROTECT, null=True, blank=True, related_name="patient")
    mrn = models.CharField("MRN", max_length=64, help_text="Medical record number, unique within the clinic.")
    given_name = models.CharField(max_length=100)
    family_name = models.CharField(max_length=100)
    birth_date = models.DateField()
    sex = models.CharField(max_length=10, choices=Sex.choices)
    time_zone = models.CharField(max_length=64, help_text="IANA time zone, e.g. America/Toronto.")
    diagnosis = models.CharField(max_length=40, choices=DIAGNOSES.choices)
    is_active = models.BooleanField(default=True, help_text="Cleared when the patient is discharged.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["clinic", "mrn"], name="patient_mrn_unique_in_clinic"),
        ]
        indexes = [models.Index(fields=["clinic", "family_name", "given_name"])]

    def __str__(self) -> str:
        return f"{self.family_name}, {self.given_name} ({self.mrn})"

    def age_on(self, day: date) -> int:
        return day.year - self.birth_date.year - ((day.month, day.day) < (self.birth_date.month, self.birth_date.day))


class EnrollmentCode(models.Model):
    """A one-time code a patient types into the app to get a patient token. Only its digest is kept."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="enrollment_codes")
    digest = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    redeemed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"enrollment code for {self.patient} ({'used' if self.redeemed_at else 'unused'})"


class AccessToken(models.Model):
    """A bearer token. Only the SHA-256 digest of the secret is stored; the secret is shown once."""

    class Kind(models.TextChoices):
        STAFF = "staff", "Staff"
        PATIENT = "patient", "Patient app"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="access_tokens")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    digest = models.CharField(max_length=64, unique=True)
    device_name = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "kind"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} token of {self.user} ({self.device_name or 'no device'})"
