from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

import oficina_common.schema  # noqa: F401  (registers the OpenAPI description of the shared JWT auth)
from oficina_common.errors import api_not_found

from .health import healthz, readyz

urlpatterns = [
    path("api/v1/", include("billing.urls")),
    path("", include("billing.page_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    re_path(r"^api/(?:.*/)?$", api_not_found),  # an API path no route takes: the JSON 404, never a page
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    # No /metrics here: Prometheus scrapes each process on METRICS_PORT, a port the ingress never
    # routes (oficina_common.metrics.serve_metrics, docs/security.md).
]
