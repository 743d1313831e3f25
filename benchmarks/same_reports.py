"""The demo's three moments give the same JSON reports in two revisions, durations aside.

    .venv/bin/python benchmarks/same_reports.py                      # 871012f against HEAD
    .venv/bin/python benchmarks/same_reports.py --before A --after B

Each revision is checked out into a temporary `git worktree` (the checkout this runs from is only
read); the demo's local services are started once, from the after worktree
(`python -m examples.services up -d`), and both revisions run against them:

    pytest -m prerelease --env=production
    pytest -m smoke --env=echo-next
    pytest -m drift --env=all --drift-report DIR

each with `--report-json FILE -p no:cacheprovider`. The reports (and drift.json) are normalised
before they are compared: durations and timestamps are dropped and the worktree's absolute path is
replaced by `<checkout>`; nothing else is touched. Prints a verdict per moment (records, exit
codes, identical or not, the first differences) and exits 0 only when every report is identical.
The services are stopped and the worktrees removed at the end, whatever happened.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BEFORE = "871012f"   # the last commit with plugins/ flat, before the regrouping of issue 15
OUT = ".same-reports"  # inside each worktree, so that both runs get the same relative arguments
MOMENTS = {
    "prerelease": ["-m", "prerelease", "--env=production"],
    "smoke": ["-m", "smoke", "--env=echo-next"],
    "drift": ["-m", "drift", "--env=all", "--drift-report", f"{OUT}/drift"],
}
# Keys whose values are durations or the time (or day) of the run: they differ between any two runs.
TIMING_KEYS = frozenset({
    "duration", "duration_s", "elapsed_ms", "ms",        # record, run, probe exchange and steps
    "started", "started_at", "generated_at",             # the run's start and the report's time
    "first_seen", "age_days", "resolved_on", "last_checked",  # drift dates: the day of the run
})
DIFF_LINES = 40


def git(*args: str, cwd: Path = ROOT) -> str:
    """Run git in cwd; its stdout, stripped."""
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def normalise(value: Any, checkout: str) -> Any:
    """The value without timing keys, the checkout's absolute path spelled `<checkout>`."""
    if isinstance(value, dict):
        return {k: normalise(v, checkout) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [normalise(v, checkout) for v in value]
    if isinstance(value, str):
        return value.replace(checkout, "<checkout>")
    return value


def start_services(worktree: Path, python: str) -> dict[str, str]:
    """Start the demo's services from worktree in the background; the variables they export."""
    done = subprocess.run([python, "-m", "examples.services", "up", "-d"], cwd=worktree,
                          capture_output=True, text=True, env=_env({}))
    if done.returncode != 0:
        raise RuntimeError(f"services did not start:\n{done.stderr[-4000:]}")
    exports = {}
    for line in done.stdout.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            key, _, value = words[1].partition("=")
            exports[key] = value
    return exports


def stop_services(worktree: Path, python: str) -> None:
    """Stop the services started from worktree (nothing when none run)."""
    subprocess.run([python, "-m", "examples.services", "down"], cwd=worktree,
                   capture_output=True, text=True, env=_env({}), timeout=60)


def _env(exports: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "RELEASEGATE_DEMO_"))}  # no step summary, no stale demo
    env.update(exports, PYTHONDONTWRITEBYTECODE="1")
    return env


def run_moment(worktree: Path, python: str, name: str, exports: dict[str, str],
               timeout_s: float) -> dict[str, Any]:
    """Run one moment in worktree: its exit code and its normalised report (and drift.json)."""
    report = f"{OUT}/{name}.json"
    command = [python, "-m", "pytest", *MOMENTS[name], "--report-json", report,
               "-p", "no:cacheprovider", "-q"]
    done = subprocess.run(command, cwd=worktree, capture_output=True, text=True,
                          env=_env(exports), timeout=timeout_s)
    result: dict[str, Any] = {"exit": done.returncode, "tail": done.stdout.strip().splitlines()[-1:]}
    path = worktree / report
    result["report"] = normalise(json.loads(path.read_text()), str(worktree)) \
        if path.is_file() else None
    drift = worktree / OUT / "drift" / "drift.json"
    if name == "drift":
        result["drift.json"] = normalise(json.loads(drift.read_text()), str(worktree)) \
            if drift.is_file() else None
    return result


def first_differences(before: Any, after: Any) -> list[str]:
    """The start of a unified diff between two JSON values (empty when they are equal)."""
    a = json.dumps(before, indent=1, sort_keys=True).splitlines()
    b = json.dumps(after, indent=1, sort_keys=True).splitlines()
    return list(difflib.unified_diff(a, b, "before", "after", n=2, lineterm=""))[:DIFF_LINES]


def verdict(name: str, before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Print one moment's comparison; True when report (and drift.json) are identical."""
    same = True
    for key in ("report", "drift.json") if name == "drift" else ("report",):
        a, b = before.get(key), after.get(key)
        count = (lambda doc: len(doc.get("records") or doc.get("findings") or [])
                 if isinstance(doc, dict) else "missing")
        what = "records" if key == "report" else "findings"
        identical = a is not None and a == b
        same &= identical and before["exit"] == after["exit"]
        print(f"{name:10} {key:10} {what}: before {count(a)}, after {count(b)}; "
              f"exit {before['exit']}/{after['exit']}; identical: {'yes' if identical else 'NO'}")
        if not identical:
            for line in first_differences(a, b):
                print(f"    {line}")
    for side, result in (("before", before), ("after", after)):
        print(f"    {side}: {' '.join(result['tail'])}")
    return same


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=BEFORE, help=f"revision (default {BEFORE})")
    parser.add_argument("--after", default="HEAD", help="revision (default HEAD)")
    parser.add_argument("--moment", action="append", choices=sorted(MOMENTS),
                        help="only these moments (repeatable; default all three)")
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter with the suite's requirements (default: this one)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per pytest run")
    args = parser.parse_args(argv)
    moments = args.moment or list(MOMENTS)
    revisions = {"before": git("rev-parse", "--verify", f"{args.before}^{{commit}}"),
                 "after": git("rev-parse", "--verify", f"{args.after}^{{commit}}")}
    print(f"before {args.before} = {revisions['before'][:12]}, after {args.after} = "
          f"{revisions['after'][:12]}", flush=True)
    scratch = Path(tempfile.mkdtemp(prefix="same-reports-"))
    trees: dict[str, Path] = {}
    services: Path | None = None
    try:
        for side, commit in revisions.items():
            trees[side] = scratch / side
            git("worktree", "add", "--detach", str(trees[side]), commit)
        services = trees["after"]
        exports = start_services(services, args.python)
        print(f"services up ({len(exports)} variables exported)", flush=True)
        results = {side: {name: run_moment(tree, args.python, name, exports, args.timeout)
                          for name in moments} for side, tree in trees.items()}
        same = [verdict(name, results["before"][name], results["after"][name])
                for name in moments]
    finally:
        if services is not None:
            stop_services(services, args.python)
        removed = [subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT,
                                  capture_output=True).returncode == 0 for tree in trees.values()]
        shutil.rmtree(scratch, ignore_errors=True)
        if not all(removed):  # a worktree git could not remove: forget the deleted folder
            git("worktree", "prune")
    print("identical: yes" if all(same) else "identical: NO")
    return 0 if all(same) else 1


if __name__ == "__main__":
    sys.exit(main())
