"""JWT authentication shared by the three services.

The OS service issues tokens (staff from username/password, customers from document +
tracking code); every service verifies them statelessly with the shared key, so Billing and
Execution need no user table. Roles travel in the ``role`` claim.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication
from rest_framework_simplejwt.models import TokenUser
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

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
        "TOKEN_USER_CLASS": "oficina_common.auth.OficinaTokenUser",
        "UPDATE_LAST_LOGIN": False,
    }


class OficinaTokenUser(TokenUser):
    """The user a verified token describes: role, and for customers, whose they are."""

    @property
    def role(self) -> str:
        return str(self.token.get("role", ""))

    @property
    def customer_id(self) -> str | None:
        value = self.token.get("customer_id")
        return str(value) if value is not None else None

    @property
    def is_staff(self) -> bool:  # noqa: D401 - mirrors Django's User.is_staff
        return self.role in STAFF_ROLES


class JWTAuthentication(JWTStatelessUserAuthentication):
    """Bearer JWT, verified with the shared key; no database lookup."""


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


def add_staff_claims(token: RefreshToken | AccessToken, user: Any) -> None:
    token["role"] = role_of(user)
    token["username"] = user.get_username()


def issue_customer_token(customer_id: Any, *, service_order_id: Any = None) -> AccessToken:
    """An access token for a customer (no Django user behind it)."""
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
