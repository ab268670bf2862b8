"""The patient's own calendar: plans take effect, reminders fall due and diaries are summarised
on the days where the patient lives, not on the server's (UTC) days."""

from datetime import date, datetime
from functools import cache
from zoneinfo import ZoneInfo

from django.utils import timezone

from clinic.models import Patient


@cache
def zone(name: str) -> ZoneInfo:
    """The IANA time zone of a patient's record, built once per name."""
    return ZoneInfo(name)


def local_today(time_zone: str, now: datetime | None = None) -> date:
    """The calendar day now (or at ``now``) in ``time_zone``."""
    return (now or timezone.now()).astimezone(zone(time_zone)).date()


def patient_today(patient: Patient, now: datetime | None = None) -> date:
    """Today where the patient lives."""
    return local_today(patient.time_zone, now)
