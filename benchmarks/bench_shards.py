"""Drift over a generated estate: one serial run against N shards (+ the merge), time and peak
memory, and whether the merged records equal the serial run's.

    python benchmarks/bench_shards.py --size 1000 [--shards 4] [--parallel 4] [--no-serial]
        [--parity-index/--no-parity-index] [--keep DIR]

The estate is benchmarks/suite_estate.py's (the demo's repositories, environment i a copy of
testing / echo-next / production), without services: the drift moment as a nightly job on a
machine without the estate's services runs it (the live checks skip). Each pytest run is a child
process as a user's installation runs it (benchmarks/runtime.py: runtime plugins only); its wall
time and its own peak resident memory (wait4) are printed. The shards run `--parallel` at a time
on this machine (on a cluster each shard is a pod). With --parity-index the first step writes the
estate-wide parity index (python -m releasegate.parity_index) and every shard reads it; without, each
shard computes it (every chart rendered in every shard).

Same records: the serial run's --report-json records and drift.json (findings, matrix, summary,
resolved, unchecked) against the merged ones, normalised by benchmarks/same_reports.py's
normalise (durations and dates aside).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import runtime  # noqa: E402
from same_reports import normalise  # noqa: E402
from suite_estate import build_repos, write_estate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOC_KEYS = ("summary", "matrix", "findings", "resolved", "unchecked")


def start(cmd: list[str], log: Path) -> tuple[subprocess.Popen, float, Any]:
    """Start a child with the timed runs' environment; (process, start time, its log)."""
    env = {k: v for k, v in runtime.child_env().items()
           if not k.startswith(("RELEASEGATE_DEMO_", "BENCH_DB_", "DEMO_", "GITHUB_"))}
    handle = log.open("w")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, env=env)
    return proc, time.perf_counter(), handle


CPU: list[float] = []  # CPU seconds of each child, in order


def finish(proc: subprocess.Popen, started: float, handle: Any) -> tuple[int, float, float]:
    """Wait for a child: (exit code, wall s, its peak MiB); its CPU seconds go to CPU."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    handle.close()
    CPU.append(usage.ru_utime + usage.ru_stime)
    return proc.returncode, time.perf_counter() - started, usage.ru_maxrss / 1024


def pytest_cmd(path: Path, size: int, out: Path, name: str, extra: list[str]) -> list[str]:
    """The drift moment over every environment, with both reports."""
    return [sys.executable, "-m", "pytest", *runtime.pytest_args(), "-m", "drift", "--env=all",
            f"--environments={path}", f"--max-environments={max(size, 1000)}", "-q",
            "-p", "no:cacheprovider", f"--drift-report={out / name}",
            f"--report-json={out / (name + '.json')}", *extra]


def same(serial: Path, merged: Path, serial_dir: Path, merged_dir: Path) -> bool:
    """Whether the merged records and drift document equal the serial run's (normalised)."""
    one, two = json.loads(serial.read_text()), json.loads(merged.read_text())
    ok = normalise(one["records"], "") == normalise(two["records"], "")
    ok &= one["verdict"] == two["verdict"]
    d1 = json.loads((serial_dir / "drift.json").read_text())
    d2 = json.loads((merged_dir / "drift.json").read_text())
    return ok and all(normalise(d1[k], "") == normalise(d2[k], "") for k in DOC_KEYS)


def main(argv: list[str] | None = None) -> int:
    """Build the estate, run serial and sharded, print the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=30)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--parallel", type=int, default=0, help="shards at once (default all)")
    parser.add_argument("--serial", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--parity-index", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--keep", type=Path, default=None, help="work in DIR and keep it")
    args = parser.parse_args(argv)
    scratch = args.keep or Path(tempfile.mkdtemp(prefix="bench-shards-"))
    scratch.mkdir(parents=True, exist_ok=True)
    repos = scratch / "repos" if (scratch / "repos").is_dir() else build_repos(scratch)
    path = write_estate(scratch, args.size, repos)
    out = scratch / f"out-{args.size}"
    out.mkdir(exist_ok=True)
    print(f"{args.size} environments ({path.stat().st_size} bytes), {args.shards} shards, "
          f"{args.parallel or args.shards} at once, load {os.getloadavg()[0]:.1f}", flush=True)
    if args.serial:
        code, wall, peak = finish(*start(pytest_cmd(path, args.size, out, "serial", []),
                                         out / "serial.log"))
        print(f"serial      exit {code}  wall {wall:8.1f} s  peak {peak:7.0f} MiB  "
              f"{wall / args.size * 1000:7.1f} ms/env  {peak / args.size * 1024:7.1f} KiB/env  "
              f"cpu {CPU[-1]:7.1f} s",
              flush=True)
    token = f"bench-{os.getpid()}"
    extra: list[str] = []
    began, cpu_before = time.perf_counter(), len(CPU)
    if args.parity_index:
        index = out / "parity-index.json"
        index.unlink(missing_ok=True)
        code, wall, peak = finish(*start(
            [sys.executable, "-m", "releasegate.parity_index", str(index), f"--environments={path}",
             f"--max-environments={max(args.size, 1000)}"], out / "index.log"))
        print(f"index       exit {code}  wall {wall:8.1f} s  peak {peak:7.0f} MiB  "
              f"cpu {CPU[-1]:7.1f} s", flush=True)
        extra = [f"--parity-index={index}"]
    waves = args.parallel or args.shards
    peaks, walls = [], []
    for first in range(1, args.shards + 1, waves):
        running = [start(pytest_cmd(path, args.size, out, f"shard{k}",
                                    [*extra, f"--shard={k}/{args.shards}", f"--shard-run={token}"]),
                         out / f"shard{k}.log")
                   for k in range(first, min(first + waves, args.shards + 1))]
        for k, child in enumerate(running, start=first):
            code, wall, peak = finish(*child)
            peaks.append(peak)
            walls.append(wall)
            print(f"shard {k}/{args.shards} exit {code}  wall {wall:8.1f} s  peak {peak:7.0f} MiB"
                  f"  cpu {CPU[-1]:7.1f} s", flush=True)
    shard_dirs = [str(out / f"shard{k}") for k in range(1, args.shards + 1)]
    shard_json = [str(out / f"shard{k}.json") for k in range(1, args.shards + 1)]
    merge = [sys.executable, "-m", "releasegate.drift.merge"]
    (out / "merged").mkdir(exist_ok=True)
    (out / "merged" / "drift.json").unlink(missing_ok=True)
    code1, wall1, peak1 = finish(*start([*merge, str(out / "merged"), *shard_dirs],
                                        out / "merge.log"))
    code2, wall2, peak2 = finish(*start([*merge, "--records", str(out / "merged.json"),
                                         *shard_json], out / "merge-records.log"))
    total = time.perf_counter() - began
    print(f"merge       exit {code1}/{code2}  wall {wall1 + wall2:8.1f} s  peak "
          f"{max(peak1, peak2):7.0f} MiB", flush=True)
    print(f"sharded     wall {total:8.1f} s (index + shards + merges)  largest shard peak "
          f"{max(peaks):7.0f} MiB  {total / args.size * 1000:7.1f} ms/env  cpu "
          f"{sum(CPU[cpu_before:]):7.1f} s", flush=True)
    if args.serial:
        print("merged records equal the serial run's: "
              + ("yes" if same(out / "serial.json", out / "merged.json", out / "serial",
                               out / "merged") else "NO"), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
