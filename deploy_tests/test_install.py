"""Installs are reproducible: one lock (uv.lock, with hashes) for the whole workspace, used by
./manage_all.sh, CI and the images; a lock older than the manifests is refused loudly, a failed install
leaves no stamp behind, and what the script prints honours NO_COLOR."""
from __future__ import annotations

import os
import pty
import re
import shutil
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.utils import canonicalize_name

from deploylib import ROOT, run, tool

MEMBERS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]["members"]
# What install reads, and so what a temporary copy of the repository needs to run it.
INSTALL_INPUTS = ["manage_all.sh", "pyproject.toml", "uv.lock", "requirements-uv.txt", "package.json",
                  "package-lock.json", *[f"{member}/pyproject.toml" for member in MEMBERS]]
ESC = "\x1b"


def uv(*args: str) -> subprocess.CompletedProcess[str]:
    return run([tool("uv"), *args, "--project", str(ROOT)], env={**os.environ, "NO_COLOR": "1"})


def test_the_lock_matches_every_manifest() -> None:
    result = uv("lock", "--check")
    assert result.returncode == 0, f"uv.lock is out of date: run ./manage_all.sh lock\n{result.stderr}"


def test_requirements_uv_is_the_locked_uv() -> None:
    """The file that bootstraps uv (before uv can read uv.lock) is the lock's own uv, with its hashes."""
    result = uv("export", "--frozen", "--only-group", "bootstrap", "--no-emit-project", "--no-emit-workspace")
    assert result.returncode == 0, result.stderr

    def pins(text: str) -> list[str]:
        return [line for line in text.splitlines() if not line.startswith("#")]

    assert pins((ROOT / "requirements-uv.txt").read_text()) == pins(result.stdout), \
        "requirements-uv.txt is not the uv of uv.lock: run ./manage_all.sh lock"
    assert re.search(r"^uv==[\d.]+ \\$", result.stdout, re.M) and "--hash=sha256:" in result.stdout


def test_dependencies_live_in_the_manifests_only() -> None:
    """No requirements file beside the workspace: a dependency added there would never reach the lock."""
    found = [*ROOT.glob("requirements*.txt"), *ROOT.glob("*/requirements*.txt")]
    stray = [p.relative_to(ROOT).as_posix() for p in found if p.name != "requirements-uv.txt"]
    assert not stray, f"move these into the pyproject.toml files and run ./manage_all.sh lock: {stray}"
    assert sorted(MEMBERS) == sorted(p.parent.name for p in ROOT.glob("*/pyproject.toml"))


def test_this_environment_is_the_lock() -> None:
    """The virtualenv running these tests holds exactly what uv.lock says for this interpreter."""
    result = uv("export", "--frozen", "--all-packages", "--all-groups", "--no-hashes", "--no-emit-workspace",
                "--no-header", "--no-annotate")
    assert result.returncode == 0, result.stderr
    locked = {}
    for line in result.stdout.splitlines():
        requirement, _, marker = line.partition(" ; ")
        if "==" in requirement and (not marker or Marker(marker).evaluate()):
            name, version = requirement.split("==")
            locked[canonicalize_name(name.split("[")[0])] = version.strip()
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    wrong = {name: (version, installed.get(name)) for name, version in locked.items() if installed.get(name) != version}
    assert not wrong, f"locked version, installed version: {wrong}; run ./manage_all.sh install"
    workspace = {canonicalize_name(tomllib.loads((ROOT / m / "pyproject.toml").read_text())["project"]["name"])
                 for m in MEMBERS}
    extra = set(installed) - set(locked) - workspace - {"pip", "setuptools"}
    assert not extra, f"installed but not in uv.lock: {sorted(extra)}; add them to a pyproject.toml and lock"


# --- ./manage_all.sh install, in a temporary copy of the repository ------------------------------
@pytest.fixture
def copy(tmp_path: Path) -> Path:
    for name in INSTALL_INPUTS:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def in_terminal(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 120) -> tuple[int, str]:
    """Run with stdout and stderr on a pseudo-terminal, as a person at a terminal would: colours allowed."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(args, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal)
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closed: every process holding it has exited
            break
        if not chunk:
            break
        output += chunk
    os.close(controller)
    return process.wait(timeout=timeout), output.decode(errors="replace")


def no_index_env(**extra: str) -> dict[str, str]:
    """pip pointed at an index that refuses every connection, with no configuration of this machine."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PIP_", "UV_", "VIRTUAL_ENV"))}
    env.update(PIP_INDEX_URL="http://127.0.0.1:9/simple", PIP_CONFIG_FILE=os.devnull, PIP_RETRIES="0",
               PIP_TIMEOUT="2", **extra)
    return env


def test_a_failed_install_fails_loudly_and_leaves_no_stamp(copy: Path) -> None:
    code, output = in_terminal(["bash", "manage_all.sh", "install"], copy, no_index_env(NO_COLOR="1"))
    assert code != 0, output
    assert "xx pip could not install uv" in output
    assert not (copy / ".venv" / ".install-stamp").exists(), "the next run would skip the install"
    assert "==> creating the virtualenv in .venv" in output
    assert ESC not in output, f"NO_COLOR is set, yet: {output!r}"


def test_colours_on_a_terminal_without_no_color(copy: Path) -> None:
    """The NO_COLOR check above could fail: on a terminal the script does colour its lines."""
    env = {key: value for key, value in os.environ.items() if key != "NO_COLOR"}
    code, output = in_terminal(["bash", "manage_all.sh", "no-such-verb"], copy, env)
    assert code != 0 and f"{ESC}[1;31mxx{ESC}[0m unknown command" in output
    code, output = in_terminal(["bash", "manage_all.sh", "no-such-verb"], copy, {**env, "NO_COLOR": "1"})
    assert code != 0 and ESC not in output and "xx unknown command" in output


def test_install_refuses_a_lock_older_than_the_manifests(copy: Path) -> None:
    manifest = copy / "os_project" / "pyproject.toml"
    manifest.write_text(manifest.read_text().replace('dependencies = [\n', 'dependencies = [\n  "six>=1.16",\n', 1))
    env = {key: value for key, value in os.environ.items() if not key.startswith(("UV_", "VIRTUAL_ENV"))}
    result = run(["bash", "manage_all.sh", "install"], cwd=copy, env={**env, "NO_COLOR": "1"}, timeout=300)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "uv.lock does not match the pyproject.toml files" in result.stderr
    assert "./manage_all.sh lock" in result.stderr
    assert not (copy / ".venv" / ".install-stamp").exists()
    assert "installing the Python packages" not in result.stdout, "nothing is installed from a stale lock"


def test_install_refuses_a_requirements_file(copy: Path) -> None:
    (copy / "billing_project" / "requirements.txt").write_text("opentelemetry-sdk\n")
    result = run(["bash", "manage_all.sh", "install"], cwd=copy, env={**os.environ, "NO_COLOR": "1"})
    assert result.returncode != 0 and "billing_project/requirements.txt" in result.stderr
    assert not (copy / ".venv").exists()


def test_waits_say_what_they_wait_for_and_how_long(copy: Path) -> None:
    flag = copy / "ready"
    script = (f"source manage_all.sh; (sleep 1.5; touch {flag}) & wait_until 'the flag file' 20 test -e {flag}; "
              f"wait_until 'nothing at all' 1 false || echo 'gave up'")
    result = run(["bash", "-c", script], cwd=copy, env={**os.environ, "NO_COLOR": "1"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "==> waiting for the flag file (up to 20 s)"
    assert re.fullmatch(r"==> the flag file: ready after [1-9][0-9]* s", lines[1]), lines
    assert lines[-1] == "gave up" and "waiting for nothing at all (up to 1 s)" in result.stdout
