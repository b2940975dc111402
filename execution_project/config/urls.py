from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from .health import healthz, readyz

urlpatterns = [
    path("api/v1/", include("execution.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    # No /metrics here: Prometheus scrapes each process on METRICS_PORT, a port the ingress never
    # routes (oficina_common.metrics.serve_metrics, docs/security.md).
]
