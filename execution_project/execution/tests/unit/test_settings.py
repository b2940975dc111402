"""Production settings refuse to start with development values; the schema stays valid."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.core.management import call_command

from oficina_common.testing import production_jwt_environment

PROJECT = Path(__file__).resolve().parents[3]


def run_check(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if k not in {"SECRET_KEY", "JWT_PUBLIC_KEY", "JWT_PRIVATE_KEY", "DEBUG"}}
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=PROJECT, capture_output=True, text=True,
                          env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings_production", **env}, timeout=60)


def test_production_refuses_development_secrets_and_debug():
    refused = run_check()
    assert refused.returncode != 0
    assert "Refusing to start in production" in refused.stderr
    assert "SECRET_KEY" in refused.stderr and "JWT_PUBLIC_KEY" in refused.stderr
    debug = run_check(SECRET_KEY="s" * 50, DEBUG="true", **production_jwt_environment(signs_tokens=False))
    assert "DEBUG must be off" in debug.stderr


def test_production_starts_with_real_secrets():
    # Execution only verifies tokens: a real public key, and no private key.
    started = run_check(SECRET_KEY="s" * 50, ALLOWED_HOSTS="execution.example.com",
                        **production_jwt_environment(signs_tokens=False))
    assert started.returncode == 0, started.stderr


def test_the_openapi_schema_validates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert "/api/v1/work-queue/claim/" in (tmp_path / "schema.yaml").read_text()
