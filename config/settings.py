"""Settings, read only from environment variables.

The defaults are the embedded local mode: SQLite in the project folder, Celery tasks run
eagerly in the web process, e-mail printed to the console. Production sets ``DEBUG=false``
and then must also set a real ``SECRET_KEY`` and ``ALLOWED_HOSTS``; the service refuses to
start otherwise. Every variable is listed in the README.
"""

from importlib.metadata import version
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django_guid.integrations import CeleryIntegration

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=True)

# A fixed key for local use only; production refuses to start with it.
DEV_SECRET_KEY = "local-development-key-never-use-in-production"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])

if not DEBUG:
    if SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 50:
        raise ImproperlyConfigured(
            "DEBUG is off: set SECRET_KEY to a random value of at least 50 characters "
            "(python -c 'import secrets; print(secrets.token_urlsafe(64))')."
        )
    if "ALLOWED_HOSTS" not in env:
        raise ImproperlyConfigured("DEBUG is off: set ALLOWED_HOSTS to the host names this service answers.")

INSTALLED_APPS = [
    "clinic.apps.ClinicAdminConfig",  # django.contrib.admin, with rate-limited sign-in
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "django_filters",
    "django_guid",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "rest_framework",
    "clinic",
    "diary",
    "fhir_export",
]

MIDDLEWARE = [
    "django_guid.middleware.guid_middleware",
    "django.middleware.security.SecurityMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.middleware.DatabaseUnavailableMiddleware",
]

if not DEBUG:
    # Production serves the admin, API docs and dashboard assets from the app itself.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
        "whitenoise.middleware.WhiteNoiseMiddleware",
    )

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "clinic.User"
LOGIN_URL = "admin:login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Persistent connections: a new PostgreSQL connection costs more than a diary POST.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    # Off by default: a health check costs a round trip on every request. After a database
    # restart the first request on each stale connection fails (503) and the connection is replaced.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DATABASE_CONN_HEALTH_CHECKS", default=False)
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env.int("DATABASE_CONNECT_TIMEOUT", default=5)
    DATABASES["default"]["OPTIONS"]["server_side_binding"] = env.bool("DATABASE_SERVER_SIDE_BINDING", default=True)
    # Statements run this many times on a connection are prepared once, so PostgreSQL stops
    # planning them on every request (the token lookup, a four-table join, took longer to plan
    # than to run). Behind a pooler that cannot carry prepared statements (PgBouncer in
    # transaction mode without max_prepared_statements), set DATABASE_PREPARE_THRESHOLD=off.
    # A prepared statement fails once a migration changes a column's type under it: restart the
    # processes after migrating, as every deploy does.
    _prepare = env.str("DATABASE_PREPARE_THRESHOLD", default="5").strip().lower()
    if _prepare in ("", "off", "none", "false", "no"):
        DATABASES["default"]["OPTIONS"]["prepare_threshold"] = None
    elif _prepare.isascii() and _prepare.isdigit():
        DATABASES["default"]["OPTIONS"]["prepare_threshold"] = int(_prepare)
    else:
        raise ImproperlyConfigured("DATABASE_PREPARE_THRESHOLD is a whole number of runs, or off.")
else:
    # SQLite waits for a writer instead of failing at once under concurrent requests.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (throttling counters, fetched EHR keys) ----------------------------------------
# Redis holds nothing that cannot be rebuilt: while it is down the cache misses and the rate
# limits count in each process (config/cache.py, clinic/api/throttling.py); requests go on.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "config.cache.FailSafeRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery ----------------------------------------------------------------------------
# No broker configured means the embedded mode: tasks run in the web process on commit.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not CELERY_BROKER_URL)
if not CELERY_BROKER_URL:
    CELERY_BROKER_URL = "memory://localhost/"  # never used: tasks run eagerly (a host, or kombu warns)
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="celery")
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=360)
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "sweep-alert-notifications": {"task": "diary.tasks.sweep_alert_notifications", "schedule": 60.0},
    "pump-refill-reminders": {"task": "diary.tasks.pump_refill_reminders", "schedule": crontab(hour=5, minute=0)},
    "purge-expired-credentials": {
        "task": "clinic.tasks.purge_expired_credentials",
        "schedule": crontab(hour=3, minute=30),
    },
    "fhir-rebuild-changed-bundles": {"task": "fhir_export.tasks.rebuild_changed_bundles", "schedule": 60.0},
    "fhir-rebuild-all-bundles": {
        "task": "fhir_export.tasks.rebuild_recent_bundles",
        "schedule": crontab(hour=2, minute=30),
    },
    "fhir-sweep-exports": {"task": "fhir_export.tasks.sweep_exports", "schedule": 60.0},
    "fhir-expire-exports": {"task": "fhir_export.tasks.expire_exports", "schedule": crontab(minute=15)},
    # Trends: every patient recomputed nightly (plans, the calendar and silence change without
    # new entries), and a sweep for debounced recomputes whose task never reached the broker.
    "recompute-trends-nightly": {
        "task": "diary.tasks.recompute_all_trends",
        "schedule": crontab(hour=env.int("TREND_NIGHTLY_HOUR_UTC", default=2), minute=15),
    },
    "sweep-trend-recomputes": {"task": "diary.tasks.sweep_trend_recomputes", "schedule": 300.0},
}
# Publishing must fail fast when the broker is down: the request that enqueues has already
# committed its rows, and the periodic sweeps re-enqueue whatever was not delivered.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
    "socket_timeout": 5,
    "socket_connect_timeout": 2,
    # A task redelivered after a worker crash waits this long; longer than any task runs.
    "visibility_timeout": 3600,
}
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}

# --- Auth, tokens, enrollment -------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
STAFF_TOKEN_TTL_HOURS = env.int("STAFF_TOKEN_TTL_HOURS", default=12)
PATIENT_TOKEN_TTL_DAYS = env.int("PATIENT_TOKEN_TTL_DAYS", default=180)
ENROLLMENT_CODE_TTL_HOURS = env.int("ENROLLMENT_CODE_TTL_HOURS", default=72)
# Expired or revoked tokens and codes are deleted this long after they stopped working.
CREDENTIAL_RETENTION_DAYS = env.int("CREDENTIAL_RETENTION_DAYS", default=30)

# --- Diary rules -------------------------------------------------------------------------
DIARY_MAX_BATCH = 500
DIARY_EDIT_WINDOW_DAYS = env.int("DIARY_EDIT_WINDOW_DAYS", default=7)
DIARY_MAX_BACKDATE_DAYS = env.int("DIARY_MAX_BACKDATE_DAYS", default=366)
# Phones' clocks drift; an entry this far "in the future" is still accepted.
DIARY_CLOCK_SKEW_SECONDS = 300

# --- Care plans -------------------------------------------------------------------------
# The refill is due this many days before the projected low-reservoir alarm, and the reminder
# alert is raised this many days before the refill is due.
ITB_REFILL_MARGIN_DAYS = env.int("ITB_REFILL_MARGIN_DAYS", default=7)
ITB_REMINDER_DAYS_AHEAD = env.int("ITB_REMINDER_DAYS_AHEAD", default=14)

# --- Alerts and notifications -------------------------------------------------------------
ALERT_NOTIFY_MAX_RETRIES = env.int("ALERT_NOTIFY_MAX_RETRIES", default=8)
ALERT_WEBHOOK_TIMEOUT_SECONDS = env.float("ALERT_WEBHOOK_TIMEOUT_SECONDS", default=5.0)
# Clinic webhooks must be https to public addresses (clinic/webhooks.py); this lifts that for
# local development and tests, whose receivers listen on 127.0.0.1. Never on in production.
ALERT_WEBHOOK_ALLOW_PRIVATE = env.bool("ALERT_WEBHOOK_ALLOW_PRIVATE", default=DEBUG)
# The sweep re-sends an alert nobody tried for this long, up to a total number of attempts.
ALERT_SWEEP_GRACE_SECONDS = env.int("ALERT_SWEEP_GRACE_SECONDS", default=60)
ALERT_SWEEP_RETRY_MINUTES = env.int("ALERT_SWEEP_RETRY_MINUTES", default=15)
ALERT_NOTIFY_MAX_ATTEMPTS = env.int("ALERT_NOTIFY_MAX_ATTEMPTS", default=60)
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")
# Canonical URLs of our own code systems: chosen once per deployment and never changed, since
# EHRs store codes with them. See clinic/vocabulary.py.
CODE_SYSTEM_BASE_URL = env.str("CODE_SYSTEM_BASE_URL", default=f"{PUBLIC_BASE_URL.rstrip('/')}/fhir/CodeSystem")

# --- FHIR R4 export (fhir_export/, README "FHIR R4") ---------------------------------------
# Absolute base of the FHIR API as EHRs reach it: Bundle links, the bulk manifest and the token
# URL that client assertions must name as their audience.
FHIR_BASE_URL = env.str("FHIR_BASE_URL", default=f"{PUBLIC_BASE_URL.rstrip('/')}/fhir").rstrip("/")
# Canonical base of our identifier systems and extensions; like CODE_SYSTEM_BASE_URL, never changed.
FHIR_CANONICAL_BASE_URL = env.str("FHIR_CANONICAL_BASE_URL", default=f"{PUBLIC_BASE_URL.rstrip('/')}/fhir").rstrip("/")
FHIR_SEARCH_DEFAULT_COUNT = env.int("FHIR_SEARCH_DEFAULT_COUNT", default=50)
FHIR_SEARCH_MAX_COUNT = env.int("FHIR_SEARCH_MAX_COUNT", default=500)
# SMART Backend Services: tokens live at most 5 minutes (SMART's recommendation).
FHIR_ACCESS_TOKEN_TTL_SECONDS = min(env.int("FHIR_ACCESS_TOKEN_TTL_SECONDS", default=300), 300)
FHIR_JWKS_CACHE_SECONDS = env.int("FHIR_JWKS_CACHE_SECONDS", default=300)
FHIR_EXPORT_DIR = env.path("FHIR_EXPORT_DIR", default=BASE_DIR / "var" / "fhir-export")
FHIR_EXPORT_FILE_MAX_BYTES = env.int("FHIR_EXPORT_FILE_MAX_BYTES", default=256 * 1024 * 1024)
FHIR_EXPORT_RETENTION_HOURS = env.int("FHIR_EXPORT_RETENTION_HOURS", default=24)
FHIR_EXPORT_MAX_CONCURRENT_PER_CLIENT = env.int("FHIR_EXPORT_MAX_CONCURRENT_PER_CLIENT", default=2)
FHIR_EXPORT_MAX_ATTEMPTS = env.int("FHIR_EXPORT_MAX_ATTEMPTS", default=3)
# An export task renews its lease while it writes; a lease this old means its worker died.
FHIR_EXPORT_LEASE_SECONDS = env.int("FHIR_EXPORT_LEASE_SECONDS", default=120)
# How far transactionTime stays behind the export's snapshot (fhir_export.bulk.snapshot_time).
FHIR_EXPORT_SINCE_OVERLAP_SECONDS = env.int("FHIR_EXPORT_SINCE_OVERLAP_SECONDS", default=60)
# Below the broker's visibility timeout, so a task is never redelivered while it still runs.
FHIR_EXPORT_TIME_LIMIT_SECONDS = env.int("FHIR_EXPORT_TIME_LIMIT_SECONDS", default=3000)
# Observation bundles are rebuilt once changes have been quiet for this long.
FHIR_BUNDLE_DEBOUNCE_SECONDS = env.int("FHIR_BUNDLE_DEBOUNCE_SECONDS", default=60)
FHIR_BUNDLE_MAX_AGE_SECONDS = env.int("FHIR_BUNDLE_MAX_AGE_SECONDS", default=300)
# --- Trends and signals (README: "Trends, signals and the dashboard") ----------------------
# Change against the previous period, and after an event against before: a move of mean
# severity (spasticity NRS 0-10) of at least 20 % of the earlier mean is "better" or "worse":
# the responder threshold of the nabiximols studies [TAND]. The reference gives no absolute
# floor; one NRS point is the smallest change one answer can make, so smaller moves (from a
# low baseline, where 20 % is a fraction of a point) are "unchanged".
TREND_CHANGE_RELATIVE = env.float("TREND_CHANGE_RELATIVE", default=0.20)
TREND_CHANGE_MIN_POINTS = env.float("TREND_CHANGE_MIN_POINTS", default=1.0)
# A period is compared only if both it and the previous one have entries on this many days:
# fewer days of a week are one good or bad day, not a trend (our choice; no source gives one).
TREND_MIN_DAYS_PER_WEEK = env.int("TREND_MIN_DAYS_PER_WEEK", default=3)
TREND_MIN_DAYS_PER_MONTH = env.int("TREND_MIN_DAYS_PER_MONTH", default=8)
# Before/after windows around an event, in days from the event day (day 0): by default the 4
# weeks before against weeks 2-8 after (days 7-55), when a dose change or toxin has taken effect.
TREND_EVENT_BEFORE_DAYS = env.int("TREND_EVENT_BEFORE_DAYS", default=28)
TREND_EVENT_AFTER_FROM_DAY = env.int("TREND_EVENT_AFTER_FROM_DAY", default=7)
TREND_EVENT_AFTER_TO_DAY = env.int("TREND_EVENT_AFTER_TO_DAY", default=55)
# Each side of a comparison needs entries on this many different days, a quarter of the 4-week
# window; below it the comparison says "not enough data" instead of a number (our choice).
TREND_EVENT_MIN_DAYS = env.int("TREND_EVENT_MIN_DAYS", default=7)
# Side effects are counted from the day of a dose increase for this many days, against the
# same number of days before it (oral drugs sedate within days; our choice).
TREND_SIDE_EFFECT_DAYS = env.int("TREND_SIDE_EFFECT_DAYS", default=28)
# Wear-off: after a toxin session has helped (the change threshold above), the first week whose
# mean severity has climbed back this share of the way from its best week to the level before
# the injection. Weeks are followed for up to 26 weeks and need TREND_MIN_DAYS_PER_WEEK days.
TREND_WEAR_OFF_RETURN_SHARE = env.float("TREND_WEAR_OFF_RETURN_SHARE", default=0.5)
TREND_WEAR_OFF_MAX_WEEKS = env.int("TREND_WEAR_OFF_MAX_WEEKS", default=26)
# Spasms doubling: spasms per diary day in the last complete week at least this many times the
# week before (issue 5), both weeks with spasms counted on TREND_MIN_DAYS_PER_WEEK days. The
# earlier rate counts as at least TREND_SPASM_BASELINE_FLOOR a day, so that a rise from none
# (0 -> 12 a day) is measured and a rise from a few a week (0.3 -> 0.6) is not a doubling; no
# source gives a floor, one spasm a day is our choice.
TREND_SPASM_RATIO_ALERT = env.float("TREND_SPASM_RATIO_ALERT", default=2.0)
TREND_SPASM_BASELINE_FLOOR = env.float("TREND_SPASM_BASELINE_FLOOR", default=1.0)
# An active, enrolled patient with no diary entry for this many days raises an alert (issue 5).
TREND_SILENT_DAYS = env.int("TREND_SILENT_DAYS", default=14)
# How far back the nightly run recomputes: a year of back-dated entries and a month besides.
TREND_HORIZON_DAYS = env.int("TREND_HORIZON_DAYS", default=400)
# Uploads within this many seconds of each other share one recompute.
TREND_DEBOUNCE_SECONDS = env.int("TREND_DEBOUNCE_SECONDS", default=30)
# A recompute still waiting this long after it was asked for lost its task (broker down): the
# sweep enqueues it again. Longer than a nightly run takes, so the sweep leaves that run alone.
TREND_SWEEP_AFTER_MINUTES = env.int("TREND_SWEEP_AFTER_MINUTES", default=15)
# Patients per nightly task: bounds each task's memory and time.
TREND_CHUNK_PATIENTS = env.int("TREND_CHUNK_PATIENTS", default=500)

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="alerts@spasticity-clinic.invalid")

# --- HTTP API ------------------------------------------------------------------------------
# The largest legitimate body is a batch of 500 diary entries with notes.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2 * 1024 * 1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "clinic.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["drf_orjson_renderer.renderers.ORJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["clinic.api.parsers.LimitedJSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "clinic.api.problems.problem_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "clinic.api.throttling.AnonRateThrottle",
        "clinic.api.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("THROTTLE_ANON", default="60/minute"),
        "user": env.str("THROTTLE_USER", default="3000/minute"),
        "login": env.str("THROTTLE_LOGIN", default="10/minute"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # Rate limits count per client address: REMOTE_ADDR when 0 (nothing in front of gunicorn),
    # else the address the nearest of NUM_PROXIES trusted proxies put into X-Forwarded-For
    # (1 behind one nginx). Never the whole header, which the client writes as it likes.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Spasticity clinic service API",
    "DESCRIPTION": (
        "Symptom diaries, care plans and alerts for spasticity clinics. Authenticate with "
        "`Authorization: Bearer <token>`: staff tokens come from `POST /api/v1/auth/token`, "
        "patient tokens from `POST /api/v1/auth/enroll`. Errors are `application/problem+json`."
    ),
    "VERSION": version("spasticity-clinic"),
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "UploadItemStatusEnum": ["created", "replayed", "rejected"],
        "AlertStatusEnum": "diary.models.Alert.Status",
        "StaffRoleEnum": "clinic.api.serializers.STAFF_ROLE_CHOICES",
        "AlertKindEnum": "diary.models.Alert.Kind",
        "BodyRegionEnum": "clinic.vocabulary.BODY_REGIONS.choices",
        "TherapyActivityEnum": "clinic.vocabulary.THERAPY_ACTIVITIES.choices",
    },
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "clinic.api.schema.add_problem_responses",
    ],
}

CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/(api|fhir)/.*$"

DJANGO_GUID = {
    "GUID_HEADER_NAME": "X-Request-ID",
    "VALIDATE_GUID": True,
    "RETURN_HEADER": True,
    "EXPOSE_HEADER": True,
    "INTEGRATIONS": [CeleryIntegration(use_django_logging=True, log_parent=True)],
}

# --- Internationalisation and static files ------------------------------------------------
LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Security when DEBUG is off -----------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^health/"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    if not SECURE_HSTS_PRELOAD:
        # Joining the browsers' preload list is hard to undo, so it is the operator's explicit choice.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SESSION_COOKIE_AGE = 12 * 3600

# --- Logging ------------------------------------------------------------------------------
# LOG_FORMAT=json writes one JSON object per line (for log shippers); every line carries the
# request id, which is also in the X-Request-ID header and in problem bodies.
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "django_guid.log_filters.CorrelationId"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s [%(correlation_id)s] %(name)s: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s %(correlation_id)s",
            "rename_fields": {
                "asctime": "time",
                "levelname": "level",
                "name": "logger",
                "correlation_id": "request_id",
            },
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django_guid": {"level": "WARNING"},
    },
}
