"""GET /metrics: Prometheus' scrape of the Execution web process."""
from rest_framework.test import APIClient

from oficina_common.testing import scraped_request_counts


def test_metrics_show_request_latency_by_url_pattern_not_by_execution_id():
    client = APIClient()
    client.get("/api/v1/executions/e-123/")  # no token: 401, still timed
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    counts = scraped_request_counts(response.content.decode(), "execution")
    assert counts[("/api/v1/executions/<str:execution_id>/", "GET", "401")] >= 1
    assert not any("e-123" in route for route, _method, _status in counts)
