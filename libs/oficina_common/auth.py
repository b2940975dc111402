"""JWT authentication shared by the three services.

The OS service issues tokens (staff from username/password, customers from document +
tracking code) and alone holds the private key that signs them (RS256 by default, or EdDSA);
every service verifies them statelessly with the public key, so Billing and Execution need no
user table and cannot mint a token. ``iss`` and ``aud`` are set on issue and checked on verify.
Roles travel in the ``role`` claim.

This module is safe to import from settings (it touches no Django model); the authentication
class itself lives in :mod:`oficina_common.authentication`.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from rest_framework.permissions import BasePermission

ADMIN = "admin"
ATTENDANT = "attendant"
MECHANIC = "mechanic"
CUSTOMER = "customer"
STAFF_ROLES = frozenset({ADMIN, ATTENDANT, MECHANIC})
ROLES = (ADMIN, ATTENDANT, MECHANIC, CUSTOMER)


# Asymmetric only: with an HS* secret every service that verifies could also sign.
JWT_ALGORITHMS = ("RS256", "RS384", "RS512", "EdDSA")
DEFAULT_JWT_ISSUER = "oficina-os"
DEFAULT_JWT_AUDIENCE = "oficina"


def pem_from_env(value: str) -> str:
    """A PEM key as an environment variable holds it: real line breaks, or ``\\n`` on one line."""
    pem = value.replace("\\n", "\n").strip()
    return pem + "\n" if pem else ""


def jwt_settings(*, public_key: str, private_key: str = "", algorithm: str = "RS256",
                 issuer: str = DEFAULT_JWT_ISSUER, audience: str = DEFAULT_JWT_AUDIENCE,
                 access_minutes: int = 30, refresh_days: int = 1) -> dict[str, Any]:
    """The ``SIMPLE_JWT`` dict of a service. The OS passes its private key and signs; Billing and
    Execution pass none (``SIGNING_KEY`` empty: encoding a token fails) and only verify."""
    if algorithm not in JWT_ALGORITHMS:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"JWT_ALGORITHM must be one of {', '.join(JWT_ALGORITHMS)}, not {algorithm!r}.")
    return {
        "ALGORITHM": algorithm,
        "SIGNING_KEY": private_key,
        "VERIFYING_KEY": public_key,
        "ISSUER": issuer,
        "AUDIENCE": audience,
        "ACCESS_TOKEN_LIFETIME": timedelta(minutes=access_minutes),
        "REFRESH_TOKEN_LIFETIME": timedelta(days=refresh_days),
        "AUTH_HEADER_TYPES": ("Bearer",),
        "USER_ID_CLAIM": "user_id",
        "USER_ID_FIELD": "id",
        "TOKEN_USER_CLASS": "oficina_common.authentication.OficinaTokenUser",
        "UPDATE_LAST_LOGIN": False,
    }


def role_of(user: Any) -> str:
    """The role of a request's user, whether a verified token or a session user of the OS admin."""
    if user is None or not getattr(user, "is_authenticated", False):
        return ""
    role = getattr(user, "role", "")
    if role:
        return str(role)
    return ADMIN if getattr(user, "is_superuser", False) else ""


def customer_id_of(user: Any) -> str | None:
    return getattr(user, "customer_id", None) if role_of(user) == CUSTOMER else None


def add_staff_claims(token: Any, user: Any) -> None:
    token["role"] = role_of(user)
    token["username"] = user.get_username()


def issue_customer_token(customer_id: Any, *, service_order_id: Any = None) -> Any:
    """An access token for a customer (no Django user behind it)."""
    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken()
    token["user_id"] = f"customer:{customer_id}"
    token["role"] = CUSTOMER
    token["customer_id"] = str(customer_id)
    if service_order_id is not None:
        token["service_order_id"] = str(service_order_id)
    return token


class HasRole(BasePermission):
    """``permission_classes = [HasRole.of(ADMIN, ATTENDANT)]``."""

    roles: frozenset[str] = frozenset()
    message = "Your role may not do this."

    @classmethod
    def of(cls, *roles: str) -> type[HasRole]:
        return type(f"HasRole_{'_'.join(sorted(roles))}", (cls,), {"roles": frozenset(roles)})

    def has_permission(self, request: Any, view: Any) -> bool:
        return role_of(request.user) in self.roles


IsStaff = HasRole.of(*STAFF_ROLES)
IsStaffOrCustomer = HasRole.of(*ROLES)
IsMechanic = HasRole.of(ADMIN, MECHANIC)


def __getattr__(name: str) -> Any:
    # The authentication classes import Django's auth models, so they load only when asked for:
    # settings modules can import this module before the app registry is ready.
    if name in {"JWTAuthentication", "OficinaTokenUser"}:
        from . import authentication

        return getattr(authentication, name)
    raise AttributeError(name)
