"""JWT authentication shared by the three services.

The OS service issues tokens (staff from username/password, customers from document +
tracking code); every service verifies them statelessly with the shared key, so Billing and
Execution need no user table. Roles travel in the ``role`` claim.

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


def jwt_settings(signing_key: str, *, verifying_key: str = "", algorithm: str = "HS256",
                 access_minutes: int = 30, refresh_days: int = 1) -> dict[str, Any]:
    """The ``SIMPLE_JWT`` dict for every service (a key pair with RS256 works the same way)."""
    return {
        "ALGORITHM": algorithm,
        "SIGNING_KEY": signing_key,
        "VERIFYING_KEY": verifying_key or None,
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
IsAdmin = HasRole.of(ADMIN)
IsMechanic = HasRole.of(ADMIN, MECHANIC)


def __getattr__(name: str) -> Any:
    # The authentication classes import Django's auth models, so they load only when asked for:
    # settings modules can import this module before the app registry is ready.
    if name in {"JWTAuthentication", "OficinaTokenUser"}:
        from . import authentication

        return getattr(authentication, name)
    raise AttributeError(name)
