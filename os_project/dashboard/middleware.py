"""The staff's side in their language and on their clock; everything else as it was."""
from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone, translation


class StaffLocaleMiddleware:
    """Pages under the admin (its dashboard too) are rendered in ``STAFF_LANGUAGE_CODE`` and show
    times on ``STAFF_TIME_ZONE``; the API keeps English messages and UTC times for its clients, and
    the customer pages are Portuguese already."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(reverse("admin:index")):
            return self.get_response(request)
        # A TemplateResponse is rendered inside get_response, so within both overrides.
        with translation.override(settings.STAFF_LANGUAGE_CODE), timezone.override(settings.STAFF_TIME_ZONE):
            response = self.get_response(request)
        response.headers.setdefault("Content-Language", settings.STAFF_LANGUAGE_CODE)
        return response
