"""The care-plan API under /api/v1/patients/{id}/...: staff write, the patient reads their own.

Each item answers with its ``revision`` as ETag; a write that sends ``If-Match`` with an older
one gets 412. Writes answer with the item and any ``warnings`` the prescriber should read.
"""

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic import plan_selectors, plan_services, selectors
from clinic.api import plan_serializers as s
from clinic.api.fields import validated
from clinic.api.pagination import PeoplePagination
from clinic.audit import audit_record
from clinic.authentication import caller
from clinic.models import Patient
from clinic.permissions import IsStaffOrPatient


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The plan changed since you read it; read it again, then change it."
    default_code = "precondition_failed"


def expected_revision(request: Request) -> int | None:
    """The revision a client last saw, from ``If-Match: "3"``."""
    header = request.headers.get("If-Match")
    if not header or header.strip() == "*":
        return None
    tag = header.strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise exceptions.ValidationError({"If-Match": ['Send the ETag of the item, e.g. "3".']})
    return int(tag)


# Action endpoints extend their item's view for its lookups, not for its other methods.
POST_ONLY = ["post", "options"]


class PlanView(APIView):
    """Finds the patient (scoped to the caller), audits reads, shapes results and warnings."""

    permission_classes = [IsStaffOrPatient]
    resource_type = ""

    def patient(self, request: Request, patient_id: str) -> Patient:
        return selectors.patient_get_for_user(caller(request), patient_id, resource_type=self.resource_type)

    def item(self, queryset: QuerySet[Any], item_id: str) -> Any:
        item = queryset.filter(pk=item_id).first()
        if item is None:
            raise Http404("No such plan item.")
        return item

    def audit_read(self, request: Request, patient: Patient, resource_id: object = "", **detail: Any) -> None:
        audit_record(
            actor=caller(request),
            patient=patient,
            action="read",
            resource_type=self.resource_type,
            resource_id=resource_id,
            detail=detail,
        )

    def answer(
        self, output: type[serializers.Serializer], change: plan_services.PlanChange, *, created: bool = False
    ) -> Response:
        item = change.item
        body = output(item).data
        body["warnings"] = change.warnings
        return Response(
            body,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
            headers={"ETag": f'"{item.revision}"'} if hasattr(item, "revision") else {},
        )

    def run(self, write: Any, **kwargs: Any) -> plan_services.PlanChange:
        try:
            return write(**kwargs)
        except plan_services.PlanChanged:
            raise PreconditionFailed from None


class PlanListView(PlanView):
    """A paginated list of one kind of plan item, with a create."""

    output: type[serializers.Serializer]

    def list_response(self, request: Request, patient: Patient, queryset: QuerySet[Any]) -> Response:
        paginator = PeoplePagination()
        page = paginator.paginate_queryset(queryset, request, view=self) or []
        self.audit_read(request, patient, count=len(page))
        return paginator.get_paginated_response(self.output(page, many=True).data)


# --- Medicines ------------------------------------------------------------------------------------------------


class Medications(PlanListView):
    resource_type = "medication_regimen"
    output = s.MedicationRegimenOutput

    @extend_schema(responses=s.MedicationRegimenOutput(many=True))
    def get(self, request: Request, patient_id: str) -> Response:
        """The patient's medicine regimens, each with its dose today, pending steps and full history."""
        patient = self.patient(request, patient_id)
        return self.list_response(request, patient, plan_selectors.medication_regimens_of(patient))

    @extend_schema(request=s.MedicationStartInput, responses={201: s.MedicationRegimenOutput})
    def post(self, request: Request, patient_id: str) -> Response:
        """Prescribe: one dose from a start date, or titration ``steps`` (clinicians).

        A daily dose above the label maximum is refused with the limit and its source, unless an
        ``override_reason`` is recorded.
        """
        patient = self.patient(request, patient_id)
        data = validated(s.MedicationStartInput, request.data)
        change = plan_services.medication_start(
            actor=caller(request),
            patient=patient,
            drug=data["drug"],
            steps=data["steps"],
            reason=data["reason"],
            override_reason=data["override_reason"],
        )
        return self.answer(s.MedicationRegimenOutput, change, created=True)


class Medication(PlanView):
    resource_type = "medication_regimen"

    def regimen(self, request: Request, patient_id: str, regimen_id: str) -> Any:
        patient = self.patient(request, patient_id)
        return patient, self.item(plan_selectors.medication_regimens_of(patient), regimen_id)

    @extend_schema(responses=s.MedicationRegimenOutput)
    def get(self, request: Request, patient_id: str, regimen_id: str) -> Response:
        patient, regimen = self.regimen(request, patient_id, regimen_id)
        self.audit_read(request, patient, regimen.pk)
        return Response(s.MedicationRegimenOutput(regimen).data, headers={"ETag": f'"{regimen.revision}"'})


class MedicationDoses(Medication):
    http_method_names = POST_ONLY

    @extend_schema(request=s.MedicationDoseInput, responses=s.MedicationRegimenOutput)
    def post(self, request: Request, patient_id: str, regimen_id: str) -> Response:
        """Change the dose from a date, or set new titration steps; pending later steps are superseded."""
        _, regimen = self.regimen(request, patient_id, regimen_id)
        data = validated(s.MedicationDoseInput, request.data)
        self.run(
            plan_services.medication_change,
            actor=caller(request),
            regimen=regimen,
            steps=data["steps"],
            reason=data["reason"],
            override_reason=data["override_reason"],
            expected_revision=expected_revision(request),
        )
        return self.get(request, patient_id, regimen_id)


class MedicationStop(Medication):
    http_method_names = POST_ONLY

    @extend_schema(request=s.StopInput, responses=s.MedicationRegimenOutput)
    def post(self, request: Request, patient_id: str, regimen_id: str) -> Response:
        """Stop the medicine from a date (baclofen answers with a warning not to stop it abruptly)."""
        patient, regimen = self.regimen(request, patient_id, regimen_id)
        data = validated(s.StopInput, request.data)
        change = self.run(
            plan_services.medication_stop,
            actor=caller(request),
            regimen=regimen,
            effective_from=data.get("effective_from", timezone.localdate()),
            reason=data["reason"],
            expected_revision=expected_revision(request),
        )
        change.item = plan_selectors.medication_regimens_of(patient).get(pk=regimen.pk)
        return self.answer(s.MedicationRegimenOutput, change)


# --- Intrathecal baclofen ------------------------------------------------------------------------------------


class ItbPumpView(PlanView):
    resource_type = "itb_pump"

    def current_pump(self, patient: Patient) -> Any:
        """The implanted pump, or the most recent one; 404 if the patient never had one."""
        pumps = list(plan_selectors.itb_pumps_of(patient))
        today = timezone.localdate()
        pump = next((p for p in pumps if p.is_active_on(today)), pumps[0] if pumps else None)
        if pump is None:
            raise Http404("This patient has no intrathecal baclofen pump on record.")
        return pump

    def pump_answer(self, patient: Patient, change: plan_services.PlanChange, *, created: bool = False) -> Response:
        change.item = plan_selectors.itb_pumps_of(patient).get(pk=change.item.pk)
        return self.answer(s.ItbPumpOutput, change, created=created)

    @extend_schema(responses=s.ItbPumpOutput)
    def get(self, request: Request, patient_id: str) -> Response:
        """The pump with its dose history, refills, projected alarm date and refill-due date."""
        patient = self.patient(request, patient_id)
        pump = self.current_pump(patient)
        self.audit_read(request, patient, pump.pk)
        return Response(s.ItbPumpOutput(pump).data, headers={"ETag": f'"{pump.revision}"'})

    @extend_schema(request=s.ItbImplantInput, responses={201: s.ItbPumpOutput})
    def post(self, request: Request, patient_id: str) -> Response:
        """Record an implanted pump and its starting daily dose (clinicians)."""
        patient = self.patient(request, patient_id)
        data = validated(s.ItbImplantInput, request.data)
        change = plan_services.itb_pump_implant(actor=caller(request), patient=patient, **data)
        return self.pump_answer(patient, change, created=True)

    @extend_schema(request=s.ItbPumpUpdateInput, responses=s.ItbPumpOutput)
    def patch(self, request: Request, patient_id: str) -> Response:
        """Reprogram the low-reservoir alarm volume."""
        patient = self.patient(request, patient_id)
        data = validated(s.ItbPumpUpdateInput, request.data)
        change = self.run(
            plan_services.itb_pump_update,
            actor=caller(request),
            pump=self.current_pump(patient),
            alarm_ml=data["alarm_ml"],
            reason=data["reason"],
            expected_revision=expected_revision(request),
        )
        return self.pump_answer(patient, change)


class ItbDoses(ItbPumpView):
    http_method_names = POST_ONLY

    @extend_schema(request=s.ItbDoseInput, responses={201: s.ItbPumpOutput})
    def post(self, request: Request, patient_id: str) -> Response:
        """Program a new daily dose from a date; flagged if the projection then lies in the past."""
        patient = self.patient(request, patient_id)
        data = validated(s.ItbDoseInput, request.data)
        change = self.run(
            plan_services.itb_dose_change,
            actor=caller(request),
            pump=self.current_pump(patient),
            effective_from=data.get("effective_from", timezone.localdate()),
            daily_dose_mcg=data["daily_dose_mcg"],
            reason=data["reason"],
            expected_revision=expected_revision(request),
        )
        return self.pump_answer(patient, change, created=True)


class ItbRefills(ItbPumpView):
    http_method_names = POST_ONLY

    @extend_schema(request=s.ItbRefillInput, responses={201: s.ItbPumpOutput})
    def post(self, request: Request, patient_id: str) -> Response:
        """Record a refill (nurses and clinicians); the projection restarts from it."""
        patient = self.patient(request, patient_id)
        data = validated(s.ItbRefillInput, request.data)
        data.setdefault("refilled_on", timezone.localdate())
        change = plan_services.itb_refill_record(actor=caller(request), pump=self.current_pump(patient), **data)
        return self.pump_answer(patient, change, created=True)


class ItbExplant(ItbPumpView):
    http_method_names = POST_ONLY

    @extend_schema(request=s.ExplantInput, responses=s.ItbPumpOutput)
    def post(self, request: Request, patient_id: str) -> Response:
        """Record that the pump was removed."""
        patient = self.patient(request, patient_id)
        data = validated(s.ExplantInput, request.data)
        change = self.run(
            plan_services.itb_pump_explant,
            actor=caller(request),
            pump=self.current_pump(patient),
            explanted_on=data["explanted_on"],
            reason=data["reason"],
            expected_revision=expected_revision(request),
        )
        return self.pump_answer(patient, change)


# --- Botulinum toxin ---------------------------------------------------------------------------------------


class BotulinumSessions(PlanListView):
    resource_type = "botulinum_session"
    output = s.BotulinumSessionOutput

    @extend_schema(responses=s.BotulinumSessionOutput(many=True))
    def get(self, request: Request, patient_id: str) -> Response:
        """Injection sessions, newest first, each with its sites and the date the next may be given."""
        patient = self.patient(request, patient_id)
        return self.list_response(request, patient, plan_selectors.botulinum_sessions_of(patient))

    @extend_schema(request=s.BotulinumSessionInput, responses={201: s.BotulinumSessionOutput})
    def post(self, request: Request, patient_id: str) -> Response:
        """Record a session (clinicians). Units are the product's own and never converted. Over the
        product's limits, or sooner than the re-treatment interval, it is refused unless an
        ``override_reason`` is recorded."""
        patient = self.patient(request, patient_id)
        data = validated(s.BotulinumSessionInput, request.data)
        change = plan_services.botulinum_session_record(
            actor=caller(request),
            patient=patient,
            injected_on=data["injected_on"],
            product=data["product"],
            lot=data["lot"],
            guidance=data["guidance"],
            injections=data["sites"],
            units_per_ml=data.get("units_per_ml"),
            override_reason=data["override_reason"],
            notes=data["notes"],
        )
        change.item = plan_selectors.botulinum_sessions_of(patient).get(pk=change.item.pk)
        return self.answer(s.BotulinumSessionOutput, change, created=True)


class BotulinumSessionDetail(PlanView):
    resource_type = "botulinum_session"

    @extend_schema(responses=s.BotulinumSessionOutput)
    def get(self, request: Request, patient_id: str, session_id: str) -> Response:
        patient = self.patient(request, patient_id)
        session = self.item(plan_selectors.botulinum_sessions_of(patient), session_id)
        self.audit_read(request, patient, session.pk)
        return Response(s.BotulinumSessionOutput(session).data)


class BotulinumSessionVoid(PlanView):
    resource_type = "botulinum_session"

    @extend_schema(request=s.VoidInput, responses=s.BotulinumSessionOutput)
    def post(self, request: Request, patient_id: str, session_id: str) -> Response:
        """Mark a session entered in error; it stops counting for limits and intervals."""
        patient = self.patient(request, patient_id)
        session = self.item(plan_selectors.botulinum_sessions_of(patient), session_id)
        data = validated(s.VoidInput, request.data)
        change = plan_services.botulinum_session_void(actor=caller(request), session=session, reason=data["reason"])
        return self.answer(s.BotulinumSessionOutput, change)


# --- Therapy and orthotic plans -----------------------------------------------------------------------------


class TherapyPlans(PlanListView):
    resource_type = "therapy_plan"
    output = s.TherapyPlanOutput

    @extend_schema(responses=s.TherapyPlanOutput(many=True))
    def get(self, request: Request, patient_id: str) -> Response:
        """Therapy plans, each with the activities in force today and its full history."""
        patient = self.patient(request, patient_id)
        return self.list_response(request, patient, plan_selectors.therapy_plans_of(patient))

    @extend_schema(request=s.TherapyPlanInput, responses={201: s.TherapyPlanOutput})
    def post(self, request: Request, patient_id: str) -> Response:
        """Write a PT or OT plan (therapists and clinicians)."""
        patient = self.patient(request, patient_id)
        data = validated(s.TherapyPlanInput, request.data)
        change = plan_services.therapy_plan_create(
            actor=caller(request),
            patient=patient,
            discipline=data["discipline"],
            title=data["title"],
            effective_from=data.get("effective_from", timezone.localdate()),
            activities=data["activities"],
            reason=data["reason"],
        )
        change.item = plan_selectors.therapy_plans_of(patient).get(pk=change.item.pk)
        return self.answer(s.TherapyPlanOutput, change, created=True)


class TherapyPlanDetail(PlanView):
    resource_type = "therapy_plan"

    def plan(self, request: Request, patient_id: str, plan_id: str) -> Any:
        patient = self.patient(request, patient_id)
        return patient, self.item(plan_selectors.therapy_plans_of(patient), plan_id)

    @extend_schema(responses=s.TherapyPlanOutput)
    def get(self, request: Request, patient_id: str, plan_id: str) -> Response:
        patient, plan = self.plan(request, patient_id, plan_id)
        self.audit_read(request, patient, plan.pk)
        return Response(s.TherapyPlanOutput(plan).data, headers={"ETag": f'"{plan.revision}"'})


class TherapyPlanVersions(TherapyPlanDetail):
    http_method_names = POST_ONLY

    @extend_schema(request=s.TherapyVersionInput, responses=s.TherapyPlanOutput)
    def post(self, request: Request, patient_id: str, plan_id: str) -> Response:
        """Replace the activities from a date; the earlier version stays in the history."""
        _, plan = self.plan(request, patient_id, plan_id)
        data = validated(s.TherapyVersionInput, request.data)
        self.run(
            plan_services.therapy_plan_change,
            actor=caller(request),
            plan=plan,
            effective_from=data.get("effective_from", timezone.localdate()),
            activities=data["activities"],
            reason=data["reason"],
            expected_revision=expected_revision(request),
        )
        return self.get(request, patient_id, plan_id)


class TherapyPlanStop(TherapyPlanDetail):
    http_method_names = POST_ONLY

    @extend_schema(request=s.StopInput, responses=s.TherapyPlanOutput)
    def post(self, request: Request, patient_id: str, plan_id: str) -> Response:
        _, plan = self.plan(request, patient_id, plan_id)
        data = validated(s.StopInput, request.data)
        self.run(
            plan_services.therapy_plan_stop,
            actor=caller(request),
            plan=plan,
            effective_from=data.get("effective_from", timezone.localdate()),
            reason=data["reason"],
            expected_revision=expected_revision(request),
        )
        return self.get(request, patient_id, plan_id)


class OrthoticPlans(PlanListView):
    resource_type = "orthotic_plan"
    output = s.OrthoticPlanOutput

    @extend_schema(responses=s.OrthoticPlanOutput(many=True))
    def get(self, request: Request, patient_id: str) -> Response:
        """Orthoses, splints and casts, each with how it is worn today and its full history."""
        patient = self.patient(request, patient_id)
        return self.list_response(request, patient, plan_selectors.orthotic_plans_of(patient))

    @extend_schema(request=s.OrthoticPlanInput, responses={201: s.OrthoticPlanOutput})
    def post(self, request: Request, patient_id: str) -> Response:
        """Prescribe an orthosis and its wear schedule (therapists and clinicians)."""
        patient = self.patient(request, patient_id)
        serializer = s.OrthoticPlanInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        change = plan_services.orthotic_plan_create(
            actor=caller(request),
            patient=patient,
            device=data["device"],
            side=data["side"],
            effective_from=data.get("effective_from", timezone.localdate()),
            wear=serializer.wear(data),
            reason=data["reason"],
        )
        change.item = plan_selectors.orthotic_plans_of(patient).get(pk=change.item.pk)
        return self.answer(s.OrthoticPlanOutput, change, created=True)


class OrthoticPlanDetail(PlanView):
    resource_type = "orthotic_plan"

    def plan(self, request: Request, patient_id: str, plan_id: str) -> Any:
        patient = self.patient(request, patient_id)
        return patient, self.item(plan_selectors.orthotic_plans_of(patient), plan_id)

    @extend_schema(responses=s.OrthoticPlanOutput)
    def get(self, request: Request, patient_id: str, plan_id: str) -> Response:
        patient, plan = self.plan(request, patient_id, plan_id)
        self.audit_read(request, patient, plan.pk)
        return Response(s.OrthoticPlanOutput(plan).data, headers={"ETag": f'"{plan.revision}"'})


class OrthoticPlanVersions(OrthoticPlanDetail):
    http_method_names = POST_ONLY

    @extend_schema(request=s.WearInput, responses=s.OrthoticPlanOutput)
    def post(self, request: Request, patient_id: str, plan_id: str) -> Response:
        """Change the wear schedule from a date."""
        _, plan = self.plan(request, patient_id, plan_id)
        serializer = s.WearInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        self.run(
            plan_services.orthotic_plan_change,
            actor=caller(request),
            plan=plan,
            effective_from=data.get("effective_from", timezone.localdate()),
            wear=serializer.wear(data),
            reason=data["reason"],
            expected_revision=expected_revision(request),
        )
        return self.get(request, patient_id, plan_id)


class OrthoticPlanStop(OrthoticPlanDetail):
    http_method_names = POST_ONLY

    @extend_schema(request=s.StopInput, responses=s.OrthoticPlanOutput)
    def post(self, request: Request, patient_id: str, plan_id: str) -> Response:
        _, plan = self.plan(request, patient_id, plan_id)
        data = validated(s.StopInput, request.data)
        self.run(
            plan_services.orthotic_plan_stop,
            actor=caller(request),
            plan=plan,
            effective_from=data.get("effective_from", timezone.localdate()),
            reason=data["reason"],
            expected_revision=expected_revision(request),
        )
        return self.get(request, patient_id, plan_id)


# --- Goals ---------------------------------------------------------------------------------------------------


class Goals(PlanListView):
    resource_type = "goal"
    output = s.GoalOutput

    @extend_schema(responses=s.GoalOutput(many=True))
    def get(self, request: Request, patient_id: str) -> Response:
        """Goals with their levels and dated ratings."""
        patient = self.patient(request, patient_id)
        return self.list_response(request, patient, plan_selectors.goals_of(patient))

    @extend_schema(request=s.GoalInput, responses={201: s.GoalOutput})
    def post(self, request: Request, patient_id: str) -> Response:
        """Set a goal in the patient's words with its five levels (clinicians and therapists)."""
        patient = self.patient(request, patient_id)
        data = validated(s.GoalInput, request.data)
        data.setdefault("set_on", timezone.localdate())
        change = plan_services.goal_create(actor=caller(request), patient=patient, **data)
        change.item = plan_selectors.goals_of(patient).get(pk=change.item.pk)
        return self.answer(s.GoalOutput, change, created=True)


class GoalDetail(PlanView):
    resource_type = "goal"

    def goal(self, request: Request, patient_id: str, goal_id: str) -> Any:
        patient = self.patient(request, patient_id)
        return patient, self.item(plan_selectors.goals_of(patient), goal_id)

    @extend_schema(responses=s.GoalOutput)
    def get(self, request: Request, patient_id: str, goal_id: str) -> Response:
        patient, goal = self.goal(request, patient_id, goal_id)
        self.audit_read(request, patient, goal.pk)
        return Response(s.GoalOutput(goal).data, headers={"ETag": f'"{goal.revision}"'})


class GoalRatings(GoalDetail):
    http_method_names = POST_ONLY

    @extend_schema(request=s.GoalRatingInput, responses={201: s.GoalOutput})
    def post(self, request: Request, patient_id: str, goal_id: str) -> Response:
        """Rate the level reached (-2..+2) on a day."""
        patient, goal = self.goal(request, patient_id, goal_id)
        data = validated(s.GoalRatingInput, request.data)
        data.setdefault("rated_on", timezone.localdate())
        change = plan_services.goal_rate(actor=caller(request), goal=goal, **data)
        change.item = plan_selectors.goals_of(patient).get(pk=goal.pk)
        return self.answer(s.GoalOutput, change, created=True)


class GoalClose(GoalDetail):
    http_method_names = POST_ONLY

    @extend_schema(request=s.GoalCloseInput, responses=s.GoalOutput)
    def post(self, request: Request, patient_id: str, goal_id: str) -> Response:
        """Mark the goal achieved or discontinued."""
        _, goal = self.goal(request, patient_id, goal_id)
        data = validated(s.GoalCloseInput, request.data)
        self.run(
            plan_services.goal_close,
            actor=caller(request),
            goal=goal,
            status=data["status"],
            closed_on=data.get("closed_on", timezone.localdate()),
            expected_revision=expected_revision(request),
        )
        return self.get(request, patient_id, goal_id)


class GoalScores(PlanView):
    resource_type = "goal"

    @extend_schema(responses=s.GasScoreOutput(many=True))
    def get(self, request: Request, patient_id: str) -> Response:
        """The GAS T-score of the patient's goals at baseline and on every rating date."""
        patient = self.patient(request, patient_id)
        timeline = plan_selectors.gas_timeline(list(plan_selectors.goals_of(patient)))
        self.audit_read(request, patient, view="t-scores")
        return Response(s.GasScoreOutput(timeline, many=True).data)


class CarePlanToday(PlanView):
    resource_type = "care_plan"

    @extend_schema(
        parameters=[OpenApiParameter("on", OpenApiTypes.DATE, description="Default: today where the patient lives.")],
        responses=s.CarePlanTodayOutput,
    )
    def get(self, request: Request, patient_id: str) -> Response:
        """What the patient does on a day: doses and times, exercises, splints, pump, next injection."""
        patient = self.patient(request, patient_id)
        on = validated(s.DayQuery, request.query_params).get("on") or datetime.now(ZoneInfo(patient.time_zone)).date()
        plan = plan_selectors.current_care_plan(patient, on)
        self.audit_read(request, patient, on=on.isoformat())
        return Response(s.CarePlanTodayOutput(plan).data)
