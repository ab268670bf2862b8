"""Every write of the clinic app: clinics, staff, patients, enrollment and tokens."""

import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import SESSION_KEY, authenticate
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from clinic import tokens
from clinic.audit import audit_record
from clinic.models import AccessToken, Clinic, EnrollmentCode, Patient, User

# Who may do what. Roles are described in clinic.vocabulary.STAFF_ROLES.
PATIENT_EDITORS = frozenset({User.Role.ADMIN, User.Role.CLINICIAN, User.Role.NURSE})
ENROLLERS = PATIENT_EDITORS

PATIENT_FIELDS = frozenset(
    {"mrn", "given_name", "family_name", "birth_date", "sex", "time_zone", "diagnosis", "is_active"}
)


def require_role(user: User, roles: frozenset[str] | set[str], action: str) -> None:
    """Refuse (403) a staff action the user's role does not allow."""
    if not user.is_clinic_staff or user.role not in roles:
        raise PermissionDenied(f"Your role may not {action}.")


def validate_time_zone(name: str) -> None:
    if name not in zoneinfo.available_timezones():
        raise ValidationError({"time_zone": f"'{name}' is not an IANA time zone (for example Europe/London)."})


@transaction.atomic
def clinic_create(*, name: str, admin_username: str, admin_password: str, admin_email: str = "") -> Clinic:
    """Create a clinic and its first administrator."""
    if Clinic.objects.filter(name=name).exists():
        raise ValidationError({"name": f"A clinic named '{name}' already exists."})
    clinic = Clinic.objects.create(name=name)
    staff_create(
        actor=None,
        clinic=clinic,
        username=admin_username,
        password=admin_password,
        role=User.Role.ADMIN,
        email=admin_email,
    )
    return clinic


@transaction.atomic
def staff_create(
    *,
    actor: User | None,
    username: str,
    password: str,
    role: str,
    clinic: Clinic | None = None,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
) -> User:
    """Add a staff member to the actor's clinic (clinic admins only); ``actor=None`` is an operator."""
    if actor is not None:
        require_role(actor, {User.Role.ADMIN}, "add staff")
        clinic = actor.clinic
    if clinic is None:
        raise ValueError("staff_create needs a clinic when called by an operator")
    if role not in STAFF_ROLES:
        raise ValidationError({"role": f"'{role}' is not a staff role."})
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": "This username is taken."})
    user = User(
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        clinic=clinic,
        role=role,
        # Clinic admins manage their clinic's records in the Django admin too (scoped there).
        is_staff=role == User.Role.ADMIN,
    )
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc
    user.set_password(password)
    user.save()
    audit_record(
        actor=actor,
        clinic_id=clinic.pk,
        action="create",
        resource_type="staff",
        resource_id=user.pk,
        detail={"username": username, "role": role},
    )
    return user


STAFF_ROLES = frozenset({User.Role.ADMIN, User.Role.CLINICIAN, User.Role.NURSE, User.Role.THERAPIST})


@transaction.atomic
def staff_update(*, actor: User, member: User, is_active: bool | None = None, role: str | None = None) -> User:
    """Change a staff member's role, or deactivate (or reactivate) them: clinic admins, their own
    clinic. Deactivation revokes the member's tokens and ends their sessions at once. A clinic
    always keeps an active administrator."""
    require_role(actor, {User.Role.ADMIN}, "change staff")
    clinic_id = member.clinic_id
    if clinic_id is None or clinic_id != actor.clinic_id or not member.is_clinic_staff:
        raise ValueError("staff_update needs a staff member of the actor's clinic")
    if role is not None and role not in STAFF_ROLES:
        raise ValidationError({"role": f"'{role}' is not a staff role."})
    changed: dict[str, Any] = {}
    if role is not None and role != member.role:
        changed["role"] = role
    if is_active is not None and is_active != member.is_active:
        changed["is_active"] = is_active
    if not changed:
        return member
    stays_admin = changed.get("role", member.role) == User.Role.ADMIN and changed.get("is_active", member.is_active)
    if member.role == User.Role.ADMIN and member.is_active and not stays_admin:
        # Locks the clinic's active admins, so two admins removing each other at once cannot
        # both succeed and leave nobody to manage the clinic.
        admins = User.objects.select_for_update().filter(clinic_id=clinic_id, role=User.Role.ADMIN, is_active=True)
        if not any(other.pk != member.pk for other in admins):
            field = "is_active" if "is_active" in changed else "role"
            raise ValidationError({field: "The clinic would have no active administrator; make another one first."})
    for name, value in changed.items():
        setattr(member, name, value)
    member.is_staff = member.role == User.Role.ADMIN  # clinic admins use the Django admin too
    member.save(update_fields=[*changed, "is_staff"])
    detail: dict[str, Any] = {"fields": sorted(changed), **changed}
    if changed.get("is_active") is False:
        detail["tokens_revoked"] = _revoke_tokens(member.pk)
        detail["sessions_ended"] = _end_sessions(member.pk)
    audit_record(
        actor=actor,
        clinic_id=clinic_id,
        action="update",
        resource_type="staff",
        resource_id=member.pk,
        detail=detail,
    )
    return member


def _end_sessions(user_id: int) -> int:
    """Delete the user's signed-in browser sessions (dashboard, admin); returns how many.

    An inactive user's session no longer authenticates anyway (Django's backend refuses
    inactive users); deleting the rows makes that immediate and leaves nothing to revive.
    Sessions are staff only and few, so reading each one's data is affordable here.
    """
    ended = [
        session.pk
        for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
        if session.get_decoded().get(SESSION_KEY) == str(user_id)
    ]
    Session.objects.filter(pk__in=ended).delete()
    return len(ended)


def _check_patient_fields(fields: dict[str, Any]) -> None:
    unknown = set(fields) - PATIENT_FIELDS
    if unknown:
        raise ValueError(f"not patient fields: {sorted(unknown)}")
    if "time_zone" in fields:
        validate_time_zone(fields["time_zone"])
    birth_date = fields.get("birth_date")
    if isinstance(birth_date, date) and birth_date > timezone.localdate():
        raise ValidationError({"birth_date": "The birth date is in the future."})


@transaction.atomic
def patient_create(*, actor: User, **fields: Any) -> Patient:
    """Register a patient in the actor's clinic."""
    require_role(actor, PATIENT_EDITORS, "register patients")
    _check_patient_fields(fields)
    patient = Patient(clinic=actor.clinic, **fields)
    try:
        with transaction.atomic():
            patient.save()
    except IntegrityError as exc:
        raise ValidationError({"mrn": "Another patient of this clinic has this MRN."}) from exc
    audit_record(actor=actor, patient=patient, action="create", resource_type="patient", resource_id=patient.pk)
    return patient


@transaction.atomic
def patient_update(*, actor: User, patient: Patient, **fields: Any) -> Patient:
    """Change a patient's registration details; the audit record lists the fields changed."""
    require_role(actor, PATIENT_EDITORS, "change patients")
    _check_patient_fields(fields)
    changed = {name: value for name, value in fields.items() if getattr(patient, name) != value}
    if not changed:
        return patient
    for name, value in changed.items():
        setattr(patient, name, value)
    try:
        with transaction.atomic():
            patient.save()
    except IntegrityError as exc:
        raise ValidationError({"mrn": "Another patient of this clinic has this MRN."}) from exc
    detail: dict[str, Any] = {"fields": sorted(changed)}
    if changed.get("is_active") is False and patient.user_id is not None:
        # Discharged: the phone stops working now, not when its token would have expired.
        detail["tokens_revoked"] = _revoke_tokens(patient.user_id)
    audit_record(
        actor=actor,
        patient=patient,
        action="update",
        resource_type="patient",
        resource_id=patient.pk,
        detail=detail,
    )
    return patient


def _revoke_tokens(user_id: int) -> int:
    """Revoke every token of the user still in force; returns how many."""
    return AccessToken.objects.filter(user_id=user_id, revoked_at__isnull=True, expires_at__gt=timezone.now()).update(
        revoked_at=timezone.now()
    )


@dataclass(frozen=True)
class IssuedSecret:
    """A secret shown to its owner once, with the row that stores its digest."""

    secret: str
    expires_at: Any
    row: Any


@transaction.atomic
def enrollment_code_create(*, actor: User, patient: Patient) -> IssuedSecret:
    """Issue a one-time enrollment code for the patient's phone; earlier unused codes stay valid."""
    require_role(actor, ENROLLERS, "enroll patients")
    if not patient.is_active:
        raise ValidationError({"patient": "This patient is discharged; reactivate them before enrolling a phone."})
    code = tokens.new_enrollment_code()
    row = EnrollmentCode.objects.create(
        patient=patient,
        digest=tokens.digest(code),
        created_by=actor,
        expires_at=timezone.now() + timedelta(hours=settings.ENROLLMENT_CODE_TTL_HOURS),
    )
    audit_record(actor=actor, patient=patient, action="create", resource_type="enrollment_code", resource_id=row.pk)
    return IssuedSecret(code, row.expires_at, row)


class EnrollmentRefused(Exception):
    """The code is unknown, used, expired, or its patient is discharged (one message for all)."""


@transaction.atomic
def enrollment_redeem(*, code: str, device_name: str) -> IssuedSecret:
    """Exchange an enrollment code for a patient token, exactly once."""
    now = timezone.now()
    code_digest = tokens.digest(tokens.normalize_enrollment_code(code))
    # The conditional UPDATE is the claim: of two phones racing with one code, one gets 1 row.
    claimed = EnrollmentCode.objects.filter(
        digest=code_digest, redeemed_at__isnull=True, expires_at__gt=now, patient__is_active=True
    ).update(redeemed_at=now)
    if not claimed:
        raise EnrollmentRefused
    enrollment = EnrollmentCode.objects.select_related("patient").get(digest=code_digest)
    patient = Patient.objects.select_for_update().get(pk=enrollment.patient_id)
    user = patient.user
    if user is None:
        user = User.objects.create_user(
            username=f"patient-{patient.pk}", password=None, clinic_id=patient.clinic_id, role=User.Role.PATIENT
        )
        patient.user = user
        patient.save(update_fields=["user", "updated_at"])
    issued = _token_issue(
        user=user,
        kind=AccessToken.Kind.PATIENT,
        device_name=device_name,
        ttl=timedelta(days=settings.PATIENT_TOKEN_TTL_DAYS),
    )
    audit_record(
        actor=user,
        patient=patient,
        action="enroll",
        resource_type="access_token",
        resource_id=issued.row.pk,
        detail={"device_name": device_name, "enrollment_code": enrollment.pk},
    )
    return issued


def _token_issue(*, user: User, kind: str, device_name: str, ttl: timedelta) -> IssuedSecret:
    secret = tokens.new_token()
    row = AccessToken.objects.create(
        user=user,
        kind=kind,
        digest=tokens.digest(secret),
        device_name=device_name,
        expires_at=timezone.now() + ttl,
    )
    return IssuedSecret(secret, row.expires_at, row)


class LoginRefused(Exception):
    """Wrong username or password, or not a clinic staff account."""


@transaction.atomic
def staff_token_issue(*, username: str, password: str, device_name: str = "") -> IssuedSecret:
    """Log a staff member in: check the password and issue a staff token."""
    user = authenticate(username=username, password=password)
    if user is None or not isinstance(user, User) or not user.is_clinic_staff:
        raise LoginRefused
    issued = _token_issue(
        user=user,
        kind=AccessToken.Kind.STAFF,
        device_name=device_name,
        ttl=timedelta(hours=settings.STAFF_TOKEN_TTL_HOURS),
    )
    audit_record(actor=user, action="login", resource_type="access_token", resource_id=issued.row.pk)
    return issued


@transaction.atomic
def token_revoke(*, actor: User, token: AccessToken) -> None:
    """Revoke a token now: the caller's own, or (staff) one of their clinic's patients' devices."""
    if token.user_id != actor.pk:
        require_role(actor, ENROLLERS, "revoke a patient's device")
    AccessToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    patient = getattr(token.user, "patient", None) if token.user.is_patient else None
    audit_record(
        actor=actor,
        patient=patient,
        action="revoke",
        resource_type="access_token",
        resource_id=token.pk,
    )


def purge_expired_credentials(*, now: datetime) -> tuple[int, int]:
    """Delete tokens and enrollment codes that expired or were revoked longer ago than the
    retention period: they can never be used again, and keeping them keeps nothing useful.
    Returns how many tokens and codes went."""
    cutoff = now - timedelta(days=settings.CREDENTIAL_RETENTION_DAYS)
    tokens_deleted, _ = AccessToken.objects.filter(Q(expires_at__lt=cutoff) | Q(revoked_at__lt=cutoff)).delete()
    codes_deleted, _ = EnrollmentCode.objects.filter(expires_at__lt=cutoff).delete()
    return tokens_deleted, codes_deleted
