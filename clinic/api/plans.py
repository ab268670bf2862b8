"""The care-plan API under /api/v1/patients/{id}/...: staff write, the patient reads their own.

Each item answers with its ``revision`` as ETag; a write that sends ``If-Match`` with an older
one gets 412. Writes answer with the item and any ``warnings`` the prescriber should read.
"""

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic import patient_time, plan_selectors, plan_services, selectors
from clinic.api import plan_serializers as s
from clinic.api.conditional import if_match_number
from clinic.api.fields import validated
from clinic.api.pagination import PeoplePagination
from clinic.audit import audit_denied, audit_record
from clinic.authentication import caller
from clinic.models import Patient
from clinic.permissions import IsStaffOrPatient


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The plan changed since you read it; read it again, then change it."
    default_code = "precondition_failed"


def expected_revision(request: Request) -> int | None:
    """The revision a client last saw, from ``If-Match: "3"``."""
    return if_match_number(request, "item")


def page_of(item: type[serializers.Serializer]) -> serializers.Serializer:
    """The schema of a page of ``item`` as ``PeoplePagination`` answers it."""
    return inline_serializer(
        name=f"Paginated{item.__name__}List",
        fields={
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item(many=True),
        },
    )


# Action endpoints extend their item's view for its lookups, not for its other methods.
POST_ONLY = ["post", "options"]


class PlanView(APIView):
    """Finds the patient (scoped to the caller), audits reads, shapes results and warnings."""

    permission_classes = [IsStaffOrPatient]
    resource_type = ""

    def patient(self, request: Request, patient_id: str) -> Patient:
        return selectors.patient_get_for_user(caller(request), patient_id, resource_type=self.resource_type)

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


class PlanItems(PlanView):
    """One kind of plan item: ``items_of(patient)`` finds them, ``output`` shapes them."""

    items_of: Callable[[Patient], QuerySet[Any]]
    output: type[serializers.Serializer]

    def list_response(self, request: Request, patient_id: str) -> Response:
        patient = self.patient(request, patient_id)
        paginator = PeoplePagination()
        page = paginator.paginate_queryset(self.items_of(patient), request, view=self) or []
        self.audit_read(request, patient, count=len(page))
        return paginator.get_paginated_response(self.output(page, many=True).data)

    def lookup(self, request: Request, patient_id: str, item_id: str) -> tuple[Patient, Any]:
        patient = self.patient(request, patient_id)
        item = self.items_of(patient).filter(pk=item_id).first()
        if item is None:  # another patient's item under this one's URL, or none at all
            raise audit_denied(
                actor=caller(request), resource_type=self.resource_type, resource_id=item_id, what="plan item"
            )
        return patient, item

    def refreshed(self, change: plan_services.PlanChange) -> plan_services.PlanChange:
        """The change, with its item read again as ``output`` shows it."""
        change.item = self.items_of(change.item.patient).get(pk=change.item.pk)
        return change


class PlanItem(PlanItems):
    """``GET`` one item, with its revision as ETag."""

    def get(self, request: Request, patient_id: str, item_id: str) -> Response:
        patient, item = self.lookup(request, patient_id, item_id)
        self.audit_read(request, patient, item.pk)
        headers = {"ETag": f'"{item.revision}"'} if hasattr(item, "revision") else {}
        return Response(self.output(item).data, headers=headers)


class PlanStop(PlanItems):
    """``POST`` ends a regimen or plan from a date (default today)."""

    http_method_names = POST_ONLY

    def post(self, request: Request, patient_id: str, item_id: str) -> Response:
        patient, item = self.lookup(request, patient_id, item_id)
        data = validated(s.StopInput, request.data)
        change = self.run(
            plan_services.plan_stop,
            actor=caller(request),
            item=item,
            effective_from=data.get("effective_from", patient_time.patient_today(patient)),
            reason=data["reason"],
            expected_revision=expected_revision(request),
        )
        return self.answer(self.output, self.refreshed(change))


# --- Medicines ------------------------------------------------------------------------------------------------


class MedicationViews(PlanItems):
    resource_type = "medication_regimen"
    items_of = staticmethod(plan_selectors.medication_regimens_of)
    output = s.MedicationRegimenOutput


@extend_schema_view(
    get=extend_schema(responses=page_of(s.MedicationRegimenOutput), operation_id="patients_medications_list")
)
class Medications(MedicationViews):
    def get(self, request: Request, patient_id: str) -> Response:
        """The patient's medicine regimens, each with its dose today, pending steps and full history."""
        return self.list_response(request, patient_id)

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
        return self.answer(self.output, self.refreshed(change), created=True)


@extend_schema_view(get=extend_schema(responses=s.MedicationRegimenOutput))
class MedicationDetail(MedicationViews, PlanItem):
    pass


class MedicationDoses(MedicationViews):
    http_method_names = POST_ONLY

    @extend_schema(request=s.MedicationDoseInput, responses=s.MedicationRegimenOutput)
    def post(self, request: Request, patient_id: str, item_id: str) -> Response:
        """Change the dose from a date, or set new titration steps; pending later steps are superseded."""
        _, regimen = self.lookup(request, patient_id, item_id)
        data = validated(s.MedicationDoseInput, request.data)
        change = self.run(
            plan_services.medication_change,
            actor=caller(request),
            regimen=regimen,
            steps=data["steps"],
            reason=data["reason"],
            override_reason=data["override_reason"],
            expected_revision=expected_revision(request),
        )
        return self.answer(self.output, self.refreshed(change))


@extend_schema_view(post=extend_schema(request=s.StopInput, responses=s.MedicationRegimenOutput))
class MedicationStop(MedicationViews, PlanStop):
    """Stop a medicine from a date (baclofen answers with a warning not to stop it abruptly)."""


# --- Intrathecal baclofen ------------------------------------------------------------------------------------


class ItbPumpView(PlanView):
    resource_type = "itb_pump"

    def current_pump(self, patient: Patient) -> Any:
        """The implanted pump, or the most recent one; 404 if the patient never had one."""
        pumps = list(plan_selectors.itb_pumps_of(patient))
        today = patient_time.patient_today(patient)
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
        """Record an implanted pump, its starting daily dose and its implant fill (clinicians).

        The fill (``fill_volume_ml`` of ``concentration_mcg_per_ml``) is the first refill, so the
        reservoir is projected, and refill reminders raised, from the implant day on.
        """
        patient = self.patient(request, patient_id)
        data = validated(s.ItbImplantInput, request.data)
        change = plan_services.itb_pump_implant(actor=caller(request), patient=patient, **data)
        return self.pump_answer(patient, change, created=True)

    @extend_schema(request=s.ItbPumpUpdateInput, responses=s.ItbPumpOutput)
    def patch(self, request: Request, patient_id: str) -> Response:
        """Reprogram the low-reservoir alarm volume with a reason; each setting is listed in ``alarm_history``."""
        patient = self.patient(request, patient_id)
        data = validated(s.ItbPumpUpdateInput, request.data)
        change = self.run(
            plan_services.itb_pump_update,
            actor=caller(request),
            pump=self.current_pump(patient),
            alarm_ml=data["alarm_ml"],
            reason=data["reason"],
            effective_from=data.get("effective_from"),
            expected_revision=expected_revision(request),
        )
        return self.pump_answer(patient, change)


class ItbDoses(ItbPumpView):
    http_method_names = POST_ONLY

    @extend_schema(request=s.ItbDoseInput, responses={201: s.ItbPumpOutput})
    def post(self, request: Request, patient_id: str) -> Response:
        """Program a new daily dose from a date; flagged if it moves the projected alarm into the past."""
        patient = self.patient(request, patient_id)
        data = validated(s.ItbDoseInput, request.data)
        change = self.run(
            plan_services.itb_dose_change,
            actor=caller(request),
            pump=self.current_pump(patient),
            effective_from=data.get("effective_from", patient_time.patient_today(patient)),
            daily_dose_mcg=data["daily_dose_mcg"],
            reason=data["reason"],
            expected_revision=expected_revision(request),
        )
        return self.pump_answer(patient, change, created=True)


class ItbRefills(ItbPumpView):
    http_method_names = POST_ONLY

    @extend_schema(request=s.ItbRefillInput, responses={201: s.ItbPumpOutput})
    def post(self, request: Request, patient_id: str) -> Response:
        """Record a refill (nurses and clinicians); the projection restarts from it. ``If-Match`` as for changes."""
        patient = self.patient(request, patient_id)
        data = validated(s.ItbRefillInput, request.data)
        data.setdefault("refilled_on", patient_time.patient_today(patient))
        change = self.run(
            plan_services.itb_refill_record,
            actor=caller(request),
            pump=self.current_pump(patient),
            expected_revision=expected_revision(request),
            **data,
        )
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


class BotulinumViews(PlanItems):
    resource_type = "botulinum_session"
    items_of = staticmethod(plan_selectors.botulinum_sessions_of)
    output = s.BotulinumSessionOutput


@extend_schema_view(
    get=extend_schema(responses=page_of(s.BotulinumSessionOutput), operation_id="patients_botulinum_sessions_list")
)
class BotulinumSessions(BotulinumViews):
    def get(self, request: Request, patient_id: str) -> Response:
        """Injection sessions, newest first, each with its sites and the date the next may be given."""
        return self.list_response(request, patient_id)

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
        return self.answer(self.output, self.refreshed(change), created=True)


@extend_schema_view(get=extend_schema(responses=s.BotulinumSessionOutput))
class BotulinumSessionDetail(BotulinumViews, PlanItem):
    pass


class BotulinumSessionVoid(BotulinumViews):
    http_method_names = POST_ONLY

    @extend_schema(request=s.VoidInput, responses=s.BotulinumSessionOutput)
    def post(self, request: Request, patient_id: str, item_id: str) -> Response:
        """Mark a session entered in error; it stops counting for limits and intervals."""
        _, session = self.lookup(request, patient_id, item_id)
        data = validated(s.VoidInput, request.data)
        change = self.run(
            plan_services.botulinum_session_void,
            actor=caller(request),
            session=session,
            reason=data["reason"],
            expected_revision=expected_revision(request),
        )
        return self.answer(self.output, self.refreshed(change))


# --- Therapy and orthotic plans -----------------------------------------------------------------------------


class TherapyViews(PlanItems):
    resource_type = "therapy_plan"
    items_of = staticmethod(plan_selectors.therapy_plans_of)
    output = s.TherapyPlanOutput


@extend_schema_view(
    get=extend_schema(responses=page_of(s.TherapyPlanOutput), operation_id="patients_therapy_plans_list")
)
class TherapyPlans(TherapyViews):
    def get(self, request: Request, patient_id: str) -> Response:
        """Therapy plans, each with the activities in force today and its full history."""
        return self.list_response(request, patient_id)

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
            effective_from=data.get("effective_from", patient_time.patient_today(patient)),
            activities=data["activities"],
            reason=data["reason"],
        )
        return self.answer(self.output, self.refreshed(change), created=True)


@extend_schema_view(get=extend_schema(responses=s.TherapyPlanOutput))
class TherapyPlanDetail(TherapyViews, PlanItem):
    pass


class TherapyPlanVersions(TherapyViews):
    http_method_names = POST_ONLY

    @extend_schema(request=s.TherapyVersionInput, responses=s.TherapyPlanOutput)
    def post(self, request: Request, patient_id: str, item_id: str) -> Response:
        """Replace the activities from a date; the earlier version stays in the history."""
        patient, plan = self.lookup(request, patient_id, item_id)
        data = validated(s.TherapyVersionInput, request.data)
        change = self.run(
            plan_services.therapy_plan_change,
            actor=caller(request),
            plan=plan,
            effective_from=data.get("effective_from", patient_time.patient_today(patient)),
            activities=data["activities"],
            reason=data["reason"],
            expected_revision=expected_revision(request),
        )
        return self.answer(self.output, self.refreshed(change))


@extend_schema_view(post=extend_schema(request=s.StopInput, responses=s.TherapyPlanOutput))
class TherapyPlanStop(TherapyViews, PlanStop):
    """End a therapy plan from a date."""


class OrthoticViews(PlanItems):
    resource_type = "orthotic_plan"
    items_of = staticmethod(plan_selectors.orthotic_plans_of)
    output = s.OrthoticPlanOutput


@extend_schema_view(
    get=extend_schema(responses=page_of(s.OrthoticPlanOutput), operation_id="patients_orthotic_plans_list")
)
class OrthoticPlans(OrthoticViews):
    def get(self, request: Request, patient_id: str) -> Response:
        """Orthoses, splints and casts, each with how it is worn today and its full history."""
        return self.list_response(request, patient_id)

    @extend_schema(request=s.OrthoticPlanInput, responses={201: s.OrthoticPlanOutput})
    def post(self, request: Request, patient_id: str) -> Response:
        """Prescribe an orthosis and its wear schedule (therapists and clinicians)."""
        patient = self.patient(request, patient_id)
        data = validated(s.OrthoticPlanInput, request.data)
        change = plan_services.orthotic_plan_create(
            actor=caller(request),
            patient=patient,
            device=data["device"],
            side=data["side"],
            effective_from=data.get("effective_from", patient_time.patient_today(patient)),
            wear=data["wear"],
            reason=data["reason"],
        )
        return self.answer(self.output, self.refreshed(change), created=True)


@extend_schema_view(get=extend_schema(responses=s.OrthoticPlanOutput))
class OrthoticPlanDetail(OrthoticViews, PlanItem):
    pass


class OrthoticPlanVersions(OrthoticViews):
    http_method_names = POST_ONLY

    @extend_schema(request=s.WearInput, responses=s.OrthoticPlanOutput)
    def post(self, request: Request, patient_id: str, item_id: str) -> Response:
        """Change the wear schedule from a date."""
        patient, plan = self.lookup(request, patient_id, item_id)
        data = validated(s.WearInput, request.data)
        change = self.run(
            plan_services.orthotic_plan_change,
            actor=caller(request),
            plan=plan,
            effective_from=data.get("effective_from", patient_time.patient_today(patient)),
            wear=data["wear"],
            reason=data["reason"],
            expected_revision=expected_revision(request),
        )
        return self.answer(self.output, self.refreshed(change))


@extend_schema_view(post=extend_schema(request=s.StopInput, responses=s.OrthoticPlanOutput))
class OrthoticPlanStop(OrthoticViews, PlanStop):
    """End an orthotic plan from a date."""


# --- Goals ---------------------------------------------------------------------------------------------------


class GoalViews(PlanItems):
    resource_type = "goal"
    items_of = staticmethod(plan_selectors.goals_of)
    output = s.GoalOutput


@extend_schema_view(get=extend_schema(responses=page_of(s.GoalOutput), operation_id="patients_goals_list"))
class Goals(GoalViews):
    def get(self, request: Request, patient_id: str) -> Response:
        """Goals with their levels and dated ratings."""
        return self.list_response(request, patient_id)

    @extend_schema(request=s.GoalInput, responses={201: s.GoalOutput})
    def post(self, request: Request, patient_id: str) -> Response:
        """Set a goal in the patient's words with its five levels (clinicians and therapists)."""
        patient = self.patient(request, patient_id)
        data = validated(s.GoalInput, request.data)
        data.setdefault("set_on", patient_time.patient_today(patient))
        change = plan_services.goal_create(actor=caller(request), patient=patient, **data)
        return self.answer(self.output, self.refreshed(change), created=True)


@extend_schema_view(get=extend_schema(responses=s.GoalOutput))
class GoalDetail(GoalViews, PlanItem):
    pass


class GoalRatings(GoalViews):
    http_method_names = POST_ONLY

    @extend_schema(request=s.GoalRatingInput, responses={201: s.GoalOutput})
    def post(self, request: Request, patient_id: str, item_id: str) -> Response:
        """Rate the level reached (-2..+2) on a day."""
        patient, goal = self.lookup(request, patient_id, item_id)
        data = validated(s.GoalRatingInput, request.data)
        data.setdefault("rated_on", patient_time.patient_today(patient))
        change = self.run(
            plan_services.goal_rate,
            actor=caller(request),
            goal=goal,
            expected_revision=expected_revision(request),
            **data,
        )
        return self.answer(self.output, self.refreshed(change), created=True)


class GoalClose(GoalViews):
    http_method_names = POST_ONLY

    @extend_schema(request=s.GoalCloseInput, responses=s.GoalOutput)
    def post(self, request: Request, patient_id: str, item_id: str) -> Response:
        """Mark the goal achieved or discontinued."""
        patient, goal = self.lookup(request, patient_id, item_id)
        data = validated(s.GoalCloseInput, request.data)
        change = self.run(
            plan_services.goal_close,
            actor=caller(request),
            goal=goal,
            status=data["status"],
            closed_on=data.get("closed_on", patient_time.patient_today(patient)),
            expected_revision=expected_revision(request),
        )
        return self.answer(self.output, self.refreshed(change))


class GoalScores(PlanView):
    resource_type = "goal"

    @extend_schema(responses=s.GasScoreOutput(many=True))
    def get(self, request: Request, patient_id: str) -> Response:
        """The GAS T-score of the patient's goals at baseline and on every rating date."""
        patient = self.patient(request, patient_id)
        timeline = plan_selectors.gas_timeline(list(plan_selectors.goals_of(patient)))
        self.audit_read(request, patient, view="t-scores")
        return Response(s.GasScoreOutput(timeline, many=True).data)


# --- The plan of the day --------------------------------------------------------------------------------------


class CarePlanToday(PlanView):
    resource_type = "care_plan"

    @extend_schema(
        parameters=[OpenApiParameter("on", OpenApiTypes.DATE, description="Default: today where the patient lives.")],
        responses=s.CarePlanTodayOutput,
    )
    def get(self, request: Request, patient_id: str) -> Response:
        """What the patient does on a day: doses and times, exercises, splints, pump, next injection."""
        patient = self.patient(request, patient_id)
        on = validated(s.DayQuery, request.query_params).get("on") or patient_time.patient_today(patient)
        plan = plan_selectors.current_care_plan(patient, on)
        self.audit_read(request, patient, on=on.isoformat())
        return Response(s.CarePlanTodayOutput(plan).data)
