"""Billing service settings: every value from the environment, with development defaults.

Billing keeps no SQL database: budgets and payments live in DynamoDB (billing/tables.py).
"""
from pathlib import Path

import environ

from oficina_common.auth import DEFAULT_JWT_AUDIENCE, DEFAULT_JWT_ISSUER, jwt_settings
from oficina_common.correlation import logging_config
from oficina_common.django_settings import (
    DEV_SECRET_KEY,
    DEV_WEBHOOK_SECRET,
    jwt_key_pair,
    redis_cache,
    rest_framework_settings,
    spectacular_settings,
    throttle_rates,
)

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

SECRET_KEY = env("SECRET_KEY", default=DEV_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=True)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["*"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# The customer's pages keep no session: the CSRF token lives in a cookie (CSRF_USE_SESSIONS off),
# and a refused POST shows a page in Portuguese instead of Django's.
CSRF_USE_SESSIONS = False
CSRF_FAILURE_VIEW = "billing.pages.csrf_failure"

INSTALLED_APPS = [
    # auth and contenttypes only because simplejwt imports their models; no table is ever used.
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files served by Billing itself: /api/docs/ works offline
    "billing",
    "oficina_common",  # its template filters (oficina_format)
]

MIDDLEWARE = [
    "oficina_common.metrics.RequestMetricsMiddleware",  # first: times everything below it
    "oficina_common.correlation.CorrelationIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # CSP with a nonce per request, Referrer-Policy, Permissions-Policy (docs/security.md).
    "oficina_common.security.SecurityHeadersMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Cookie-based CSRF (no sessions) for the customer's review page; the JSON API is exempt (JWT).
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": [
            "django.template.context_processors.request",
            "oficina_common.security.csp_nonce",  # <script nonce="{{ csp_nonce }}"> (docs/security.md)
        ]},
    },
]

DATABASES: dict = {}

LANGUAGE_CODE = "pt-br"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- the other services and the public address ---------------------------------------------------
OS_SERVICE_URL = env("OS_SERVICE_URL", default="http://127.0.0.1:8001")
BILLING_SERVICE_URL = env("BILLING_SERVICE_URL", default="http://127.0.0.1:8002")
EXECUTION_SERVICE_URL = env("EXECUTION_SERVICE_URL", default="http://127.0.0.1:8003")
# Where customers' links point (and Mercado Pago's notifications, unless the next setting is set).
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default=BILLING_SERVICE_URL)
# Where Mercado Pago posts its notifications: Billing's public address in production; compose
# points it at Billing's name inside its network (the sandbox's view), apart from the customers'.
MERCADOPAGO_NOTIFICATION_BASE_URL = env("MERCADOPAGO_NOTIFICATION_BASE_URL", default="") or PUBLIC_BASE_URL

# --- auth -----------------------------------------------------------------------------------------
# Verifies the OS service's tokens with its public key and holds no private key: it cannot mint
# a token (docs/security.md). Unset: the development key, which production refuses.
JWT_PRIVATE_KEY, JWT_PUBLIC_KEY = jwt_key_pair(env, signs_tokens=False)
JWT_ALGORITHM = env("JWT_ALGORITHM", default="RS256")
SIMPLE_JWT = jwt_settings(private_key=JWT_PRIVATE_KEY, public_key=JWT_PUBLIC_KEY, algorithm=JWT_ALGORITHM,
                          issuer=env("JWT_ISSUER", default=DEFAULT_JWT_ISSUER),
                          audience=env("JWT_AUDIENCE", default=DEFAULT_JWT_AUDIENCE))
# Requests per client address (per user once a token is verified); THROTTLE_RATES=scope=rate,…
# replaces any of them (docs/security.md).
THROTTLE_RATES = throttle_rates({
    # POST budgets/{id}/approve|reject/: a customer decides once; the front desk decides a few
    # budgets in a row for customers on the phone. 30 a minute is far above either.
    "budget_decision": "30/min",
    # The approval page's POST (budgets/review/{token}/): one click, maybe a second; the address
    # may be a mobile carrier's, shared by many customers, hence not lower.
    "budget_review": "10/min",
    # Mercado Pago's notifications: one or a few per payment, retried when refused, from a handful
    # of its addresses. Generous: a refused notification is retried and the reconciliation polls,
    # yet a flood of forged ones stops here before any signature is computed.
    "mercadopago_webhook": "300/min",
}, env.dict("THROTTLE_RATES", default={}))
# Proxies in front of the service whose X-Forwarded-For is trusted (the load balancer: 1 on k8s).
REST_FRAMEWORK = rest_framework_settings(throttle_rates=THROTTLE_RATES, num_proxies=env.int("NUM_PROXIES", default=0))
SPECTACULAR_SETTINGS = {
    **spectacular_settings(
        "Oficina Billing API",
        "Budgets (versions, approval by the customer), payments through Mercado Pago, and Mercado Pago's webhook.",
    ),
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# --- messaging ------------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/0")
# The throttles' counters (docs/security.md): CACHE_URL, or the broker's Redis (keys under "billing:").
CACHES = redis_cache(env("CACHE_URL", default="") or CELERY_BROKER_URL, key_prefix="billing")
# Receipts of published messages in the cache: an item's next write removes what left, instead of
# one more write after each publish (docs/configuration.md). Off: the old way.
OUTBOX_RECEIPTS = env.bool("OUTBOX_RECEIPTS", default=True)
# How many payments a process keeps a copy of, as it wrote them: Mercado Pago's news of one is
# applied without reading it first (0: none; a stale copy fails its conditional write, then a read).
BILLING_PAYMENT_COPIES = env.int("BILLING_PAYMENT_COPIES", default=2048)
BEAT_OUTBOX_SWEEP_SECONDS = env.float("BEAT_OUTBOX_SWEEP_SECONDS", default=30.0)
BEAT_RECONCILE_SECONDS = env.float("BEAT_RECONCILE_SECONDS", default=60.0)
BEAT_EXPIRE_BUDGETS_SECONDS = env.float("BEAT_EXPIRE_BUDGETS_SECONDS", default=60.0)

# --- DynamoDB ---------------------------------------------------------------------------------------
AWS_REGION = env("AWS_REGION", default="us-east-1")
DYNAMODB_ENDPOINT_URL = env("DYNAMODB_ENDPOINT_URL", default="http://127.0.0.1:8000")  # empty = AWS
DYNAMODB_TABLE_PREFIX = env("DYNAMODB_TABLE_PREFIX", default="oficina_")

# --- budgets and payments -------------------------------------------------------------------------
BUDGET_APPROVAL_TTL_HOURS = env.float("BUDGET_APPROVAL_TTL_HOURS", default=72.0)
PAYMENT_RECONCILE_AFTER_SECONDS = env.int("PAYMENT_RECONCILE_AFTER_SECONDS", default=120)
# The payment page's link (signed, not guessable) stops working after this.
PAYMENT_PAGE_TTL_HOURS = env.float("PAYMENT_PAGE_TTL_HOURS", default=168.0)
PAYMENT_PAGE_POLL_SECONDS = env.float("PAYMENT_PAGE_POLL_SECONDS", default=2.5)
# Customers read dates on the workshop's clock.
CUSTOMER_TIME_ZONE = env("CUSTOMER_TIME_ZONE", default="America/Sao_Paulo")
MERCADOPAGO_BASE_URL = env("MERCADOPAGO_BASE_URL", default="https://api.mercadopago.com")
MERCADOPAGO_ACCESS_TOKEN = env("MERCADOPAGO_ACCESS_TOKEN", default="TEST-sandbox-access-token")
MERCADOPAGO_WEBHOOK_SECRET = env("MERCADOPAGO_WEBHOOK_SECRET", default=DEV_WEBHOOK_SECRET)
# Signatures older (or newer) than this are replays; 0 turns the check off.
MERCADOPAGO_WEBHOOK_TOLERANCE_SECONDS = env.int("MERCADOPAGO_WEBHOOK_TOLERANCE_SECONDS", default=900)
MERCADOPAGO_CONNECT_TIMEOUT_SECONDS = env.float("MERCADOPAGO_CONNECT_TIMEOUT_SECONDS", default=3.0)
MERCADOPAGO_READ_TIMEOUT_SECONDS = env.float("MERCADOPAGO_READ_TIMEOUT_SECONDS", default=10.0)

# --- e-mail ---------------------------------------------------------------------------------------
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
# Only for the file-based backend (the cross-service tests read the approval links from there).
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", default=str(BASE_DIR.parent / ".data" / "mail"))
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Oficina <nao-responda@oficina.example>")

LOGGING = logging_config("billing", level=env("LOG_LEVEL", default="INFO"),
                         json=env.bool("LOG_JSON", default=not DEBUG))

# --- metrics (oficina_common.metrics) ---------------------------------------------------------
# The web process serves /metrics on its own port; a Celery worker serves its own on METRICS_PORT.
# Empty or 0 (the development default): the worker serves none, so that several workers on one
# machine do not fight over a port. Kubernetes sets it (k8s/base/common-config.yaml).
SERVICE_NAME = "billing"
METRICS_PORT = env("METRICS_PORT", default="")
# Built as the process starts (oficina_common.warmup), not by its first request or task.
WARM_UP = ("billing.tables.open_all", "billing.dependencies.dependencies", "oficina_common.warmup.mail")
