"""The Kubernetes manifests, as kustomize renders each overlay (kubectl kustomize, kustomize v5)."""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

import jsonschema
import kubernetes_validate
import pytest
import yaml

import keda_schemas
from deploylib import K8S, SERVICES, find, one, pod_containers, secret_templates

RENDERS = ("staging", "production", "production+sqs")
# The oldest Kubernetes minor still supported on EKS when this was written, and the newest bundled.
KUBERNETES_VERSIONS = ("1.31.0", kubernetes_validate.latest_version())
WORKLOAD_KINDS = ("Deployment", "Job")


def workloads(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] in WORKLOAD_KINDS]


def component(obj: dict[str, Any]) -> str:
    return obj["metadata"]["labels"].get("app.kubernetes.io/component", "")


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("render", RENDERS)
def test_every_object_is_valid_against_the_kubernetes_schemas(rendered, render: str, version: str) -> None:
    errors = []
    for obj in rendered[render]:
        try:
            if keda_schemas.is_keda(obj):  # KEDA's own kinds: schemas of its specification
                keda_schemas.validate(obj)
            else:
                kubernetes_validate.validate(obj, version, strict=True)
        except (kubernetes_validate.ValidationError, jsonschema.ValidationError) as exc:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message} at {list(exc.path)}")
    assert not errors, "\n".join(errors)


def test_the_keda_schemas_reject_a_mistyped_scaler() -> None:
    scaler = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "x"},
              "spec": {"scaleTargetRef": {"name": "x"},
                       "triggers": [{"type": "redis", "metadata": {"listName": "os", "listLenght": "20"}}]}}
    with pytest.raises(jsonschema.ValidationError):
        keda_schemas.validate(scaler)


def test_the_validator_rejects_a_mistyped_manifest() -> None:
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
                  "spec": {"selector": {"matchLabels": {"a": "b"}}, "replicas": "two",
                           "template": {"metadata": {"labels": {"a": "b"}},
                                        "spec": {"containers": [{"name": "x", "image": "x", "livenesProbe": {}}]}}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)


def test_secret_templates_are_valid_secrets() -> None:
    for path in (K8S / "secrets").glob("*.example.yaml"):
        kubernetes_validate.validate(yaml.safe_load(path.read_text()), KUBERNETES_VERSIONS[-1], strict=True)


@pytest.mark.parametrize("render", RENDERS)
def test_every_container_has_requests_and_limits(rendered, render: str) -> None:
    for obj in workloads(rendered[render]):
        for container in pod_containers(obj):
            resources = container.get("resources", {})
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(kind, {})), \
                    f"{obj['metadata']['name']}/{container['name']} has no {kind}"


@pytest.mark.parametrize("render", RENDERS)
def test_every_pod_is_locked_down(rendered, render: str) -> None:
    """runAsNonRoot, read-only root with a /tmp emptyDir, no privilege escalation, no capabilities:
    the "restricted" Pod Security Standard, which the namespaces enforce."""
    for obj in workloads(rendered[render]):
        name = obj["metadata"]["name"]
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod.get("automountServiceAccountToken") is False, f"{name} mounts a Kubernetes API token it never uses"
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for container in pod_containers(obj):
            where = f"{name}/{container['name']}"
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            tmp = [m for m in container.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
            assert tmp and "emptyDir" in volumes[tmp[0]["name"]], f"{where} has no writable /tmp"
    for namespace in find(rendered[render], "Namespace"):
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("render", RENDERS)
def test_web_pods_are_probed_on_healthz_and_readyz(rendered, render: str) -> None:
    for obj in find(rendered[render], "Deployment"):
        if component(obj) != "web":
            continue
        container = pod_containers(obj)[0]
        ports = {p["name"] for p in container["ports"]}
        liveness, readiness = container["livenessProbe"]["httpGet"], container["readinessProbe"]["httpGet"]
        expected_ready = "/healthz" if obj["metadata"]["name"] == "mercadopago-sandbox" else "/readyz"
        assert liveness["path"] == "/healthz" and readiness["path"] == expected_ready, obj["metadata"]["name"]
        assert liveness["port"] in ports and readiness["port"] in ports


def test_workers_are_pinged_on_redis_and_not_on_sqs(rendered) -> None:
    for render in ("staging", "production"):
        for service in SERVICES:
            probe = pod_containers(one(rendered[render], "Deployment", f"{service}-worker"))[0]["livenessProbe"]
            assert f"--destination {service}@$HOSTNAME" in probe["exec"]["command"][-1]
    for service in SERVICES:
        container = pod_containers(one(rendered["production+sqs"], "Deployment", f"{service}-worker"))[0]
        assert "livenessProbe" not in container, "SQS has no remote control: the ping would kill healthy workers"


@pytest.mark.parametrize("render", RENDERS)
def test_commands_are_the_entry_points_manage_all_sh_uses(rendered, render: str) -> None:
    objects = rendered[render]
    for service in SERVICES:
        web = pod_containers(one(objects, "Deployment", f"{service}-web"))[0]["command"]
        worker = pod_containers(one(objects, "Deployment", f"{service}-worker"))[0]["command"]
        beat = pod_containers(one(objects, "Deployment", f"{service}-beat"))[0]["command"]
        assert web[:2] == ["gunicorn", "config.wsgi:application"]
        assert worker[:6] == ["celery", "-A", "config", "worker", "-Q", service]
        assert worker[worker.index("--hostname") + 1] == f"{service}@%h"
        assert beat[:4] == ["celery", "-A", "config", "beat"]
        assert beat[beat.index("--schedule") + 1].startswith("/tmp/"), "the only writable place"
    init = {c["name"]: " ".join(c["command"]) for c in pod_containers(one(objects, "Job", "oficina-init"))}
    assert "manage.py migrate --noinput" in init["os-migrate"] and "manage.py ensure_admin" in init["os-migrate"]
    assert "manage.py create_tables" in init["billing-create-tables"]
    assert "manage.py create_tables" in init["execution-create-tables"]


@pytest.mark.parametrize("render", RENDERS)
def test_each_pod_runs_its_own_services_image(rendered, render: str) -> None:
    for obj in workloads(rendered[render]):
        for container in pod_containers(obj):
            name = obj["metadata"]["labels"]["app.kubernetes.io/name"]
            owner = name if name in SERVICES + ("mercadopago-sandbox",) else container["name"].split("-")[0]
            image = container["image"]
            assert re.search(rf"/oficina/{re.escape(owner)}:[\w.-]+$", image), \
                f"{obj['metadata']['name']}/{container['name']} runs {image}"
            assert not image.endswith(":latest"), "a release names an immutable tag"


@pytest.mark.parametrize("render", RENDERS)
def test_exactly_one_beat_per_service(rendered, render: str) -> None:
    objects = rendered[render]
    for service in SERVICES:
        beat = one(objects, "Deployment", f"{service}-beat")
        assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"]["type"] == "Recreate"
        targets = {name for name, _ in autoscaled(objects)}
        assert f"{service}-beat" not in targets, "an autoscaled beat would send every periodic task twice"


def autoscaled(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(the Deployment's name, its autoscaler): HPAs, and KEDA's ScaledObjects (KEDA makes their HPA)."""
    return [(o["spec"]["scaleTargetRef"]["name"], o) for o in objects
            if o["kind"] in ("HorizontalPodAutoscaler", "ScaledObject")]


@pytest.mark.parametrize("render", RENDERS)
def test_autoscalers_own_the_replicas_of_web_and_workers(rendered, render: str) -> None:
    objects = rendered[render]
    targets = [name for name, _ in autoscaled(objects)]
    assert len(targets) == len(set(targets)), "two autoscalers on one Deployment fight over its replicas"
    for name, scaler in autoscaled(objects):
        target = one(objects, "Deployment", name)
        assert "replicas" not in target["spec"], \
            f"{name}: a fixed replicas would reset the autoscaler's choice on every apply"
        container = pod_containers(target)[0]
        assert "cpu" in container["resources"]["requests"], "CPU utilisation needs a CPU request"
        if scaler["kind"] == "HorizontalPodAutoscaler":
            assert scaler["apiVersion"] == "autoscaling/v2"
            assert 1 <= scaler["spec"]["minReplicas"] <= scaler["spec"]["maxReplicas"]
    for service in SERVICES:
        one(objects, "HorizontalPodAutoscaler", f"{service}-web")
        one(objects, "ScaledObject", f"{service}-worker")


@pytest.mark.parametrize("render", RENDERS)
def test_every_worker_scales_on_its_own_queue(rendered, render: str) -> None:
    """KEDA adds a worker pod per so many messages waiting in the worker's queue (the Redis list, or
    the SQS queue with the sqs-broker component), never scales it to zero, and reads the broker
    the way the services reach it."""
    objects = rendered[render]
    workers = [d for d in find(objects, "Deployment") if component(d) == "worker"]
    assert {d["metadata"]["name"] for d in workers} == {f"{s}-worker" for s in SERVICES}
    broker = urlparse(secret_templates()["os-secrets"]["CELERY_BROKER_URL"])
    for worker in workers:
        name = worker["metadata"]["name"]
        queue = pod_containers(worker)[0]["command"][pod_containers(worker)[0]["command"].index("-Q") + 1]
        scalers = [o for target, o in autoscaled(objects) if target == name]
        assert [o["kind"] for o in scalers] == ["ScaledObject"], f"{name}: one ScaledObject and no HPA"
        spec = scalers[0]["spec"]
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"], f"{name}: never to zero, a bound above"
        depth = spec["triggers"][0]
        if render.endswith("+sqs"):
            assert depth["type"] == "aws-sqs-queue" and depth["metadata"]["queueURL"] == queue
            assert depth["metadata"]["awsRegion"] == one(objects, "ConfigMap", "oficina-common")["data"]["AWS_REGION"]
        else:
            assert depth["type"] == "redis" and depth["metadata"]["listName"] == queue
            assert depth["metadata"]["databaseIndex"] == broker.path.strip("/")
            assert depth["metadata"]["enableTLS"] == str(broker.scheme == "rediss").lower()
        assert int(depth["metadata"].get("listLength") or depth["metadata"]["queueLength"]) >= 1
        auth = one(objects, "TriggerAuthentication", depth["authenticationRef"]["name"])["spec"]
        if render.endswith("+sqs"):
            assert auth == {"podIdentity": {"provider": "aws", "identityOwner": "workload"}}, \
                "the worker's own IAM role (IRSA) reads its queue"
        else:
            template = secret_templates("*.example.yaml")["oficina-broker-scaler"]
            assert {(ref["parameter"], ref["name"], ref["key"]) for ref in auth["secretTargetRef"]} == {
                ("address", "oficina-broker-scaler", "address"), ("password", "oficina-broker-scaler", "password")}
            assert "CHANGE_ME" in template["address"] and template["password"] == "CHANGE_ME"
            assert template["address"].endswith(f":{broker.port}"), "the broker's host:port"


def test_production_keeps_three_web_pods(rendered) -> None:
    for service in SERVICES:
        assert one(rendered["production"], "HorizontalPodAutoscaler", f"{service}-web")["spec"]["minReplicas"] >= 3


@pytest.mark.parametrize("render", RENDERS)
def test_disruption_budgets_cover_pods_without_blocking_drains(rendered, render: str) -> None:
    objects = rendered[render]
    for pdb in find(objects, "PodDisruptionBudget"):
        selector = pdb["spec"]["selector"]["matchLabels"]
        matched = [d for d in find(objects, "Deployment")
                   if selects(selector, d["spec"]["template"]["metadata"]["labels"])]
        assert len(matched) == 1, f"{pdb['metadata']['name']} covers {[d['metadata']['name'] for d in matched]}"
        assert pdb["spec"].get("maxUnavailable", 0) >= 1, "minAvailable on one replica would block every drain"
    for service in SERVICES:
        for kind in ("web", "worker"):
            one(objects, "PodDisruptionBudget", f"{service}-{kind}")


@pytest.mark.parametrize("render", RENDERS)
def test_services_reach_only_web_pods_on_a_declared_port(rendered, render: str) -> None:
    objects = rendered[render]
    for svc in find(objects, "Service"):
        matched = [d for d in find(objects, "Deployment")
                   if selects(svc["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])]
        assert len(matched) == 1 and component(matched[0]) == "web", \
            f"Service {svc['metadata']['name']} selects {[d['metadata']['name'] for d in matched]}"
        ports = {p["name"] for p in pod_containers(matched[0])[0]["ports"]}
        assert all(p["targetPort"] in ports for p in svc["spec"]["ports"])


@pytest.mark.parametrize("render", RENDERS)
def test_every_referenced_configmap_secret_and_account_exists(rendered, render: str) -> None:
    objects = rendered[render]
    config_maps = {o["metadata"]["name"] for o in find(objects, "ConfigMap")}
    accounts = {o["metadata"]["name"] for o in find(objects, "ServiceAccount")}
    templates = set(secret_templates())
    for obj in workloads(objects):
        pod = obj["spec"]["template"]["spec"]
        if "serviceAccountName" in pod:
            assert pod["serviceAccountName"] in accounts
        for container in pod_containers(obj):
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in config_maps
                else:
                    assert source["secretRef"]["name"] in templates, "no template tells which keys it needs"
            for var in container.get("env", []):
                ref = var.get("valueFrom", {})
                if "secretKeyRef" in ref:
                    assert ref["secretKeyRef"]["key"] in secret_templates()[ref["secretKeyRef"]["name"]]


@pytest.mark.parametrize("render", RENDERS)
def test_no_overlay_ships_a_secret(rendered, render: str) -> None:
    """Applying an overlay must never overwrite the environment's real Secrets with placeholders."""
    assert not find(rendered[render], "Secret")


@pytest.mark.parametrize("render", RENDERS)
def test_each_service_account_assumes_its_own_iam_role(rendered, render: str) -> None:
    roles = {}
    for account in find(rendered[render], "ServiceAccount"):
        role = account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        assert re.fullmatch(r"arn:aws:iam::\d{12}:role/[\w+=,.@-]+", role), account["metadata"]["name"]
        roles[account["metadata"]["name"]] = role
    assert len(set(roles.values())) == len(roles) == 4, roles


def public_routes(objects: list[dict[str, Any]]) -> dict[str, str]:
    """host -> the Service that serves "/" on it."""
    routes = {}
    for rule in one(objects, "Ingress", "oficina")["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            if path["path"] == "/" and path["pathType"] == "Prefix":
                routes[rule["host"]] = path["backend"]["service"]["name"]
    return routes


@pytest.mark.parametrize("render", RENDERS)
def test_mercado_pago_can_reach_the_billing_webhook(rendered, render: str) -> None:
    objects = rendered[render]
    public_base = urlparse(one(objects, "ConfigMap", "oficina-common")["data"]["PUBLIC_BASE_URL"])
    assert public_base.scheme == "https" and public_base.path in ("", "/")
    assert public_routes(objects).get(public_base.hostname) == "billing", \
        f"{public_base.hostname}/api/v1/webhooks/mercadopago/ is not routed to Billing"
    ingress = one(objects, "Ingress", "oficina")
    assert ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/scheme"] == "internet-facing"
    assert ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/certificate-arn"].startswith("arn:aws:acm:")


@pytest.mark.parametrize("render", RENDERS)
def test_public_hosts_agree_with_the_services_settings(rendered, render: str) -> None:
    objects = rendered[render]
    routes = {service: host for host, service in public_routes(objects).items()}
    for service in SERVICES:
        config = one(objects, "ConfigMap", f"{service}-config")["data"]
        assert routes[service] in config["ALLOWED_HOSTS"].split(","), service
        assert service in config["ALLOWED_HOSTS"].split(","), "the in-cluster name (OS_SERVICE_URL & co.)"
        if "CSRF_TRUSTED_ORIGINS" in config:
            assert config["CSRF_TRUSTED_ORIGINS"] == f"https://{routes[service]}"
    assert urlparse(one(objects, "ConfigMap", "os-config")["data"]["OS_PUBLIC_URL"]).hostname == routes["os"]
    common = one(objects, "ConfigMap", "oficina-common")["data"]
    for service in SERVICES:
        assert common[f"{service.upper()}_SERVICE_URL"] == f"http://{service}:8000"


def test_the_sandbox_is_in_staging_and_never_in_production(rendered) -> None:
    def mentions_sandbox(objects: list[dict[str, Any]]) -> bool:
        return "sandbox" in yaml.safe_dump(objects)

    assert mentions_sandbox(rendered["staging"])
    assert one(rendered["staging"], "ConfigMap", "billing-config")["data"]["MERCADOPAGO_BASE_URL"] == \
        "http://mercadopago-sandbox:8004"
    for render in ("production", "production+sqs"):
        assert not mentions_sandbox(rendered[render])
        assert one(rendered[render], "ConfigMap", "billing-config")["data"]["MERCADOPAGO_BASE_URL"] == \
            "https://api.mercadopago.com"


def test_environments_are_kept_apart(rendered) -> None:
    staging, production = rendered["staging"], rendered["production"]
    namespaces = {r: {o["metadata"].get("namespace") for o in rendered[r] if o["kind"] != "Namespace"}
                  for r in ("staging", "production")}
    assert namespaces["staging"] == {"oficina-staging"} and namespaces["production"] == {"oficina"}
    prefix = [one(x, "ConfigMap", "oficina-common")["data"]["DYNAMODB_TABLE_PREFIX"] for x in (staging, production)]
    assert prefix[0] != prefix[1], "staging would write production's DynamoDB tables"
    hosts = [set(public_routes(x)) for x in (staging, production)]
    assert not hosts[0] & hosts[1]


@pytest.mark.parametrize("render", RENDERS)
def test_production_settings_and_aws_endpoints(rendered, render: str) -> None:
    common = one(rendered[render], "ConfigMap", "oficina-common")["data"]
    assert common["DEBUG"] == "false" and common["LOG_JSON"] == "true"
    assert common["DYNAMODB_ENDPOINT_URL"] == "", "empty = DynamoDB itself, not an emulator"
    assert common["AWS_REGION"] == common["AWS_DEFAULT_REGION"]


def test_the_init_job_is_its_own_identity_and_gives_up(rendered) -> None:
    job = one(rendered["production"], "Job", "oficina-init")
    spec = job["spec"]
    assert spec["template"]["spec"]["serviceAccountName"] == "oficina-init"
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    assert spec["backoffLimit"] <= 6 and spec["activeDeadlineSeconds"] <= 3600
