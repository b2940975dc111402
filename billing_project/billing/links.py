"""The customer's page links after a decision: signed and expiring, so nobody can guess them.

The approval link works once; what the customer sees after it (the payment page, the rejection
confirmation) is reached with a view token: Django's TimestampSigner over the budget id and
version. The URL carries the budget id and version in its path and only the timestamp and
signature in ``?t=``, so changing any of them makes the signature fail.
"""
from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.urls import reverse

SALT = "billing.budget-pages"
SEPARATOR = ":"


class BadViewToken(Exception):
    """Tampered, for another budget version, or too old."""

    def __init__(self, *, expired: bool = False):
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=SALT, sep=SEPARATOR)


def _value(budget_id: str, version: int) -> str:
    return f"{budget_id}{SEPARATOR}{int(version)}"


def view_token(budget_id: str, version: int) -> str:
    """``<timestamp>:<signature>`` over ``<budget_id>:<version>``."""
    signed = _signer().sign(_value(budget_id, version))
    return signed[len(_value(budget_id, version)) + 1:]


def check_view_token(budget_id: str, version: int, token: str) -> None:
    if not token or len(token) > 200:
        raise BadViewToken()
    max_age = settings.PAYMENT_PAGE_TTL_HOURS * 3600
    try:
        _signer().unsign(f"{_value(budget_id, version)}{SEPARATOR}{token}", max_age=max_age)
    except signing.SignatureExpired as exc:
        raise BadViewToken(expired=True) from exc
    except signing.BadSignature as exc:
        raise BadViewToken() from exc


def _with_token(name: str, budget_id: str, version: int, token: str | None) -> str:
    path = reverse(name, kwargs={"budget_id": budget_id, "version": version})
    return f"{path}?{urlencode({'t': token or view_token(budget_id, version)})}"


def public_url(path: str) -> str:
    """``path`` on Billing's public address (PUBLIC_BASE_URL): a link the customer opens from an
    e-mail or from the OS's pages."""
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}{path}"


def payment_page_path(budget_id: str, version: int, token: str | None = None) -> str:
    return _with_token("pages:payment", budget_id, version, token)


def payment_status_path(budget_id: str, version: int, token: str | None = None) -> str:
    return _with_token("pages:payment-status", budget_id, version, token)


def rejection_page_path(budget_id: str, version: int, token: str | None = None) -> str:
    return _with_token("pages:rejected", budget_id, version, token)
