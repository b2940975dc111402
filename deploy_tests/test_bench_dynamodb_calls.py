"""bench/dynamodb_calls.py --indexes: dynalite's own CPU per write, by the GSIs the item is in, run
for real on a few calls (the figures themselves are the README's, from the default run)."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from deploylib import ROOT
from oficina_common.testing import dynalite_available


@pytest.mark.skipif(not dynalite_available(), reason="dynalite is not installed: ./manage_all.sh install")
def test_the_endpoints_cpu_per_write_is_given_for_no_one_and_three_gsis():
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "dynamodb_calls.py"), "--indexes", "--calls", "100",
                             "--rounds", "1"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = dict(re.findall(r"^(no GSI|1 GSI|3 GSIs)\s+([\d.]+) ms of dynalite's CPU per UpdateItem", result.stdout,
                              re.MULTILINE))
    assert set(figures) == {"no GSI", "1 GSI", "3 GSIs"}, result.stdout
    # 100 writes cost dynalite well over a clock tick (10 ms) at any index count.
    assert all(float(ms) > 0 for ms in figures.values()), result.stdout
