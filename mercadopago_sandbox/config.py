"""Runtime configuration of the sandbox, read from arguments or the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

DEFAULT_WEBHOOK_SECRET = "dev-webhook-secret"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8004

_TRUE_WORDS = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class SandboxConfig:
    webhook_secret: str = DEFAULT_WEBHOOK_SECRET
    data_file: str | None = None
    public_url: str | None = None
    default_notification_url: str | None = None
    notify_on_create: bool = True
    retry_base_seconds: float = 0.2
    max_attempts: int = 5
    delivery_timeout_seconds: float = 5.0
    collector_id: int = 1234567890

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SandboxConfig:
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            webhook_secret=env.get("MERCADOPAGO_WEBHOOK_SECRET") or defaults.webhook_secret,
            data_file=env.get("MERCADOPAGO_SANDBOX_DATA_FILE") or None,
            public_url=env.get("MERCADOPAGO_SANDBOX_PUBLIC_URL") or None,
            default_notification_url=env.get("MERCADOPAGO_SANDBOX_NOTIFICATION_URL") or None,
            notify_on_create=_env_bool(env, "MERCADOPAGO_SANDBOX_NOTIFY_ON_CREATE", True),
            retry_base_seconds=float(env.get("MERCADOPAGO_SANDBOX_RETRY_BASE_SECONDS", defaults.retry_base_seconds)),
            max_attempts=int(env.get("MERCADOPAGO_SANDBOX_MAX_ATTEMPTS", defaults.max_attempts)),
            delivery_timeout_seconds=float(
                env.get(
                    "MERCADOPAGO_SANDBOX_DELIVERY_TIMEOUT_SECONDS",
                    defaults.delivery_timeout_seconds,
                )
            ),
        )

    @classmethod
    def coerce(cls, value: SandboxConfig | Mapping[str, Any] | None) -> SandboxConfig:
        """Accept a config object, a plain mapping of field overrides, or nothing."""
        if value is None:
            return cls()
        if isinstance(value, SandboxConfig):
            return value
        known = {field.name for field in fields(cls)}
        unknown = set(value) - known
        if unknown:
            raise ValueError(f"unknown sandbox config keys: {sorted(unknown)}")
        return replace(cls(), **dict(value))


def _env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in _TRUE_WORDS
