"""The diary API: entries, adherence logs, alerts and vocabularies. Parse, call a service, shape."""

import threading
from typing import Any

import django_filters
from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import exceptions, generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic import selectors as clinic_selectors
from clinic.api import plan_serializers as plan_s
from clinic.api.conditional import if_match_number, if_match_parameter
from clinic.api.fields import StrictSerializer, validated
from clinic.api.pagination import NewestFirstPagination, PeoplePagination
from clinic.api.problems import flatten_errors
from clinic.api.serializers import PatientOutput
from clinic.audit import audit_denied, audit_list_read, audit_record
from clinic.authentication import caller
from clinic.models import Patient
from clinic.permissions import IsClinicStaff, IsPatient, IsStaffOrPatient
from clinic.vocabulary import VOCABULARIES as CLINIC_VOCABULARIES
from diary import selectors, services
from diary.api import serializers as s
from diary.models import AdherenceLog, Alert, DiaryEntry
from diary.vocabulary import IMPACT_SCALE, RELIEF_SCALE
from diary.vocabulary import VOCABULARIES as DIARY_VOCABULARIES


class DiaryBatchInput(StrictSerializer):
    entries = s.DiaryEntryInput(many=True, help_text="1 to 500 entries; each is stored or rejected on its own.")


class AdherenceBatchInput(StrictSerializer):
    logs = s.AdherenceInput(many=True, help_text="1 to 500 daily logs; each is stored or rejected on its own.")


def split_upload(request: Request, key: str, max_items: int) -> tuple[list[Any], bool]:
    """The items of a single-item or batch upload, and whether it was a batch."""
    data = request.data
    if not isinstance(data, dict):
        raise exceptions.ValidationError({"": [f'Send one item as an object, or a batch as {{"{key}": [...]}}.']})
    if key not in data:
        return [data], False
    if set(data) != {key}:
        raise exceptions.ValidationError({name: ["This field is not known."] for name in set(data) - {key}})
    items = data[key]
    if not isinstance(items, list) or not items:
        raise exceptions.ValidationError({key: ["Send a non-empty list."]})
    if len(items) > max_items:
        raise exceptions.ValidationError(
            {key: [f"A batch holds at most {max_items} items; this one has {len(items)}."]}
        )
    return items, True


_validators = threading.local()


def item_validator(serializer_class: type[serializers.Serializer]) -> serializers.Serializer:
    """One input serializer per class and thread, reused across requests.

    ``run_validation`` keeps no state on the instance, and building a serializer deep-copies
    all its fields: for a diary entry that was a fifth of the cost of a whole POST.
    """
    instances: dict[type[serializers.Serializer], serializers.Serializer] = _validators.__dict__.setdefault(
        "instances", {}
    )
    if serializer_class not in instances:
        instances[serializer_class] = serializer_class()
    return instances[serializer_class]


def validate_items(
    serializer_class: type[serializers.Serializer], items: list[Any]
) -> tuple[list[tuple[int, Any]], dict[int, Any]]:
    """Validate each item on its own, so one bad item does not sink the others."""
    serializer = item_validator(serializer_class)
    valid, errors = [], {}
    for index, item in enumerate(items):
        try:
            valid.append((index, serializer.run_validation(item)))
        except serializers.ValidationError as exc:
            errors[index] = exc.detail
    return valid, errors


def if_match_version(request: Request) -> int | None:
    """The version a client last saw, from ``If-Match: "3"`` (or ``W/"3"``)."""
    return if_match_number(request, "entry")


class EntryFilter(django_filters.FilterSet):
    since = django_filters.IsoDateTimeFilter(
        field_name="occurred_at", lookup_expr="gte", help_text="Only entries at or after this time (ISO 8601)."
    )
    until = django_filters.IsoDateTimeFilter(
        field_name="occurred_at", lookup_expr="lte", help_text="Only entries at or before this time (ISO 8601)."
    )

    class Meta:
        model = DiaryEntry
        fields = ["since", "until"]


class PatientScopedList(generics.ListAPIView):
    """A list of one patient's rows: the patient's own, or ``?patient=`` for staff."""

    permission_classes = [IsStaffOrPatient]
    pagination_class = NewestFirstPagination
    audit_resource = ""

    def target_patient(self) -> Patient:
        user = caller(self.request)
        requested = self.request.query_params.get("patient")
        if user.is_patient and requested is None:
            patient = clinic_selectors.patient_of_user(user)
            if patient is None:
                raise Http404
            return patient
        if requested is None:
            raise exceptions.ValidationError({"patient": ["Staff must say which patient: ?patient=<id>."]})
        return clinic_selectors.patient_get_for_user(user, requested, resource_type=self.audit_resource)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.patient = self.target_patient()
        response = super().list(request, *args, **kwargs)
        audit_record(
            actor=caller(request),
            patient=self.patient,
            action="read",
            resource_type=self.audit_resource,
            detail={"count": len(response.data["results"])},
        )
        return response


@extend_schema(parameters=[OpenApiParameter("patient", str, description="Patient id (staff only, required)")])
class DiaryEntries(PatientScopedList):
    queryset = DiaryEntry.objects.none()  # for the schema; get_queryset scopes the real one
    serializer_class = s.DiaryEntryOutput
    filterset_class = EntryFilter
    audit_resource = "diary_entry"

    class pagination_class(NewestFirstPagination):  # noqa: N801
        ordering = ("-occurred_at", "-id")

    def get_queryset(self) -> QuerySet[DiaryEntry]:
        return selectors.diary_entries_of(self.patient)

    @extend_schema(
        request=PolymorphicProxySerializer(
            "DiaryUpload", [s.DiaryEntryInput, DiaryBatchInput], resource_type_field_name=None
        ),
        responses={
            201: s.DiaryEntryCreatedOutput,
            200: PolymorphicProxySerializer(
                "DiaryUploadResult", [s.DiaryEntryOutput, s.DiaryBatchOutput], resource_type_field_name=None
            ),
        },
    )
    def post(self, request: Request) -> Response:
        """Record one entry, or a batch of up to 500 as ``{"entries": [...]}``.

        One entry: 201 when stored, 200 with the stored entry when its id was already sent.
        A batch: 200 with a result per item (``created``, ``replayed`` or ``rejected`` with
        errors); valid items are stored even if others are rejected. If a red flag is reported,
        ``urgent`` tells the patient to contact the clinic now.
        """
        if not caller(request).is_patient:
            raise exceptions.PermissionDenied("Only a patient's app records diary entries.")
        patient = clinic_selectors.patient_of_user(caller(request))
        if patient is None:
            raise Http404
        items, is_batch = split_upload(request, "entries", settings.DIARY_MAX_BATCH)
        valid, errors = validate_items(s.DiaryEntryInput, items)
        if not is_batch and errors:
            raise exceptions.ValidationError(errors[0])
        upload = services.record_diary_entries(actor=caller(request), patient=patient, entries=valid)
        urgent = services.urgent_advice(patient, upload.alerts)
        if not is_batch:
            return single_item_response(upload.outcomes[0], s.DiaryEntryCreatedOutput, urgent)
        results = batch_results(upload.outcomes, errors, items, "entry", s.DiaryEntryOutput)
        body: dict[str, Any] = {
            "created": upload.count("created"),
            "replayed": upload.count("replayed"),
            "rejected": len(results) - upload.count("created") - upload.count("replayed"),
            "results": results,
        }
        if urgent:
            body["urgent"] = urgent
        return Response(body)


def single_item_response(outcome: services.ItemOutcome, output: type[serializers.Serializer], urgent: Any) -> Response:
    if outcome.status == "rejected":
        raise IdInUse(outcome.errors)
    body = output(outcome.row).data
    if urgent:
        body["urgent"] = urgent
    return Response(body, status=status.HTTP_201_CREATED if outcome.status == "created" else status.HTTP_200_OK)


def batch_results(
    outcomes: list[services.ItemOutcome],
    errors: dict[int, Any],
    items: list[Any],
    name: str,
    output: type[serializers.Serializer],
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for outcome in outcomes:
        result: dict[str, Any] = {"index": outcome.index, "id": str(outcome.id), "status": outcome.status}
        if outcome.status == "rejected":
            result["errors"] = outcome.errors
        else:
            result[name] = output(outcome.row).data
        results.append(result)
    for index, detail in errors.items():
        item = items[index]
        item_id = item.get("id") if isinstance(item, dict) else None
        results.append(
            {
                "index": index,
                "id": str(item_id) if item_id is not None else None,
                "status": "rejected",
                "errors": flatten_errors(detail),
            }
        )
    return sorted(results, key=lambda result: result["index"])


class DiaryEntryDetail(APIView):
    permission_classes = [IsStaffOrPatient]

    def entry(self, request: Request, entry_id: str) -> DiaryEntry:
        entry = selectors.diary_entry_for_user(caller(request), entry_id)
        if entry is None:
            raise audit_denied(actor=caller(request), resource_type="diary_entry", resource_id=entry_id)
        self.audit_patient_id = entry.patient_id  # whose entry, if a service then refuses (403)
        return entry

    @extend_schema(responses=s.DiaryEntryOutput)
    def get(self, request: Request, entry_id: str) -> Response:
        """One entry (a deleted one too, with ``deleted_at`` set). The ETag is its version."""
        entry = self.entry(request, entry_id)
        audit_record(
            actor=caller(request),
            patient=entry.patient,
            action="read",
            resource_type="diary_entry",
            resource_id=entry.pk,
        )
        return Response(s.DiaryEntryOutput(entry).data, headers={"ETag": f'"{entry.version}"'})

    @extend_schema(
        request=s.DiaryEntryUpdateInput, responses=s.DiaryEntryCreatedOutput, parameters=[if_match_parameter("entry")]
    )
    def patch(self, request: Request, entry_id: str) -> Response:
        """Correct a recent entry (the patient's own, within the edit window). Send only what changes.

        With ``If-Match`` (the ETag from GET), a correction made from an out-of-date copy gets 412.
        """
        entry = self.entry(request, entry_id)
        changes = validated(s.DiaryEntryUpdateInput, request.data, partial=True)
        try:
            upload = services.diary_entry_update(
                actor=caller(request), entry=entry, changes=changes, expected_version=if_match_version(request)
            )
        except services.VersionMismatch:
            raise PreconditionFailed from None
        entry = upload.outcomes[0].row
        body = s.DiaryEntryOutput(entry).data
        urgent = services.urgent_advice(entry.patient, upload.alerts)
        if urgent:
            body["urgent"] = urgent
        return Response(body, headers={"ETag": f'"{entry.version}"'})

    @extend_schema(responses={204: None}, parameters=[if_match_parameter("entry")])
    def delete(self, request: Request, entry_id: str) -> Response:
        """Delete a recent entry of one's own; it is kept in the history."""
        entry = self.entry(request, entry_id)
        try:
            services.diary_entry_delete(actor=caller(request), entry=entry, expected_version=if_match_version(request))
        except services.VersionMismatch:
            raise PreconditionFailed from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class IdInUse(exceptions.ValidationError):
    """The client-generated id is already taken by another patient's row."""

    status_code = status.HTTP_409_CONFLICT


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The entry changed since you read it; read it again, then correct it."
    default_code = "precondition_failed"


class DiaryEntryHistory(DiaryEntryDetail):
    http_method_names = ["get", "head", "options"]  # not the methods of the view it extends

    @extend_schema(responses=s.RevisionOutput(many=True))
    def get(self, request: Request, entry_id: str) -> Response:
        """Earlier versions of an entry, newest first."""
        entry = self.entry(request, entry_id)
        revisions = selectors.diary_entry_history(entry)
        audit_record(
            actor=caller(request),
            patient=entry.patient,
            action="read",
            resource_type="diary_entry_history",
            resource_id=entry.pk,
        )
        return Response(
            [
                {
                    "version": r.version,
                    "change": r.change,
                    "changed_at": r.changed_at,
                    "changed_by": "patient" if r.changed_by.is_patient else r.changed_by.username,
                    "snapshot": r.snapshot,
                }
                for r in revisions
            ]
        )


@extend_schema(parameters=[OpenApiParameter("patient", str, description="Patient id (staff only, required)")])
class AdherenceLogs(PatientScopedList):
    queryset = AdherenceLog.objects.none()  # for the schema; get_queryset scopes the real one
    serializer_class = s.AdherenceOutput
    audit_resource = "adherence_log"

    class pagination_class(NewestFirstPagination):  # noqa: N801
        ordering = ("-date", "-created_at")

    def get_queryset(self) -> QuerySet[AdherenceLog]:
        return selectors.adherence_logs_of(self.patient)

    @extend_schema(
        request=PolymorphicProxySerializer(
            "AdherenceUpload", [s.AdherenceInput, AdherenceBatchInput], resource_type_field_name=None
        ),
        responses={
            201: s.AdherenceOutput,
            200: PolymorphicProxySerializer(
                "AdherenceUploadResult", [s.AdherenceOutput, s.AdherenceBatchOutput], resource_type_field_name=None
            ),
        },
    )
    def post(self, request: Request) -> Response:
        """Record one day's adherence, or a batch as ``{"logs": [...]}``; same rules as diary entries."""
        if not caller(request).is_patient:
            raise exceptions.PermissionDenied("Only a patient's app records adherence.")
        patient = clinic_selectors.patient_of_user(caller(request))
        if patient is None:
            raise Http404
        items, is_batch = split_upload(request, "logs", settings.DIARY_MAX_BATCH)
        valid, errors = validate_items(s.AdherenceInput, items)
        if not is_batch and errors:
            raise exceptions.ValidationError(errors[0])
        upload = services.record_adherence_logs(actor=caller(request), patient=patient, logs=valid)
        if not is_batch:
            return single_item_response(upload.outcomes[0], s.AdherenceOutput, None)
        results = batch_results(upload.outcomes, errors, items, "log", s.AdherenceOutput)
        return Response(
            {
                "created": upload.count("created"),
                "replayed": upload.count("replayed"),
                "rejected": len(results) - upload.count("created") - upload.count("replayed"),
                "results": results,
            }
        )


class AdherenceLogDetail(APIView):
    permission_classes = [IsPatient]

    @extend_schema(responses={204: None})
    def delete(self, request: Request, log_id: str) -> Response:
        """Withdraw a recent adherence log of one's own."""
        log = selectors.adherence_log_for_user(caller(request), log_id)
        if log is None:
            raise audit_denied(actor=caller(request), resource_type="adherence_log", resource_id=log_id)
        self.audit_patient_id = log.patient_id
        services.adherence_log_delete(actor=caller(request), log=log)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AlertFilter(django_filters.FilterSet):
    # No joins, so no DISTINCT (which PostgreSQL refuses beside the ORDER BY priority rank).
    status = django_filters.MultipleChoiceFilter(
        choices=Alert.Status.choices, distinct=False, help_text="Default: open."
    )
    priority = django_filters.MultipleChoiceFilter(choices=Alert.Priority.choices, distinct=False)
    kind = django_filters.MultipleChoiceFilter(choices=Alert.Kind.choices, distinct=False)
    patient = django_filters.UUIDFilter(field_name="patient_id")

    class Meta:
        model = Alert
        fields = ["status", "priority", "kind", "patient"]

    def filter_queryset(self, queryset: QuerySet[Alert]) -> QuerySet[Alert]:
        if not self.form.cleaned_data.get("status"):
            queryset = queryset.filter(status=Alert.Status.OPEN)
        return super().filter_queryset(queryset)


class AlertList(generics.ListAPIView):
    queryset = Alert.objects.none()  # for the schema; get_queryset scopes the real one
    permission_classes = [IsClinicStaff]
    serializer_class = s.AlertOutput
    pagination_class = PeoplePagination
    filterset_class = AlertFilter

    def get_queryset(self) -> QuerySet[Alert]:
        return selectors.alerts_for_user(caller(self.request)).order_by(selectors.PRIORITY_RANK, "-created_at")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Alerts of your clinic, most urgent first (open ones unless ``?status=`` says otherwise)."""
        response = super().list(request, *args, **kwargs)
        audit_list_read(
            actor=caller(request),
            resource_type="alert",
            patient_ids=[a["patient_id"] for a in response.data["results"]],
        )
        return response


class AlertDetail(APIView):
    permission_classes = [IsClinicStaff]

    def alert(self, request: Request, alert_id: str) -> Alert:
        alert = selectors.alerts_for_user(caller(request)).filter(pk=alert_id).first()
        if alert is None:
            raise audit_denied(actor=caller(request), resource_type="alert", resource_id=alert_id)
        self.audit_patient_id = alert.patient_id
        return alert

    @extend_schema(responses=s.AlertOutput)
    def get(self, request: Request, alert_id: str) -> Response:
        alert = self.alert(request, alert_id)
        audit_record(
            actor=caller(request),
            patient_id=alert.patient_id,
            action="read",
            resource_type="alert",
            resource_id=alert.pk,
        )
        return Response(s.AlertOutput(alert).data)


class AlertAcknowledge(AlertDetail):
    http_method_names = ["post", "options"]  # not the methods of the view it extends

    @extend_schema(request=None, responses=s.AlertOutput)
    def post(self, request: Request, alert_id: str) -> Response:
        """Say that you have seen the alert and are dealing with it."""
        alert = services.alert_acknowledge(actor=caller(request), alert=self.alert(request, alert_id))
        return Response(s.AlertOutput(alert).data)


class AlertResolve(AlertDetail):
    http_method_names = ["post", "options"]  # not the methods of the view it extends

    @extend_schema(request=s.AlertResolveInput, responses=s.AlertOutput)
    def post(self, request: Request, alert_id: str) -> Response:
        """Close the alert, with a note of what was done."""
        data = validated(s.AlertResolveInput, request.data)
        alert = services.alert_resolve(actor=caller(request), alert=self.alert(request, alert_id), note=data["note"])
        return Response(s.AlertOutput(alert).data)


class AdherenceSummary(APIView):
    permission_classes = [IsStaffOrPatient]

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, description="Default: 27 days before `to`."),
            OpenApiParameter("to", OpenApiTypes.DATE, description="Default: today."),
        ],
        responses=s.AdherenceSummaryOutput,
    )
    def get(self, request: Request, patient_id: str) -> Response:
        """The adherence log matched against the plan: therapy minutes, orthosis hours and doses,
        planned against done, over a window of up to a year."""
        patient = clinic_selectors.patient_get_for_user(caller(request), patient_id, resource_type="adherence_log")
        window = validated(s.AdherenceWindowQuery, request.query_params)
        report = selectors.adherence_against_plan(patient, window["from"], window["to"])
        audit_record(
            actor=caller(request),
            patient=patient,
            action="read",
            resource_type="adherence_summary",
            detail={"from": window["from"].isoformat(), "to": window["to"].isoformat()},
        )
        return Response(s.AdherenceSummaryOutput({"from": window["from"], "to": window["to"], **report}).data)


class PatientRecord(APIView):
    permission_classes = [IsStaffOrPatient]

    @extend_schema(responses={(200, "application/json"): OpenApiTypes.OBJECT})
    def get(self, request: Request, patient_id: str) -> Response:
        """Everything held about the patient, as one JSON document: for a patient's own request
        for their data, or to hand a record on. The diary includes deleted entries and every
        earlier version. (``/fhir/Patient/{id}/$everything`` gives the same as FHIR.)"""
        user = caller(request)
        patient = clinic_selectors.patient_get_for_user(user, patient_id, resource_type="patient_record")
        record = selectors.patient_record(patient)
        audit_record(actor=user, patient=patient, action="export", resource_type="patient_record")
        body = {
            "generated_at": timezone.now(),
            "patient": PatientOutput(patient).data,
            "diary_entries": s.DiaryEntryOutput(record.entries, many=True).data,
            "diary_entry_versions": [
                {
                    "entry_id": str(r.entry_id),
                    "version": r.version,
                    "change": r.change,
                    "changed_at": r.changed_at,
                    "snapshot": r.snapshot,
                }
                for r in record.revisions
            ],
            "adherence_logs": s.AdherenceOutput(record.adherence_logs, many=True).data,
            "alerts": s.AlertOutput(record.alerts, many=True).data,
            "medications": plan_s.MedicationRegimenOutput(record.medications, many=True).data,
            "itb_pumps": plan_s.ItbPumpOutput(record.pumps, many=True).data,
            "botulinum_sessions": plan_s.BotulinumSessionOutput(record.sessions, many=True).data,
            "therapy_plans": plan_s.TherapyPlanOutput(record.therapy_plans, many=True).data,
            "orthotic_plans": plan_s.OrthoticPlanOutput(record.orthotic_plans, many=True).data,
            "goals": plan_s.GoalOutput(record.goals, many=True).data,
        }
        filename = f"patient-record-{patient.mrn}.json"
        return Response(body, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


class Vocabularies(APIView):
    permission_classes = [IsStaffOrPatient]

    @extend_schema(responses=s.VocabulariesOutput)
    def get(self, request: Request) -> Response:
        """Every closed vocabulary with its words, labels and codes, and the rating scales."""
        return Response(
            {
                "vocabularies": [vocabulary.as_json() for vocabulary in (*CLINIC_VOCABULARIES, *DIARY_VOCABULARIES)],
                "scales": {
                    "severity": {"min": 0, "max": 10, "anchors": {"0": "No spasticity", "10": "Worst possible"}},
                    "relief_helped": {str(k): label for k, label in RELIEF_SCALE.items()},
                    "impact": {str(k): label for k, label in IMPACT_SCALE.items()},
                },
            }
        )
