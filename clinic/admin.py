"""Django admin: operators (superusers) see every clinic; clinic admins see only their own.

Patient data is read-only here: changes go through the API, whose services enforce the rules
and write the audit trail. Opening a patient record in the admin is audited like an API read,
and so is each page of a list of patient data (with the patients it showed).
"""

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.db import models
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from clinic.audit import audit_list_read, audit_record
from clinic.models import (
    AccessToken,
    AuditEvent,
    BotulinumSession,
    Clinic,
    EnrollmentCode,
    Goal,
    GoalRating,
    InjectionSite,
    ItbAlarmSetting,
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
from clinic.webhooks import validate_webhook_url


def admin_clinic_id(request: HttpRequest) -> int | None:
    """The clinic a clinic admin manages here; None for anyone else (superusers included)."""
    user = request.user
    if isinstance(user, User) and user.is_active and user.role == User.Role.ADMIN:
        return user.clinic_id
    return None


def is_clinic_admin(request: HttpRequest) -> bool:
    return admin_clinic_id(request) is not None


class ClinicScopedAdmin(admin.ModelAdmin):
    """Superusers see everything; a clinic admin sees the rows of their clinic, read-only.

    ``clinic_path`` leads from a row to its clinic (None: operators' bookkeeping, superusers
    only); ``patient_path`` to its patient, for rows that are patient data and audited.
    """

    clinic_path: str | None = "clinic"
    patient_path: str | None = None
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        clinic_id = admin_clinic_id(request)
        if clinic_id is None or self.clinic_path is None:
            return queryset.none()
        return queryset.filter(**{f"{self.clinic_path}_id": clinic_id})

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser or (is_clinic_admin(request) and self.clinic_path is not None)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        """The list page; a page of patient data is audited as one read naming its patients."""
        response = super().changelist_view(request, extra_context)
        changelist = (getattr(response, "context_data", None) or {}).get("cl")
        if self.patient_path is not None and changelist is not None:
            shown = [row.pk for row in changelist.result_list]  # the page; the template reuses it
            patient_ids = self.model._default_manager.filter(pk__in=shown).values_list(
                self.patient_path or "pk", flat=True
            )
            audit_list_read(
                actor=request.user if isinstance(request.user, User) else None,
                resource_type=self.model._meta.model_name or "",
                patient_ids=[pid for pid in patient_ids if pid is not None],
                via="admin",
            )
        return response

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        obj = super().get_object(request, object_id, from_field)
        if obj is not None and self.patient_path is not None:
            patient = obj
            for part in self.patient_path.split("__") if self.patient_path else []:
                patient = getattr(patient, part)
            audit_record(
                actor=request.user if isinstance(request.user, User) else None,
                patient=patient,
                action="read",
                resource_type=obj._meta.model_name,
                resource_id=obj.pk,
                detail={"via": "admin"},
            )
        return obj


class ClinicForm(forms.ModelForm):
    webhook_url = forms.URLField(
        required=False, assume_scheme="https", help_text=Clinic._meta.get_field("webhook_url").help_text
    )

    class Meta:
        model = Clinic
        fields = ["name", "phone", "notification_email", "webhook_url", "webhook_secret"]

    def clean_webhook_url(self) -> str:
        # Checked again before every POST (clinic.webhooks): what a name resolves to can change.
        url: str = self.cleaned_data["webhook_url"]
        validate_webhook_url(url)
        return url


@admin.register(Clinic)
class ClinicAdmin(ClinicScopedAdmin):
    clinic_path = "id"
    form = ClinicForm
    list_display = ["name", "phone", "notification_email", "created_at"]
    search_fields = ["name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = admin.ModelAdmin.get_queryset(self, request)
        if request.user.is_superuser:
            return queryset
        clinic_id = admin_clinic_id(request)
        return queryset.none() if clinic_id is None else queryset.filter(pk=clinic_id)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # A clinic admin sets their clinic's phone, alert e-mail and webhook here.
        return request.user.is_superuser or is_clinic_admin(request)


@admin.register(User)
class StaffAdmin(UserAdmin):
    list_display = ["username", "clinic", "role", "email", "is_active", "last_login"]
    list_filter = ["role", "is_active", "clinic"]
    fieldsets = (*(UserAdmin.fieldsets or ()), ("Clinic", {"fields": ("clinic", "role")}))

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        clinic_id = admin_clinic_id(request)
        return queryset.none() if clinic_id is None else queryset.filter(clinic_id=clinic_id)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser or is_clinic_admin(request)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return request.user.is_superuser or is_clinic_admin(request)


@admin.register(Patient)
class PatientAdmin(ClinicScopedAdmin):
    patient_path = ""
    list_display = ["mrn", "family_name", "given_name", "birth_date", "diagnosis", "is_active"]
    list_filter = ["diagnosis", "is_active"]
    search_fields = ["mrn", "family_name", "given_name"]
    exclude = ["user"]


@admin.register(EnrollmentCode)
class EnrollmentCodeAdmin(ClinicScopedAdmin):
    clinic_path = "patient__clinic"
    patient_path = "patient"
    list_select_related = ["patient", "created_by"]
    list_display = ["patient", "created_by", "created_at", "expires_at", "redeemed_at"]
    exclude = ["digest"]


@admin.register(AccessToken)
class AccessTokenAdmin(ClinicScopedAdmin):
    clinic_path = "user__clinic"
    list_display = ["user", "kind", "device_name", "created_at", "expires_at", "revoked_at"]
    list_filter = ["kind"]
    exclude = ["digest"]


@admin.register(AuditEvent)
class AuditEventAdmin(ClinicScopedAdmin):
    list_display = ["occurred_at", "actor_label", "action", "resource_type", "resource_id", "patient", "outcome"]
    list_filter = ["action", "outcome", "resource_type"]
    search_fields = ["actor_label", "resource_id", "request_id"]
    date_hierarchy = "occurred_at"


def register_patient_data(model: type[Model], patient_path: str, **options: Any) -> None:
    """Register a kind of patient data read-only, scoped through its patient to the clinic."""
    admin_class = type(
        f"{model.__name__}Admin",
        (ClinicScopedAdmin,),
        {
            "__module__": __name__,
            "clinic_path": f"{patient_path}__clinic",
            "patient_path": patient_path,
            "list_select_related": [patient_path],  # the rows' names mention the patient
            **options,
        },
    )
    admin.site.register(model, admin_class)


# Care plans: each kind with the way from its rows to their patient.
for plan_model, path_to_patient in {
    MedicationRegimen: "patient",
    MedicationDose: "regimen__patient",
    ItbPump: "patient",
    ItbDose: "pump__patient",
    ItbAlarmSetting: "pump__patient",
    ItbRefill: "pump__patient",
    BotulinumSession: "patient",
    InjectionSite: "session__patient",
    TherapyPlan: "patient",
    TherapyPlanVersion: "plan__patient",
    TherapyActivity: "version__plan__patient",
    OrthoticPlan: "patient",
    OrthoticPlanVersion: "plan__patient",
    Goal: "patient",
    GoalRating: "goal__patient",
}.items():
    register_patient_data(plan_model, path_to_patient)
