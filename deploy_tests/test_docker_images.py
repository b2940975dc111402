"""The Dockerfiles: lint-clean, small and unprivileged, on base images pinned by digest, installing
from the repository's locks, and they carry what the services need."""
from __future__ import annotations

import os
import re
import shutil
import sys
import tomllib
from pathlib import Path

import pytest

from deploylib import (
    DOCKER,
    ROOT,
    SERVICES,
    Instruction,
    compose,
    dockerfile,
    dockerignore,
    env_of,
    final_stage,
    ignored,
    run,
    tool,
)

DOCKERFILES = ("service.Dockerfile", "sandbox.Dockerfile", "dynalite.Dockerfile")
PYTHON_DOCKERFILES = {"service.Dockerfile": [f"oficina-{s}" for s in SERVICES],
                      "sandbox.Dockerfile": ["mercadopago-sandbox"]}
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}\Z")


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
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11(\.\d+)?-slim(-\w+)?@sha256:[0-9a-f]{64}", base)
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


def base_images(instructions: list[Instruction]) -> list[str]:
    """What each FROM starts from, with the ARG defaults substituted; earlier stages left out."""
    args = dict(i.arguments.split("=", 1) for i in instructions if i.keyword == "ARG" and "=" in i.arguments
                and i.stage == -1)
    stages: set[str] = set()
    bases = []
    for instruction in instructions:
        if instruction.keyword != "FROM":
            continue
        words = instruction.arguments.split()
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), words[0])
        if image not in stages:
            bases.append(image)
        if len(words) == 3 and words[1].upper() == "AS":
            stages.add(words[2])
    return bases


@pytest.mark.parametrize("name", DOCKERFILES)
def test_every_base_image_is_pinned_by_digest(name: str) -> None:
    """A tag moves (python:3.11-slim today is not last month's); a digest names one image for good."""
    bases = base_images(dockerfile(name))
    assert bases, f"{name} has no FROM"
    for base in bases:
        assert DIGEST.search(base), f"{name}: FROM {base} is not pinned by digest (name:tag@sha256:…)"


def test_every_image_compose_pulls_is_pinned_by_digest() -> None:
    pulled = {name: spec["image"] for name, spec in compose()["services"].items() if "build" not in spec}
    assert pulled, "compose pulls PostgreSQL and Redis"
    unpinned = {name: image for name, image in pulled.items() if not DIGEST.search(image)}
    assert not unpinned, f"docker/compose.yaml pulls by tag only: {unpinned}"


def test_the_digest_check_rejects_a_tag() -> None:
    assert not DIGEST.search(base_images([Instruction("ARG", "IMAGE=python:3.11-slim", -1),
                                          Instruction("FROM", "${IMAGE} AS build", 0)])[0])


def service_dependencies(package: str) -> list[str]:
    for path in ROOT.glob("*/pyproject.toml"):
        project = tomllib.loads(path.read_text())["project"]
        if project["name"] == package:
            return project["dependencies"]
    raise AssertionError(f"no workspace member is named {package}")


@pytest.mark.parametrize("name", sorted(PYTHON_DOCKERFILES))
def test_python_images_install_from_the_lock_and_nothing_else(name: str) -> None:
    """uv, hash-checked from requirements-uv.txt; then uv sync --locked from uv.lock, without test tools."""
    runs = [i.arguments for i in dockerfile(name) if i.keyword == "RUN"]
    pip_installs = [r for r in runs if "pip install" in r]
    assert len(pip_installs) == 1 and "--require-hashes --no-deps -r /src/requirements-uv.txt" in pip_installs[0], \
        f"{name}: the only pip install is uv's, from its hashes"
    syncs = [r for r in runs if "uv sync" in r]
    assert len(syncs) == 1, f"{name}: one uv sync installs the packages"
    assert "--locked" in syncs[0], "a lock older than the manifests must fail the build"
    assert "--no-default-groups" in syncs[0], "dependency groups (test tools, dev tools) stay out of the image"
    assert "--no-editable" in syncs[0], "libs/ is copied into the virtualenv, not linked to /src"
    copies = " ".join(i.arguments for i in dockerfile(name) if i.keyword == "COPY")
    assert "pyproject.toml uv.lock /src/" in copies


@pytest.mark.parametrize("service", SERVICES)
def test_service_images_get_gunicorn_and_the_sqs_broker(service: str) -> None:
    dependencies = service_dependencies(f"oficina-{service}")
    assert any(re.match(r"gunicorn\b", d) for d in dependencies), "the image's web command"
    assert any(re.match(r"celery\[[^\]]*\bsqs\b", d) for d in dependencies), \
        "the SQS broker option needs kombu's transport"
    assert "oficina-common" in dependencies


def build_stage_sources(name: str, service: str, destination: Path) -> None:
    """Lay out what the build stage COPYs into /src, from the repository, as the build context has it."""
    rules = dockerignore(DOCKER / f"{name}.dockerignore")
    for instruction in dockerfile(name):
        if instruction.keyword != "COPY" or instruction.arguments.startswith("--from") or instruction.stage != 0:
            continue
        *sources, target = instruction.arguments.replace("${SERVICE}", service).split()
        for source in sources:
            origin = ROOT / source
            into = destination / target.removeprefix("/src/")
            if origin.is_dir():
                for path in origin.rglob("*"):
                    relative = path.relative_to(ROOT).as_posix()
                    if path.is_file() and not ignored(rules, relative):
                        (into / path.relative_to(origin)).parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy(path, into / path.relative_to(origin))
            else:
                assert not ignored(rules, source), f"{name}: COPY {source}, which the build context leaves out"
                target_path = into / origin.name if target.endswith("/") else into
                target_path.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(origin, target_path)


@pytest.mark.parametrize(("name", "package"), [(n, p) for n, ps in PYTHON_DOCKERFILES.items() for p in ps])
def test_the_image_s_uv_sync_works_on_exactly_its_build_context(name: str, package: str, tmp_path) -> None:
    """The build stage's uv sync, run (as a dry run) on a copy of what the image COPYs: a manifest the
    build context leaves out, a stale lock or a wrong package name fails here, not in a docker build."""
    service = package.removeprefix("oficina-")
    build_stage_sources(name, service, tmp_path / "src")
    sync = next(i.arguments for i in dockerfile(name) if i.keyword == "RUN" and "uv sync" in i.arguments)
    command = sync[sync.index("uv sync"):].split("&&")[0].replace("${SERVICE}", service).replace('"', "").split()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("UV_", "VIRTUAL_ENV"))}
    env.update(UV_PROJECT_ENVIRONMENT=str(tmp_path / "venv"), UV_PYTHON=sys.executable, UV_PYTHON_DOWNLOADS="never")
    result = run([tool("uv"), *command[1:], "--dry-run"], cwd=tmp_path / "src", env=env)
    assert result.returncode == 0, f"{name} ({package}): {' '.join(command)}\n{result.stderr[-3000:]}"
    installed = re.findall(r"^ \+ ([\w.-]+)(?:==| @ )", result.stderr, re.M)
    assert "oficina-common" in installed or package == "mercadopago-sandbox", result.stderr[-3000:]
    assert not {"pytest", "moto", "ruff"} & set(installed), "test tools would be installed in the image"


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
     ["pyproject.toml", "uv.lock", "requirements-uv.txt", "mercadopago_sandbox/pyproject.toml",
      "libs/pyproject.toml", "libs/oficina_common/__init__.py", "docker/gunicorn.conf.py",
      *[f"{s}_project/{f}" for s in SERVICES for f in ("manage.py", "pyproject.toml", "config/wsgi.py")]],
     [".git/config", ".venv/bin/python", "node_modules/dynalite/package.json", ".data/logs/os-web.log",
      "os_project/service_orders/tests/test_api.py", "billing_project/conftest.py", "libs/tests/test_outbox.py",
      "libs/oficina_common.egg-info/PKG-INFO", "os_project/config/__pycache__/settings.cpython-311.pyc",
      "docker/compose.yaml", "tests/system.py", "k8s/base/kustomization.yaml"]),
    ("sandbox.Dockerfile",
     ["mercadopago_sandbox/__main__.py", "mercadopago_sandbox/pyproject.toml",
      "mercadopago_sandbox/templates/base.html", "pyproject.toml", "uv.lock", "requirements-uv.txt",
      "libs/pyproject.toml", *[f"{s}_project/pyproject.toml" for s in SERVICES]],
     ["mercadopago_sandbox/tests/test_payments.py", ".git/HEAD", ".venv/bin/python", "os_project/manage.py",
      "libs/oficina_common/__init__.py"]),
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
