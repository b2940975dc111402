"""NetworkPolicies (k8s/base/network-policies.yaml) and the metrics port, checked the way a CNI
reads them: each pod's connections, allowed or not, evaluated over every rendered policy."""
from __future__ import annotations

import ipaddress
from typing import Any

import pytest
import yaml

from deploylib import K8S, SERVICES, find, one, pod_containers

RENDERS = ("staging", "production", "production+sqs")
VPC = "10.0.0.0/16"
LOAD_BALANCER = "10.0.1.10"  # an ALB node in the VPC
RDS = "10.0.20.5"
ELASTICACHE = "10.0.30.7"
INTERNET = "52.94.0.10"  # DynamoDB, STS, SQS, api.mercadopago.com, SES: public addresses
PROMETHEUS = {"namespace": "monitoring", "labels": {"app.kubernetes.io/name": "prometheus"}}
KUBE_DNS = {"namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}}
NAMESPACE = "oficina"


# --- a small NetworkPolicy evaluator (the semantics of networking.k8s.io/v1) ----------------------
def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    selector = selector or {}
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def peer_matches(peer: dict[str, Any], other: dict[str, Any]) -> bool:
    """``other``: {"ip": …} outside the cluster, or {"namespace": …, "labels": …} a pod."""
    if "ipBlock" in peer:
        if "ip" not in other:
            return False
        address = ipaddress.ip_address(other["ip"])
        block = peer["ipBlock"]
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(cidr) for cidr in block.get("except", []))
    if "ip" in other:
        return False
    if "namespaceSelector" in peer:
        namespace_labels = {"kubernetes.io/metadata.name": other["namespace"]}
        if not selects(peer["namespaceSelector"], namespace_labels):
            return False
    elif other["namespace"] != NAMESPACE:
        return False
    return selects(peer.get("podSelector"), other["labels"])


def port_matches(rule: dict[str, Any], port: int, protocol: str) -> bool:
    ports = rule.get("ports")
    return not ports or any(p.get("port") in (None, port) and p.get("protocol", "TCP") == protocol for p in ports)


def allowed(objects: list[dict[str, Any]], pod: dict[str, str], direction: str, other: dict[str, Any],
            port: int, protocol: str = "TCP") -> bool:
    kind, peers = ("Ingress", "from") if direction == "in" else ("Egress", "to")
    policies = [p for p in find(objects, "NetworkPolicy")
                if kind in p["spec"].get("policyTypes", ["Ingress"]) and selects(p["spec"]["podSelector"], pod)]
    if not policies:
        return True  # no policy isolates the pod: everything goes (default deny must prevent this)
    return any(port_matches(rule, port, protocol) and (not rule.get(peers) or any(
        peer_matches(peer, other) for peer in rule[peers]))
        for policy in policies for rule in policy["spec"].get(kind.lower(), []))


def pod_labels(objects: list[dict[str, Any]], name: str, kind: str = "Deployment") -> dict[str, str]:
    return one(objects, kind, name)["spec"]["template"]["metadata"]["labels"]


def pod(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return {"namespace": NAMESPACE, "labels": pod_labels(objects, name)}


# --- the policies ---------------------------------------------------------------------------------
@pytest.mark.parametrize("render", RENDERS)
def test_everything_is_denied_unless_allowed(rendered, render: str) -> None:
    objects = rendered[render]
    deny = [p for p in find(objects, "NetworkPolicy")
            if p["spec"]["podSelector"] == {} and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
            and not p["spec"].get("ingress") and not p["spec"].get("egress")]
    assert deny, "no default-deny policy: pods no policy names may talk to anyone"
    for workload in find(objects, "Deployment") + find(objects, "Job"):
        assert workload["metadata"].get("namespace") in (None, NAMESPACE) or render == "staging"


@pytest.mark.parametrize("render", RENDERS)
@pytest.mark.parametrize("service", SERVICES)
def test_who_reaches_the_pods(rendered, render: str, service: str) -> None:
    objects = rendered[render]
    web, worker, beat = (pod_labels(objects, f"{service}-{kind}") for kind in ("web", "worker", "beat"))
    load_balancer = {"ip": LOAD_BALANCER}
    assert allowed(objects, web, "in", load_balancer, 8000), "the load balancer cannot reach the web pods"
    assert not allowed(objects, web, "in", load_balancer, 9100), "the metrics port is open to the load balancer"
    assert allowed(objects, web, "in", PROMETHEUS, 9100) and allowed(objects, worker, "in", PROMETHEUS, 9100)
    assert not allowed(objects, web, "in", PROMETHEUS, 8000), "Prometheus needs only the metrics port"
    assert not allowed(objects, web, "in", {"namespace": "default", "labels": {"app": "anything"}}, 8000)
    for other in SERVICES:  # the services talk through the broker only
        assert not allowed(objects, web, "in", pod(objects, f"{other}-web"), 8000)
        assert not allowed(objects, web, "in", pod(objects, f"{other}-worker"), 8000)
    for port in (8000, 9100, 6379):
        assert not allowed(objects, beat, "in", load_balancer, port)
        assert not allowed(objects, worker, "in", load_balancer, port)


@pytest.mark.parametrize("render", RENDERS)
@pytest.mark.parametrize("service", SERVICES)
def test_what_each_service_reaches(rendered, render: str, service: str) -> None:
    objects = rendered[render]
    for kind in ("web", "worker", "beat"):
        labels = pod_labels(objects, f"{service}-{kind}")
        assert allowed(objects, labels, "out", KUBE_DNS, 53, "UDP"), "no DNS"
        assert allowed(objects, labels, "out", {"ip": ELASTICACHE}, 6379), "no Redis (broker, throttles)"
        assert allowed(objects, labels, "out", {"ip": RDS}, 5432) == (service == "os"), \
            "only the OS reaches PostgreSQL"
        https = allowed(objects, labels, "out", {"ip": INTERNET}, 443)
        # Billing: DynamoDB, STS, Mercado Pago; Execution: DynamoDB, STS; the OS: only SQS when it is the broker.
        assert https == (service != "os" or render == "production+sqs"), f"{service} HTTPS out: {https}"
        assert allowed(objects, labels, "out", {"ip": INTERNET}, 587) == (service in ("os", "billing")), "SES"
        if render != "production+sqs":  # SQS may be a VPC interface endpoint, inside the VPC
            assert not allowed(objects, labels, "out", {"ip": RDS}, 443), "HTTPS inside the VPC is not the Internet"
        assert not allowed(objects, labels, "out", {"ip": INTERNET}, 22)
        for other in SERVICES:
            assert not allowed(objects, labels, "out", pod(objects, f"{other}-web"), 8000)


def test_billing_reaches_the_sandbox_in_staging_only(rendered) -> None:
    staging = rendered["staging"]
    billing = pod_labels(staging, "billing-worker")
    sandbox = pod(staging, "mercadopago-sandbox")
    assert allowed(staging, billing, "out", sandbox, 8004)
    assert allowed(staging, sandbox["labels"], "in", {"namespace": NAMESPACE, "labels": billing}, 8004)
    assert allowed(staging, sandbox["labels"], "in", {"ip": LOAD_BALANCER}, 8004), "customers open its pages"
    assert not allowed(staging, pod_labels(staging, "os-worker"), "out", sandbox, 8004)
    assert not find(rendered["production"], "NetworkPolicy", "billing-to-mercadopago-sandbox")


def test_the_init_job_reaches_its_databases(rendered) -> None:
    objects = rendered["production"]
    init = one(objects, "Job", "oficina-init")["spec"]["template"]["metadata"]["labels"]
    assert allowed(objects, init, "out", {"ip": RDS}, 5432) and allowed(objects, init, "out", {"ip": INTERNET}, 443)
    assert not allowed(objects, init, "in", {"ip": LOAD_BALANCER}, 8000)


# --- the metrics port -------------------------------------------------------------------------------
@pytest.mark.parametrize("render", RENDERS)
@pytest.mark.parametrize("service", SERVICES)
def test_metrics_are_scraped_on_their_own_port_which_no_service_or_ingress_routes(rendered, render, service) -> None:
    objects = rendered[render]
    metrics_port = int(yaml.safe_load((K8S / "base" / "common-config.yaml").read_text())["data"]["METRICS_PORT"])
    for kind in ("web", "worker"):
        deployment = one(objects, "Deployment", f"{service}-{kind}")
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        ports = {p["name"]: p["containerPort"] for p in pod_containers(deployment)[0]["ports"]}
        assert int(annotations["prometheus.io/port"]) == ports["metrics"] == metrics_port
    for svc in find(objects, "Service"):
        targets = {p["targetPort"] for p in svc["spec"]["ports"]}
        assert "metrics" not in targets and metrics_port not in targets, f"Service {svc['metadata']['name']}"
    for rule in one(objects, "Ingress", "oficina")["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            assert path["backend"]["service"]["port"].get("number") != metrics_port
