"""``/fhir/``: discovery, SMART auth, bulk export, operations, then read and search by type."""

from django.urls import path, re_path

from fhir_export.api import bulk, rest, smart

app_name = "fhir"


urlpatterns = [
    path("metadata", rest.Metadata.as_view(), name="metadata"),
    path(".well-known/smart-configuration", smart.SmartConfiguration.as_view(), name="smart-configuration"),
    path("auth/token", smart.Token.as_view(), name="token"),
    path("$export", bulk.Kickoff.as_view(), name="export"),
    path("Patient/$export", bulk.PatientKickoff.as_view(), name="patient-export"),
    path("Group/<str:group>/$export", bulk.GroupKickoff.as_view(), name="group-export"),
    path("$export-status/<uuid:job_id>", bulk.Status.as_view(), name="export-status"),
    path("$export-file/<uuid:file_id>", bulk.File.as_view(), name="export-file"),
    path("Patient/<str:patient_id>/$everything", rest.Everything.as_view(), name="everything"),
    path("<str:resource_type>/_search", rest.SearchType.as_view(), name="search-post"),
    path("<str:resource_type>/<str:resource_id>", rest.Read.as_view(), name="read"),
    path("<str:resource_type>", rest.SearchType.as_view(), name="search"),
    re_path(r"^[\s\S]*$", rest.NotFound.as_view(), name="not-found"),  # [\s\S]: a %0A in the path too
]
