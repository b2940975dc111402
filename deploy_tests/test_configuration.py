"""Configuration: every variable a service reads is set by the deployment, nothing set is unread,
and the Secret templates hold placeholders only."""
from __future__ import annotations

import math
import re
from collections import Counter

import pytest
import yaml

from deploylib import (
    K8S,
    NOT_DEPLOYED,
    OVERLAYS,
    READ_BY_LIBRARIES,
    SERVICES,
    container_environment,
    dockerfile,
    env_of,
    one,
    pod_containers,
    secret_templates,
    service_variables,
)
from oficina_common.django_settings import DEV_SECRET_KEY, DEV_WEBHOOK_SECRET, jwt_key_problems

# Values the production settings refuse (oficina_common.django_settings.refuse_unsafe_production,
# accounts.services.admin_ensure): a template left as it is cannot run.
REFUSED_PLACEHOLDERS = {
    "SECRET_KEY": DEV_SECRET_KEY,
    "MERCADOPAGO_WEBHOOK_SECRET": DEV_WEBHOOK_SECRET,
    "ADMIN_PASSWORD": "admin",
}


def deployed_names(objects, service: str) -> dict[str, set[str]]:
    """Per container of the service's pods: the variable names it gets (image ENV included)."""
    image = set(env_of(dockerfile("service.Dockerfile"), {"SERVICE": service}))
    names = {}
    for obj in objects:
        if obj["kind"] not in ("Deployment", "Job"):
            continue
        for container in pod_containers(obj):
            if container["image"].rsplit("/", 1)[-1].split(":")[0] != service:
                continue
            env = container_environment(objects, container, secret_templates())
            names[f"{obj['metadata']['name']}/{container['name']}"] = image | set(env)
    return names


def test_the_scan_finds_what_the_services_obviously_read() -> None:
    """Guards the scanner itself: a regex that matched nothing would pass every test below."""
    assert {"SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "ADMIN_PASSWORD"} <= set(service_variables("os"))
    assert {"MERCADOPAGO_WEBHOOK_SECRET", "DYNAMODB_TABLE_PREFIX"} <= set(service_variables("billing"))
    assert {"CELERY_VISIBILITY_TIMEOUT", "AWS_REGION"} <= set(service_variables("execution"))


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_every_variable_a_service_reads_is_set_in_its_pods(rendered, overlay: str, service: str) -> None:
    wanted = {name: files for name, files in service_variables(service).items() if name not in NOT_DEPLOYED}
    containers = deployed_names(rendered[overlay], service)
    assert len(containers) == 4, f"web, worker, beat and the init Job's container: {sorted(containers)}"
    for where, names in containers.items():
        missing = {name: wanted[name] for name in sorted(set(wanted) - names)}
        assert not missing, (
            f"{where} does not set {sorted(missing)} (read in {missing}): add them to "
            f"k8s/base/{service}/configmap.yaml, k8s/base/common-config.yaml or the Secret template"
        )


def test_every_variable_set_is_read_by_someone() -> None:
    """A key nobody reads is a typo or a leftover, and the value an operator edits does nothing."""
    read = {service: set(service_variables(service)) | set(READ_BY_LIBRARIES) for service in SERVICES}
    common = yaml.safe_load((K8S / "base" / "common-config.yaml").read_text())["data"]
    unread = sorted(k for k in common if not any(k in names for names in read.values()))
    assert not unread, f"oficina-common sets {unread}, read by no service"
    for service in SERVICES:
        own = set(yaml.safe_load((K8S / "base" / service / "configmap.yaml").read_text())["data"])
        own |= set(secret_templates()[f"{service}-secrets"])
        unread = sorted(own - read[service])
        assert not unread, f"{service}-config / {service}-secrets set {unread}, which {service} never reads"


def test_overlays_only_change_keys_the_base_has() -> None:
    base = {doc["metadata"]["name"]: set(doc["data"]) for path in [K8S / "base" / "common-config.yaml",
            *[K8S / "base" / s / "configmap.yaml" for s in SERVICES]]
            for doc in [yaml.safe_load(path.read_text())]}
    for overlay in OVERLAYS:
        for doc in yaml.safe_load_all((K8S / "overlays" / overlay / "config.yaml").read_text()):
            if doc["metadata"]["name"] in base:
                extra = set(doc["data"]) - base[doc["metadata"]["name"]]
                assert not extra, f"{overlay} adds {sorted(extra)} to {doc['metadata']['name']} (a typo?)"


def entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def test_secret_templates_hold_placeholders_only() -> None:
    templates = secret_templates()
    assert set(templates) == {f"{s}-secrets" for s in SERVICES}
    for name, data in templates.items():
        for key, value in data.items():
            if key in {"JWT_PRIVATE_KEY", "JWT_PUBLIC_KEY"}:
                assert "CHANGE_ME" in value and jwt_key_problems(public_key=value), f"{name}.{key}: no key"
                continue
            if key in REFUSED_PLACEHOLDERS:
                assert value == REFUSED_PLACEHOLDERS[key], f"{name}.{key} must be the value production refuses"
                continue
            assert "CHANGE_ME" in value, f"{name}.{key} = {value!r} is not an obvious placeholder"
            without_placeholders = re.sub(r"CHANGE_ME|[a-z0-9.-]*amazonaws\.com|postgres://|rediss?://", "", value)
            for chunk in re.findall(r"[A-Za-z0-9+/_=-]{16,}", without_placeholders):
                assert entropy(chunk) < 3.5, f"{name}.{key} holds something that looks like a real secret"


def test_the_public_key_is_in_every_service_and_the_private_key_in_the_os_alone(rendered) -> None:
    templates = secret_templates()
    assert len({data["JWT_PUBLIC_KEY"] for data in templates.values()}) == 1, "one pair: the OS's"
    assert [name for name, data in templates.items() if "JWT_PRIVATE_KEY" in data] == ["os-secrets"]
    for overlay in OVERLAYS:
        for service in SERVICES:
            for where, names in deployed_names(rendered[overlay], service).items():
                assert "JWT_PUBLIC_KEY" in names, f"{overlay}: {where} cannot verify tokens"
                assert ("JWT_PRIVATE_KEY" in names) == (service == "os"), (
                    f"{overlay}: {where} {'lacks' if service == 'os' else 'holds'} the private key")


def test_no_secret_value_sits_in_a_configmap(rendered) -> None:
    secret_keys = {key for data in secret_templates().values() for key in data}
    for overlay in OVERLAYS:
        for obj in rendered[overlay]:
            if obj["kind"] == "ConfigMap":
                leaked = secret_keys & set(obj.get("data", {}))
                assert not leaked, f"{overlay}: {obj['metadata']['name']} holds {sorted(leaked)}"


def test_webhook_secret_of_the_sandbox_is_billings(rendered) -> None:
    sandbox = one(rendered["staging"], "Deployment", "mercadopago-sandbox")
    var = next(v for v in pod_containers(sandbox)[0]["env"] if v["name"] == "MERCADOPAGO_WEBHOOK_SECRET")
    assert var["valueFrom"]["secretKeyRef"] == {"name": "billing-secrets", "key": "MERCADOPAGO_WEBHOOK_SECRET"}
