"""The Dockerfiles: lint-clean, small and unprivileged, and they carry what the services need."""
from __future__ import annotations

import re
import sys

import pytest

from deploylib import DOCKER, ROOT, SERVICES, dockerfile, dockerignore, env_of, final_stage, ignored, run, tool

DOCKERFILES = ("service.Dockerfile", "sandbox.Dockerfile", "dynalite.Dockerfile")


def test_hadolint_finds_nothing_in_any_dockerfile() -> None:
    paths = sorted(str(p) for p in DOCKER.glob("*.Dockerfile"))
    assert len(paths) == len(DOCKERFILES)
    result = run([tool("hadolint"), "--no-color", *paths])
    assert result.returncode == 0, f"hadolint:\n{result.stdout}{result.stderr}"


def test_hadolint_does_report_a_bad_dockerfile(tmp_path) -> None:
    """The linter is really running: the mistakes it exists for are reported."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\nRUN pip install flask\n")
    result = run([tool("hadolint"), "--no-color", str(bad)])
    assert result.returncode != 0
    for rule in ("DL3007", "DL3008", "DL3013"):
        assert rule in result.stdout


@pytest.mark.parametrize("name", ["service.Dockerfile", "sandbox.Dockerfile"])
def test_python_images_are_multi_stage_on_python_311_slim(name: str) -> None:
    instructions = dockerfile(name)
    froms = [i.arguments for i in instructions if i.keyword == "FROM"]
    assert len(froms) >= 2, "a build stage and a runtime stage"
    base = next(i.arguments for i in instructions if i.keyword == "ARG" and i.arguments.startswith("PYTHON_IMAGE="))
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11-slim(-\w+)?", base)
    assert all(f.startswith("${PYTHON_IMAGE}") for f in froms)
    runtime = final_stage(instructions)
    assert any(i.keyword == "COPY" and i.arguments.startswith("--from=build") for i in runtime), \
        "the runtime stage takes the installed packages from the build stage"


@pytest.mark.parametrize("name", DOCKERFILES)
def test_every_image_runs_as_a_numeric_non_root_user(name: str) -> None:
    users = [i.arguments for i in final_stage(dockerfile(name)) if i.keyword == "USER"]
    assert users, f"{name} runs as root"
    user = users[-1].split(":")[0]
    assert user.isdigit() and int(user) >= 1000, f"{name}: USER {users[-1]} (numeric so runAsNonRoot can verify it)"


def test_service_image_installs_libs_the_service_and_gunicorn() -> None:
    runs = " ".join(i.arguments for i in dockerfile("service.Dockerfile") if i.keyword == "RUN")
    assert "pip install --no-cache-dir /src/libs" in runs
    assert "-r /src/requirements.txt" in runs and "-r /src/requirements-runtime.txt" in runs
    runtime_requirements = (DOCKER / "requirements-runtime.txt").read_text()
    assert re.search(r"^gunicorn\b", runtime_requirements, re.M)
    assert re.search(r"^celery\[sqs\]", runtime_requirements, re.M), "the SQS broker option needs kombu's transport"


def test_service_image_defaults_to_the_production_settings_and_gunicorn() -> None:
    instructions = dockerfile("service.Dockerfile")
    for service in SERVICES:
        env = env_of(instructions, {"SERVICE": service})
        assert env["DJANGO_SETTINGS_MODULE"] == "config.settings_production"
        assert env["OFICINA_SERVICE"] == service
    cmd = [i for i in final_stage(instructions) if i.keyword == "CMD"][-1].exec_form()
    assert cmd == ["gunicorn", "config.wsgi:application", "--config", "/etc/oficina/gunicorn.conf.py"]
    workdir = [i.arguments for i in final_stage(instructions) if i.keyword == "WORKDIR"][-1]
    copies = [i.arguments for i in final_stage(instructions) if i.keyword == "COPY"]
    assert "${SERVICE}_project/ /app/" in copies and workdir == "/app", \
        "the project is the working directory, so `config` is importable as in manage_all.sh"
    assert "docker/gunicorn.conf.py /etc/oficina/gunicorn.conf.py" in copies


def test_static_files_are_collected_at_build_time() -> None:
    """The root filesystem is read-only in Kubernetes: collectstatic cannot run at start-up."""
    runs = " ".join(i.arguments for i in final_stage(dockerfile("service.Dockerfile")) if i.keyword == "RUN")
    assert "manage.py collectstatic --noinput" in runs


def test_sandbox_image_runs_the_module_manage_all_sh_runs() -> None:
    cmd = [i for i in dockerfile("sandbox.Dockerfile") if i.keyword == "CMD"][-1].exec_form()
    assert cmd[:3] == ["python", "-m", "mercadopago_sandbox"]
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0", "reachable from outside the container"
    assert "-m mercadopago_sandbox --host" in (ROOT / "manage_all.sh").read_text()
    result = run([sys.executable, "-m", "mercadopago_sandbox", "--help"])
    assert result.returncode == 0 and "--host" in result.stdout and "--port" in result.stdout


def test_dynalite_image_runs_the_emulator_manage_all_sh_runs() -> None:
    cmd = [i for i in dockerfile("dynalite.Dockerfile") if i.keyword == "CMD"][-1].exec_form()
    assert cmd[0].endswith("node_modules/.bin/dynalite") and "--port" in cmd
    assert "node_modules/.bin/dynalite" in (ROOT / "manage_all.sh").read_text()
    assert '"dynalite"' in (ROOT / "package.json").read_text()


@pytest.mark.parametrize(("name", "needed", "kept_out"), [
    ("service.Dockerfile",
     ["libs/pyproject.toml", "libs/oficina_common/__init__.py", "docker/gunicorn.conf.py",
      "docker/requirements-runtime.txt",
      *[f"{s}_project/{f}" for s in SERVICES for f in ("manage.py", "requirements.txt", "config/wsgi.py")]],
     [".git/config", ".venv/bin/python", "node_modules/dynalite/package.json", ".data/logs/os-web.log",
      "os_project/service_orders/tests/test_api.py", "billing_project/conftest.py", "libs/tests/test_outbox.py",
      "libs/oficina_common.egg-info/PKG-INFO", "os_project/config/__pycache__/settings.cpython-311.pyc",
      "docker/compose.yaml", "tests/system.py", "k8s/base/kustomization.yaml"]),
    ("sandbox.Dockerfile",
     ["mercadopago_sandbox/__main__.py", "mercadopago_sandbox/requirements.txt",
      "mercadopago_sandbox/templates/base.html"],
     ["mercadopago_sandbox/tests/test_payments.py", ".git/HEAD", ".venv/bin/python", "os_project/manage.py"]),
    ("dynalite.Dockerfile", ["package.json", "package-lock.json"], ["node_modules/dynalite/package.json", ".git/HEAD"]),
])
def test_build_context_sends_what_the_image_needs_and_nothing_else(name: str, needed: list[str],
                                                                    kept_out: list[str]) -> None:
    ignore_file = DOCKER / f"{name}.dockerignore"
    assert ignore_file.exists(), f"{ignore_file.name}: BuildKit reads it instead of a root .dockerignore"
    rules = dockerignore(ignore_file)
    for path in needed:
        assert (ROOT / path).exists(), f"{name} copies {path}, which is not in the repository"
        assert not ignored(rules, path), f"{name}: {path} is needed but excluded from the build context"
    for path in kept_out:
        assert ignored(rules, path), f"{name}: {path} would be sent to the build (and maybe into the image)"


def test_every_copy_source_exists_for_every_service() -> None:
    for name in DOCKERFILES:
        for service in SERVICES if name == "service.Dockerfile" else ("-",):
            for instruction in dockerfile(name):
                if instruction.keyword != "COPY" or instruction.arguments.startswith("--from"):
                    continue
                *sources, _destination = instruction.arguments.split()
                for source in sources:
                    path = source.replace("${SERVICE}", service)
                    assert (ROOT / path).exists(), f"{name} (SERVICE={service}): COPY {path} is missing"
