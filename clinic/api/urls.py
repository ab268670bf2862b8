from django.urls import path

from clinic.api import plans, views

urlpatterns = [
    path("auth/token", views.AuthToken.as_view(), name="auth-token"),
    path("auth/enroll", views.Enroll.as_view(), name="auth-enroll"),
    path("me", views.Me.as_view(), name="me"),
    path("staff", views.StaffListCreate.as_view(), name="staff"),
    path("staff/<int:staff_id>", views.StaffDetail.as_view(), name="staff-member"),
    path("audit-events", views.AuditEvents.as_view(), name="audit-events"),
    path("audit-events.csv", views.AuditEventsCsv.as_view(), name="audit-events-csv"),
    path("patients", views.PatientListCreate.as_view(), name="patients"),
    path("patients/<uuid:patient_id>", views.PatientDetail.as_view(), name="patient"),
    path("patients/<uuid:patient_id>/enrollment-codes", views.EnrollmentCodeCreate.as_view(), name="enrollment-codes"),
    path("patients/<uuid:patient_id>/devices", views.DeviceList.as_view(), name="patient-devices"),
    path("patients/<uuid:patient_id>/devices/<int:device_id>", views.DeviceRevoke.as_view(), name="patient-device"),
    path("patients/<uuid:patient_id>/care-plan", plans.CarePlanToday.as_view(), name="care-plan"),
    path("patients/<uuid:patient_id>/medications", plans.Medications.as_view(), name="medications"),
    path("patients/<uuid:patient_id>/medications/<uuid:item_id>", plans.MedicationDetail.as_view(), name="medication"),
    path(
        "patients/<uuid:patient_id>/medications/<uuid:item_id>/doses",
        plans.MedicationDoses.as_view(),
        name="medication-doses",
    ),
    path(
        "patients/<uuid:patient_id>/medications/<uuid:item_id>/stop",
        plans.MedicationStop.as_view(),
        name="medication-stop",
    ),
    path("patients/<uuid:patient_id>/itb-pump", plans.ItbPumpView.as_view(), name="itb-pump"),
    path("patients/<uuid:patient_id>/itb-pump/doses", plans.ItbDoses.as_view(), name="itb-pump-doses"),
    path("patients/<uuid:patient_id>/itb-pump/refills", plans.ItbRefills.as_view(), name="itb-pump-refills"),
    path("patients/<uuid:patient_id>/itb-pump/explant", plans.ItbExplant.as_view(), name="itb-pump-explant"),
    path("patients/<uuid:patient_id>/botulinum-sessions", plans.BotulinumSessions.as_view(), name="botulinum-sessions"),
    path(
        "patients/<uuid:patient_id>/botulinum-sessions/<uuid:item_id>",
        plans.BotulinumSessionDetail.as_view(),
        name="botulinum-session",
    ),
    path(
        "patients/<uuid:patient_id>/botulinum-sessions/<uuid:item_id>/void",
        plans.BotulinumSessionVoid.as_view(),
        name="botulinum-session-void",
    ),
    path("patients/<uuid:patient_id>/therapy-plans", plans.TherapyPlans.as_view(), name="therapy-plans"),
    path(
        "patients/<uuid:patient_id>/therapy-plans/<uuid:item_id>",
        plans.TherapyPlanDetail.as_view(),
        name="therapy-plan",
    ),
    path(
        "patients/<uuid:patient_id>/therapy-plans/<uuid:item_id>/versions",
        plans.TherapyPlanVersions.as_view(),
        name="therapy-plan-versions",
    ),
    path(
        "patients/<uuid:patient_id>/therapy-plans/<uuid:item_id>/stop",
        plans.TherapyPlanStop.as_view(),
        name="therapy-plan-stop",
    ),
    path("patients/<uuid:patient_id>/orthotic-plans", plans.OrthoticPlans.as_view(), name="orthotic-plans"),
    path(
        "patients/<uuid:patient_id>/orthotic-plans/<uuid:item_id>",
        plans.OrthoticPlanDetail.as_view(),
        name="orthotic-plan",
    ),
    path(
        "patients/<uuid:patient_id>/orthotic-plans/<uuid:item_id>/versions",
        plans.OrthoticPlanVersions.as_view(),
        name="orthotic-plan-versions",
    ),
    path(
        "patients/<uuid:patient_id>/orthotic-plans/<uuid:item_id>/stop",
        plans.OrthoticPlanStop.as_view(),
        name="orthotic-plan-stop",
    ),
    path("patients/<uuid:patient_id>/goals", plans.Goals.as_view(), name="goals"),
    path("patients/<uuid:patient_id>/goals/t-scores", plans.GoalScores.as_view(), name="goal-t-scores"),
    path("patients/<uuid:patient_id>/goals/<uuid:item_id>", plans.GoalDetail.as_view(), name="goal"),
    path("patients/<uuid:patient_id>/goals/<uuid:item_id>/ratings", plans.GoalRatings.as_view(), name="goal-ratings"),
    path("patients/<uuid:patient_id>/goals/<uuid:item_id>/close", plans.GoalClose.as_view(), name="goal-close"),
]
