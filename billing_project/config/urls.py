from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

import oficina_common.schema  # noqa: F401  (registers the OpenAPI description of the shared JWT auth)
from oficina_common.metrics import metrics_view

from .health import healthz, readyz

urlpatterns = [
    path("api/v1/", include("billing.urls")),
    path("", include("billing.page_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    # For Prometheus inside the cluster; the public ingress answers 404 (k8s/base/ingress.yaml).
    path("metrics", metrics_view, name="metrics"),
]
