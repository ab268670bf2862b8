"""Test settings: the real settings, with fast password hashing and tasks run in-process.

Tests marked ``live_worker`` switch Celery to the real broker for themselves (see conftest).
"""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-" + "x" * 60)

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
# The tests' webhook receivers (pytest-httpserver) listen on http://localhost.
ALERT_WEBHOOK_ALLOW_PRIVATE = True
# Tests write rows and export them within the same second; the overlap is tested on its own.
FHIR_EXPORT_SINCE_OVERLAP_SECONDS = 0
