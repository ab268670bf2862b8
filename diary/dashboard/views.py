"""The clinic dashboard: server-rendered pages for staff, signed in with the Django session.

Parse, call a selector or service, render. Charts are the API's own chart images, which accept
the same session.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from clinic import selectors as clinic_selectors
from clinic.audit import audit_denied, audit_list_read, audit_record
from clinic.models import Patient, User
from clinic.patient_time import local_today
from diary import selectors, services
from diary.dashboard.selectors import current_plan
from diary.models import Direction, TrendSummary
from diary.trends import charts
from diary.trends import selectors as trend_selectors

LOGIN_URL = "dashboard:login"


def staff_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed-in clinic staff only: others are sent to sign in, or refused (403)."""

    @login_required(login_url=LOGIN_URL)
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not isinstance(user, User) or not user.is_clinic_staff:
            return render(request, "dashboard/refused.html", status=403)
        return view(request, user, *args, **kwargs)

    return wrapper


# Patients per page of the attention list: a clinic's day at a glance, and never all of a large
# clinic in one page; the page says how many there are and links to the next.
ATTENTION_PAGE_SIZE = 200


@require_GET
@staff_page
def attention(request: HttpRequest, user: User) -> HttpResponse:
    """The clinic's active patients, most in need of attention first, a page at a time."""
    page = Paginator(trend_selectors.clinic_overview(user), ATTENTION_PAGE_SIZE).get_page(request.GET.get("page"))
    patients = list(page.object_list)
    reasons = trend_selectors.attention_reasons(patients)
    audit_list_read(
        actor=user, resource_type="clinic_overview", patient_ids=[p.pk for p in patients], detail="dashboard"
    )
    labels = dict(Direction.choices)
    rows = [
        {"patient": p, "reasons": reasons[p.pk], "direction": labels.get(p.latest_week_direction)}  # type: ignore[attr-defined]
        for p in patients
    ]
    return render(request, "dashboard/attention.html", {"rows": rows, "clinic": user.clinic, "page": page})


@require_GET
@staff_page
def patient_page(request: HttpRequest, user: User, patient_id: UUID) -> HttpResponse:
    """One patient: open alerts, charts, the plan in force, recent weeks and every before/after table."""
    try:
        patient = clinic_selectors.patient_get_for_user(user, patient_id)
    except Http404:
        return render(request, "dashboard/not_found.html", status=404)
    today = local_today(patient.time_zone)
    audit_record(actor=user, patient=patient, action="read", resource_type="patient", detail={"via": "dashboard"})
    context = {
        "patient": patient,
        "today": today,
        "age": patient.age_on(today),
        # Acknowledged alerts stay until resolved (someone is on them, nobody has closed them),
        # shown with who acknowledged them and when, and without the button.
        "alerts": selectors.alerts_for_user(user)
        .filter(patient=patient, status__in=["open", "acknowledged"])
        .select_related("acknowledged_by")
        .order_by(selectors.PRIORITY_RANK, "-created_at"),
        "charts": [
            {"name": name, "title": title, "url": chart_url(patient, name)}
            for name, (title, _) in charts.CHARTS.items()
        ],
        "plan": current_plan(patient, on=today),
        "weeks": trend_selectors.trend_summaries_of(patient, TrendSummary.Granularity.WEEK)[:8],
        "months": trend_selectors.trend_summaries_of(patient, TrendSummary.Granularity.MONTH)[:6],
        "events": trend_selectors.event_comparisons_of(patient)[:20],
    }
    return render(request, "dashboard/patient.html", context)


def chart_url(patient: Patient, name: str) -> str:
    return reverse("patient-chart", kwargs={"patient_id": str(patient.pk), "name": name, "fmt": "svg"})


@require_POST
@staff_page
def acknowledge(request: HttpRequest, user: User, alert_id: UUID) -> HttpResponse:
    """The acknowledge button: marks the alert seen by this member of staff, then goes back."""
    alert = selectors.alerts_for_user(user).filter(pk=alert_id).first()
    if alert is None:
        # Answered like a missing alert, and recorded as a denied attempt, as the API does.
        audit_denied(actor=user, resource_type="alert", resource_id=alert_id)
        return render(request, "dashboard/not_found.html", status=404)
    try:
        services.alert_acknowledge(actor=user, alert=alert)
    except PermissionDenied:
        return render(request, "dashboard/refused.html", status=403)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("dashboard:patient", kwargs={"patient_id": alert.patient_id})
    return HttpResponseRedirect(back)
