"""Errors rendered in Mercado Pago's error shape: {message, error, status, cause}."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        causes: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.causes = causes or []

    def to_dict(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "error": self.error,
            "status": self.status,
            "cause": self.causes,
        }


def bad_request(message: str, code: int = 4000) -> ApiError:
    return ApiError(400, "bad_request", message, [{"code": code, "description": message}])


def not_found(message: str, code: int = 2000) -> ApiError:
    return ApiError(404, "not_found", message, [{"code": code, "description": message}])


def unauthorized() -> ApiError:
    return ApiError(401, "unauthorized", "invalid access token")
