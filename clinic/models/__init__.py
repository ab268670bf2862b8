"""Models of the clinic app: people and access, the audit trail, and care plans."""

from clinic.models.audit import AuditEvent
from clinic.models.people import AccessToken, Clinic, EnrollmentCode, Patient, User
from clinic.models.plans import (
    BotulinumSession,
    Goal,
    GoalRating,
    InjectionSite,
    ItbAlarmSetting,
    ItbDose,
    ItbPump,
    ItbRefill,
    MedicationDose,
    MedicationRegimen,
    OrthoticPlan,
    OrthoticPlanVersion,
    TherapyActivity,
    TherapyPlan,
    TherapyPlanVersion,
)

__all__ = [
    "AccessToken",
    "AuditEvent",
    "BotulinumSession",
    "Clinic",
    "EnrollmentCode",
    "Goal",
    "GoalRating",
    "InjectionSite",
    "ItbAlarmSetting",
    "ItbDose",
    "ItbPump",
    "ItbRefill",
    "MedicationDose",
    "MedicationRegimen",
    "OrthoticPlan",
    "OrthoticPlanVersion",
    "Patient",
    "TherapyActivity",
    "TherapyPlan",
    "TherapyPlanVersion",
    "User",
]
