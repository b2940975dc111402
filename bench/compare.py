"""A/B runs of the saga benchmark: this checkout against a git ref, alternated, on one machine.

    .venv/bin/python bench/saga_bench.py --compare <ref> [--runs 3] [--orders 60 --in-flight 20]

The ref is checked out in a worktree under .data/bench-compare/ (its own libs on PYTHONPATH, this
checkout's node_modules); each round runs A (the ref) and B (this checkout) one after the other,
the order swapped every round, each a whole fresh system. Both are measured by this checkout's
benchmark script (copied into the worktree as bench/ruler.py), against each side's own system
(its tests/system.py, services and libs): one ruler for both. The table gives each figure's median
and range over the runs, and B/A of the medians: a noisy, shared machine is compared with itself.
"""
from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# DynamoDB on-demand, us-east-1, per million request units (since November 2024).
WRITE_PRICE, READ_PRICE = 0.625, 0.125
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem")
READS = ("GetItem", "Query", "BatchGetItem")

FIGURES = {
    # name: (pattern in the benchmark's output, better when higher)
    "completed sagas per second": (r"completed sagas per second: ([\d.]+)", True),
    "CPU per saga, the system alone (ms)": (r"the system alone .*?: (\d+) ms of CPU per saga", False),
    "  the same, its processes summed (ms)": (r"the system's own processes .*?: (\d+) ms of CPU per saga", False),
    "DynamoDB calls per saga": (r"DynamoDB calls: ([\d.]+)", False),
    "Celery tasks per saga": (r"Celery tasks: ([\d.]+)", False),
    "HTTP requests per saga": (r"HTTP requests: ([\d.]+)", False),
    **{f"{leg} p50 (ms)": (rf"^{leg}\s+\d+\s+(\d+)", False)
       for leg in ("diagnosis", "approval", "pix", "payment", "finish")},
}


def worktree(ref: str) -> Path:
    sha = subprocess.run(["git", "rev-parse", "--verify", f"{ref}^{{commit}}"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()
    path = ROOT / ".data" / "bench-compare" / sha[:12]
    if not (path / "bench" / "saga_bench.py").exists():
        subprocess.run(["git", "worktree", "add", "--force", "--detach", str(path), sha], cwd=ROOT, check=True,
                       capture_output=True)
    modules = path / "node_modules"
    if not modules.exists():
        modules.symlink_to(ROOT / "node_modules")
    return path


def run_once(root: Path, orders: int, in_flight: int, warm_up_orders: int = 0) -> str:
    env = {**os.environ, "PYTHONPATH": str(root / "libs")}  # the venv's editable libs are this checkout's
    script = root / "bench" / "saga_bench.py"
    if root != ROOT:
        script = root / "bench" / "ruler.py"
        shutil.copyfile(ROOT / "bench" / "saga_bench.py", script)
    result = subprocess.run([sys.executable, str(script), "--orders", str(orders), "--in-flight", str(in_flight),
                             "--warm-up-orders", str(warm_up_orders)],
                            cwd=root, env=env, capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise RunFailed(f"benchmark in {root} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout


class RunFailed(RuntimeError):
    """One run of the benchmark ended in error (a saga that never finished, the system not starting)."""

    def reason(self) -> str:
        return next((line for line in reversed(str(self).splitlines()) if line.strip()), "no output")


def figures(output: str) -> dict[str, float]:
    found = {}
    for name, (pattern, _) in FIGURES.items():
        match = re.search(pattern, output, re.MULTILINE)
        if match:
            found[name] = float(match.group(1))
    detail = re.search(r"DynamoDB calls: [\d.]+ \((.*)\)", output)
    if detail:
        writes = reads = 0.0
        for part in detail.group(1).split(", "):
            *_, operation, count = part.split()
            writes += float(count) if operation in WRITES else 0.0
            reads += float(count) if operation in READS else 0.0
        # One request unit a call: the floor of the bill (an item over 1 KB costs a unit per KB written).
        found["DynamoDB $ per 1,000 sagas (floor)"] = (writes * WRITE_PRICE + reads * READ_PRICE) / 1000
    return found


def compare(ref: str, runs: int, orders: int, in_flight: int, warm_up_orders: int = 0) -> int:
    a_root = worktree(ref)
    results: dict[str, list[dict[str, float]]] = {"A": [], "B": []}
    failed = {"A": 0, "B": 0}
    for n in range(runs):
        for side in (("A", "B") if n % 2 == 0 else ("B", "A")):
            root = a_root if side == "A" else ROOT
            print(f"round {n + 1}/{runs}: {side} ({ref if side == 'A' else 'this checkout'}) ...", flush=True)
            results[side].append(figures(_run_again_once_if_it_fails(side, failed, root, orders, in_flight,
                                                                     warm_up_orders)))
    warm = f", after {warm_up_orders} not counted" if warm_up_orders else ""
    print(f"\nA = {ref}, B = this checkout; {runs} runs each, alternated; {orders} orders{warm}, {in_flight} in flight")
    if any(failed.values()):
        print(f"runs that failed and were run again: A {failed['A']}, B {failed['B']}")
    print(f"{'figure':<40} {'A median (min-max)':>24} {'B median (min-max)':>24} {'B/A':>7}")
    for name in [*FIGURES, "DynamoDB $ per 1,000 sagas (floor)"]:
        a = [r[name] for r in results["A"] if name in r]
        b = [r[name] for r in results["B"] if name in r]
        if not a or not b:
            continue
        ratio = statistics.median(b) / statistics.median(a) if statistics.median(a) else float("nan")
        print(f"{name:<40} {_spread(a):>24} {_spread(b):>24} {ratio:>6.2f}x")
    return 0


def _run_again_once_if_it_fails(side: str, failed: dict[str, int], root: Path, orders: int, in_flight: int,
                                warm_up_orders: int) -> str:
    """A run that fails (a saga that did not finish within the benchmark's timeout, on either side)
    is said, counted in the table and run once more, so that one such saga does not throw away the
    runs already made; a second failure in a row ends the comparison."""
    try:
        return run_once(root, orders, in_flight, warm_up_orders)
    except RunFailed as failure:
        failed[side] += 1
        print(f"  {side} failed ({failure.reason()}); its system's logs: {_keep_logs(root, side)}; running it again",
              flush=True)
    return run_once(root, orders, in_flight, warm_up_orders)


def _keep_logs(root: Path, side: str) -> Path | str:
    """The failed run's system logs (the benchmark leaves them in its checkout's .data/bench-logs,
    where the next run would write over them), copied where they stay."""
    logs = root / ".data" / "bench-logs"
    if not logs.is_dir():
        return "none left"
    kept = ROOT / ".data" / "bench-compare" / "failed" / f"{time.strftime('%Y%m%d-%H%M%S')}-{side}"
    shutil.copytree(logs, kept, dirs_exist_ok=True)
    return kept


def _spread(values: list[float]) -> str:
    fmt = "{:.3f}" if max(values) < 1 else "{:.1f}"
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"
