"""The demo of the boot in the application's own environment (examples/boot-env.yaml, branch
demo/workers-v1 of the demo app; examples/README.md): the workers' settings are on pydantic v1,
import their own package (`workers.jobs.queues`) and hold a class only the scheduler builds. Each
planted case gives its finding; without `environment` the same module is "not checked" (never a
pass, never a false blocker)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

BOOT = ("production: worker, worker-cpu at app {sha}: REDIS_URL='redis://redis:6379/0' fails QueueSettings.redis_url: "
        "the queue broker must not share redis database 0 with the cache (value_error)")
LEVEL = ("production: worker, worker-cpu at app {sha}: LOG_LEVEL='WARNING' fails QueueSettings.log_level: unexpected "
         "value; permitted: 'debug', 'info', 'warning', 'error' (value_error.const)")
SCHEDULER = ("production: SchedulerSettings.scheduler_timezone is required (reads SCHEDULER_TIMEZONE) and no variable "
             "sets it for scheduler at app {sha} (running): add SCHEDULER_TIMEZONE to helm/app/values-production.yaml")


def _env_file(tmp_path: Path, demo_repos: Path, keep_environment: bool = True) -> Path:
    text = (ROOT / "examples" / "boot-env.yaml").read_text()
    text = text.replace("path: .estate/app", f"path: {demo_repos / 'app'}")
    text = text.replace("path: .estate/gitops", f"path: {demo_repos / 'gitops'}")
    text = text.replace("    create: python materialize.py\n", "")
    if not keep_environment:
        text = text.replace("    environment: workers/requirements.txt\n", "")
    path = tmp_path / "boot-env.yaml"
    path.write_text(text)
    return path


def _run(tmp_path: Path, env_file: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, dict]]:
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "checks/test_settings.py", f"--environments={env_file}", "--env=production",
         "--ref", "app=demo/workers-v1", "--candidate", "demo/workers-v1", "-k", "settings_boot or settings_required", "-p", "no:cacheprovider",
         f"--report-json={report}"],
        cwd=ROOT, env={**os.environ, "RELEASEGATE_CACHE": str(tmp_path / "cache")},
        capture_output=True, text=True, timeout=600)
    records: dict[str, dict] = {}
    for r in json.loads(report.read_text())["records"]:
        records.setdefault(r["nodeid"].split("::", 1)[1], {"outcome": r["outcome"], "messages": []})
        if r.get("severity") == "blocker":
            records[r["nodeid"].split("::", 1)[1]]["messages"].append(r["message"])
    return done, records


def test_the_workers_boot_in_their_own_environment(tmp_path: Path, demo_repos: Path) -> None:
    """pydantic v1 boots (uv installs workers/requirements.txt), the module's own package is on
    the path (its validator gives the REDIS_URL finding), and the scheduler-only class is required
    of the scheduler alone (no false blockers for worker, worker-cpu)."""
    sha = subprocess.run(["git", "rev-parse", "demo/workers-v1"], cwd=demo_repos / "app", capture_output=True,
                         text=True, check=True).stdout.strip()[:12]
    done, records = _run(tmp_path, _env_file(tmp_path, demo_repos))
    assert done.returncode == 1, done.stdout[-2000:]
    assert {n: r["outcome"] for n, r in records.items()} == {
        "test_settings_required[production-QueueSettings]": "passed",
        "test_settings_required[production-SchedulerSettings]": "failed",
        "test_settings_boot[production-QueueSettings]": "failed",
        "test_settings_boot[production-SchedulerSettings]": "passed"}
    assert sorted(records["test_settings_boot[production-QueueSettings]"]["messages"]) == sorted(
        [BOOT.format(sha=sha), LEVEL.format(sha=sha)])
    assert records["test_settings_required[production-SchedulerSettings]"]["messages"] == [SCHEDULER.format(sha=sha)]
    assert "every class is checked in every container" not in done.stdout


def test_without_the_environment_the_v1_module_is_not_checked(tmp_path: Path, demo_repos: Path) -> None:
    """The suite's interpreter has pydantic 2: the v1 module cannot boot there, which is the suite's
    limit: the boot items skip with the line that says what would let them boot; the static check
    still finds LOG_LEVEL."""
    done, records = _run(tmp_path, _env_file(tmp_path, demo_repos, keep_environment=False))
    assert records["test_settings_boot[production-SchedulerSettings]"]["outcome"] == "skipped"
    assert records["test_settings_boot[production-QueueSettings]"]["outcome"] == "failed"  # the static check
    assert [m.split(": ", 2)[2] for m in records["test_settings_boot[production-QueueSettings]"]["messages"]] == [
        "LOG_LEVEL='WARNING' fails QueueSettings.log_level: Input should be 'debug' or 'info' or 'warning' or "
        "'error' (literal_error) (static check)"]
    assert "is written for pydantic v1, which the boot interpreter does not have" in done.stdout
    assert "set settings[].environment" in done.stdout
