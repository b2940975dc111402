"""GET /metrics: Prometheus' scrape of the Billing web process."""
from oficina_common.testing import scraped_request_counts


def test_metrics_show_request_latency_by_url_pattern_not_by_budget_id(client):
    client.get("/api/v1/budgets/b-123/")  # no token: 401, still timed
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    counts = scraped_request_counts(response.content.decode(), "billing")
    assert counts[("/api/v1/budgets/<str:budget_id>/", "GET", "401")] >= 1
    assert not any("b-123" in route for route, _method, _status in counts)
