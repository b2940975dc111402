import importlib
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test import override_settings

from oficina_common.testing import production_jwt_environment


def test_healthz_answers_without_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert response["X-Correlation-ID"]


def test_the_correlation_id_of_a_request_is_echoed(client):
    assert client.get("/healthz", HTTP_X_CORRELATION_ID="saga-123")["X-Correlation-ID"] == "saga-123"


@pytest.mark.django_db
def test_readyz_checks_the_database_and_the_broker(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


@pytest.mark.django_db
def test_readyz_is_503_when_the_broker_is_unreachable(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable",
                               "checks": {"database": "ok", "broker": "unavailable: OperationalError"}}


def test_the_probes_answer_only_get():
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)  # as a browser's POST would meet it
    assert strict.post("/readyz").status_code == 405 and strict.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_readyz_is_503_when_the_database_is_unreachable(client, monkeypatch):
    from django.db import OperationalError, connection

    def refused():
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", refused)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "unavailable: OperationalError", "broker": "ok"}


@override_settings(DEBUG=False)
def test_an_unknown_api_url_is_a_json_404(client):
    response = client.get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "code": "not_found", "extra": {}}
    assert client.get("/nothing-here/").status_code == 404


def test_the_json_error_pages_cover_crashes(rf):
    from config.errors import not_found, server_error

    assert server_error(rf.get("/api/v1/x/")).status_code == 500
    assert b"internal_error" in server_error(rf.get("/api/v1/x/")).content
    assert server_error(rf.get("/x/")).status_code == 500
    assert not_found(rf.get("/x/"), None).status_code == 404


@pytest.mark.django_db
def test_the_schema_and_swagger_ui_are_served(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200 and b"/api/v1/service-orders/" in schema.content
    assert client.get("/api/docs/").status_code == 200


def test_the_schema_validates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert "jwtAuth" in (tmp_path / "schema.yaml").read_text()


def _load_production(monkeypatch, **env):
    for name in ("DEBUG", "SECRET_KEY", "JWT_PRIVATE_KEY", "JWT_PUBLIC_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # Production reads the environment when its process starts: import both modules afresh.
    monkeypatch.delitem(sys.modules, "config.settings_production", raising=False)
    monkeypatch.delitem(sys.modules, "config.settings")
    return importlib.import_module("config.settings_production")


def test_production_refuses_development_secrets(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY must be set.*JWT_PUBLIC_KEY is the development key"):
        _load_production(monkeypatch)


def test_production_refuses_a_private_key_that_is_not_the_public_keys_pair(monkeypatch):
    keys = production_jwt_environment(signs_tokens=True)
    with pytest.raises(ImproperlyConfigured, match="JWT_PRIVATE_KEY is the development key"):
        _load_production(monkeypatch, SECRET_KEY="s" * 50, JWT_PUBLIC_KEY=keys["JWT_PUBLIC_KEY"])


def test_production_refuses_debug(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="DEBUG must be off"):
        _load_production(monkeypatch, DEBUG="true", SECRET_KEY="s" * 50,
                         **production_jwt_environment(signs_tokens=True))


def test_production_with_real_secrets_is_hardened(monkeypatch):
    production = _load_production(monkeypatch, SECRET_KEY="s" * 50, **production_jwt_environment(signs_tokens=True),
                                  ALLOWED_HOSTS="os.example.com")
    assert production.DEBUG is False
    assert production.SECURE_SSL_REDIRECT and production.SESSION_COOKIE_SECURE and production.CSRF_COOKIE_SECURE
    assert production.SECURE_HSTS_SECONDS > 0
    assert production.ALLOWED_HOSTS == ["os.example.com"]
    assert production.EMAIL_BACKEND == "django.core.mail.backends.smtp.EmailBackend"
    assert production.DJANGO_ENV == "production"
