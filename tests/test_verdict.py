"""The run ends with a verdict sentence; -m names registered markers; --static skips every live check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, demo_environments
from releasegate import verdict


def _demo(env_file: Path, tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith(("RELEASEGATE_DEMO", "GITHUB_", "DEMO_"))}
    environ.update(env)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           f"--environments={env_file}", *args],
                          cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300)


def test_the_demo_ends_with_the_verdict_in_terminal_json_and_step_summary(demo_env_file, tmp_path):
    report, summary = tmp_path / "r.json", tmp_path / "summary.md"
    result = _demo(demo_env_file, tmp_path, "-m", "prerelease", "--env=production",
                   f"--report-json={report}", GITHUB_STEP_SUMMARY=str(summary))
    assert result.returncode == 1, result.stdout[-3000:]
    last = result.stdout.rstrip().splitlines()[-1]
    payload = json.loads(report.read_text())
    found = payload["records"]
    blockers = sum(r["severity"] == "blocker" and r["outcome"] == "failed" for r in found)
    warnings = sum(r["severity"] == "warning" and "waiver" not in r for r in found)
    failed = len({r["nodeid"] for r in found if r["outcome"] == "failed"})
    assert blockers >= failed >= 5 and warnings >= 3  # the demo's planted cases
    assert f"{failed} failed" in result.stdout
    assert last == (f"releasegate: production is NOT safe to release: {blockers} blockers, "
                    f"{warnings} warnings, 1 waived, 42 checks not run (19 database not "
                    "configured, 9 registry not configured, 8 kubernetes not configured, "
                    "4 network not configured, 1 needs an option, 1 skipped by registries.skip)")
    assert payload["verdict"]["sentence"] == last
    assert payload["verdict"]["safe"] is False and payload["verdict"]["blockers"] == blockers
    text = summary.read_text()
    assert last in text.splitlines()[0]
    assert "test_secret_keys[production-backend-secrets.SMTP_PASSWORD]" in text


def test_static_run_skips_every_live_check_with_one_line(demo_env_file, tmp_path):
    result = _demo(demo_env_file, tmp_path, "-m", "smoke", "--env=echo-next", "--static")
    assert result.returncode == 1, result.stdout[-3000:]  # the planted settings[0].containers
    section = result.stdout.split("releasegate not checked", 1)[1].split("releasegate:", 1)[0]
    lines = [line for line in section.splitlines()[1:] if line.strip() and line[0] not in "=-"]
    assert lines[0].endswith("checks: --static: live services (database, cluster, registry, HTTP) "
                             "are not contacted")
    assert not any("not configured" in line or "is not set" in line for line in lines), lines
    assert result.stdout.rstrip().splitlines()[-1].startswith(
        "releasegate: the deploy of echo-next is NOT healthy: 1 blocker, ")


def test_a_misspelt_marker_is_a_usage_error_listing_the_markers(demo_env_file, tmp_path):
    result = _demo(demo_env_file, tmp_path, "-m", "prerelase", "--env=production")
    assert result.returncode == 4
    assert ("-m 'prerelase': 'prerelase' is no registered marker (releasegate's moments: "
            "prerelease, smoke, drift;") in result.stderr
    ok = _demo(demo_env_file, tmp_path, "-m", "prerelease and not drift", "--env=production",
               "--collect-only", "-q")
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize("markexpr, records, sentence", [
    ("prerelease", [("passed", "warning"), ("passed", "warning")],
     "releasegate: production is safe to release: 2 warnings (listed above)"),
    ("smoke", [("error", "error"), ("skipped", None)],
     "releasegate: the deploy of production is NOT healthy: 1 error (a service could not be "
     "checked), 1 check not run (other)"),
    ("drift", [("failed", "blocker", True), ("passed", None)],
     "releasegate: production has drifted from git: 1 blocker"),
    ("drift", [("passed", None, True)], "releasegate: production runs what git says"),
    ("drift", [("failed", "blocker"), ("passed", None)],
     "releasegate: production fails the git checks (live state not compared): 1 blocker"),
    ("drift", [("passed", None), ("skipped", None, True)],
     "releasegate: production matches git in what was checked (live state not compared): "
     "1 check not run (other)"),
    ("prerelease", [("skipped", None)],
     "releasegate: production was not checked: 1 check not run (other)"),
])
def test_the_wording_fits_the_moment(markexpr, records, sentence):
    """Drift says "drifted from git" only where a check read live state (issue 28 item 5)."""
    found = [{"nodeid": f"t.py::c[{i}]", "outcome": o, "severity": s, "message": "m",
              "environment": "production", "live": bool(live)}
             for i, (o, s, *live) in enumerate(records)]
    assert verdict.summarize(found, ["production"], markexpr)["sentence"] == sentence


def test_drift_names_the_environments_it_did_not_compare():
    """Two environments, live state read in one only: that one "has drifted", the other is "not
    compared" (issue 28 item 5)."""
    found = [{"nodeid": "t.py::c[p]", "outcome": "failed", "severity": "blocker", "message": "m",
              "environment": "production", "live": True},
             {"nodeid": "t.py::c[t]", "outcome": "failed", "severity": "blocker", "message": "m",
              "environment": "testing"}]
    assert verdict.summarize(found, ["production", "testing"], "drift")["sentence"] == (
        "releasegate: production has drifted from git (testing: live state not compared): "
        "2 blockers")
def _records(*rows: tuple[str, str | None, str]) -> list[dict[str, object]]:
    return [{"nodeid": f"t.py::c[{i}]", "outcome": o, "severity": s, "message": m}
            for i, (o, s, m) in enumerate(rows)]


PASS = ("passed", None, "")
NOT_CHECKED = ("skipped", None, "home: gitops: chart app-template: not checked: cannot fetch it here")


@pytest.mark.parametrize(("records", "share", "sentence", "outcome"), [
    # trials: home-ops, 2 of 15 ran, 12 not checked for want of a chart: never "safe"
    ([PASS] * 2 + [NOT_CHECKED] * 12 + [("skipped", None, "only with --hotfix")],
     None, "releasegate: home is NOT VERIFIED (only 2 of 15 checks ran): 13 checks not run (12 other, "
           "1 needs an option)", "not verified"),
    # half ran: verified (VERIFIED_SHARE 0.5), as before
    ([PASS] * 2 + [NOT_CHECKED] * 2, None,
     "releasegate: home is safe to release: 2 checks not run (other)", "safe"),
    # --require-checked 0.8 asks for more
    ([PASS] * 2 + [NOT_CHECKED] * 2, 0.8,
     "releasegate: home is NOT VERIFIED (only 2 of 4 checks ran): 2 checks not run (other)", "not verified"),
    # skips the run chose (--static, an option not given, registries.skip), or with nothing to
    # compare, do not count against it
    ([PASS] + [("skipped", None, "--static: live services are not contacted")] * 5
     + [("skipped", None, "home: nothing to compare: no earlier commit renders it differently")] * 3
     + [("skipped", None, "home: x: registry docker.io is in registries.skip")] * 2, None,
     "releasegate: home is safe to release: 10 checks not run (5 left out by --static, "
     "3 other, 2 skipped by registries.skip)", "safe"),
    # a blocker is said as before, however little ran
    ([("failed", "blocker", "home: b")] + [NOT_CHECKED] * 9, None,
     "releasegate: home is NOT safe to release: 1 blocker, 9 checks not run (other)", "not safe"),
    # nothing ran at all: as before
    ([NOT_CHECKED] * 3, None, "releasegate: home was not checked: 3 checks not run (other)", "not verified"),
])
def test_a_run_that_verified_little_is_not_safe(records, share, sentence, outcome):
    """README (Checks): "a green run that verified little says so": a verdict says "safe" only when
    at least VERIFIED_SHARE (or --require-checked) of the checks that could run did (trials: "home
    is safe to release: 13 checks not run" with 2 run; drone-tm "safe" with 2 of 22 run)."""
    found = verdict.summarize(_records(*records), ["home"], "prerelease", require_checked=share)
    assert (found["sentence"], found["verdict"]) == (sentence, outcome)
    assert found["safe"] is (outcome == "safe")
    mark = {"safe": "✅", "not verified": "⚠️"}.get(outcome, "❌")
    assert verdict.step_summary(found, []).startswith(f"### {mark} ")


UNVERIFIED_CHECKS = """
import pytest

@pytest.mark.prerelease
def test_ran(host):
    assert host.name

@pytest.mark.prerelease
@pytest.mark.parametrize("n", [1, 2, 3])
def test_not_checked(host, n):
    pytest.skip(f"{host.name}: not checked: chart cannot be fetched here")
"""


@pytest.mark.parametrize(("args", "code", "last"), [
    ((), 0, "releasegate: production is NOT VERIFIED (only 1 of 4 checks ran): 3 checks not run (other)"),
    (("--require-checked=0.5",), 1,
     "releasegate: production is NOT VERIFIED (only 1 of 4 checks ran): 3 checks not run (other)"),
    (("--require-checked=0.25",), 0, "releasegate: production is safe to release: 3 checks not run (other)"),
    (("--require-checked=2",), 4, None),
])
def test_require_checked_sets_the_exit_code(pytester: pytest.Pytester, estate_copy: Path, args, code, last):
    """Without the option the exit code stays pytest's (0: nothing blocks) and the verdict says NOT
    VERIFIED; with --require-checked SHARE a run below the share exits 1; a share outside 0-1 is a
    usage error (exit 4)."""
    (pytester.path / "environments.yaml").write_text(demo_environments(estate_copy))
    pytester.makeconftest('pytest_plugins = ["releasegate.plugin"]')
    pytester.makepyfile(test_checks=UNVERIFIED_CHECKS)
    result = pytester.runpytest("-p", "no:cacheprovider", "-m", "prerelease", "--env=production", *args)
    assert result.ret == code
    if last is None:
        assert "--require-checked: '2' is not a share between 0 and 1 (e.g. 0.8)" in result.stderr.str()
        return
    result.assert_outcomes(passed=1, skipped=3)
    assert result.outlines[-1] == last
