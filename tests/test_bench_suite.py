"""The whole-suite benchmark runs end to end at its smallest size and prints a usable table."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_suite_prints_the_table_with_a_finite_ratio() -> None:
    """Size 3, one run, no services, the prerelease moment: one row with wall, floor and ratio,
    and pytest by itself for that many checks, which costs something but less than the run."""
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_suite.py"), "--sizes", "3",
                             "--runs", "1", "--no-services", "--moments", "prerelease"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "envs moment" in result.stdout
    row = re.search(r"^\s+3 prerelease\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)x\s+(\d+)\s+([-\d.]+)\s+([\d.]+)\s+([-\d.]+)", result.stdout, re.M)
    assert row, result.stdout
    wall, floor, ratio, checks = float(row[1]), float(row[2]), float(row[3]), int(row[4])
    assert math.isfinite(ratio) and ratio > 0
    assert 0 < floor and 0 < wall and checks > 0
    alone, own = float(row[6]), float(row[7])
    assert 0 < alone < wall
    assert math.isclose(own, (wall - floor - alone) / checks * 1000, abs_tol=0.1)  # the columns are rounded
