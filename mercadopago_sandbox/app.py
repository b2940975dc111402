"""Flask application factory for the Mercado Pago sandbox."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from . import api, control, pages
from .config import SandboxConfig
from .errors import ApiError
from .notifier import Notifier, RetryPolicy
from .service import Sandbox
from .store import Store
from .web import EXTENSION_KEY


def create_app(config: SandboxConfig | Mapping[str, Any] | None = None) -> Flask:
    settings = SandboxConfig.coerce(config)
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION_KEY] = build_sandbox(settings)
    for module in (api, control, pages):
        app.register_blueprint(module.blueprint)
    app.add_url_rule("/healthz", "healthz", healthz)
    app.register_error_handler(ApiError, api_error)
    app.register_error_handler(HTTPException, http_error)
    return app


def build_sandbox(settings: SandboxConfig) -> Sandbox:
    store = Store(settings.data_file)
    policy = RetryPolicy(
        base_seconds=settings.retry_base_seconds,
        max_attempts=settings.max_attempts,
        timeout_seconds=settings.delivery_timeout_seconds,
    )
    notifier = Notifier(settings.webhook_secret, policy, store.record_attempt)
    return Sandbox(settings, store, notifier)


def healthz() -> Response:
    return jsonify({"status": "ok"})


def api_error(error: ApiError) -> tuple[Response, int]:
    return jsonify(error.to_dict()), error.status


def http_error(error: HTTPException) -> tuple[Response, int]:
    status = error.code or 500
    name = (error.name or "error").lower().replace(" ", "_")
    body = {"message": error.description or error.name, "error": name, "status": status, "cause": []}
    return jsonify(body), status
