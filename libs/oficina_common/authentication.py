"""Stateless JWT authentication (imports Django's auth models: not for settings modules)."""
from __future__ import annotations

import functools
import time

from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication
from rest_framework_simplejwt.models import TokenUser
from rest_framework_simplejwt.tokens import Token

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
    database lookup.

    A token this process has verified is not verified again, only its expiry: a screen or a phone
    polling with one token asks many times a second, and each verification (the signature, the
    claims) was a twentieth of such a request's CPU. What was verified is the exact text of the
    token, so nothing else passes for it; a refused token is never kept."""

    def get_validated_token(self, raw_token: bytes) -> Token:
        token = _verified(raw_token)
        if token.payload.get("exp", 0) <= time.time():
            # Expired since: verified again, which refuses it as any expired token is refused.
            return super().get_validated_token(raw_token)
        return token


@functools.lru_cache(maxsize=1024)
def _verified(raw_token: bytes) -> Token:
    """A token that passed every check, by its text (what raises is not cached)."""
    return JWTStatelessUserAuthentication().get_validated_token(raw_token)
