"""Root URLs: the JSON API under /api/v1/, its schema and docs, health checks, the dashboard and the admin."""

from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from clinic.api.problems import problem_response
from config import health
from fhir_export.api.audit import AuditEventsNdjson

urlpatterns = [
    path("api/v1/", include("clinic.api.urls")),
    path("api/v1/", include("diary.api.urls")),
    path("api/v1/audit-events.ndjson", AuditEventsNdjson.as_view(), name="audit-events-ndjson"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("fhir/", include("fhir_export.api.urls")),
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("dashboard/", include("diary.dashboard.urls")),
    path("admin/", admin.site.urls),
]


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return problem_response(request, 404, "There is nothing at this address.")


def server_error(request: HttpRequest) -> JsonResponse:
    return problem_response(request, 500, "The service failed to answer; the error was logged.")


handler404 = not_found
handler500 = server_error
