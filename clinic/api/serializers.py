"""Input and output shapes of the clinic API. Parsing and shaping only: rules live in services."""

from rest_framework import serializers

from clinic.api.fields import BoundedDateField, StrictSerializer, VocabularyField
from clinic.models import AccessToken, AuditEvent, Patient, User
from clinic.vocabulary import ADMINISTRATIVE_SEX, DIAGNOSES

# The roles a staff member can have (everything but a patient's app account).
STAFF_ROLE_CHOICES = [choice for choice in User.Role.choices if choice[0] != User.Role.PATIENT]


class LoginInput(StrictSerializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, trim_whitespace=False, style={"input_type": "password"})
    device_name = serializers.CharField(max_length=100, required=False, default="")


class TokenOutput(serializers.Serializer):
    token = serializers.CharField(
        source="secret", help_text="Send as 'Authorization: Bearer <token>'. Shown only once."
    )
    expires_at = serializers.DateTimeField()


class EnrollInput(StrictSerializer):
    code = serializers.CharField(max_length=40, help_text="The code the clinic gave, with or without dashes.")
    device_name = serializers.CharField(max_length=100)


class EnrollOutput(TokenOutput):
    patient_id = serializers.UUIDField()


class MeOutput(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.CharField()
    clinic_id = serializers.IntegerField(allow_null=True)
    clinic_name = serializers.CharField(allow_null=True)
    patient_id = serializers.UUIDField(allow_null=True)
    token_expires_at = serializers.DateTimeField(allow_null=True)


class StaffInput(StrictSerializer):
    username = serializers.RegexField(r"^[\w.@+-]+\Z", max_length=150)
    password = serializers.CharField(max_length=256, trim_whitespace=False, write_only=True)
    role = serializers.ChoiceField(choices=STAFF_ROLE_CHOICES)
    email = serializers.EmailField(required=False, default="")
    first_name = serializers.CharField(max_length=150, required=False, default="")
    last_name = serializers.CharField(max_length=150, required=False, default="")


class StaffUpdateInput(StrictSerializer):
    is_active = serializers.BooleanField(
        required=False, help_text="false when someone leaves: their tokens and sessions end at once."
    )
    role = serializers.ChoiceField(choices=STAFF_ROLE_CHOICES, required=False)


class StaffOutput(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "role", "email", "first_name", "last_name", "is_active", "date_joined"]


class PatientInput(StrictSerializer):
    mrn = serializers.RegexField(r"^[A-Za-z0-9._/-]+\Z", max_length=64, help_text="Unique within the clinic.")
    given_name = serializers.CharField(max_length=100)
    family_name = serializers.CharField(max_length=100)
    birth_date = BoundedDateField()
    sex = VocabularyField(ADMINISTRATIVE_SEX)
    time_zone = serializers.CharField(max_length=64, help_text="IANA time zone, e.g. America/Toronto.")
    diagnosis = VocabularyField(DIAGNOSES)


class PatientUpdateInput(PatientInput):
    is_active = serializers.BooleanField(help_text="False when the patient is discharged.")


class PatientOutput(serializers.ModelSerializer):
    enrolled = serializers.SerializerMethodField(help_text="Whether a phone has been enrolled.")

    class Meta:
        model = Patient
        fields = [
            "id",
            "mrn",
            "given_name",
            "family_name",
            "birth_date",
            "sex",
            "time_zone",
            "diagnosis",
            "is_active",
            "enrolled",
            "created_at",
            "updated_at",
        ]

    def get_enrolled(self, patient: Patient) -> bool:
        return patient.user_id is not None


class EnrollmentCodeOutput(serializers.Serializer):
    code = serializers.CharField(help_text="Give this to the patient; it works once.")
    expires_at = serializers.DateTimeField()


class DeviceOutput(serializers.ModelSerializer):
    class Meta:
        model = AccessToken
        fields = ["id", "device_name", "created_at", "expires_at"]


class AuditEventOutput(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "occurred_at",
            "actor_label",
            "actor_id",
            "patient_id",
            "action",
            "resource_type",
            "resource_id",
            "outcome",
            "request_id",
            "detail",
        ]
