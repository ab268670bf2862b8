"""FHIR clients, exports and bundles in the Django admin: read-only, scoped to the clinic (see
clinic.admin). Clients are registered with ``manage.py register_backend_client``; secrets (token
digests) are never shown. Stored Observation bundles are patient data, so reading them is audited.
"""

from django.contrib import admin

from clinic.admin import ClinicScopedAdmin, register_patient_data
from fhir_export.models import (
    BackendAccessToken,
    BackendClient,
    ExportFile,
    ExportJob,
    ObservationBundle,
    SweepMark,
    UsedClientAssertion,
)


@admin.register(BackendClient)
class BackendClientAdmin(ClinicScopedAdmin):
    list_display = ["name", "client_id", "clinic", "scopes", "is_active", "created_at"]
    list_filter = ["is_active"]
    list_select_related = ["clinic"]


@admin.register(BackendAccessToken)
class BackendAccessTokenAdmin(ClinicScopedAdmin):
    clinic_path = "client__clinic"
    list_display = ["client", "scopes", "created_at", "expires_at"]
    list_select_related = ["client"]
    exclude = ["digest"]


@admin.register(UsedClientAssertion)
class UsedClientAssertionAdmin(ClinicScopedAdmin):
    clinic_path = "client__clinic"
    list_display = ["client", "jti", "expires_at"]
    list_select_related = ["client"]


@admin.register(ExportJob)
class ExportJobAdmin(ClinicScopedAdmin):
    list_display = ["id", "client", "level", "status", "attempt", "created_at"]
    list_filter = ["status", "level"]
    list_select_related = ["client"]


@admin.register(ExportFile)
class ExportFileAdmin(ClinicScopedAdmin):
    clinic_path = "job__clinic"
    list_display = ["job", "resource_type", "part"]


@admin.register(SweepMark)
class SweepMarkAdmin(ClinicScopedAdmin):
    clinic_path = None  # how far the periodic jobs got: the operators' business
    list_display = ["name", "up_to"]


# The bundle's content is the patient's Observations; the bytes themselves are not shown.
register_patient_data(ObservationBundle, "patient", exclude=["content"])
