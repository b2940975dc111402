"""Prometheus' scrape of the Execution web process: on METRICS_PORT, never on the service's port."""
from rest_framework.test import APIClient

from oficina_common.metrics import metrics_text
from oficina_common.testing import scraped_request_counts


def test_metrics_show_request_latency_by_url_pattern_not_by_execution_id():
    client = APIClient()
    client.get("/api/v1/executions/e-123/")  # no token: 401, still timed
    counts = scraped_request_counts(metrics_text(), "execution")
    assert counts[("/api/v1/executions/<str:execution_id>/", "GET", "401")] >= 1
    assert not any("e-123" in route for route, _method, _status in counts)


def test_the_service_port_serves_no_metrics():
    assert APIClient().get("/metrics").status_code == 404
