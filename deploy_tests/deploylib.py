"""What the deployment tests share: the repository's layout, parsers for Dockerfiles, .dockerignore
files and kubelet-style environments, the scan of the environment variables the services read,
and the external tools (located next to this interpreter, installed from uv.lock)."""
from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
K8S = ROOT / "k8s"
SERVICES = ("os", "billing", "execution")
OVERLAYS = ("staging", "production")
PYTHON = sys.executable


def project_dir(service: str) -> Path:
    return ROOT / f"{service}_project"


# --- tools ------------------------------------------------------------------------------------
def tool(name: str) -> str:
    """The path of a command-line tool, or a loud failure saying how to install it."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found:
        return found
    pytest.fail(
        f"'{name}' is not installed: run ./manage_all.sh install (the deploy-tests group of "
        f"{ROOT / 'pyproject.toml'}, from uv.lock)",
        pytrace=False,
    )


def run(args: list[str], *, cwd: Path = ROOT, env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


# --- Dockerfiles ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str
    stage: int

    def exec_form(self) -> list[str]:
        value = json.loads(self.arguments)
        assert isinstance(value, list), f"{self.keyword} is not in exec (JSON array) form: {self.arguments}"
        return value


def dockerfile(name: str) -> list[Instruction]:
    text = (DOCKER / name).read_text()
    logical: list[str] = []
    current = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or not stripped:
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    instructions: list[Instruction] = []
    stage = -1
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        instructions.append(Instruction(keyword, arguments.strip(), stage))
    return instructions


def final_stage(instructions: list[Instruction]) -> list[Instruction]:
    last = max(i.stage for i in instructions)
    return [i for i in instructions if i.stage == last]


def env_of(instructions: list[Instruction], build_args: dict[str, str]) -> dict[str, str]:
    """The ENV of the final stage, with ${ARG} references substituted."""
    env: dict[str, str] = {}
    for instruction in final_stage(instructions):
        if instruction.keyword != "ENV":
            continue
        for pair in shlex.split(instruction.arguments):
            key, _, value = pair.partition("=")
            env[key] = re.sub(r"\$\{?(\w+)\}?", lambda m: build_args.get(m.group(1), env.get(m.group(1), "")), value)
    return env


# --- .dockerignore (BuildKit: "<Dockerfile>.dockerignore" beside the Dockerfile wins) ----------
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
            continue
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            continue
        out += {"*": "[^/]*", "?": "[^/]"}.get(c, re.escape(c))
        i += 1
    return re.compile(out + r"\Z")


def dockerignore(path: Path) -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = line[1:] if include else line
        rules.append((include, _pattern_regex(pattern.strip().strip("/"))))
    return rules


def ignored(rules: list[tuple[bool, re.Pattern[str]]], relative: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = relative.strip("/").split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for include, regex in rules:
        if any(regex.match(candidate) for candidate in candidates):
            excluded = not include
    return excluded


# --- compose ----------------------------------------------------------------------------------
@cache
def compose() -> dict[str, Any]:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


# --- Kubernetes ---------------------------------------------------------------------------------
def documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def secret_templates(pattern: str = "*-secrets.example.yaml") -> dict[str, dict[str, str]]:
    """The services' Secret templates (their pods load them); ``*.example.yaml``: KEDA's too."""
    templates = {}
    for path in sorted((K8S / "secrets").glob(pattern)):
        secret = yaml.safe_load(path.read_text())
        templates[secret["metadata"]["name"]] = {k: str(v) for k, v in secret.get("stringData", {}).items()}
    return templates


POD_IP = "10.1.2.3"


def container_environment(objects: list[dict[str, Any]], container: dict[str, Any],
                          secrets: dict[str, dict[str, str]]) -> dict[str, str]:
    """The environment the kubelet gives a container: envFrom in order, then env with $(VAR) expanded."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(one(objects, "ConfigMap", source["configMapRef"]["name"]).get("data", {}))
        else:
            env.update(secrets[source["secretRef"]["name"]])
    for var in container.get("env", []):
        if "value" in var:
            value = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), var["value"])
        elif "fieldRef" in var["valueFrom"]:
            assert var["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
            value = POD_IP
        elif "configMapKeyRef" in var["valueFrom"]:
            ref = var["valueFrom"]["configMapKeyRef"]
            value = one(objects, "ConfigMap", ref["name"])["data"][ref["key"]]
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            value = secrets[ref["name"]][ref["key"]]
        env[var["name"]] = value
    return env


def pod_containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return obj["spec"]["template"]["spec"]["containers"]


# --- the environment variables the services read -------------------------------------------------
_ENV_CALL = re.compile(r"\b_?env(?:\.[a-z_]+)?\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']")
_OS_ENVIRON = re.compile(
    r"os\.(?:environ\.get|getenv)\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']"
    r"|os\.environ\[\s*[\"']([A-Z][A-Z0-9_]*)[\"']\s*\]"
    r"|[\"']([A-Z][A-Z0-9_]*)[\"']\s+in\s+os\.environ"
)


def _is_test_file(path: Path) -> bool:
    return "tests" in path.parts or path.name == "conftest.py" or path.name.startswith("test")


def variables_read(paths: list[Path]) -> dict[str, list[str]]:
    """NAME -> the files that read it, over the given Python files (tests left out)."""
    found: dict[str, list[str]] = {}
    for path in paths:
        if _is_test_file(path):
            continue
        text = path.read_text()
        for match in list(_ENV_CALL.finditer(text)) + list(_OS_ENVIRON.finditer(text)):
            name = next(group for group in match.groups() if group)
            found.setdefault(name, []).append(str(path.relative_to(ROOT)))
    return found


# Read by the shared library, but only in the one service named: the others never get it.
ONLY_IN = {
    "JWT_PRIVATE_KEY": "os",  # only the OS signs tokens; Billing and Execution refuse to hold the key
}


def service_variables(service: str) -> dict[str, list[str]]:
    files = sorted(project_dir(service).rglob("*.py")) + sorted((ROOT / "libs" / "oficina_common").glob("*.py"))
    return {name: paths for name, paths in variables_read(files).items() if ONLY_IN.get(name, service) == service}


# Read by a service, deliberately set by no deployment: test hooks. Anything else a service reads
# must be set, so that an operator sees (and can change) every knob in one place.
NOT_DEPLOYED = {
    "CELERY_TASK_ALWAYS_EAGER": "tests only: runs Celery tasks inline",
    "OS_MESSAGE_PUBLISHER": "tests only: swaps the OS outbox publisher for a fake",
    "EMAIL_FILE_PATH": "tests only: where the file-based e-mail backend writes (browser tests read the links)",
}
# Set by a deployment, read by a library rather than by the services' own code.
READ_BY_LIBRARIES = {
    "AWS_DEFAULT_REGION": "boto3's region (kombu's SQS transport has no other way to learn it)",
    "DJANGO_SETTINGS_MODULE": "Django",
}
