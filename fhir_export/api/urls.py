"""``/fhir/``: discovery, SMART auth, bulk export, operations, then read and search by type."""

from typing import Any

from django.urls import path, re_path

from fhir_export.api import bulk, rest, smart
from fhir_export.api.base import FhirError, FhirView

app_name = "fhir"


class NotFound(FhirView):
    """Anything else under /fhir/: a 404 OperationOutcome (never the HTML or problem+json 404)."""

    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []

    def dispatch_404(self) -> None:
        raise FhirError(404, "There is nothing at this address in the FHIR API.")

    def get(self, request: Any, *args: Any, **kwargs: Any) -> None:
        self.dispatch_404()

    post = put = patch = delete = get


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
    re_path(r"^.*$", NotFound.as_view(), name="not-found"),
]
