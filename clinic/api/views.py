"""The clinic API: sign-in, enrollment, staff and patients. Parse, call a service, shape."""

import csv
import itertools
from typing import Any

import django_filters
import orjson
from django.db.models import Q, QuerySet
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic import selectors, services
from clinic.api import serializers as s
from clinic.api.fields import validated
from clinic.api.pagination import NewestFirstPagination, PeoplePagination
from clinic.api.throttling import ScopedRateThrottle
from clinic.audit import audit_list_read, audit_record
from clinic.authentication import BearerTokenAuthentication, caller, request_token
from clinic.models import AuditEvent, Patient, User
from clinic.permissions import IsClinicStaff, IsStaffOrPatient
from clinic.signin import signin_failed, signin_retry_after


class LoginThrottle(ScopedRateThrottle):
    """Counts sign-in and enrollment attempts per client address, to slow guessing (wrong
    passwords are also counted per username: ``clinic.signin``)."""

    scope_attr = "throttle_scope"


class AuthToken(APIView):
    """Sign in (POST, no token needed) and sign out (DELETE, revokes the token used)."""

    throttle_scope = "login"

    def signing_in(self) -> bool:
        return getattr(self.request, "method", None) == "POST"

    def get_authenticators(self) -> list[Any]:
        return [] if self.signing_in() else super().get_authenticators()

    def get_permissions(self) -> list[Any]:
        return [AllowAny()] if self.signing_in() else [IsStaffOrPatient()]

    def get_throttles(self) -> list[Any]:
        return [LoginThrottle()] if self.signing_in() else super().get_throttles()

    def get_authenticate_header(self, request: Request) -> str:
        # A wrong password is a 401 with the scheme to use, even though POST needs no token.
        return BearerTokenAuthentication().authenticate_header(request)

    @extend_schema(request=s.LoginInput, responses={201: s.TokenOutput}, auth=[])
    def post(self, request: Request) -> Response:
        """Exchange a staff username and password for a bearer token."""
        data = validated(s.LoginInput, request.data)
        retry_after = signin_retry_after(request, data["username"])
        if retry_after is not None:
            raise exceptions.Throttled(wait=retry_after, detail="Too many wrong passwords; wait, then try again.")
        try:
            issued = services.staff_token_issue(**data)
        except services.LoginRefused:
            signin_failed(request, data["username"])
            raise exceptions.AuthenticationFailed("Wrong username or password.") from None
        return Response(s.TokenOutput(issued).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request) -> Response:
        """Revoke the token this request was made with."""
        token = request_token(request)
        if token is None:
            raise exceptions.ValidationError({"": ["This request was not made with a bearer token."]})
        services.token_revoke(actor=caller(request), token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)


class Enroll(APIView):
    permission_classes = [AllowAny]  # the code is the credential
    authentication_classes: list[Any] = []
    throttle_classes = [LoginThrottle]
    throttle_scope = "login"

    @extend_schema(request=s.EnrollInput, responses={201: s.EnrollOutput}, auth=[])
    def post(self, request: Request) -> Response:
        """Redeem a one-time enrollment code for a patient token (the phone keeps it)."""
        data = validated(s.EnrollInput, request.data)
        try:
            issued = services.enrollment_redeem(code=data["code"], device_name=data["device_name"])
        except services.EnrollmentRefused:
            raise exceptions.ValidationError(
                {"code": ["This code is not valid: it may have expired or been used. Ask your clinic for a new one."]}
            ) from None
        body = s.EnrollOutput(
            {"secret": issued.secret, "expires_at": issued.expires_at, "patient_id": issued.row.user.patient.pk}
        )
        return Response(body.data, status=status.HTTP_201_CREATED)


class Me(APIView):
    permission_classes = [IsStaffOrPatient]

    @extend_schema(responses=s.MeOutput)
    def get(self, request: Request) -> Response:
        """Who the caller is: staff with role and clinic, or a patient's app."""
        user = caller(request)
        patient = selectors.patient_of_user(user)
        token = request_token(request)
        return Response(
            s.MeOutput(
                {
                    "username": user.username,
                    "role": user.role,
                    "clinic_id": user.clinic_id,
                    "clinic_name": user.clinic.name if user.clinic else None,
                    "patient_id": patient.pk if patient else None,
                    "token_expires_at": token.expires_at if token else None,
                }
            ).data
        )


class StaffListCreate(generics.ListAPIView):
    queryset = User.objects.none()  # for the schema; get_queryset scopes the real one
    permission_classes = [IsClinicStaff]
    serializer_class = s.StaffOutput
    pagination_class = PeoplePagination

    def get_queryset(self) -> QuerySet[Any]:
        return selectors.staff_for_user(caller(self.request)).order_by("username")

    @extend_schema(request=s.StaffInput, responses={201: s.StaffOutput})
    def post(self, request: Request) -> Response:
        """Add a staff member to your clinic (clinic administrators only)."""
        data = validated(s.StaffInput, request.data)
        user = services.staff_create(actor=caller(request), **data)
        return Response(s.StaffOutput(user).data, status=status.HTTP_201_CREATED)


class StaffDetail(APIView):
    permission_classes = [IsClinicStaff]

    @extend_schema(request=s.StaffUpdateInput, responses=s.StaffOutput)
    def patch(self, request: Request, staff_id: int) -> Response:
        """Change a staff member's role, or deactivate someone who left (clinic administrators only)."""
        member = selectors.staff_member_for_user(caller(request), staff_id)
        data = validated(s.StaffUpdateInput, request.data)
        member = services.staff_update(actor=caller(request), member=member, **data)
        return Response(s.StaffOutput(member).data)


class PatientFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(method="filter_search", help_text="Part of a name, or the MRN.")
    active = django_filters.BooleanFilter(field_name="is_active")

    class Meta:
        model = Patient
        fields = ["search", "active"]

    def filter_search(self, queryset: QuerySet[Patient], name: str, value: str) -> QuerySet[Patient]:
        return queryset.filter(Q(family_name__icontains=value) | Q(given_name__icontains=value) | Q(mrn__iexact=value))


class PatientListCreate(generics.ListAPIView):
    queryset = Patient.objects.none()  # for the schema; get_queryset scopes the real one
    permission_classes = [IsClinicStaff]
    serializer_class = s.PatientOutput
    pagination_class = PeoplePagination
    filterset_class = PatientFilter

    def get_queryset(self) -> QuerySet[Patient]:
        return selectors.patients_for_user(caller(self.request)).order_by("family_name", "given_name", "mrn")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().list(request, *args, **kwargs)
        audit_list_read(
            actor=caller(request),
            resource_type="patient",
            patient_ids=[row["id"] for row in response.data["results"]],
        )
        return response

    @extend_schema(request=s.PatientInput, responses={201: s.PatientOutput})
    def post(self, request: Request) -> Response:
        """Register a patient in your clinic."""
        data = validated(s.PatientInput, request.data)
        patient = services.patient_create(actor=caller(request), **data)
        return Response(s.PatientOutput(patient).data, status=status.HTTP_201_CREATED)


class PatientDetail(APIView):
    permission_classes = [IsStaffOrPatient]

    @extend_schema(responses=s.PatientOutput)
    def get(self, request: Request, patient_id: str) -> Response:
        """One patient: staff of their clinic, or the patient's own app."""
        patient = selectors.patient_get_for_user(caller(request), patient_id)
        audit_record(
            actor=caller(request), patient=patient, action="read", resource_type="patient", resource_id=patient.pk
        )
        return Response(s.PatientOutput(patient).data)

    @extend_schema(request=s.PatientUpdateInput, responses=s.PatientOutput)
    def patch(self, request: Request, patient_id: str) -> Response:
        """Change a patient's details (staff); only the fields sent change."""
        patient = selectors.patient_get_for_user(caller(request), patient_id)
        data = validated(s.PatientUpdateInput, request.data, partial=True)
        patient = services.patient_update(actor=caller(request), patient=patient, **data)
        return Response(s.PatientOutput(patient).data)


class EnrollmentCodeCreate(APIView):
    permission_classes = [IsClinicStaff]

    @extend_schema(request=None, responses={201: s.EnrollmentCodeOutput})
    def post(self, request: Request, patient_id: str) -> Response:
        """Issue a one-time code the patient types into the app to enroll their phone."""
        patient = selectors.patient_get_for_user(caller(request), patient_id)
        issued = services.enrollment_code_create(actor=caller(request), patient=patient)
        body = s.EnrollmentCodeOutput({"code": issued.secret, "expires_at": issued.expires_at})
        return Response(body.data, status=status.HTTP_201_CREATED)


class DeviceList(APIView):
    permission_classes = [IsClinicStaff]

    @extend_schema(responses=s.DeviceOutput(many=True))
    def get(self, request: Request, patient_id: str) -> Response:
        """The patient's enrolled phones whose tokens still work."""
        patient = selectors.patient_get_for_user(caller(request), patient_id)
        devices = selectors.patient_devices(patient)
        audit_record(actor=caller(request), patient=patient, action="read", resource_type="access_token")
        return Response(s.DeviceOutput(devices, many=True).data)


class DeviceRevoke(APIView):
    permission_classes = [IsClinicStaff]

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, patient_id: str, device_id: int) -> Response:
        """Revoke a lost phone's token: the app must be enrolled again."""
        patient = selectors.patient_get_for_user(caller(request), patient_id)
        token = get_object_or_404(selectors.patient_devices(patient), pk=device_id)
        services.token_revoke(actor=caller(request), token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AuditEventFilter(django_filters.FilterSet):
    since = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lte")
    patient = django_filters.UUIDFilter(field_name="patient_id")
    outcome = django_filters.ChoiceFilter(choices=AuditEvent.Outcome.choices)
    action = django_filters.CharFilter()

    class Meta:
        model = AuditEvent
        fields = ["since", "until", "patient", "outcome", "action"]


class AuditTrail(generics.GenericAPIView):
    """The clinic's audit trail, for clinic administrators. Read-only: no endpoint changes it."""

    queryset = AuditEvent.objects.none()  # for the schema; get_queryset scopes the real one
    permission_classes = [IsClinicStaff]
    serializer_class = s.AuditEventOutput
    filterset_class = AuditEventFilter

    def get_queryset(self) -> QuerySet[AuditEvent]:
        user = caller(self.request)
        if user.role != User.Role.ADMIN:
            raise exceptions.PermissionDenied("Only clinic administrators read the audit trail.")
        return selectors.audit_events_for(user)

    def exported_events(self, request: Request, file_format: str) -> QuerySet[AuditEvent]:
        """The filtered events, oldest first, after recording that they were exported."""
        events = self.filter_queryset(self.get_queryset()).order_by("occurred_at", "id")
        # Only the filters that applied, as validated: anything else in the query string is the
        # client's own text (with NULs, say, which PostgreSQL refuses in jsonb).
        filters = {
            name: request.query_params[name] for name in AuditEventFilter.base_filters if name in request.query_params
        }
        audit_record(
            actor=caller(request),
            action="export",
            resource_type="audit_event",
            detail={"format": file_format, **filters},
        )
        return events


class AuditEvents(AuditTrail, generics.ListAPIView):
    class pagination_class(NewestFirstPagination):  # noqa: N801
        ordering = ("-occurred_at", "-id")


CSV_COLUMNS = [
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


class AuditEventsCsv(AuditTrail):
    """The same events as CSV, streamed (any size, constant memory); the export itself is audited."""

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request: Request) -> StreamingHttpResponse:
        events = self.exported_events(request, "csv")
        rows = (
            [
                str(value) if name != "detail" else orjson.dumps(value).decode()
                for name, value in zip(CSV_COLUMNS, row, strict=True)
            ]
            for row in events.values_list(*CSV_COLUMNS).iterator(chunk_size=2000)
        )
        writer = csv.writer(_Echo())
        lines = itertools.chain([writer.writerow(CSV_COLUMNS)], (writer.writerow(row) for row in rows))
        response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="audit-events.csv"'
        return response


class _Echo:
    """A file-like object whose write hands the line back, for streaming csv.writer output."""

    def write(self, value: str) -> str:
        return value
