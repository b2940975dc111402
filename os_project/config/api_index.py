"""``GET /api/v1/``: where everything is, for people exploring the API in the browser."""
from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

# (name in the answer, URL name): the collections; an item's URL is its collection's plus its id.
ENTRY_POINTS = (
    ("auth-token", "token-obtain"),
    ("auth-token-refresh", "token-refresh"),
    ("auth-customer-token", "customer-token"),
    ("customers", "customer-list"),
    ("vehicles", "vehicle-list"),
    ("services", "service-list"),
    ("parts", "part-list"),
    ("service-orders", "service-order-list"),
    ("reports-execution-time", "report-execution-time"),
    ("schema", "schema"),
    ("docs", "swagger-ui"),
)


class ApiIndexApi(APIView):
    """The API's entry points (public: it only lists addresses; each endpoint checks who calls it)."""

    permission_classes = [AllowAny]

    @extend_schema(tags=["meta"], auth=[], responses={200: OpenApiResponse(OpenApiTypes.OBJECT)}, examples=[
        OpenApiExample("Entry points", response_only=True, value={
            "customers": "https://oficina.example.com/api/v1/customers/",
            "service-orders": "https://oficina.example.com/api/v1/service-orders/",
            "tracking": "https://oficina.example.com/api/v1/tracking/{tracking_code}/"})])
    def get(self, request: Request) -> Response:
        links: dict[str, Any] = {name: reverse(url_name, request=request) for name, url_name in ENTRY_POINTS}
        tracking = reverse("tracking-detail", args=["TRACKING_CODE"], request=request)
        links["tracking"] = tracking.replace("TRACKING_CODE", "{tracking_code}")
        return Response(links)
