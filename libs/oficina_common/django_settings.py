"""Settings pieces every service's ``config/settings.py`` composes (one source, three users)."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"
DEV_JWT_SIGNING_KEY = "dev-insecure-jwt-signing-key-change-me-0123456789"
DEV_WEBHOOK_SECRET = "dev-webhook-secret"


def rest_framework_settings(*, session_auth: bool = False, page_size: int = 20,
                            throttle_rates: dict[str, str | None] | None = None,
                            num_proxies: int = 0) -> dict[str, Any]:
    """``throttle_rates``: the service's scopes and their rates (:func:`throttle_rates`); a view
    is throttled only when it names one of them in ``throttle_scope``. ``num_proxies``: how many
    proxies in front of the service append to X-Forwarded-For (the load balancer); 0 trusts no
    header and counts the connection's own address."""
    authentication = ["oficina_common.authentication.JWTAuthentication"]
    if session_auth:
        authentication.append("rest_framework.authentication.SessionAuthentication")
    return {
        "DEFAULT_AUTHENTICATION_CLASSES": authentication,
        "DEFAULT_PERMISSION_CLASSES": ["oficina_common.auth.IsStaff"],
        "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
        "EXCEPTION_HANDLER": "oficina_common.errors.exception_handler",
        "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
        "PAGE_SIZE": page_size,
        "DEFAULT_RENDERER_CLASSES": [
            "rest_framework.renderers.JSONRenderer",
            "rest_framework.renderers.BrowsableAPIRenderer",
        ],
        "UNAUTHENTICATED_USER": None,
        "DEFAULT_THROTTLE_CLASSES": ["oficina_common.throttling.ScopedRateThrottle"],
        "DEFAULT_THROTTLE_RATES": dict(throttle_rates or {}),
        "NUM_PROXIES": num_proxies,
    }


# How long the cache (Redis) may take before a throttle gives up on it and lets the request through.
CACHE_SOCKET_TIMEOUT = 2


def redis_cache(url: str, *, key_prefix: str) -> dict[str, Any]:
    """``CACHES`` of a service: Django's own Redis backend at ``CACHE_URL``, or the broker's Redis
    when that is empty. The prefix (the service's name) keeps the services' keys apart from each
    other and from Celery's, so one Redis database serves them all (never ``cache.clear()`` it:
    that empties the whole database, the broker's queues with it)."""
    if urlsplit(url).scheme not in {"redis", "rediss", "unix"}:
        raise ImproperlyConfigured(
            f"CACHE_URL must name a Redis (redis://, rediss:// or unix://), not {urlsplit(url).scheme or url!r}: "
            "the throttles keep their counts there, and the broker's URL is used only when it is a Redis.")
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": key_prefix,
            "OPTIONS": {"socket_timeout": CACHE_SOCKET_TIMEOUT, "socket_connect_timeout": CACHE_SOCKET_TIMEOUT},
        }
    }


def throttle_rates(defaults: dict[str, str], overrides: dict[str, str]) -> dict[str, str | None]:
    """The service's throttle rates: its defaults, with those named in ``THROTTLE_RATES``
    (``scope=rate,…``, a rate as DRF writes it, ``10/min``, or ``off``) in their place.

    A scope the service does not have, or a rate DRF cannot read, stops the service at start:
    a typo must not leave an endpoint unthrottled.
    """
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise ImproperlyConfigured(f"THROTTLE_RATES names {unknown}; this service's scopes are {sorted(defaults)}.")
    rates: dict[str, str | None] = {}
    for scope, rate in {**defaults, **overrides}.items():
        rate = str(rate).strip()
        if rate.lower() == "off":
            rates[scope] = None
            continue
        number, _, period = rate.partition("/")
        if not number.isdigit() or int(number) < 1 or period[:1] not in {"s", "m", "h", "d"}:
            raise ImproperlyConfigured(f"THROTTLE_RATES: {scope}={rate!r} is not a rate like 10/min, 100/hour or off.")
        rates[scope] = rate
    return rates


def spectacular_settings(title: str, description: str) -> dict[str, Any]:
    return {
        "TITLE": title,
        "DESCRIPTION": description,
        "VERSION": "1.0.0",
        "SERVE_INCLUDE_SCHEMA": False,
        "COMPONENT_SPLIT_REQUEST": True,
        "SECURITY": [{"jwtAuth": []}],
        "APPEND_COMPONENTS": {
            "securitySchemes": {"jwtAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
        },
    }


def refuse_unsafe_production(*, debug: bool, secret_key: str, jwt_signing_key: str,
                             webhook_secret: str | None = None, require_webhook_secret: bool = False) -> None:
    """Production settings call this: no DEBUG, no development secrets, nothing missing."""
    problems = []
    if debug:
        problems.append("DEBUG must be off")
    if not secret_key or secret_key == DEV_SECRET_KEY:
        problems.append("SECRET_KEY must be set to a secret value")
    if not jwt_signing_key or jwt_signing_key == DEV_JWT_SIGNING_KEY:
        problems.append("JWT_SIGNING_KEY must be set to a secret value")
    if require_webhook_secret and (not webhook_secret or webhook_secret == DEV_WEBHOOK_SECRET):
        problems.append("MERCADOPAGO_WEBHOOK_SECRET must be set")
    if problems:
        raise ImproperlyConfigured("Refusing to start in production: " + "; ".join(problems) + ".")


def with_static_files(middleware: list[str]) -> list[str]:
    """Production middleware that also serves collected static files (admin, Swagger UI, the
    browsable API) from the web process itself, right after Django's SecurityMiddleware."""
    whitenoise = "whitenoise.middleware.WhiteNoiseMiddleware"
    if whitenoise in middleware:
        return middleware
    at = middleware.index("django.middleware.security.SecurityMiddleware") + 1
    return [*middleware[:at], whitenoise, *middleware[at:]]
