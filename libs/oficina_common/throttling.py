"""Request throttling: DRF's scoped throttles, counted in Django's cache (Redis).

A view names its scope (``throttle_scope = "staff_login"``) and the service's settings give each
scope a rate (``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``, see
:func:`oficina_common.django_settings.throttle_rates`). Requests are counted per user for a
verified token and per client address otherwise; the address is the one DRF derives with
``NUM_PROXIES``, and django-axes (the OS's login lockout) is given the same one (:func:`client_ip`).
A refused request is DRF's ``Throttled``: 429 with ``Retry-After`` in the usual error body.

The counters live in the cache and only there: when Redis cannot be reached the request is let
through and a warning logged. A login must not fail because Redis blinked; the lockout of staff
accounts (django-axes) is kept in PostgreSQL and holds meanwhile.
"""
from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError
from rest_framework import throttling

logger = logging.getLogger(__name__)


def client_ip(request: Any) -> str | None:
    """The client's address as DRF's throttles see it (``NUM_PROXIES`` trusted proxies in front)."""
    return throttling.BaseThrottle().get_ident(request)


class _FailOpen:
    def allow_request(self, request: Any, view: Any) -> bool:
        try:
            return super().allow_request(request, view)  # type: ignore[misc]
        except RedisError as exc:
            logger.warning("throttle %s not checked, the cache is unreachable: %s",
                           getattr(self, "scope", None) or getattr(view, "throttle_scope", "?"), exc)
            return True


class ScopedRateThrottle(_FailOpen, throttling.ScopedRateThrottle):
    """DRF's ScopedRateThrottle (a view without ``throttle_scope`` is not throttled)."""


class PageThrottle(_FailOpen, throttling.SimpleRateThrottle):
    """The same counting for a plain Django view (a customer's page), per client address.

    ``throttle = PageThrottle("budget_review")``; ``throttle.allow_request(request, None)``, and
    ``throttle.wait()`` for the ``Retry-After`` of a refusal.
    """

    def __init__(self, scope: str):
        self.scope = scope
        super().__init__()

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
