"""Settings pieces every service's ``config/settings.py`` composes (one source, three users)."""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from .auth import pem_from_env
from .dev_keys import DEV_JWT_PRIVATE_KEY, DEV_JWT_PUBLIC_KEY

DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"
DEV_WEBHOOK_SECRET = "dev-webhook-secret"
# An RSA key shorter than this is refused in production (NIST SP 800-57: 2048 bits until 2030).
MIN_RSA_BITS = 2048


def jwt_key_pair(env: Any, *, signs_tokens: bool) -> tuple[str, str]:
    """``(private_key, public_key)`` PEMs from ``JWT_PRIVATE_KEY`` / ``JWT_PUBLIC_KEY``, the
    development pair (oficina_common.dev_keys) when unset.

    Only the service that signs (the OS) reads ``JWT_PRIVATE_KEY``. Billing and Execution get no
    private key, except the development one while they verify with the development public key:
    it is published in the repository anyway, lets their tests mint tokens, and production
    refuses it."""
    public_key = pem_from_env(env("JWT_PUBLIC_KEY", default="")) or DEV_JWT_PUBLIC_KEY
    if signs_tokens:
        private_key = pem_from_env(env("JWT_PRIVATE_KEY", default="")) or DEV_JWT_PRIVATE_KEY
    else:
        private_key = DEV_JWT_PRIVATE_KEY if public_key == DEV_JWT_PUBLIC_KEY else ""
    return private_key, public_key


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
        "DEFAULT_SCHEMA_CLASS": "oficina_common.schema.AutoSchema",
        "EXCEPTION_HANDLER": "oficina_common.errors.exception_handler",
        "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
        "PAGE_SIZE": page_size,
        # JSON only: every body is JSON (nested items do not travel as a form), and the schema says so.
        "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
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
        # What clients use: a JWT. (The OS's browsable API also takes the admin's session; no client does.)
        "AUTHENTICATION_WHITELIST": ["oficina_common.authentication.JWTAuthentication"],
        "APPEND_COMPONENTS": {
            "securitySchemes": {"jwtAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
        },
    }


def jwt_key_problems(*, public_key: str, private_key: str = "", signs_tokens: bool = False,
                     algorithm: str = "RS256") -> list[str]:
    """What production refuses in the JWT keys: a missing or development key, an RSA key under
    :data:`MIN_RSA_BITS`, a key the algorithm cannot use, a private key that is not the public one's."""
    from cryptography.hazmat.primitives.asymmetric import ed448, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

    wanted = (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey) if algorithm == "EdDSA" else (rsa.RSAPublicKey,)

    def check(name: str, pem: str, development: str, load: Any) -> Any:
        if not pem.strip():
            problems.append(f"{name} must be set")
            return None
        if pem.strip() == development.strip():
            problems.append(f"{name} is the development key published in the repository")
            return None
        try:
            key = load(pem.encode())
        except (ValueError, TypeError) as exc:
            problems.append(f"{name} is not a PEM key without a passphrase ({exc.__class__.__name__})")
            return None
        public = key.public_key() if hasattr(key, "public_key") else key
        if not isinstance(public, wanted):
            problems.append(f"{name} is a {type(public).__name__.removeprefix('_')}, not a key for {algorithm}")
        elif isinstance(public, rsa.RSAPublicKey) and public.key_size < MIN_RSA_BITS:
            problems.append(f"{name} is an RSA key of {public.key_size} bits; at least {MIN_RSA_BITS} are needed")
        return public

    problems: list[str] = []
    public = check("JWT_PUBLIC_KEY", public_key, DEV_JWT_PUBLIC_KEY, load_pem_public_key)
    if signs_tokens:
        signing = check("JWT_PRIVATE_KEY", private_key, DEV_JWT_PRIVATE_KEY,
                        lambda data: load_pem_private_key(data, password=None))
        if public is not None and signing is not None and signing != public:
            problems.append("JWT_PRIVATE_KEY and JWT_PUBLIC_KEY are not one pair: no service could verify its tokens")
    return problems


def refuse_unsafe_production(*, debug: bool, secret_key: str, jwt_public_key: str, jwt_private_key: str = "",
                             signs_tokens: bool = False, jwt_algorithm: str = "RS256",
                             webhook_secret: str | None = None, require_webhook_secret: bool = False,
                             environ: Mapping[str, str] = os.environ) -> None:
    """Production settings call this: no DEBUG, no development secrets or keys, nothing missing.

    ``signs_tokens``: the OS, which holds the private key. Any other service is refused when a
    ``JWT_PRIVATE_KEY`` reaches its environment: only the OS may be able to mint tokens."""
    problems = []
    if debug:
        problems.append("DEBUG must be off")
    if not secret_key or secret_key == DEV_SECRET_KEY:
        problems.append("SECRET_KEY must be set to a secret value")
    problems += jwt_key_problems(public_key=jwt_public_key, private_key=jwt_private_key,
                                 signs_tokens=signs_tokens, algorithm=jwt_algorithm)
    if not signs_tokens and environ.get("JWT_PRIVATE_KEY"):
        problems.append("JWT_PRIVATE_KEY must not reach this service: only the OS service signs tokens")
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
