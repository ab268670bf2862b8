"""The dashboard's pages under /dashboard/."""

from django.contrib.auth import views as auth_views
from django.urls import path

from clinic.signin import LimitedLoginView
from diary.dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.attention, name="attention"),
    path(
        "login/",
        LimitedLoginView.as_view(
            template_name="dashboard/login.html", redirect_authenticated_user=True, next_page="dashboard:attention"
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page="dashboard:login"), name="logout"),
    path("patients/<uuid:patient_id>/", views.patient_page, name="patient"),
    path("alerts/<uuid:alert_id>/acknowledge", views.acknowledge, name="acknowledge"),
]
