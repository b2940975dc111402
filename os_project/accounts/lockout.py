"""Staff logins locked out by django-axes: the same answer for the API, the admin and the browsable API.

axes counts the failures (per username and client address, settings.AXES_*) and refuses a locked
pair before any password is checked; this module only says so to the person, with a 429 and
``Retry-After``: JSON in the usual error body for ``auth/token/``, a page for ``/admin/login/``.
"""
from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from oficina_common.errors import TooManyRequests


def cooloff_seconds() -> int:
    return math.ceil(settings.AXES_COOLOFF_TIME.total_seconds())


def lockout_message() -> str:
    minutes = math.ceil(cooloff_seconds() / 60)
    return (f"Too many failed logins for this username from your address: try again in {minutes} "
            f"minute{'s' if minutes != 1 else ''}, or ask an admin to unlock the account.")


class LoginLockedOut(TooManyRequests):
    code = "login_locked_out"

    def __init__(self) -> None:
        super().__init__(lockout_message(), retry_after=cooloff_seconds())


def is_locked_out(request: Any) -> bool:
    """Whether axes refused (or has just locked) this login; it marks the request it was given."""
    return bool(getattr(request, "axes_locked_out", False))


def lockout_page(request: HttpRequest, original_response: HttpResponse | None = None,
                 credentials: dict[str, Any] | None = None) -> HttpResponse:
    """``AXES_LOCKOUT_CALLABLE``: what the admin's (and the browsable API's) login shows when locked."""
    from django.contrib import admin

    context = {**admin.site.each_context(request), "is_nav_sidebar_enabled": False, "title": "Login locked",
               "message": lockout_message()}
    response = render(request, "accounts/locked_out.html", context, status=429)
    response["Retry-After"] = str(cooloff_seconds())
    return response
