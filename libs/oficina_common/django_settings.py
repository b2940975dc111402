"""Settings pieces every service's ``config/settings.py`` composes (one source, three users)."""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"
DEV_JWT_SIGNING_KEY = "dev-insecure-jwt-signing-key-change-me-0123456789"
DEV_WEBHOOK_SECRET = "dev-webhook-secret"


def rest_framework_settings(*, session_auth: bool = False, page_size: int = 20) -> dict[str, Any]:
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
    }


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
