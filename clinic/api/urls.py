from django.urls import path

from clinic.api import views

urlpatterns = [
    path("auth/token", views.AuthToken.as_view(), name="auth-token"),
    path("auth/enroll", views.Enroll.as_view(), name="auth-enroll"),
    path("me", views.Me.as_view(), name="me"),
    path("staff", views.StaffListCreate.as_view(), name="staff"),
    path("patients", views.PatientListCreate.as_view(), name="patients"),
    path("patients/<uuid:patient_id>", views.PatientDetail.as_view(), name="patient"),
    path("patients/<uuid:patient_id>/enrollment-codes", views.EnrollmentCodeCreate.as_view(), name="enrollment-codes"),
    path("patients/<uuid:patient_id>/devices", views.DeviceList.as_view(), name="patient-devices"),
    path("patients/<uuid:patient_id>/devices/<int:device_id>", views.DeviceRevoke.as_view(), name="patient-device"),
]
