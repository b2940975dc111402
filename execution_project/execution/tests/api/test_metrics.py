"""GET /metrics: Prometheus' scrape of the Execution web process."""
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient


def request_counts(body: str) -> dict[tuple[str, str, str], float]:
    return {(s.labels["route"], s.labels["method"], s.labels["status"]): s.value
            for family in text_string_to_metric_families(body) for s in family.samples
            if s.name == "oficina_http_request_duration_seconds_count" and s.labels["service"] == "execution"}


def test_metrics_show_request_latency_by_url_pattern_not_by_execution_id():
    client = APIClient()
    client.get("/api/v1/executions/e-123/")  # no token: 401, still timed
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    counts = request_counts(response.content.decode())
    assert counts[("/api/v1/executions/<str:execution_id>/", "GET", "401")] >= 1
    assert not any("e-123" in route for route, _method, _status in counts)
