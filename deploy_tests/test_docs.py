"""docs/deploy.md stays true to the files: what it names exists, what it runs is what they run."""
from __future__ import annotations

import re

from deploylib import K8S, ROOT, SERVICES, compose, dockerfile, final_stage

DOC = (ROOT / "docs" / "deploy.md").read_text()


def test_every_repository_path_it_names_exists() -> None:
    paths = set(re.findall(r"`((?:docker|k8s|deploy_tests|docs)/[\w./<>*-]+)`", DOC))
    assert len(paths) > 10
    for path in paths:
        if "<" in path:
            for service in SERVICES:
                assert (ROOT / path.replace("<service>", service).replace("<env>", "production")).exists(), path
        elif "*" in path:
            assert list(ROOT.glob(path)), path
        else:
            assert (ROOT / path).exists(), path


def test_the_commands_it_shows_are_the_ones_the_images_run() -> None:
    cmd = " ".join([i for i in final_stage(dockerfile("service.Dockerfile")) if i.keyword == "CMD"][-1].exec_form())
    assert cmd in DOC
    assert "celery -A config worker -Q <service> --hostname <service>@%h --concurrency 2" in DOC
    assert "celery -A config beat --schedule /tmp/celerybeat-schedule" in DOC
    for overlay in ("staging", "production"):
        assert (K8S / "overlays" / overlay / "kustomization.yaml").exists()
    assert "kubectl apply -k k8s/overlays/production" in DOC
    assert "docker compose -f docker/compose.yaml up --build" in DOC and compose()["services"]


TABLE_MODULES = (ROOT / "billing_project" / "billing" / "tables.py",
                 ROOT / "execution_project" / "execution" / "tables.py")


def table_names(path) -> list[str]:
    return re.findall(r'name="(\w+)"', path.read_text())


def test_it_names_every_table_the_services_create() -> None:
    for path in TABLE_MODULES:
        names = table_names(path)
        assert names, path
        for name in names:
            assert f"`{name}`" in DOC, f"docs/deploy.md does not list the table {name} (IAM policies name them)"


def test_it_lists_and_grants_only_tables_the_services_create() -> None:
    """A table the code no longer creates leaves the docs too: the list and the IAM policies' ARNs."""
    created = {name for path in TABLE_MODULES for name in table_names(path)}
    listed = {name for line in DOC.splitlines() if re.match(r"- (Billing|Execution): `", line)
              for name in re.findall(r"`(\w+)`", line)}
    granted = set(re.findall(r"table/oficina_(\w+)", DOC))
    assert listed and granted, "docs/deploy.md: no table list or no table ARNs found"
    assert listed <= created, f"docs/deploy.md lists tables nobody creates: {sorted(listed - created)}"
    assert granted <= created, f"docs/deploy.md grants tables nobody creates: {sorted(granted - created)}"


def test_the_webhook_url_it_gives_is_the_one_billing_builds() -> None:
    services = (ROOT / "billing_project" / "billing" / "services.py").read_text()
    assert "/api/v1/webhooks/mercadopago/" in services
    assert "MERCADOPAGO_NOTIFICATION_BASE_URL + /api/v1/webhooks/mercadopago/" in DOC
