"""Reads of the clinic app, always scoped to what the caller may see."""

from uuid import UUID

from django.db.models import QuerySet
from django.utils import timezone

from clinic.audit import audit_denied
from clinic.models import AccessToken, AuditEvent, Patient, User


def patients_for_user(user: User) -> QuerySet[Patient]:
    """Patients the user may see: staff see their clinic's, a patient sees only themselves."""
    if user.is_clinic_staff and user.clinic_id is not None:
        return Patient.objects.filter(clinic_id=user.clinic_id)
    if user.is_patient:
        return Patient.objects.filter(user_id=user.pk)
    return Patient.objects.none()


def patient_get_for_user(user: User, patient_id: UUID | str, *, resource_type: str = "patient") -> Patient:
    """The patient if the user may see them; otherwise record the denied attempt and raise 404.

    A patient outside the caller's reach answers exactly like one that does not exist, so ids
    cannot be probed.
    """
    try:
        return patients_for_user(user).select_related("clinic").get(pk=patient_id)
    except (Patient.DoesNotExist, ValueError):
        raise audit_denied(actor=user, resource_type=resource_type, resource_id=patient_id, what="patient") from None


def patient_of_user(user: User) -> Patient | None:
    """The patient a patient-app account belongs to."""
    if not user.is_patient:
        return None
    try:
        return user.patient  # joined with the token when the request authenticated
    except Patient.DoesNotExist:
        return None


def staff_for_user(user: User) -> QuerySet[User]:
    """Staff of the caller's clinic."""
    if not user.is_clinic_staff or user.clinic_id is None:
        return User.objects.none()
    return User.objects.filter(clinic_id=user.clinic_id).exclude(role__in=["", User.Role.PATIENT])


def staff_member_for_user(user: User, member_id: int | str) -> User:
    """A staff member of the caller's clinic; otherwise record the denied attempt and raise 404."""
    member = staff_for_user(user).filter(pk=member_id).first()
    if member is None:
        raise audit_denied(actor=user, resource_type="staff", resource_id=member_id, what="staff member")
    return member


def active_token_by_digest(digest: str) -> AccessToken | None:
    """The unexpired, unrevoked token with this digest, with its user (one query)."""
    # Runs on every request: no ORDER BY (digests are unique), just LIMIT 1.
    rows = AccessToken.objects.select_related("user", "user__clinic", "user__patient").filter(
        digest=digest, revoked_at__isnull=True, expires_at__gt=timezone.now(), user__is_active=True
    )[:1]
    return next(iter(rows), None)


def patient_devices(patient: Patient) -> QuerySet[AccessToken]:
    """The patient's app tokens that still work, newest first."""
    if patient.user_id is None:
        return AccessToken.objects.none()
    return AccessToken.objects.filter(
        user_id=patient.user_id,
        kind=AccessToken.Kind.PATIENT,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).order_by("-created_at")


def audit_events_for(user: User) -> QuerySet[AuditEvent]:
    """The audit trail of a clinic admin's clinic, newest first; nothing for anyone else."""
    if not user.is_clinic_staff or user.role != User.Role.ADMIN or user.clinic_id is None:
        return AuditEvent.objects.none()
    return AuditEvent.objects.filter(clinic_id=user.clinic_id).order_by("-occurred_at", "-id")
