"""Diary data in the Django admin: read-only, scoped to the clinic, reads audited (see clinic.admin)."""

from django.contrib import admin

from clinic.admin import ClinicScopedAdmin, register_patient_data
from diary.models import (
    AdherenceLog,
    Alert,
    DiaryEntry,
    DiaryEntryRevision,
    TrendEventComparison,
    TrendRecompute,
    TrendSummary,
)


@admin.register(DiaryEntry)
class DiaryEntryAdmin(ClinicScopedAdmin):
    clinic_path = "patient__clinic"
    patient_path = "patient"
    list_display = ["id", "patient", "occurred_at", "severity", "spasm_count", "version", "deleted_at"]
    list_select_related = ["patient"]
    date_hierarchy = "occurred_at"


@admin.register(DiaryEntryRevision)
class DiaryEntryRevisionAdmin(ClinicScopedAdmin):
    clinic_path = "entry__patient__clinic"
    patient_path = "entry__patient"
    list_display = ["entry", "version", "change", "changed_at", "changed_by"]
    list_select_related = ["entry", "changed_by"]


@admin.register(AdherenceLog)
class AdherenceLogAdmin(ClinicScopedAdmin):
    clinic_path = "patient__clinic"
    patient_path = "patient"
    list_display = ["id", "patient", "date", "deleted_at"]
    list_select_related = ["patient"]


@admin.register(Alert)
class AlertAdmin(ClinicScopedAdmin):
    patient_path = "patient"
    list_display = ["title", "patient", "priority", "status", "created_at", "notified_at", "notify_attempts"]
    list_filter = ["priority", "status", "kind"]
    list_select_related = ["patient"]


# Trends are derived from the diary, and are patient data like it.
for trend_model in (TrendSummary, TrendEventComparison, TrendRecompute):
    register_patient_data(trend_model, "patient")
