"""Each service's code, loaded the way its image loads it, with the environment Kubernetes gives it.

A subprocess per service and overlay runs probe_service.py in the project directory with exactly
the environment of the web container (image ENV, ConfigMaps, Secret, env with $(VAR) expanded):
the same imports as `gunicorn config.wsgi:application` and `celery -A config worker|beat`.
"""
from __future__ import annotations

import json
import os
from functools import cache
from typing import Any

import pytest

from deploylib import (
    OVERLAYS,
    POD_IP,
    PYTHON,
    ROOT,
    SERVICES,
    container_environment,
    dockerfile,
    env_of,
    one,
    pod_containers,
    project_dir,
    run,
    secret_templates,
    tool,
)

# Django deployment-checklist warnings an operator must never see in production.
FORBIDDEN_DEPLOY_WARNINGS = {
    "security.W004": "no HSTS (SECURE_HSTS_SECONDS)",
    "security.W009": "a weak SECRET_KEY",
    "security.W012": "session cookie sent over HTTP",
    "security.W016": "CSRF cookie sent over HTTP",
    "security.W018": "DEBUG on",
    "security.W020": "ALLOWED_HOSTS empty",
}
# security.W008 (SECURE_SSL_REDIRECT off) is by design: the load balancer redirects to HTTPS.


def environment(objects: list[dict[str, Any]], service: str, secrets: dict[str, dict[str, str]]) -> dict[str, str]:
    env = env_of(dockerfile("service.Dockerfile"), {"SERVICE": service})
    web = one(objects, "Deployment", f"{service}-web")
    env.update(container_environment(objects, pod_containers(web)[0], secrets))
    # The image's working directory is the project: `config` is importable from it.
    env.update(PATH=os.environ["PATH"], PYTHONPATH=str(project_dir(service)), HOME=os.environ.get("HOME", "/tmp"))
    return env


# What the probes, the load balancer and Mercado Pago ask for.
PUBLIC_PATHS = {"os": ["/healthz", "/readyz"], "billing": ["/healthz", "/readyz", "/api/v1/webhooks/mercadopago/"],
                "execution": ["/healthz", "/readyz"]}


@cache
def _probe(service: str, env_items: tuple[tuple[str, str], ...]) -> tuple[int, str, str]:
    result = run([PYTHON, str(ROOT / "deploy_tests" / "probe_service.py"), *PUBLIC_PATHS[service]],
                 cwd=project_dir(service), env=dict(env_items))
    return result.returncode, result.stdout, result.stderr


def probe(objects: list[dict[str, Any]], service: str, secrets: dict[str, dict[str, str]]) -> dict[str, Any]:
    code, out, err = _probe(service, tuple(sorted(environment(objects, service, secrets).items())))
    assert code == 0, f"{service} does not start with this environment:\n{err[-3000:]}"
    return json.loads(out)


@pytest.mark.parametrize("service", SERVICES)
def test_unedited_secret_templates_stop_the_service_at_start_up(rendered, service: str) -> None:
    env = environment(rendered["production"], service, secret_templates())
    code, _out, err = _probe(service, tuple(sorted(env.items())))
    assert code != 0 and "Refusing to start in production" in err, \
        f"{service} accepted the placeholder secrets:\n{err[-2000:]}"


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_web_and_celery_entry_points_load_with_the_overlay_environment(rendered, real_looking_secrets,
                                                                       overlay: str, service: str) -> None:
    objects = rendered[overlay]
    result = probe(objects, service, real_looking_secrets)
    settings = result["settings"]
    assert result["wsgi_callable"] and settings["WSGI_APPLICATION"] == "config.wsgi.application"
    assert settings["DEBUG"] is False
    unrouted = [path for path, ok in result["resolves"].items() if not ok]
    assert not unrouted, f"{service} has no view at {unrouted} (probes / webhook)"
    assert settings["DYNAMODB_ENDPOINT_URL"] == "", "on AWS the services talk to DynamoDB itself"
    ingress_host = next(rule["host"] for rule in one(objects, "Ingress", "oficina")["spec"]["rules"]
                        if rule["http"]["paths"][0]["backend"]["service"]["name"] == service)
    assert ingress_host in settings["ALLOWED_HOSTS"], "the public host would answer 400"
    assert POD_IP in settings["ALLOWED_HOSTS"], "probes and load-balancer health checks would answer 400"
    celery = result["celery"]
    assert celery["default_queue"] == service and celery["queues"] == [service], \
        f"`celery -A config worker -Q {service}` would not consume what this app publishes to itself"
    assert f"{service}.handle_message" in celery["tasks"], "the consumer task is missing"
    unknown = sorted(set(celery["beat_tasks"]) - set(celery["tasks"]))
    assert not unknown, f"beat schedules tasks no worker knows: {unknown}"
    found = {code: why for code, why in FORBIDDEN_DEPLOY_WARNINGS.items() if f"({code})" in result["deploy_check"]}
    assert not found, f"{service} fails Django's deployment checklist: {found}\n{result['deploy_check']}"


@pytest.mark.parametrize("service", SERVICES)
def test_gunicorn_loads_the_app_with_the_image_config(service: str, real_looking_secrets, rendered) -> None:
    env = environment(rendered["production"], service, real_looking_secrets)
    config = str(ROOT / "docker" / "gunicorn.conf.py")
    result = run([tool("gunicorn"), "--check-config", "--print-config", "--config", config, "config.wsgi:application"],
                 cwd=project_dir(service), env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    printed = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    printed = {key.strip(): value.strip() for key, value in printed.items()}
    assert printed["bind"] == "['0.0.0.0:8000']", "the port the probes, Service and compose use"
    assert printed["worker_tmp_dir"] == "/tmp", "the only writable place in the container"


@pytest.mark.parametrize("service", SERVICES)
def test_the_management_commands_of_the_init_steps_exist(service: str) -> None:
    commands = {path.stem for path in project_dir(service).glob("*/management/commands/*.py")}
    wanted = {"ensure_admin"} if service == "os" else {"create_tables"}
    assert wanted <= commands, f"{service}: missing manage.py {sorted(wanted - commands)}"
