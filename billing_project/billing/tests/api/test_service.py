"""Health, readiness, the OpenAPI schema and the production settings."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from billing.tests.support import NOBODY
from oficina_common.testing import production_jwt_environment

PROJECT = Path(__file__).resolve().parents[3]


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_when_dynamodb_and_the_broker_answer(client, dynamo):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"dynamodb": "ok", "broker": "ok"}}


def test_readyz_is_503_when_dynamodb_is_missing(client, dynamo, settings):
    settings.DYNAMODB_TABLE_PREFIX = "no_such_tables_"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"dynamodb": "unavailable: ResourceNotFoundException", "broker": "ok"}


def test_readyz_is_503_when_the_broker_is_down(client, dynamo, settings):
    settings.CELERY_BROKER_URL = NOBODY.replace("http", "redis")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable",
                               "checks": {"dynamodb": "ok", "broker": "unavailable: OperationalError"}}


def test_the_schema_validates_without_warnings(tmp_path):
    target = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = target.read_text()
    for path in ("/api/v1/budgets/{budget_id}/approve/", "/api/v1/payments/{payment_id}/",
                 "/api/v1/webhooks/mercadopago/", "/api/v1/budgets/{budget_id}/revisions/"):
        assert path in schema


def test_every_endpoint_shows_request_and_response_examples(tmp_path):
    import yaml

    target = tmp_path / "schema.yml"
    call_command("spectacular", "--file", str(target))
    paths = yaml.safe_load(target.read_text())["paths"]
    assert not any(path.startswith("/budgets/") for path in paths)  # the customer's pages are no API
    for path, operations in paths.items():
        for method, operation in operations.items():
            success = next(r for code, r in operation["responses"].items() if code.startswith("2"))
            assert success["content"]["application/json"]["examples"], f"{method} {path}: no response example"
            if "requestBody" in operation:
                assert operation["requestBody"]["content"]["application/json"]["examples"], \
                    f"{method} {path}: no request example"
            for code in ("401", "404", "409"):
                if code in operation["responses"]:
                    assert operation["responses"][code]["content"]["application/json"]["examples"], \
                        f"{method} {path}: no {code} example"


def test_swagger_ui_and_schema_are_served(client):
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    # Swagger UI's own files come from Billing (drf-spectacular-sidecar), never from a CDN.
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in docs.content.decode()
    assert "cdn.jsdelivr" not in docs.content.decode()
    from django.contrib.staticfiles import finders

    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert client.get("/api/schema/").status_code == 200


def _start_production(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("DEBUG", "SECRET_KEY", "JWT_SIGNING_KEY", "MERCADOPAGO_WEBHOOK_SECRET")}
    script = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT, env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings_production", **env},
        capture_output=True, text=True, timeout=60)


def test_production_refuses_development_secrets_and_a_missing_webhook_secret():
    result = _start_production()
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
    assert "MERCADOPAGO_WEBHOOK_SECRET must be set" in result.stderr
    debug = _start_production(DEBUG="1", SECRET_KEY="s" * 50, MERCADOPAGO_WEBHOOK_SECRET="w" * 30,
                              **production_jwt_environment(signs_tokens=False))
    assert debug.returncode != 0 and "DEBUG must be off" in debug.stderr


def test_production_starts_with_real_secrets():
    # Billing only verifies tokens: a real public key, and no private key.
    result = _start_production(SECRET_KEY="s" * 50, MERCADOPAGO_WEBHOOK_SECRET="w" * 30,
                               **production_jwt_environment(signs_tokens=False))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_create_tables_says_when_dynamodb_does_not_answer(settings):
    settings.DYNAMODB_ENDPOINT_URL = "http://127.0.0.1:9"
    with pytest.raises(CommandError, match="did not answer"):
        call_command("create_tables")
