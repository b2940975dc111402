"""Prometheus' scrape of the Billing web process: on METRICS_PORT (gunicorn's master), never on the service's port."""
from oficina_common.metrics import metrics_text
from oficina_common.testing import scraped_request_counts


def test_metrics_show_request_latency_by_url_pattern_not_by_budget_id(client):
    client.get("/api/v1/budgets/b-123/")  # no token: 401, still timed
    counts = scraped_request_counts(metrics_text(), "billing")
    assert counts[("/api/v1/budgets/<str:budget_id>/", "GET", "401")] >= 1
    assert not any("b-123" in route for route, _method, _status in counts)


def test_the_service_port_serves_no_metrics(client):
    assert client.get("/metrics").status_code == 404
