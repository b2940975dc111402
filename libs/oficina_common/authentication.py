"""Stateless JWT authentication (imports Django's auth models: not for settings modules)."""
from __future__ import annotations

from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication
from rest_framework_simplejwt.models import TokenUser

from .auth import STAFF_ROLES


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
    """Bearer JWT, verified with the OS service's public key (signature, expiry, ``iss``, ``aud``); no
    database lookup."""
