"""docker/compose.yaml: valid compose, healthy ordering, the same entry points as manage_all.sh."""
from __future__ import annotations

import re
import shlex

import pytest
import yaml

from deploylib import DOCKER, ROOT, SERVICES, compose, run, service_variables, tool

# The JWT key pair is not among them: compose runs the development settings, whose default is the
# published development pair (production refuses it).
CONTRACT_CONFIGURATION = (
    "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "DATABASE_URL", "CELERY_BROKER_URL", "AWS_REGION",
    "DYNAMODB_ENDPOINT_URL", "DYNAMODB_TABLE_PREFIX", "MERCADOPAGO_BASE_URL", "MERCADOPAGO_ACCESS_TOKEN",
    "MERCADOPAGO_WEBHOOK_SECRET", "PUBLIC_BASE_URL", "OS_SERVICE_URL",
    "BILLING_SERVICE_URL", "EXECUTION_SERVICE_URL",
)
SECRET_WORDS = ("SECRET", "PASSWORD", "TOKEN", "KEY")


def services() -> dict:
    return compose()["services"]


def app_services(service: str) -> dict[str, dict]:
    """The compose services running one Oficina service's image (web, worker, beat, init)."""
    return {name: spec for name, spec in services().items() if spec.get("image", "").startswith(f"oficina/{service}:")}


def command(spec: dict) -> str:
    value = spec["command"]
    return value if isinstance(value, str) else shlex.join(value)


def test_compose_file_is_valid_against_the_compose_spec_schema() -> None:
    result = run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(DOCKER / "compose.yaml")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_misspelt_key(tmp_path) -> None:
    broken = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    broken["services"]["os"]["helthcheck"] = broken["services"]["os"].pop("healthcheck")
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(broken))
    result = run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)])
    assert result.returncode != 0 and "helthcheck" in result.stdout


def test_the_whole_system_is_there() -> None:
    names = set(services())
    infrastructure = {"postgres", "redis", "dynamodb", "mercadopago-sandbox"}
    processes = {f"{s}{suffix}" for s in SERVICES for suffix in ("", "-worker", "-beat", "-init")}
    assert infrastructure | processes <= names, f"missing: {sorted(infrastructure | processes - names)}"


def test_every_long_running_service_has_a_healthcheck() -> None:
    for name, spec in services().items():
        if spec.get("restart") == "no":
            continue
        check = spec.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), f"{name} has no healthcheck"


def test_dependencies_wait_for_health_or_completion() -> None:
    all_services = services()
    for name, spec in all_services.items():
        depends = spec.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on without conditions starts too early"
        for target, rule in depends.items():
            assert target in all_services, f"{name} depends on unknown {target}"
            condition = rule["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in all_services[target], f"{name} waits for {target}'s health, which it lacks"
            else:
                assert condition == "service_completed_successfully", f"{name} -> {target}: {condition}"
                assert all_services[target].get("restart") == "no", f"{target} is waited for as a one-shot"


@pytest.mark.parametrize("service", SERVICES)
def test_processes_start_from_the_entry_points_manage_all_sh_uses(service: str) -> None:
    manage_all = (ROOT / "manage_all.sh").read_text()
    assert '-A config worker -Q "$service"' in manage_all and "-A config beat" in manage_all
    specs = app_services(service)
    assert command(specs[service]).startswith("gunicorn config.wsgi:application ")
    worker = shlex.split(command(specs[f"{service}-worker"]))
    assert worker[:6] == ["celery", "-A", "config", "worker", "-Q", service], "a worker consumes only its queue"
    assert shlex.split(command(specs[f"{service}-beat"]))[:4] == ["celery", "-A", "config", "beat"]
    init = command(specs[f"{service}-init"])
    if service == "os":
        assert "manage.py migrate" in init and "manage.py ensure_admin" in init
    else:
        assert "manage.py create_tables" in init
    for spec in specs.values():
        build = spec["build"]
        assert (DOCKER / build["context"]).resolve() == ROOT, "the build context is the repository root"
        assert build["dockerfile"] == "docker/service.Dockerfile" and build["args"]["SERVICE"] == service


def test_web_healthchecks_ask_readyz_and_workers_ping_themselves() -> None:
    for service in SERVICES:
        specs = app_services(service)
        assert "/readyz" in " ".join(specs[service]["healthcheck"]["test"])
        worker_check = " ".join(specs[f"{service}-worker"]["healthcheck"]["test"])
        assert f"--destination {service}@$$HOSTNAME" in worker_check
        assert f"--hostname {service}@%h" in command(specs[f"{service}-worker"]), \
            "the ping's destination is the worker's own name"


def test_app_containers_are_hardened_like_on_kubernetes() -> None:
    for service in SERVICES:
        for name, spec in app_services(service).items():
            assert spec.get("read_only") is True and "/tmp" in spec.get("tmpfs", []), name
            assert spec.get("cap_drop") == ["ALL"], name
            assert "no-new-privileges:true" in spec.get("security_opt", []), name


@pytest.mark.parametrize("service", SERVICES)
def test_every_configuration_variable_reaches_the_containers(service: str) -> None:
    """The contract's variables, and whatever manage_all.sh sets that the service reads."""
    text = (ROOT / "manage_all.sh").read_text()
    exported = {name for line in re.findall(r"^export (.*)$", text, re.M)
                for name in re.findall(r"\b([A-Z][A-Z0-9_]*)=", line)}
    wanted = set(CONTRACT_CONFIGURATION) | (exported & set(service_variables(service)))
    for name, spec in app_services(service).items():
        missing = sorted(wanted - set(spec["environment"]))
        assert not missing, f"{name} lacks {missing}"


def test_development_secrets_are_marked_as_such() -> None:
    lines = (DOCKER / "compose.yaml").read_text().splitlines()
    for line in lines:
        match = re.match(r"\s+([A-Z_]+):\s*(\S+)", line)
        if match and any(word in match.group(1) for word in SECRET_WORDS) and match.group(2) not in ('""', "HS256"):
            assert "DEVELOPMENT ONLY" in line, f"unmarked secret in compose.yaml: {line.strip()}"


def test_compose_points_the_services_at_each_other_and_the_sandbox() -> None:
    env = services()["billing"]["environment"]
    assert env["MERCADOPAGO_BASE_URL"] == "http://mercadopago-sandbox:8004"
    sandbox = services()["mercadopago-sandbox"]["environment"]
    assert env["MERCADOPAGO_WEBHOOK_SECRET"] == sandbox["MERCADOPAGO_WEBHOOK_SECRET"]
    assert env["DYNAMODB_ENDPOINT_URL"] == "http://dynamodb:8000"
    for service in SERVICES:
        assert env[f"{service.upper()}_SERVICE_URL"] == f"http://{service}:8000"
    host_ports = [p.split(":")[0] for s in services().values() for p in s.get("ports", [])]
    assert len(host_ports) == len(set(host_ports)), "two services publish the same host port"
