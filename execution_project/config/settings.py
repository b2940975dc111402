"""Settings of the Execution service: every value from the environment, development defaults.

Execution keeps no SQL database (``DATABASES = {}``): its state lives in DynamoDB.
"""
from __future__ import annotations

from pathlib import Path

import environ

from oficina_common.auth import DEFAULT_JWT_AUDIENCE, DEFAULT_JWT_ISSUER, jwt_settings
from oficina_common.correlation import logging_config
from oficina_common.django_settings import (
    DEV_SECRET_KEY,
    jwt_key_pair,
    redis_cache,
    rest_framework_settings,
    spectacular_settings,
)

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

SECRET_KEY = env("SECRET_KEY", default=DEV_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=True)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["*"])

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files served by Execution itself: /api/docs/ works offline
    "execution",
]

MIDDLEWARE = [
    "oficina_common.metrics.RequestMetricsMiddleware",  # first: times everything below it
    "oficina_common.correlation.CorrelationIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

# No SQL database: the saga and the work queue live in DynamoDB.
DATABASES: dict = {}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- auth, API -----------------------------------------------------------------------------
# Verifies the OS service's tokens with its public key and holds no private key: it cannot mint
# a token (docs/security.md). Unset: the development key, which production refuses.
JWT_PRIVATE_KEY, JWT_PUBLIC_KEY = jwt_key_pair(env, signs_tokens=False)
JWT_ALGORITHM = env("JWT_ALGORITHM", default="RS256")
SIMPLE_JWT = jwt_settings(private_key=JWT_PRIVATE_KEY, public_key=JWT_PUBLIC_KEY, algorithm=JWT_ALGORITHM,
                          issuer=env("JWT_ISSUER", default=DEFAULT_JWT_ISSUER),
                          audience=env("JWT_AUDIENCE", default=DEFAULT_JWT_AUDIENCE))

# No endpoint of Execution is throttled yet; the trusted proxies are set as everywhere (docs/security.md).
REST_FRAMEWORK = rest_framework_settings(page_size=env.int("API_PAGE_SIZE", default=20),
                                         num_proxies=env.int("NUM_PROXIES", default=0))
SPECTACULAR_SETTINGS = spectacular_settings(
    "Oficina — Execution service",
    "The saga that takes a service order from diagnosis to a finished job, and the mechanics' work queue.",
)
SPECTACULAR_SETTINGS.update(SWAGGER_UI_DIST="SIDECAR", SWAGGER_UI_FAVICON_HREF="SIDECAR", REDOC_DIST="SIDECAR")
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] = {
    "ExecutionStatusEnum": "execution.domain.SagaStatus",
    "JobStatusEnum": "execution.domain.JobStatus",
}

# --- messaging -----------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/0")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# The service's cache (docs/security.md): CACHE_URL, or the broker's Redis (keys under "execution:").
CACHES = redis_cache(env("CACHE_URL", default="") or CELERY_BROKER_URL, key_prefix="execution")

# --- DynamoDB ------------------------------------------------------------------------------
AWS_REGION = env("AWS_REGION", default="us-east-1")
DYNAMODB_ENDPOINT_URL = env("DYNAMODB_ENDPOINT_URL", default="http://127.0.0.1:8000")  # empty = real AWS
DYNAMODB_TABLE_PREFIX = env("DYNAMODB_TABLE_PREFIX", default="oficina_")

# --- the saga ------------------------------------------------------------------------------
# A command whose reply has not come within this time is sent again (same meaning, new id).
SAGA_STEP_TIMEOUT_SECONDS = env.int("SAGA_STEP_TIMEOUT_SECONDS", default=60)
# After this many sends without a reply, the step fails and the saga compensates.
SAGA_MAX_ATTEMPTS = env.int("SAGA_MAX_ATTEMPTS", default=3)
# How long the customer has to decide on a budget (Billing's own expiry usually comes first).
SAGA_APPROVAL_TIMEOUT_SECONDS = env.int("SAGA_APPROVAL_TIMEOUT_SECONDS", default=7 * 24 * 3600)
SAGA_APPROVAL_GRACE_SECONDS = env.int("SAGA_APPROVAL_GRACE_SECONDS", default=60)
SAGA_PAYMENT_TIMEOUT_SECONDS = env.int("SAGA_PAYMENT_TIMEOUT_SECONDS", default=2 * 24 * 3600)
# How often a saga waiting on a mechanic looks at the job itself (its news may be lost on the way).
SAGA_JOB_CHECK_SECONDS = env.int("SAGA_JOB_CHECK_SECONDS", default=600)
# How often a saga waiting for the payment asks Billing again (a lost PaymentApproved).
SAGA_PAYMENT_CHECK_SECONDS = env.int("SAGA_PAYMENT_CHECK_SECONDS", default=600)
SAGA_SWEEP_INTERVAL_SECONDS = env.float("SAGA_SWEEP_INTERVAL_SECONDS", default=15.0)
OUTBOX_SWEEP_AGE_SECONDS = env.int("OUTBOX_SWEEP_AGE_SECONDS", default=30)
# Receipts of published messages in the cache (Redis): an item's next write removes what left,
# instead of one more write after each publish (docs/configuration.md). Off: the old way.
OUTBOX_RECEIPTS = env.bool("OUTBOX_RECEIPTS", default=True)
PAYMENT_METHOD = env("PAYMENT_METHOD", default="pix")
EXECUTION_RETENTION_DAYS = env.int("EXECUTION_RETENTION_DAYS", default=365)
WORK_QUEUE_RETENTION_DAYS = env.int("WORK_QUEUE_RETENTION_DAYS", default=90)
# How many sagas a process keeps a copy of, as it wrote them, to decide their next reply without
# reading them (0: none). The copies turn themselves off while they keep failing (several workers).
EXECUTION_SAGA_COPIES = env.int("EXECUTION_SAGA_COPIES", default=2048)
# The web process that closes a mechanic's job tells the saga itself (the broker carries the news
# only when that fails).
EXECUTION_JOB_NEWS_IN_PROCESS = env.bool("EXECUTION_JOB_NEWS_IN_PROCESS", default=True)
# The saga's copy goes through the cache (Redis) from the worker that queues the job to the web
# process that applies the mechanic's news, and back: neither reads the saga (off: both do). While a
# process's own copies prove stale (several workers share the queue), every write hands it over.
EXECUTION_SAGA_HANDOVERS = env.bool("EXECUTION_SAGA_HANDOVERS", default=True)

# --- the other services (links only: services talk through messages) ----------------------
OS_SERVICE_URL = env("OS_SERVICE_URL", default="http://127.0.0.1:8001")
BILLING_SERVICE_URL = env("BILLING_SERVICE_URL", default="http://127.0.0.1:8002")
EXECUTION_SERVICE_URL = env("EXECUTION_SERVICE_URL", default="http://127.0.0.1:8003")
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default=EXECUTION_SERVICE_URL)

EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")

LOG_JSON = env.bool("LOG_JSON", default=not DEBUG)
LOGGING = logging_config("execution", level=env("LOG_LEVEL", default="INFO"), json=LOG_JSON)

# --- metrics (oficina_common.metrics) ---------------------------------------------------------
# The web process serves /metrics on its own port; a Celery worker serves its own on METRICS_PORT.
# Empty or 0 (the development default): the worker serves none, so that several workers on one
# machine do not fight over a port. Kubernetes sets it (k8s/base/common-config.yaml).
SERVICE_NAME = "execution"
METRICS_PORT = env("METRICS_PORT", default="")
# Built as the process starts (oficina_common.warmup), not by its first request or task.
WARM_UP = ("execution.wiring.get_dependencies",)
