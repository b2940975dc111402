"""Assertions shared by the test modules."""

from __future__ import annotations

from typing import Any

import requests


def assert_mp_error(response: requests.Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"message", "error", "status", "cause"}
    assert body["status"] == status
    assert body["error"] == error
    assert isinstance(body["cause"], list)
    return body
