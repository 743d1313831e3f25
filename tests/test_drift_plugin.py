"""--drift-report end to end: a tiny estate and checks file run by pytester -> drift files.

The checks read planted.json next to them, so one test can run "last night" and "tonight" with a
problem fixed, a message reworded and a new problem planted in between.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jsonschema
import pytest

from releasegate.drift import document as drift_render

SCHEMA = json.loads((Path(drift_render.__file__).parent / "drift_schema.json").read_text())

ENVIRONMENTS = """
version: 1
sources:
  app: {path: app, main: main}
environments:
  production:
    deploys: {tag: v1.0.0}
    gitops: {chart: chart}
  testing:
    deploys: {branch: main}
    gitops: {chart: chart}
waivers:
  - check: test_image
    environment: testing
    item: worker
    reason: worker image rebuilt next sprint
    expires: 2099-12-31
"""

CHECKS = '''
import json
from pathlib import Path

import pytest

from releasegate.params import per_item
from releasegate.core.redact import register_secret

TOKEN = "hunter2-not-for-reports"
register_secret(TOKEN)  # as every check does with a credential it handles
PLANTED = json.loads(Path(__file__).with_name("planted.json").read_text())


def images(host):
    return [("api", "api"), ("worker", "worker")]


@pytest.mark.drift
@per_item(images)
def test_image(host, item, gate):
    problem = PLANTED.get(f"image/{host.name}/{item}")
    if problem:
        gate.block(problem, repository=item, pulled_with=f"Bearer {TOKEN}")


@pytest.mark.drift
def test_flags(host, gate):
    problem = PLANTED.get(f"flags/{host.name}")
    if problem:
        gate.warn(problem, flag="FEATURE_FLAGS__AGENT_LOOPS")


@pytest.mark.drift
def test_database(host, gate):
    pytest.skip(f"{host.name}: database.dsn_env is not set")
'''

NIGHT1 = {"image/production/api": "api:abc123 is not in the registry: build and push it",
          "image/testing/worker": "worker:def456 is not in the registry",
          "flags/production": "FEATURE_FLAGS__AGENT_LOOPS is on in production only"}


@pytest.fixture
def estate(pytester: pytest.Pytester) -> pytest.Pytester:
    """A real git repo, an environments file, and the checks (with planted.json)."""
    app = pytester.path / "app"
    app.mkdir()
    git = ["git", "-C", str(app), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    (app / "README").write_text("app\n")
    subprocess.run([*git, "add", "README"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], check=True)
    subprocess.run([*git, "tag", "v1.0.0"], check=True)
    pytester.makefile(".yaml", environments=ENVIRONMENTS)
    pytester.makeini("[pytest]\naddopts = --strict-markers\n")
    pytester.makeconftest('pytest_plugins = ["releasegate.plugin"]\n')
    pytester.makepyfile(test_checks=CHECKS)
    plant(pytester, NIGHT1)
    return pytester


def plant(pytester: pytest.Pytester, problems: dict[str, str]) -> None:
    (pytester.path / "planted.json").write_text(json.dumps(problems))


def read(pytester: pytest.Pytester, name: str = "drift.json", folder: str = "reports/drift"):
    text = (pytester.path / folder / name).read_text(encoding="utf-8")
    return json.loads(text) if name.endswith(".json") else text


def keyed(entries):
    return {(e["check"], e["environment"], e["item"]): e for e in entries}


def test_writes_three_files_with_every_finding(estate):
    result = estate.runpytest("--drift-report=reports/drift", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, failed=1, skipped=2, xfailed=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*releasegate drift report*",
                                 "*drift.html: 3 new, 0 persisting, 0 resolved (no baseline*"])
    doc = read(estate)
    jsonschema.validate(doc, SCHEMA)
    found = keyed(doc["findings"])
    assert set(found) == {("test_image", "production", "api"), ("test_image", "testing", "worker"),
                          ("test_flags", "production", "")}
    api = found[("test_image", "production", "api")]
    assert (api["severity"], api["category"], api["status"]) == ("blocker", "blocker", "new")
    assert api["message"] == "production: api:abc123 is not in the registry: build and push it"
    assert api["details"] == {"repository": "api", "pulled_with": "Bearer ***"}
    assert api["nodeid"] == "test_checks.py::test_image[production-api]"
    assert found[("test_image", "testing", "worker")]["category"] == "waived"
    assert found[("test_image", "testing", "worker")]["waiver"]["reason"] == (
        "worker image rebuilt next sprint")
    assert found[("test_flags", "production", "")]["category"] == "warning"
    assert doc["run"]["envs"] == ["production", "testing"]
    assert doc["run"]["refs"]["app"]["ref"] == "main"
    assert len(doc["run"]["refs"]["app"]["commit"]) == 40
    assert doc["run"]["version"] == "0.1.0" and doc["run"]["duration_s"] >= 0
    assert doc["run"]["exitstatus"] == 1
    assert doc["matrix"]["checks"] == ["test_database", "test_flags", "test_image"]
    worst = {(c["environment"], c["check"]): c["worst"] for c in doc["matrix"]["cells"]}
    assert worst == {("production", "test_database"): "skipped",
                     ("production", "test_flags"): "warning",
                     ("production", "test_image"): "blocker",
                     ("testing", "test_database"): "skipped",
                     ("testing", "test_flags"): "passed",
                     ("testing", "test_image"): "waived"}
    md = read(estate, "drift.md")
    assert "| test_image | 🔴 | 🔵 |" in md
    html = read(estate, "drift.html")
    assert html.count('<td class="cell ') == 6
    for text in (json.dumps(doc), md, html):
        assert "hunter2" not in text  # the registered secret is masked in every file


def test_second_night_marks_new_persisting_resolved(estate):
    estate.runpytest("--drift-report=reports/drift", "-p", "no:cacheprovider")
    first = read(estate)
    # Overnight: the api image was pushed, the flag message reworded, a new blocker appeared.
    plant(estate, {"image/testing/worker": "worker:def456 is not in the registry",
                   "flags/production": "production turns FEATURE_FLAGS__AGENT_LOOPS on alone",
                   "image/production/worker": "worker:0badc0de is not in the registry"})
    result = estate.runpytest("--drift-report=reports/drift", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*drift.html: 1 new, 2 persisting, 1 resolved (baseline *"])
    doc = read(estate)
    jsonschema.validate(doc, SCHEMA)
    assert doc["baseline"]["generated_at"] == first["generated_at"]
    assert doc["baseline"]["path"].endswith("reports/drift/drift.json")
    found = keyed(doc["findings"])
    assert found[("test_image", "production", "worker")]["status"] == "new"
    flags = found[("test_flags", "production", "")]
    assert flags["status"] == "persisting"
    assert flags["first_seen"] == first["findings"][0]["first_seen"]
    assert flags["previous_message"] == "production: FEATURE_FLAGS__AGENT_LOOPS is on in production only"
    assert found[("test_image", "testing", "worker")]["status"] == "persisting"
    assert list(keyed(doc["resolved"])) == [("test_image", "production", "api")]
    md = read(estate, "drift.md")
    assert "### Resolved (1)" in md and "api:abc123 is not in the registry" in md


def test_explicit_baseline_with_old_first_seen(estate, tmp_path):
    estate.runpytest("--drift-report=reports/drift", "-p", "no:cacheprovider")
    old = read(estate)
    for finding in old["findings"]:
        finding["first_seen"] = "2026-01-05"
    baseline = tmp_path / "last-week.json"
    baseline.write_text(json.dumps(old))
    result = estate.runpytest("--drift-report=elsewhere", f"--drift-baseline={baseline}",
                              "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*3 persisting*"])
    doc = read(estate, folder="elsewhere")
    assert {f["first_seen"] for f in doc["findings"]} == {"2026-01-05"}
    assert all(f["age_days"] > 300 for f in doc["findings"])
    assert doc["baseline"]["path"] == str(baseline)


def test_fail_on_new(estate):
    first = estate.runpytest("--drift-report=r", "--drift-fail-on=new", "-p",
                             "no:cacheprovider")
    assert first.ret == 1  # no baseline: everything is new
    first.stdout.fnmatch_lines(["*--drift-fail-on new: 2 new finding(s) since the baseline: "
                                "exit 1*"])
    same = estate.runpytest("--drift-report=r", "--drift-fail-on=new", "-p",
                            "no:cacheprovider")
    assert same.ret == 0  # a blocker still fails its check, but it is not new
    same.assert_outcomes(passed=4, failed=1, skipped=2, xfailed=1)
    same.stdout.fnmatch_lines(["*nothing new since the baseline: exit 0*"])
    assert read(estate, folder="r")["run"]["exitstatus"] == 0
    plant(estate, {**NIGHT1, "flags/testing": "FEATURE_FLAGS__X differs"})
    warned = estate.runpytest("--drift-report=r", "--drift-fail-on=new", "-p",
                              "no:cacheprovider")
    assert warned.ret == 1  # a new warning is something new too
    plant(estate, {})
    clean = estate.runpytest("--drift-report=r", "-p", "no:cacheprovider")
    assert clean.ret == 0
    assert read(estate, folder="r")["summary"]["resolved"] == 4


def test_incomplete_run_writes_a_partial_report_that_resolves_nothing(estate):
    plant(estate, {**NIGHT1, "image/production/worker": "worker:0badc0de is not in the registry"})
    estate.runpytest("--drift-report=r", "-p", "no:cacheprovider")
    night1 = keyed(read(estate, folder="r")["findings"])
    # -x stops at production-api: production-worker (same check, same environment), the testing
    # items and the flag check are never reached, so none of them may count as resolved.
    result = estate.runpytest("--drift-report=r", "-x", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*drift.html: 0 new, 1 persisting, 0 resolved, 3 unchecked*",
                                 "incomplete run: the run stopped early (exit code 1: stopping "
                                 "after 1 failures)*"])
    assert result.ret == 1
    doc = read(estate, folder="r")
    jsonschema.validate(doc, SCHEMA)
    assert doc["run"]["complete"] is False
    assert doc["resolved"] == []
    assert set(keyed(doc["findings"])) == {("test_image", "production", "api")}
    unchecked = keyed(doc["unchecked"])
    assert set(unchecked) == {("test_image", "production", "worker"),
                              ("test_image", "testing", "worker"), ("test_flags", "production", "")}
    assert all(unchecked[k]["first_seen"] == night1[k]["first_seen"] for k in unchecked)
    assert "**Incomplete run**: the run stopped early" in read(estate, "drift.md", folder="r")
    assert 'id="incomplete"' in read(estate, "drift.html", folder="r")
    # The next complete run picks every one of them up again as persisting.
    estate.runpytest("--drift-report=r", "-p", "no:cacheprovider")
    doc = read(estate, folder="r")
    assert doc["run"]["complete"] is True and not doc["unchecked"] and not doc["resolved"]
    assert {k: f["status"] for k, f in keyed(doc["findings"]).items()} == {
        k: "persisting" for k in night1}


def test_collect_only_keeps_the_previous_report(estate):
    estate.runpytest("--drift-report=r", "-p", "no:cacheprovider")
    before = read(estate, folder="r")
    result = estate.runpytest("--drift-report=r", "--collect-only", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*not written: --collect-only runs no check*"])
    assert read(estate, folder="r") == before


def test_works_under_xdist(estate):
    result = estate.runpytest("--drift-report=r", "-p", "xdist", "-n", "2", "-p",
                              "no:cacheprovider")
    result.assert_outcomes(passed=4, failed=1, skipped=2, xfailed=1)
    doc = read(estate, folder="r")
    assert doc["summary"]["results"] == 8
    assert len(doc["findings"]) == 3


@pytest.mark.parametrize("args, message", [
    (["--drift-fail-on=sometimes"], "--drift-fail-on: 'sometimes' is not one of blockers, new"),
    (["--drift-fail-on=new"], "--drift-fail-on needs --drift-report DIR"),
    (["--drift-baseline=x.json"], "--drift-baseline needs --drift-report DIR"),
    (["--drift-report=r", "--drift-baseline=missing.json"], "*missing.json does not exist"),
    (["--drift-report=environments.yaml"], "*environments.yaml exists and is not a directory"),
    (["--drift-report=environments.yaml/r"], "--drift-report: cannot create */environments.yaml/r: "
                                              "Not a directory"),
])
def test_bad_options_are_usage_errors(estate, args, message):
    result = estate.runpytest(*args, "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_folder_that_takes_no_file_stops_the_run_at_start(estate):
    # /proc exists (so the folder check passes) but accepts no new file, even from root: the
    # folder's lock file cannot be made, so the run stops before any check (a full disk at the
    # end is tests/test_hostile_reports.py's).
    result = estate.runpytest("--drift-report=/proc", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --drift-report: cannot lock /proc: *"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_corrupt_baseline_is_a_usage_error_before_running(estate):
    (estate.path / "r").mkdir()
    (estate.path / "r" / "drift.json").write_text('{"schema_version": 1, "findings": [{"check"')
    result = estate.runpytest("--drift-report=r", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--drift-baseline: *drift.json is not JSON*"])
    assert "passed" not in result.stdout.str()
