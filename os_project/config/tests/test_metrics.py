"""GET /metrics: Prometheus' scrape of the OS web process."""
from oficina_common.testing import scraped_request_counts


def test_metrics_show_request_latency_by_url_pattern_not_by_order_id(client):
    client.get("/api/v1/service-orders/OS-2026-000123/")  # no token: 401, still timed
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    counts = scraped_request_counts(response.content.decode(), "os")
    assert counts[("/api/v1/service-orders/<str:service_order_id>/", "GET", "401")] >= 1
    assert not any("OS-2026-000123" in route for route, _method, _status in counts)
