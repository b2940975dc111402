"""What keeps secrets out of logs and hardens the customer's pages (docs/security.md).

- :func:`redact` takes the secret part out of a path or a log line: the approval link's token
  (``/budgets/review/{token}/``), the declined-work link's (``/declined/{token}/``), the tracking
  code (``/track/{code}/``, ``/api/v1/tracking/{code}/``: with the customer's document it is a
  login), and secret-looking query parameters. :class:`RedactSecretsFilter` applies it to every
  log record (Django's ``django.request`` / ``django.server`` lines name the path), and
  :mod:`oficina_common.access_log` to gunicorn's access log.
- :class:`SecurityHeadersMiddleware` sends a Content-Security-Policy with a fresh nonce per
  request, and the usual headers, on every HTML response. A template allows an inline script with
  ``<script nonce="{{ csp_nonce }}">`` (the context processor :func:`csp_nonce`, or
  ``request.csp_nonce`` in Python); any other inline script or handler (``onclick=``) is refused by
  the browser.
"""
from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from typing import Any

REDACTED = "[redacted]"

# A path segment that is a credential: what comes right after these prefixes.
_SECRET_SEGMENT = re.compile(r"(/(?:budgets/review|declined|track|api/v1/tracking)/)[^/?#\s\"']+")
# Query parameters whose value is a credential (a link's token, ``t`` on the payment pages, a code…).
_SECRET_PARAMETER = re.compile(r"([?&](?:t|[\w.-]*(?:token|code|secret|password|signature|key))=)[^&#\s\"']*",
                               re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with every credential in a path or query string replaced by ``[redacted]``."""
    if "/" not in text and "=" not in text:
        return text
    return _SECRET_PARAMETER.sub(rf"\1{REDACTED}", _SECRET_SEGMENT.sub(rf"\1{REDACTED}", text))


class RedactSecretsFilter(logging.Filter):
    """Redacts the formatted message of every record that passes (put it on the handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is logging's business, not ours
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if isinstance(getattr(record, "request_path", None), str):
            record.request_path = redact(record.request_path)
        return True


# --- headers of the pages ------------------------------------------------------------------------------
def content_security_policy(nonce: str) -> str:
    """Same-origin everything, inline scripts only with this response's nonce, no plugins, no
    framing, forms posting only to this service. Inline styles stay allowed (the pages' own
    ``<style>`` blocks and the admin's); they cannot run code."""
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",  # the Pix QR code is a data: URL
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"
# Paths whose URL is itself a credential: no Referer may carry it to another site, not even the origin.
TOKEN_PAGE = re.compile(r"^/(?:budgets/review|declined|track)/")
# Swagger UI and ReDoc run inline scripts of their own, written by drf-spectacular without a nonce.
NO_CSP = re.compile(r"^/api/(?:docs|redoc)/")


class SecurityHeadersMiddleware:
    """CSP with a per-request nonce and the usual headers on HTML responses; early in MIDDLEWARE
    (after SecurityMiddleware) so every view, the error pages included, gets them.

    ``X-Content-Type-Options`` and ``X-Frame-Options`` go on every response: a JSON answer must
    not be sniffed into HTML, nor any page framed (clickjacking of the Approve button)."""

    def __init__(self, get_response: Callable):
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        request.csp_nonce = secrets.token_urlsafe(16)
        response = self.get_response(request)
        response.setdefault("X-Content-Type-Options", "nosniff")
        response["X-Frame-Options"] = "DENY"
        if response.get("Content-Type", "").startswith("text/html"):
            if not NO_CSP.match(request.path):
                response.setdefault("Content-Security-Policy", content_security_policy(request.csp_nonce))
            response.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
            response["Referrer-Policy"] = "no-referrer" if TOKEN_PAGE.match(request.path) else "same-origin"
            if TOKEN_PAGE.match(request.path):
                response.setdefault("Cache-Control", "no-store")  # a shared computer's cache keeps no link
        return response


def csp_nonce(request: Any) -> dict[str, str]:
    """Template context processor: ``{{ csp_nonce }}`` for ``<script nonce="{{ csp_nonce }}">``."""
    return {"csp_nonce": getattr(request, "csp_nonce", "")}
