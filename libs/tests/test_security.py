"""Secrets out of the logs; CSP and the usual headers on pages (oficina_common.security, access_log)."""
import logging
import re

import pytest
from rest_framework.test import APIClient

from oficina_common.security import RedactSecretsFilter, redact

TOKEN = "qZ3x-Jk8Tn0pLw2sVb7cRd4fGh6iKm9A"


@pytest.mark.parametrize("text, expected", [
    (f"GET /budgets/review/{TOKEN}/ HTTP/1.1", "GET /budgets/review/[redacted]/ HTTP/1.1"),
    (f"Not Found: /declined/{TOKEN}/", "Not Found: /declined/[redacted]/"),
    (f"/track/{TOKEN}/?x=1", "/track/[redacted]/?x=1"),
    (f"/api/v1/tracking/{TOKEN}/", "/api/v1/tracking/[redacted]/"),
    (f"https://billing.example.com/budgets/review/{TOKEN}", "https://billing.example.com/budgets/review/[redacted]"),
    (f"/pay/?token={TOKEN}&page=2", "/pay/?token=[redacted]&page=2"),
    (f"/budgets/b-1/v1/payment/status/?t={TOKEN}", "/budgets/b-1/v1/payment/status/?t=[redacted]"),
    ("/api/v1/webhooks/mercadopago/?data.id=1&type=payment", "/api/v1/webhooks/mercadopago/?data.id=1&type=payment"),
    ("/api/v1/service-orders/42/", "/api/v1/service-orders/42/"),
])
def test_credentials_in_urls_are_redacted(text, expected):
    assert redact(text) == expected


def test_a_log_record_naming_a_link_is_written_without_its_token():
    record = logging.LogRecord("django.request", logging.WARNING, __file__, 1, "Not Found: %s", (
        f"/budgets/review/{TOKEN}/",), None)
    assert RedactSecretsFilter().filter(record)
    assert record.getMessage() == "Not Found: /budgets/review/[redacted]/"


def test_the_services_logging_redacts_and_writes_each_record_once(capsys, settings):
    """As in a service: Django's default logging first (its DEBUG console included), then LOGGING."""
    import logging.config

    from django.utils.log import DEFAULT_LOGGING

    from oficina_common.correlation import logging_config

    settings.DEBUG = True
    try:
        logging.config.dictConfig(DEFAULT_LOGGING)
        logging.config.dictConfig(logging_config("libs", json=False))
        logging.getLogger("django.request").warning("Not Found: %s", f"/track/{TOKEN}/")
        logging.getLogger("django.server").warning('"GET /budgets/review/%s/ HTTP/1.1" 404 12', TOKEN)
        err = capsys.readouterr().err
    finally:
        logging.config.dictConfig(logging_config("libs", json=True))
    assert TOKEN not in err
    assert err.count("Not Found: /track/[redacted]/") == 1
    assert err.count("GET /budgets/review/[redacted]/") == 1


def test_gunicorns_access_log_line_has_no_token():
    from gunicorn.config import Config

    from oficina_common.access_log import RedactingLogger

    class Request:
        method, path, query, version = "GET", f"/budgets/review/{TOKEN}/", f"token={TOKEN}", (1, 1)
        uri = f"/budgets/review/{TOKEN}/?token={TOKEN}"
        headers = [("REFERER", f"https://billing.example.com/budgets/review/{TOKEN}/")]

    class Response:
        status, status_code, sent, headers = "200 OK", 200, 10, []

    environ = {"REQUEST_METHOD": "GET", "RAW_URI": Request.uri, "PATH_INFO": Request.path,
               "QUERY_STRING": Request.query, "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "10.0.0.1",
               "HTTP_REFERER": Request.headers[0][1]}
    import datetime

    atoms = RedactingLogger(Config()).atoms(Response(), Request(), environ, datetime.timedelta(seconds=0.1))
    line = Config().access_log_format % atoms
    assert TOKEN not in line and "/budgets/review/[redacted]/" in line


@pytest.fixture
def client():
    return APIClient(raise_request_exception=False)


def test_a_page_gets_a_csp_whose_nonce_its_inline_script_carries(client):
    response = client.get(f"/budgets/review/{TOKEN}/")
    policy = response["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
    assert f'<script nonce="{nonce}">' in response.content.decode()
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    assert response["Referrer-Policy"] == "no-referrer"  # the URL is the credential
    assert response["X-Frame-Options"] == "DENY" and response["X-Content-Type-Options"] == "nosniff"
    assert "camera=()" in response["Permissions-Policy"]
    assert response["Cache-Control"] == "no-store"
    second = client.get(f"/budgets/review/{TOKEN}/")["Content-Security-Policy"]
    assert second != policy  # a fresh nonce each time


def test_json_answers_are_not_sniffed_nor_framed(client):
    response = client.get("/whoami/")
    assert response["X-Content-Type-Options"] == "nosniff" and response["X-Frame-Options"] == "DENY"
    assert "Content-Security-Policy" not in response
