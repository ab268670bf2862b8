"""The trends API: stored summaries, event comparisons, charts and the clinic's attention list."""

from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic import selectors as clinic_selectors
from clinic.api.fields import validated
from clinic.api.pagination import NewestFirstPagination, PeoplePagination
from clinic.audit import audit_list_read, audit_record
from clinic.authentication import caller
from clinic.models import Patient
from clinic.patient_time import local_today
from clinic.permissions import IsClinicStaff, IsStaffOrPatient
from diary.api import trend_serializers as s
from diary.models import TrendEventComparison, TrendSummary
from diary.trends import charts
from diary.trends import selectors as trend_selectors


class PatientTrendList(generics.ListAPIView):
    """A list of one patient's derived rows: staff of their clinic, or the patient's own app."""

    permission_classes = [IsStaffOrPatient]
    audit_resource = ""
    audited_query: dict[str, Any] = {}

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.patient = clinic_selectors.patient_get_for_user(
            caller(request), kwargs["patient_id"], resource_type=self.audit_resource
        )
        response = super().list(request, *args, **kwargs)
        audit_record(
            actor=caller(request),
            patient=self.patient,
            action="read",
            resource_type=self.audit_resource,
            # The query as validated, not the raw string: that is the client's own text, and a
            # NUL in it fails PostgreSQL's jsonb.
            detail={"count": len(response.data["results"]), **self.audited_query},
        )
        return response


class TrendSummaryPagination(NewestFirstPagination):
    ordering = ("-period_start", "-id")
    page_size = 60


@extend_schema(
    parameters=[
        OpenApiParameter("granularity", str, enum=["week", "month"], description="Default: week."),
    ]
)
class TrendList(PatientTrendList):
    queryset = TrendSummary.objects.none()  # for the schema; get_queryset scopes the real one
    serializer_class = s.TrendSummaryOutput
    pagination_class = TrendSummaryPagination
    audit_resource = "trend_summary"

    def get_queryset(self) -> QuerySet[TrendSummary]:
        query = validated(s.TrendQuery, self.request.query_params.dict())
        self.audited_query = {"granularity": query["granularity"]}
        return trend_selectors.trend_summaries_of(self.patient, query["granularity"])

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The patient's stored trend summaries per ISO week or calendar month, newest first."""
        return super().get(request, *args, **kwargs)


class TrendEventPagination(NewestFirstPagination):
    ordering = ("-event_date", "-id")


class TrendEventList(PatientTrendList):
    queryset = TrendEventComparison.objects.none()
    serializer_class = s.TrendEventOutput
    pagination_class = TrendEventPagination
    audit_resource = "trend_event_comparison"

    def get_queryset(self) -> QuerySet[TrendEventComparison]:
        return trend_selectors.event_comparisons_of(self.patient)

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Before/after comparisons for every dose change, pump dose change and injection, newest first."""
        return super().get(request, *args, **kwargs)


class ClinicOverview(generics.ListAPIView):
    queryset = Patient.objects.none()
    permission_classes = [IsClinicStaff]
    serializer_class = s.OverviewPatientOutput
    pagination_class = PeoplePagination

    def get_queryset(self) -> QuerySet[Patient]:
        return trend_selectors.clinic_overview(caller(self.request))

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Your clinic's active patients, most in need of attention first, with the reasons."""
        page = self.paginate_queryset(self.get_queryset()) or []
        reasons = trend_selectors.attention_reasons(page)
        rows = [overview_row(patient, reasons[patient.pk]) for patient in page]
        audit_list_read(actor=caller(request), resource_type="clinic_overview", patient_ids=[p.pk for p in page])
        return self.get_paginated_response(rows)


def overview_row(patient: Any, reasons: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": str(patient.pk),
        "mrn": patient.mrn,
        "given_name": patient.given_name,
        "family_name": patient.family_name,
        "open_alerts": {
            "urgent": patient.urgent_alerts,
            "high": patient.high_alerts,
            "routine": patient.routine_alerts,
        },
        "latest_week_direction": patient.latest_week_direction,
        "last_entry_day": patient.last_entry_day.isoformat() if patient.last_entry_day else None,
        "reasons": reasons,
    }


class FirstRendererNegotiation(BaseContentNegotiation):
    """Charts answer images whatever ``Accept`` says, and errors as problem+json."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return next(iter(parsers), None)

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


class PatientChart(APIView):
    permission_classes = [IsStaffOrPatient]
    content_negotiation_class = FirstRendererNegotiation

    @extend_schema(
        parameters=[OpenApiParameter("weeks", int, description="How many weeks back (default 26, at most 104).")],
        responses={
            (200, "image/svg+xml"): OpenApiResponse(OpenApiTypes.BINARY),
            (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY),
        },
    )
    def get(self, request: Request, patient_id: str, name: str, fmt: str) -> HttpResponse:
        """A chart of the patient's trends: ``severity``, ``time-of-day``, ``triggers`` or ``relief``."""
        patient = clinic_selectors.patient_get_for_user(caller(request), patient_id, resource_type="trend_chart")
        if name not in charts.CHARTS or fmt not in charts.FORMATS:
            raise Http404(f"There is no chart '{name}.{fmt}'.")
        weeks = validated(s.ChartQuery, request.query_params.dict())["weeks"]
        today = local_today(patient.time_zone)
        summaries = trend_selectors.chart_weeks(patient, weeks, today=today)
        since = charts.first_day(summaries, today)
        marks = trend_selectors.chart_events(patient, since, today) if name == "severity" else []
        body = charts.render(name, fmt, summaries, marks)
        audit_record(
            actor=caller(request), patient=patient, action="read", resource_type="trend_chart", detail={"chart": name}
        )
        response = HttpResponse(body, content_type=charts.FORMATS[fmt])
        response["Cache-Control"] = "private, no-cache"
        return response
