"""bench/compare.py: the A/B of the saga benchmark, its rounds driven with canned runs (the real
runs are the benchmark's own, minutes each; here only how the rounds are counted is checked)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from deploylib import ROOT

OUTPUT = """the system alone (the machine less the sandbox and this client): {cpu} ms of CPU per saga
completed sagas per second: {rate}
"""


@pytest.fixture
def compare(monkeypatch: pytest.MonkeyPatch):
    spec = importlib.util.spec_from_file_location("bench_compare", ROOT / "bench" / "compare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "worktree", lambda ref: Path("/nowhere") / ref)
    return module


def canned(compare, outcomes: list[str | None]):  # noqa: ANN001, ANN201
    """run_once giving these outputs in turn; None is a run that fails (a saga never finished)."""
    calls = []

    def run_once(root: Path, orders: int, in_flight: int, warm_up_orders: int) -> str:
        calls.append((root, warm_up_orders))
        outcome = outcomes.pop(0)
        if outcome is None:
            raise compare.RunFailed("benchmark failed:\nTimeoutError: o-1 did not reach AWAITING_APPROVAL within 60s")
        return outcome

    return run_once, calls


def test_a_run_that_fails_is_said_counted_and_run_again(compare, monkeypatch, capsys):
    a, b = OUTPUT.format(cpu=400, rate=4.0), OUTPUT.format(cpu=240, rate=6.4)
    run_once, calls = canned(compare, [a, b, b, None, a])  # round 2 runs B first, then A fails once
    monkeypatch.setattr(compare, "run_once", run_once)

    assert compare.compare("old", runs=2, orders=6, in_flight=2) == 0

    out = capsys.readouterr().out
    assert len(calls) == 5
    assert "A failed (TimeoutError: o-1 did not reach AWAITING_APPROVAL within 60s); its system's logs: " in out
    assert "runs that failed and were run again: A 1, B 0" in out
    assert "0.60x" in out and "1.60x" in out  # each side's two good runs, nothing of the failed one


def test_both_sides_warm_their_systems_up_alike_when_asked(compare, monkeypatch, capsys):
    a, b = OUTPUT.format(cpu=400, rate=4.0), OUTPUT.format(cpu=240, rate=6.4)
    run_once, calls = canned(compare, [a, b, b, a])
    monkeypatch.setattr(compare, "run_once", run_once)

    assert compare.compare("old", runs=2, orders=6, in_flight=2, warm_up_orders=4) == 0

    assert [warm for _, warm in calls] == [4, 4, 4, 4]
    assert "6 orders, after 4 not counted, 2 in flight" in capsys.readouterr().out


def test_a_failed_runs_system_logs_are_kept_where_the_next_run_does_not_write(compare, monkeypatch, tmp_path):
    checkout, logs = tmp_path / "checkout", tmp_path / "checkout" / ".data" / "bench-logs"
    logs.mkdir(parents=True)
    (logs / "execution-worker.log").write_text("saga 1 stuck at create_budget")
    monkeypatch.setattr(compare, "ROOT", tmp_path / "here")

    kept = compare._keep_logs(checkout, "A")

    assert kept.parent == tmp_path / "here" / ".data" / "bench-compare" / "failed" and kept.name.endswith("-A")
    assert (kept / "execution-worker.log").read_text() == "saga 1 stuck at create_budget"
    assert compare._keep_logs(tmp_path / "no-run-here", "B") == "none left"


def test_a_second_failure_in_a_row_ends_the_comparison(compare, monkeypatch):
    run_once, calls = canned(compare, [None, None])
    monkeypatch.setattr(compare, "run_once", run_once)
    with pytest.raises(compare.RunFailed):
        compare.compare("old", runs=3, orders=6, in_flight=2)
    assert len(calls) == 2
