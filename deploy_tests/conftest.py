from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import pytest

from deploylib import K8S, OVERLAYS, ROOT, documents, run, secret_templates, tool


def render(directory: Path) -> list[dict[str, Any]]:
    result = run([tool("kubectl"), "kustomize", str(directory)])
    assert result.returncode == 0, f"kustomize could not render {directory}:\n{result.stderr}"
    return documents(result.stdout)


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Every overlay rendered by kustomize, plus production with the SQS-broker component."""
    out = {name: render(K8S / "overlays" / name) for name in OVERLAYS}
    sqs = tmp_path_factory.mktemp("production-sqs")
    (sqs / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources:\n  - {os.path.relpath(K8S / 'overlays' / 'production', sqs)}\n"
        f"components:\n  - {os.path.relpath(K8S / 'components' / 'sqs-broker', sqs)}\n"
    )
    out["production+sqs"] = render(sqs)
    return out


@pytest.fixture(scope="session")
def real_looking_secrets() -> dict[str, dict[str, str]]:
    """The Secret templates with every value replaced, as an operator fills them in."""
    from oficina_common.testing import production_jwt_environment

    filled = {}
    keys = production_jwt_environment(signs_tokens=True)  # one RSA pair: the OS signs, all verify
    for name, data in secret_templates().items():
        filled[name] = {key: keys.get(key) or f"test-{secrets.token_urlsafe(48)}" for key in data}
        if "DATABASE_URL" in data:
            filled[name]["DATABASE_URL"] = "postgres://oficina_os:pw@db.invalid:5432/oficina_os"
        if "CELERY_BROKER_URL" in data:
            filled[name]["CELERY_BROKER_URL"] = "redis://broker.invalid:6379/0"
    return filled


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
