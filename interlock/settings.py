"""Interlock settings: one module, everything a deployer changes comes from the environment.

Development defaults are safe and need no server (SQLite, a filesystem broker, a local
memory cache); production values are switched on by setting the variables listed in the
README. Bad values fail at start-up (see ``interlock.env``).
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from .env import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_networks,
    env_str,
    env_url,
)
from .logging import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("INTERLOCK_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)

# Refused below whenever DEBUG is off, so it can never reach production.
_DEV_SECRET = "django-insecure-development-only-key-never-use-in-production-0123456789"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY must be set (or SECRET_KEY_FILE); only DEBUG=1 has a development default"
    )
if not DEBUG and SECRET_KEY == _DEV_SECRET:
    raise ImproperlyConfigured(
        "SECRET_KEY is the development key; set a real one when DEBUG is off"
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "django_fsm",
    "django_ace",
    # Interlock apps, lowest layer first (connectors → orchestrator → rules → plants).
    "plants",
    "rules",
    "orchestrator",
    "orchestrator.observability",
    "connectors",
]

MIDDLEWARE = [
    # First: probes are answered before host validation and the HTTPS redirect.
    "interlock.health.HealthMiddleware",
    "interlock.logging.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "interlock.api.api_input_middleware",  # NUL in an /api/ path or query: 400, not a 500
]

ROOT_URLCONF = "interlock.urls"
WSGI_APPLICATION = "interlock.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

# --- Database -------------------------------------------------------------------------
# SQLite is the embedded default (demo, quick tests); PostgreSQL is what production and
# every locking/concurrency test run on. WAL + IMMEDIATE transactions let the demo's web
# server and worker share the SQLite file without "database is locked" errors.
DATABASE_URL = env_url(
    "DATABASE_URL",
    f"sqlite:///{VAR_DIR / 'interlock.sqlite3'}",
    schemes=("sqlite", "postgres", "postgresql", "pgsql"),
)
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite cannot create the folder of its file; a fresh checkout has no var/ yet.
    if DATABASES["default"]["NAME"] not in ("", ":memory:"):
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ------------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    env_url("REDIS_URL", schemes=("redis", "rediss", "unix"))
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env_str("CACHE_URL", REDIS_URL),
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "interlock"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# The outbox's pending wake-up flags (orchestrator.services.outbox.outbox_wake_merged) are
# set by the process that commits and cleared by the worker, so every process must see the
# same store: Redis when configured, otherwise files under the var directory.
CACHES["outbox_wake"] = (
    {**CACHES["default"]}
    if REDIS_URL
    else {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(VAR_DIR / "cache" / "outbox-wake"),
    }
)

# --- Auth -------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    # Role memberships (governance board, plant admin, ...) scoped by plant.
    "plants.auth.PlantRoleBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))

# --- Security (``manage.py check --deploy`` passes with DEBUG off) ------------------------
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("TRUST_X_FORWARDED_PROTO", False) else None
)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- REST API ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "plants.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.BasicAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
        "rest_framework.filters.SearchFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "interlock.api.Pagination",
    "PAGE_SIZE": env_int("API_PAGE_SIZE", 50, minimum=1, maximum=1000),
    "EXCEPTION_HANDLER": "interlock.api.exception_handler",
    # JSON only, checked for what PostgreSQL cannot hold (interlock.jsonsafe).
    "DEFAULT_PARSER_CLASSES": ["interlock.parsers.SafeJSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_VERSIONING_CLASS": None,
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Interlock API",
    "DESCRIPTION": "Control layer between ERP, MES and QMS systems of several plants.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",  # served from our own static files: works offline
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Every error code and the per-type event schemas (interlock/openapi.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "interlock.openapi.postprocess",
    ],
    "ENUM_NAME_OVERRIDES": {
        "InboundResultStatusEnum": [
            "accepted",
            "parked",
            "duplicate",
            "conflict",
            "quarantined",
            "rejected",
        ],
        "LotStatusEnum": "plants.choices.LotStatus",
        "MessageStatusEnum": "orchestrator.models.events.MessageStatus",
        "EventStatusEnum": "orchestrator.models.events.EventStatus",
        "OutboxStatusEnum": "orchestrator.models.outbox.OutboxStatus",
    },
}

# --- Celery -----------------------------------------------------------------------------
# Redis when configured; otherwise kombu's filesystem transport, a broker that needs no
# server (the demo's embedded default). PostgreSQL stays the source of truth either way.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or "filesystem://")
_broker_dir = VAR_DIR / "broker"
CELERY_BROKER_TRANSPORT_OPTIONS: dict = (
    {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # Broadcast/control messages (worker remote control); default is ./control.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        # How long an idle worker waits before it looks at the folder again (kombu: 1 s);
        # a look is one directory listing, so ten a second cost next to nothing.
        "polling_interval": env_float("CELERY_BROKER_POLLING_INTERVAL", 0.1, minimum=0.01),
    }
    if CELERY_BROKER_URL.startswith("filesystem://")
    else {
        # Longer than any retry countdown, so Redis never redelivers a task that is
        # merely waiting for its ETA (see connectors' retry policy).
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60),
    }
)
# kombu's filesystem transport with messages renamed into place (a worker could read a
# half-written file and die: interlock/fsbroker.py).
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT = "interlock.fsbroker:Transport"
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", "") or None
CELERY_TASK_IGNORE_RESULT = CELERY_RESULT_BACKEND is None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Redis: prefetch 1, so a busy worker holds no task another could run. The filesystem
# broker has no event loop: Celery's blocking loop sends a finished task's ack only between
# two waits for a message, and a wait lasts 2 s while every prefetch slot is taken. With
# prefetch 1 × concurrency 2 the demo worker ran two tasks per 2 s (~1 task/s, issue 12);
# 16 slots per thread keep its threads busy (a reserved task a killed worker drops is
# re-dispatched by the beat sweepers, as with a lost message).
CELERY_WORKER_PREFETCH_MULTIPLIER = env_int(
    "CELERY_WORKER_PREFETCH_MULTIPLIER",
    16 if CELERY_BROKER_URL.startswith("filesystem://") else 1,
    minimum=0,
)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 240, minimum=1)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_DEFAULT_QUEUE = "interlock"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    # Publishes scheduled into a plant's release window happen without anyone present.
    "rules-scheduled-publishes": {"task": "rules.run_scheduled_publishes", "schedule": 60.0},
    # Parked events whose prerequisite did not arrive within the plant's timeout.
    "orchestrator-escalate-parked": {
        "task": "orchestrator.escalate_parked_events",
        "schedule": 60.0,
    },
    # Approvals a rule required that nobody decided in time go to the escalation role.
    "orchestrator-escalate-approvals": {
        "task": "orchestrator.escalate_overdue_approvals",
        "schedule": 60.0,
    },
    # Outbox rows a lost broker message left behind (PostgreSQL is the source of truth).
    "connectors-sweep-outbox": {"task": "connectors.sweep_outbox", "schedule": 30.0},
    # Messages a crash left stored but undecided (older than the request timeout).
    "connectors-reprocess-received": {
        "task": "connectors.reprocess_received_messages",
        "schedule": 60.0,
    },
    # The audit hash chain: seal new records, and verify the whole chain (alerts on a break).
    "orchestrator-seal-audit-trail": {"task": "orchestrator.seal_audit_trail", "schedule": 60.0},
    "orchestrator-verify-audit-trail": {
        "task": "orchestrator.verify_audit_trail",
        "schedule": 3600.0,
    },
    # Observability: settled rows into the per-minute rollups; backlog samples and SLAs.
    "observability-rollup": {"task": "observability.rollup", "schedule": 30.0},
    "observability-evaluate": {"task": "observability.evaluate", "schedule": 60.0},
}
# Keep our LOGGING (JSON lines with task ids) instead of Celery's own root handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# History is for reading (auditors); reverting configuration goes through services.
SIMPLE_HISTORY_REVERT_DISABLED = True

# --- Interlock --------------------------------------------------------------------------
# Seconds a process trusts its in-memory copy of a plant's mapping table before checking
# the shared generation counter again (bounded staleness across processes).
INTERLOCK_MAPPING_CACHE_SECONDS = env_float("INTERLOCK_MAPPING_CACHE_SECONDS", 2.0, minimum=0)
INTERLOCK_BULK_MAX_ITEMS = env_int("INTERLOCK_BULK_MAX_ITEMS", 1000, minimum=1, maximum=100_000)
INTERLOCK_MAX_REQUEST_BYTES = env_int("INTERLOCK_MAX_REQUEST_BYTES", 10 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = INTERLOCK_MAX_REQUEST_BYTES
# Group commit of single events (orchestrator/ingest/coalesce.py): how long the first of
# several concurrent single-event requests of a process waits for others to share its batch
# and commit (0 = off), and how many requests close the window early.
INTERLOCK_INGEST_COALESCE_SECONDS = env_float(
    "INTERLOCK_INGEST_COALESCE_SECONDS", 0.0015, minimum=0
)
INTERLOCK_INGEST_COALESCE_MAX = env_int(
    "INTERLOCK_INGEST_COALESCE_MAX", 64, minimum=1, maximum=1000
)
INTERLOCK_DEMO_PASSWORD = env_str("INTERLOCK_DEMO_PASSWORD", "interlock-demo")
# Seconds a process remembers a successful API-key check (revocation reaches other
# processes within this time; 0 checks the database on every request).
INTERLOCK_API_KEY_CACHE_SECONDS = env_float("INTERLOCK_API_KEY_CACHE_SECONDS", 5.0, minimum=0)
# Limits of one CSV mapping import in the admin.
INTERLOCK_MAPPING_IMPORT_MAX_BYTES = env_int(
    "INTERLOCK_MAPPING_IMPORT_MAX_BYTES", 2 * 1024 * 1024, minimum=1024
)
INTERLOCK_MAPPING_IMPORT_MAX_ROWS = env_int("INTERLOCK_MAPPING_IMPORT_MAX_ROWS", 10_000, minimum=1)

# --- Observability (orchestrator/observability, interlock/health.py, interlock/logging.py) --
# A source row is rolled up once it is this old (concurrent transactions have committed).
INTERLOCK_ROLLUP_SETTLE_SECONDS = env_int("INTERLOCK_ROLLUP_SETTLE_SECONDS", 60, minimum=0)
# Days of per-minute rollups and samples (hourly and all-time rows are kept), and of SLA
# minutes (the SLA report's history).
INTERLOCK_OBSERVABILITY_MINUTE_DAYS = env_int("INTERLOCK_OBSERVABILITY_MINUTE_DAYS", 35, minimum=2)
INTERLOCK_OBSERVABILITY_SLA_DAYS = env_int("INTERLOCK_OBSERVABILITY_SLA_DAYS", 400, minimum=7)
# /metrics: a bearer token, or scraping from these networks (default: this host only).
INTERLOCK_METRICS_TOKEN = env_str("INTERLOCK_METRICS_TOKEN", "")
INTERLOCK_METRICS_ALLOWED_NETWORKS = env_networks(
    "INTERLOCK_METRICS_ALLOWED_NETWORKS", ["127.0.0.1/32", "::1/128"]
)
# Probes and scrapes come over plain HTTP from inside the network.
SECURE_REDIRECT_EXEMPT = [r"^metrics$"]
# --- Inbound transports (connectors/inbound; README "Inbound transports") ----------------
# Signed webhooks: how far the signed timestamp may be from our clock (the replay window).
INTERLOCK_WEBHOOK_TOLERANCE_SECONDS = env_int(
    "INTERLOCK_WEBHOOK_TOLERANCE_SECONDS", 300, minimum=1, maximum=3600
)
# File drop: <dir>/<SYSTEM-CODE>/ is watched by beat; files move to done/ or failed/.
INTERLOCK_FILE_DROP_DIR = Path(env_str("INTERLOCK_FILE_DROP_DIR", str(VAR_DIR / "drop")))
INTERLOCK_FILE_MAX_BYTES = env_int("INTERLOCK_FILE_MAX_BYTES", 50 * 1024 * 1024, minimum=1024)
# MQTT / Sparkplug B subscriber (manage.py mqtt_subscribe).
INTERLOCK_MQTT_HOST = env_str("INTERLOCK_MQTT_HOST", "127.0.0.1")
INTERLOCK_MQTT_PORT = env_int("INTERLOCK_MQTT_PORT", 1883, minimum=1, maximum=65535)
INTERLOCK_MQTT_HOST_ID = env_str("INTERLOCK_MQTT_HOST_ID", "interlock")
INTERLOCK_MQTT_GROUPS = env_list("INTERLOCK_MQTT_GROUPS", ["+"])
CELERY_BEAT_SCHEDULE["connectors-scan-file-drop"] = {
    "task": "connectors.scan_file_drop",
    "schedule": 30.0,
}
# Tryton ERP (connectors/inbound/tryton.py): how often released productions are read.
INTERLOCK_TRYTON_POLL_SECONDS = env_float("INTERLOCK_TRYTON_POLL_SECONDS", 30.0, minimum=1.0)
CELERY_BEAT_SCHEDULE["connectors-poll-tryton"] = {
    "task": "connectors.poll_tryton",
    "schedule": INTERLOCK_TRYTON_POLL_SECONDS,
}

# --- Task inbox (orchestrator/services/tasks.py; README "Task inbox") ---------------------
# New and escalated tasks are e-mailed to the people of the role, with a link under this URL.
INTERLOCK_BASE_URL = env_str("INTERLOCK_BASE_URL", "http://127.0.0.1:8000")
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "interlock@localhost")
CELERY_BEAT_SCHEDULE["orchestrator-mail-tasks"] = {
    "task": "orchestrator.mail_tasks",
    "schedule": 30.0,
}
CELERY_BEAT_SCHEDULE["orchestrator-escalate-gate-timeouts"] = {
    "task": "orchestrator.escalate_gate_timeouts",
    "schedule": 60.0,
}
# Scenario 9: each plant is reconciled when its reconciliation.interval has passed.
CELERY_BEAT_SCHEDULE["orchestrator-reconcile-plants"] = {
    "task": "orchestrator.reconcile_plants",
    "schedule": 300.0,
}
CELERY_BEAT_SCHEDULE["orchestrator-escalate-tasks"] = {
    "task": "orchestrator.escalate_overdue_tasks",
    "schedule": 60.0,
}

LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
# JSON lines for the web server and the worker; readable lines in the demo (DEBUG=1).
LOG_FORMAT = env_choice("LOG_FORMAT", "plain" if DEBUG else "json", ("json", "plain"))
LOGGING = logging_config(fmt=LOG_FORMAT, level=LOG_LEVEL)
