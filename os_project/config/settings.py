"""Settings of the OS service. Every value comes from the environment, with development defaults."""
from __future__ import annotations

from datetime import timedelta
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
    throttle_rates,
)

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DJANGO_ENV = env("DJANGO_ENV", default="development")
SECRET_KEY = env("SECRET_KEY", default=DEV_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=True)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["*"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "dashboard.site.OficinaAdminConfig",  # django.contrib.admin, with the staff dashboard
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "axes",  # staff logins locked out after repeated failures (docs/security.md)
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files served by the service itself: no CDN needed
    "accounts",
    "customers",
    "catalog",
    "service_orders",
    "messaging",
    "notifications",
    "dashboard",
    "operations",
    "oficina_common",  # its template filters (oficina_format)
]

MIDDLEWARE = [
    "oficina_common.metrics.RequestMetricsMiddleware",  # first: times everything below it
    "oficina_common.correlation.CorrelationIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # CSP with a nonce per request, Referrer-Policy, Permissions-Policy (docs/security.md).
    "oficina_common.security.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The admin and its dashboard in the staff's language and on the workshop's clock (below).
    "dashboard.middleware.StaffLocaleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out admin login into its lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "oficina_common.security.csp_nonce",  # <script nonce="{{ csp_nonce }}">
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/oficina_os")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# 0 (a connection per request) suits runserver, which starts a thread per request; gunicorn's
# threads and the Celery workers keep theirs (production sets 60), checked before reuse.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
# django-axes first: it refuses a locked-out username+address before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

# The API speaks English (as the other services do); the customer pages are written in Portuguese;
# the staff (Brazilian) read the admin and its dashboard in STAFF_LANGUAGE_CODE: Django's own
# translations plus ours in locale/pt_BR (the compiled .mo is committed beside its .po).
LANGUAGE_CODE = env("LANGUAGE_CODE", default="en-us")
STAFF_LANGUAGE_CODE = env("STAFF_LANGUAGE_CODE", default="pt-br")
LANGUAGES = [("en", "English"), ("pt-br", "Português (Brasil)")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The API and the messages speak UTC; the customer's pages and e-mails show the workshop's local time.
TIME_ZONE = env("TIME_ZONE", default="UTC")
CUSTOMER_TIME_ZONE = env("CUSTOMER_TIME_ZONE", default="America/Sao_Paulo")
# The staff's clock in the admin; the workshop's, like the customer's, unless set apart.
STAFF_TIME_ZONE = env("STAFF_TIME_ZONE", default=CUSTOMER_TIME_ZONE)
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))

# --- API -------------------------------------------------------------------------------------
# Requests per client address (per user once a token is verified); THROTTLE_RATES=scope=rate,…
# replaces any of them. Logins are rare (a staff member logs in about once a day, then refreshes),
# so the limits sit far above what a person does and far below what a guessing script needs.
THROTTLE_RATES = throttle_rates({
    # A person mistypes a password a few times; 10 a minute never stops one, and caps password
    # spraying from one address (django-axes locks a username after AXES_FAILURE_LIMIT failures).
    "staff_login": "10/min",
    # The tracking code cannot be guessed; this stops scripts walking documents and codes.
    "customer_token": "10/min",
    # Each open front-desk or mechanic screen refreshes once per access token (30 min): a whole
    # workshop behind one address stays far below 30 a minute.
    "token_refresh": "30/min",
}, env.dict("THROTTLE_RATES", default={}))
# Proxies in front of the service whose X-Forwarded-For is trusted (the load balancer: 1 on k8s);
# 0 counts the connection's own address. The throttles and the login lockout count by it.
REST_FRAMEWORK = rest_framework_settings(session_auth=True, page_size=env.int("PAGE_SIZE", default=20),
                                         throttle_rates=THROTTLE_RATES, num_proxies=env.int("NUM_PROXIES", default=0))
REST_FRAMEWORK.update({
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.PageNumberWithSizePagination",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
})
SPECTACULAR_SETTINGS = spectacular_settings(
    "Oficina — OS service",
    "Customers, vehicles, the services and parts catalogue, stock, and service orders.",
)
SPECTACULAR_SETTINGS.update({
    "ENUM_NAME_OVERRIDES": {"ServiceOrderStatusEnum": "service_orders.domain.STATUS_CHOICES"},
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True, "displayRequestDuration": True, "tryItOutEnabled": False},
})

# The OS alone signs tokens, with its private key; every service verifies them with the public key
# (docs/security.md). Unset: the development pair, which production refuses.
JWT_PRIVATE_KEY, JWT_PUBLIC_KEY = jwt_key_pair(env, signs_tokens=True)
JWT_ALGORITHM = env("JWT_ALGORITHM", default="RS256")
SIMPLE_JWT = jwt_settings(
    private_key=JWT_PRIVATE_KEY,
    public_key=JWT_PUBLIC_KEY,
    algorithm=JWT_ALGORITHM,
    issuer=env("JWT_ISSUER", default=DEFAULT_JWT_ISSUER),
    audience=env("JWT_AUDIENCE", default=DEFAULT_JWT_AUDIENCE),
    access_minutes=env.int("JWT_ACCESS_MINUTES", default=30),
    refresh_days=env.int("JWT_REFRESH_DAYS", default=1),
)

# --- login lockout (django-axes; docs/security.md) ------------------------------------------
# Failed staff logins (the API's auth/token/, /admin/login/, the browsable API's) are counted per
# username and client address: a guesser locks out only himself, never the colleague at another
# desk. The lockout lifts AXES_COOLOFF_MINUTES after the last failure, or at once when an admin
# deletes the attempt in the admin (Axes > Access attempts) or runs `manage.py axes_reset_username`.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True  # a login that works forgets the typos before it
AXES_CLIENT_IP_CALLABLE = "oficina_common.throttling.client_ip"  # the address the throttles count by
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_page"  # 429, Retry-After, the admin's look
AXES_VERBOSE = False  # no start-up banner in every process; failures and lockouts are still logged

# --- other services and public addresses ----------------------------------------------------
OS_SERVICE_URL = env("OS_SERVICE_URL", default="http://127.0.0.1:8001").rstrip("/")
OS_PUBLIC_URL = env("OS_PUBLIC_URL", default="").rstrip("/")
BILLING_SERVICE_URL = env("BILLING_SERVICE_URL", default="http://127.0.0.1:8002").rstrip("/")
EXECUTION_SERVICE_URL = env("EXECUTION_SERVICE_URL", default="http://127.0.0.1:8003").rstrip("/")
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default=BILLING_SERVICE_URL).rstrip("/")
# Not used by the OS service itself; read so that one environment serves every service.
AWS_REGION = env("AWS_REGION", default="us-east-1")
DYNAMODB_ENDPOINT_URL = env("DYNAMODB_ENDPOINT_URL", default="http://127.0.0.1:8000")
DYNAMODB_TABLE_PREFIX = env("DYNAMODB_TABLE_PREFIX", default="oficina_")

# --- Celery and messaging -------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/0")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# The throttles' counters (docs/security.md): CACHE_URL, or the broker's Redis (keys under "os:").
CACHES = redis_cache(env("CACHE_URL", default="") or CELERY_BROKER_URL, key_prefix="os")
OUTBOX_SWEEP_SECONDS = env.float("OUTBOX_SWEEP_SECONDS", default=5.0)
# The sweep leaves younger rows to the after-commit fast path of the process that wrote them.
OUTBOX_SWEEP_MIN_AGE_SECONDS = env.float("OUTBOX_SWEEP_MIN_AGE_SECONDS", default=2.0)
OUTBOX_BATCH_SIZE = env.int("OUTBOX_BATCH_SIZE", default=100)
MESSAGE_RETENTION_DAYS = env.int("MESSAGE_RETENTION_DAYS", default=7)
# A diagnosis the saga has not answered this long is published again (the broker may have lost it),
# up to this many times; the saga starts once whatever it receives.
DIAGNOSIS_RESEND_AFTER_SECONDS = env.float("DIAGNOSIS_RESEND_AFTER_SECONDS", default=120.0)
DIAGNOSIS_RESEND_MAX_ATTEMPTS = env.int("DIAGNOSIS_RESEND_MAX_ATTEMPTS", default=30)
# Work a customer declined is offered again by e-mail this many days later (once per order), with a
# link that books it, valid this many days (os.remind_declined_work, beat).
DECLINED_WORK_REMINDER_DAYS = env.int("DECLINED_WORK_REMINDER_DAYS", default=30)
DECLINED_WORK_LINK_DAYS = env.int("DECLINED_WORK_LINK_DAYS", default=30)
# Dotted path of a callable returning the publisher the outbox relay uses (tests swap in a fake).
OS_MESSAGE_PUBLISHER = env("OS_MESSAGE_PUBLISHER", default="messaging.publishers.celery_publisher")

# --- e-mail ---------------------------------------------------------------------------------
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
# Only for the file-based backend (the cross-service tests read the payment page's link from there).
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", default=str(BASE_DIR.parent / ".data" / "mail"))
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Oficina <nao-responda@oficina.local>")

LOGGING = logging_config("os", level=env("LOG_LEVEL", default="INFO"), json=env.bool("LOG_JSON", default=not DEBUG))

# --- metrics (oficina_common.metrics) ---------------------------------------------------------
# The web process serves /metrics on its own port; a Celery worker serves its own on METRICS_PORT.
# Empty or 0 (the development default): the worker serves none, so that several workers on one
# machine do not fight over a port. Kubernetes sets it (k8s/base/common-config.yaml).
SERVICE_NAME = "os"
METRICS_PORT = env("METRICS_PORT", default="")
# Built as the process starts (oficina_common.warmup), not by its first request or task.
WARM_UP = ("messaging.publishers.get_publisher", "oficina_common.warmup.mail")
