"""Answers for requests that never reach a DRF view (unknown URLs, crashes) in the same error shape."""
from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def not_found(request: HttpRequest, exception: Any = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"message": "Not found.", "code": "not_found", "extra": {}}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"message": "Internal error; it has been logged.", "code": "internal_error",
                             "extra": {}}, status=500)
    return defaults.server_error(request)
