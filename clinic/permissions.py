"""Who may call an endpoint at all. Object scoping is done by the selectors, not here."""

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request


class IsClinicStaff(BasePermission):
    message = "Only clinic staff may do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_clinic_staff)


class IsPatient(BasePermission):
    message = "Only a patient's app may do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_patient)


class IsStaffOrPatient(BasePermission):
    message = "Only clinic staff or a patient's app may do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and (user.is_clinic_staff or user.is_patient))
