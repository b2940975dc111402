from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from accounts.api import CustomerTokenObtainApi, StaffTokenObtainApi, StaffTokenRefreshApi
from catalog.api import PartViewSet, ServiceViewSet
from customers.api import CustomerViewSet, VehicleViewSet
from oficina_common import schema  # noqa: F401  (registers the OpenAPI description of the JWT scheme)
from oficina_common.errors import api_not_found
from service_orders import api as orders
from service_orders.views import declined_work_page, track_not_found, track_page

from .api_index import ApiIndexApi
from .health import healthz, readyz

router = SimpleRouter()
router.register("customers", CustomerViewSet, basename="customer")
router.register("vehicles", VehicleViewSet, basename="vehicle")
router.register("services", ServiceViewSet, basename="service")
router.register("parts", PartViewSet, basename="part")

api_v1 = [
    path("", ApiIndexApi.as_view(), name="api-index"),
    path("auth/token/", StaffTokenObtainApi.as_view(), name="token-obtain"),
    path("auth/token/refresh/", StaffTokenRefreshApi.as_view(), name="token-refresh"),
    path("auth/customer-token/", CustomerTokenObtainApi.as_view(), name="customer-token"),
    path("service-orders/", orders.ServiceOrderListCreateApi.as_view(), name="service-order-list"),
    path("service-orders/<str:service_order_id>/", orders.ServiceOrderDetailApi.as_view(),
         name="service-order-detail"),
    path("service-orders/<str:service_order_id>/start-diagnosis/", orders.ServiceOrderStartDiagnosisApi.as_view(),
         name="service-order-start-diagnosis"),
    path("service-orders/<str:service_order_id>/diagnosis/", orders.ServiceOrderDiagnosisApi.as_view(),
         name="service-order-diagnosis"),
    path("service-orders/<str:service_order_id>/deliver/", orders.ServiceOrderDeliverApi.as_view(),
         name="service-order-deliver"),
    path("service-orders/<str:service_order_id>/cancel/", orders.ServiceOrderCancelApi.as_view(),
         name="service-order-cancel"),
    path("tracking/<str:tracking_code>/", orders.TrackingDetailApi.as_view(), name="tracking-detail"),
    path("vehicles/<int:vehicle_id>/declined-work/", orders.VehicleDeclinedWorkApi.as_view(),
         name="vehicle-declined-work"),
    path("reports/execution-time/", orders.ExecutionTimeReportApi.as_view(), name="report-execution-time"),
    *router.urls,
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    re_path(r"^api/(?:.*/)?$", api_not_found),  # an API path no route takes: the JSON 404, never a page
    # Log in and out of the browsable API with a staff account (the admin's session works as well).
    path("api-auth/", include("rest_framework.urls")),
    path("track/<str:tracking_code>/", track_page, name="track"),
    # A cut or mangled link still gets the customer's page, not a technical 404 (no slash: APPEND_SLASH first).
    re_path(r"^track/(?:.*/)?$", track_not_found),
    path("declined/<str:token>/", declined_work_page, name="declined-work"),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    # No /metrics here: Prometheus scrapes each process on METRICS_PORT, a port the ingress never
    # routes (oficina_common.metrics.serve_metrics, docs/security.md).
]

handler404 = "config.errors.not_found"
handler500 = "config.errors.server_error"
