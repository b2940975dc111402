"""Mercado Pago webhook signatures (the ``x-signature`` header)."""

from __future__ import annotations

import hashlib
import hmac


def build_manifest(data_id: str, request_id: str, ts: str | int) -> str:
    return f"id:{str(data_id).lower()};request-id:{request_id};ts:{ts};"


def sign_notification(secret: str, data_id: str, request_id: str, ts: str | int) -> str:
    """Return the hex ``v1`` signature Mercado Pago puts in ``x-signature``.

    v1 = HMAC-SHA256(key=secret, msg=manifest), hex encoded, where the manifest is
    ``id:{data.id lower-cased};request-id:{x-request-id};ts:{ts};`` — ``data.id``
    is the resource id sent in the notification URL's query string, ``x-request-id``
    is the request header of the same name and ``ts`` is the timestamp that
    ``x-signature`` carries (``ts={ts},v1={hex}``).
    """
    manifest = build_manifest(data_id, request_id, ts)
    return hmac.new(secret.encode(), manifest.encode(), hashlib.sha256).hexdigest()


def signature_header(secret: str, data_id: str, request_id: str, ts: str | int) -> str:
    return f"ts={ts},v1={sign_notification(secret, data_id, request_id, ts)}"


def parse_signature_header(header: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for chunk in header.split(","):
        key, sep, value = chunk.partition("=")
        if sep:
            parts[key.strip().lower()] = value.strip()
    return parts


def verify_signature(secret: str, header: str, data_id: str, request_id: str) -> bool:
    parts = parse_signature_header(header or "")
    ts, received = parts.get("ts"), parts.get("v1")
    if not ts or not received:
        return False
    expected = sign_notification(secret, data_id, request_id, ts)
    return hmac.compare_digest(expected, received)
