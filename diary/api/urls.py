from django.urls import path, re_path

from diary.api import trend_views, views

urlpatterns = [
    path("diary/entries", views.DiaryEntries.as_view(), name="diary-entries"),
    path("diary/entries/<uuid:entry_id>", views.DiaryEntryDetail.as_view(), name="diary-entry"),
    path("diary/entries/<uuid:entry_id>/history", views.DiaryEntryHistory.as_view(), name="diary-entry-history"),
    path("diary/adherence", views.AdherenceLogs.as_view(), name="adherence-logs"),
    path("diary/adherence/<uuid:log_id>", views.AdherenceLogDetail.as_view(), name="adherence-log"),
    path("alerts", views.AlertList.as_view(), name="alerts"),
    path("alerts/<uuid:alert_id>", views.AlertDetail.as_view(), name="alert"),
    path("alerts/<uuid:alert_id>/acknowledge", views.AlertAcknowledge.as_view(), name="alert-acknowledge"),
    path("alerts/<uuid:alert_id>/resolve", views.AlertResolve.as_view(), name="alert-resolve"),
    path("patients/<uuid:patient_id>/adherence-summary", views.AdherenceSummary.as_view(), name="adherence-summary"),
    path("patients/<uuid:patient_id>/record", views.PatientRecord.as_view(), name="patient-record"),
    path("vocabularies", views.Vocabularies.as_view(), name="vocabularies"),
    path("patients/<uuid:patient_id>/trends", trend_views.TrendList.as_view(), name="patient-trends"),
    path("patients/<uuid:patient_id>/trends/events", trend_views.TrendEventList.as_view(), name="patient-trend-events"),
    re_path(
        r"^patients/(?P<patient_id>[0-9a-f-]{36})/charts/(?P<name>[a-z-]+)\.(?P<fmt>svg|png)$",
        trend_views.PatientChart.as_view(),
        name="patient-chart",
    ),
    path("clinic/overview", trend_views.ClinicOverview.as_view(), name="clinic-overview"),
]
