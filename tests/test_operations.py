"""Operating the service: settings refusal, health checks, the bootstrap commands, the schema."""

import ast
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from clinic.models import Clinic, Patient, User
from diary.models import Alert, DiaryEntry
from tests.conftest import bearer_client

ROOT = Path(__file__).resolve().parent.parent


def load_settings(*, show: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    """Import the settings in a fresh process with this environment; ``show`` prints settings."""
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "ALLOWED_HOSTS"}}
    script = f"from config import settings as s; print(repr([getattr(s, n) for n in {show.split()!r}]))"
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_production_mode_refuses_to_start_without_a_secret_key():
    result = load_settings(DEBUG="false", ALLOWED_HOSTS="clinic.example.org")

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_mode_refuses_a_short_secret_key_and_missing_hosts():
    short = load_settings(DEBUG="false", ALLOWED_HOSTS="clinic.example.org", SECRET_KEY="short")
    no_hosts = load_settings(DEBUG="false", SECRET_KEY="k" * 64)

    assert "SECRET_KEY" in short.stderr
    assert "ALLOWED_HOSTS" in no_hosts.stderr


def test_production_mode_starts_with_safe_settings():
    names = (
        "DEBUG SESSION_COOKIE_SECURE CSRF_COOKIE_SECURE SECURE_SSL_REDIRECT SECURE_HSTS_SECONDS "
        "SECURE_CONTENT_TYPE_NOSNIFF X_FRAME_OPTIONS ALLOWED_HOSTS CORS_ALLOWED_ORIGINS"
    )
    result = load_settings(show=names, DEBUG="false", ALLOWED_HOSTS="clinic.example.org", SECRET_KEY="k" * 64)

    assert result.returncode == 0, result.stderr
    values = dict(zip(names.split(), ast.literal_eval(result.stdout.strip()), strict=True))
    assert values == {
        "DEBUG": False,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "X_FRAME_OPTIONS": "DENY",
        "ALLOWED_HOSTS": ["clinic.example.org"],
        "CORS_ALLOWED_ORIGINS": [],
    }


def test_cross_origin_requests_are_allowed_only_from_configured_origins(db, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://dashboard.clinic.example"]
    client = APIClient()

    def preflight(origin: str) -> dict[str, str]:
        response = client.options("/api/v1/patients", HTTP_ORIGIN=origin, HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")
        return {k: v for k, v in response.items() if k.startswith("access-control-allow")}

    allowed = preflight("https://dashboard.clinic.example")
    refused = preflight("https://evil.example")

    assert allowed["access-control-allow-origin"] == "https://dashboard.clinic.example"
    assert refused == {}


def test_health_live_and_ready(db):
    client = APIClient()

    assert client.get("/health/live").json() == {"status": "ok"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"


def test_unknown_api_url_is_a_problem_404(db):
    response = APIClient().get("/api/v1/nothing-here")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_openapi_schema_describes_the_diary_and_patient_endpoints(db, api_as, clinician):
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = response.json()
    assert {"/api/v1/diary/entries", "/api/v1/patients", "/api/v1/alerts", "/api/v1/auth/enroll"} <= set(
        schema["paths"]
    )
    entry = schema["components"]["schemas"]["DiaryEntryInputRequest"]
    assert set(entry["required"]) == {"id", "occurred_at", "severity"}
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_create_clinic_takes_the_password_from_the_environment(db, monkeypatch):
    monkeypatch.setenv("CLINIC_ADMIN_PASSWORD", "a long enough passphrase")
    out = StringIO()

    call_command("create_clinic", "Lakeside", "--admin", "lake-admin", stdout=out)

    clinic = Clinic.objects.get(name="Lakeside")
    admin = User.objects.get(username="lake-admin")
    assert (admin.clinic, admin.role, admin.check_password("a long enough passphrase")) == (clinic, "admin", True)
    assert f"Created clinic {clinic.pk}" in out.getvalue()


def test_create_clinic_without_a_password_source_fails_cleanly(db, monkeypatch):
    monkeypatch.delenv("CLINIC_ADMIN_PASSWORD", raising=False)
    monkeypatch.setattr(os, "isatty", lambda fd: False)

    with pytest.raises(CommandError, match="CLINIC_ADMIN_PASSWORD"):
        call_command("create_clinic", "Lakeside", "--admin", "lake-admin")
    assert not Clinic.objects.exists()


def test_create_clinic_refuses_a_weak_password(db, monkeypatch):
    monkeypatch.setenv("CLINIC_ADMIN_PASSWORD", "123")

    with pytest.raises(CommandError, match="password"):
        call_command("create_clinic", "Lakeside", "--admin", "lake-admin")
    assert not Clinic.objects.exists()


def test_seed_demo_loads_a_usable_clinic_once(db, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setenv("DEMO_PASSWORD", "demo passphrase 2026")
    out = StringIO()

    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", "--patients", "3", "--days", "30", stdout=out)
    call_command("seed_demo", stdout=StringIO())

    assert Patient.objects.count() == 3
    assert DiaryEntry.objects.count() > 30
    assert Alert.objects.filter(kind="red_flag").count() == 1
    code = out.getvalue().rsplit(": ", 1)[1].strip()
    enrolled = APIClient().post("/api/v1/auth/enroll", {"code": code, "device_name": "demo"}, format="json")
    assert enrolled.status_code == 201
    entries = bearer_client(enrolled.json()["token"]).get("/api/v1/diary/entries").json()
    assert entries["results"]
    login = APIClient().post("/api/v1/auth/token", {"username": "dr-demo", "password": "demo passphrase 2026"})
    assert login.status_code == 201
