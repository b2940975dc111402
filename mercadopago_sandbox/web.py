"""Request helpers shared by the blueprints."""

from __future__ import annotations

from typing import Any

from flask import current_app, redirect, request
from werkzeug.wrappers import Response

from .errors import bad_request
from .service import Sandbox

EXTENSION_KEY = "mercadopago_sandbox"


def current_sandbox() -> Sandbox:
    return current_app.extensions[EXTENSION_KEY]


def base_url() -> str:
    configured = current_sandbox().config.public_url
    return (configured or request.host_url).rstrip("/")


def json_body() -> Any:
    """The parsed JSON body, ``None`` when empty; malformed JSON is a 400."""
    if not request.get_data():
        return None
    body = request.get_json(force=True, silent=True)
    if body is None:
        raise bad_request("the request body is not valid JSON")
    return body


def is_form_post() -> bool:
    return request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data")


def redirect_back(default: str) -> Response:
    target = request.form.get("next") or default
    if not target.startswith("/") or target.startswith("//"):
        target = default
    return redirect(target, code=303)
