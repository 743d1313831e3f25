"""A chart that does not render is one ERROR per environment, not one per check (issue 24
follow-up): the checks that need the render are not checked, pointing at it; the verdict names
the chart and why once; the run is not safe and exits 1 (plugins/unrendered.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, demo_environments
from git_commit import commit_all
from releasegate import unrendered
from releasegate.verdict import step_summary, summarize

FAIL = "{{- if .Values.hostile }}\n{{ fail \"this chart refuses testing\" }}\n{{- end }}\n"
LINE = ("helm could not render helm/app: execution error at (app/templates/hostile.yaml:2:3): "
        "this chart refuses testing")


def _hostile(estate: Path, tmp_path: Path) -> Path:
    """The demo estate with testing's values switching on a template that fails."""
    gitops = estate / "gitops"
    (gitops / "helm/app/templates/hostile.yaml").write_text(FAIL)
    with open(gitops / "helm/app/values-testing.yaml", "a") as values:
        values.write("hostile: true\n")
    commit_all(gitops, "hostile")
    env_file = tmp_path / "environments.yaml"
    env_file.write_text(demo_environments(estate))
    return env_file


def _run(env_file: Path, report: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "prerelease", f"--environments={env_file}",
         f"--report-json={report}", "-p", "no:cacheprovider", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={k: v for k, v in os.environ.items() if k != "PYTEST_DISABLE_PLUGIN_AUTOLOAD"})


def test_one_error_line_for_the_environment_whose_chart_does_not_render(
        tmp_path: Path, estate_copy: Path) -> None:
    env_file = _hostile(estate_copy, tmp_path)
    report = tmp_path / "run.json"
    result = _run(env_file, report, "--env=all")
    assert result.returncode == 1, result.stdout[-3000:]
    records = json.loads(report.read_text())["records"]
    testing = [r for r in records if r["environment"] == "testing"]
    # no check of testing errors or fails on the render: each is not checked, pointing at it
    assert not [r for r in testing if r["outcome"] in ("error", "failed")]
    skipped = [r for r in testing if r.get("details", {}).get("unrendered")]
    assert len(skipped) > 10
    assert {r["details"]["unrendered"] for r in skipped} == {LINE}
    assert {r["message"] for r in skipped} == {unrendered.skip_reason("testing")}
    errors = [line for line in result.stdout.splitlines() if line.startswith("ERROR ")]
    assert errors == [f"ERROR testing: {LINE} ({len(skipped)} checks not checked)"]
    verdict = json.loads(report.read_text())["verdict"]
    assert verdict["unrendered"] == 1 and verdict["errors"] == 0 and not verdict["safe"]
    assert ("releasegate: echo-next, production, testing are NOT safe to release: 10 blockers, "
            "1 chart could not be rendered (testing: helm/app: template error in "
            "app/templates/hostile.yaml:2:3), ") in result.stdout
    assert "(a service could not be checked)" not in result.stdout
    # the other environments are checked as before: production's 8 blockers are all there
    assert len({r["nodeid"] for r in records if r["environment"] == "production"
                and r["outcome"] == "failed" and r["severity"] == "blocker"}) == 8


def test_only_that_environment_still_exits_1(tmp_path: Path, estate_copy: Path) -> None:
    """Every check of the run skips, yet the run is an error: exit 1, never "safe"."""
    env_file = _hostile(estate_copy, tmp_path)
    result = _run(env_file, tmp_path / "run.json", "--env=testing")
    assert result.returncode == 1, result.stdout[-3000:]
    assert result.stdout.strip().splitlines()[-1].startswith(
        "releasegate: testing is NOT safe to release: 1 chart could not be rendered (testing: "
        "helm/app: template error in app/templates/hostile.yaml:2:3), 1 warning, ")
    assert "chart not rendered" in result.stdout.strip().splitlines()[-1]
    verdict = json.loads((tmp_path / "run.json").read_text())["verdict"]
    assert (verdict["verdict"], verdict["unrendered"], verdict["safe"]) == ("not safe", 1, False)


@pytest.mark.parametrize("line, said", [
    ("helm could not render helm/app: it ran out of its 2048 MiB memory limit (render.memory_mb); "
     "its stack grew without end: a template that calls itself (tpl or include)",
     "helm/app: memory limit (render.memory_mb)"),
    ("helm could not render helm/app: no result within 5 s (render.timeout_s)",
     "helm/app: time limit (render.timeout_s)"),
    ("helm could not render helm/app: it used more than 5 s of CPU time (render.timeout_s)",
     "helm/app: time limit (render.timeout_s)"),
    ("helm could not render helm/big: its output is 2 MiB, over the 1 MiB limit (render.output_mb)",
     "helm/big: output limit (render.output_mb)"),
    ("helm could not render helm/app: the render process died (signal SIGSEGV)",
     "helm/app: the render process died"),
    ('helm could not render mybinder: mybinder/templates/analytics-publisher/secret.yaml:12:74 '
     'executing "x" at <b64enc>: invalid value; expected string',
     "mybinder: template error in mybinder/templates/analytics-publisher/secret.yaml:12:74"),
    ("helm could not render apps/x: Chart.yaml file is missing", "apps/x: Chart.yaml file is missing"),
])
def test_the_verdict_names_chart_and_why(line: str, said: str) -> None:
    assert unrendered.short(line) == said


def test_two_environments_and_xdist_style_records_count_once_each() -> None:
    """Records decide on their own (any worker): the verdict groups them per environment and
    chart, the step summary has one error line each."""
    def skip(env: str, line: str, n: int) -> dict:
        return {"nodeid": f"checks/test_x.py::test_{n}[{env}]", "environment": env,
                "outcome": "skipped", "severity": None, "message": unrendered.skip_reason(env),
                "details": {"unrendered": line}}

    memory = ("helm could not render helm/app: it ran out of its 2048 MiB memory limit "
              "(render.memory_mb)")
    found = [skip("testing", memory, n) for n in range(15)] + \
        [skip("staging", LINE, n) for n in range(3)] + [
        {"nodeid": "checks/test_x.py::test_ok[production]", "environment": "production",
         "outcome": "passed", "severity": None, "message": "", "details": {}}]
    verdict = summarize(found, ["production", "staging", "testing"], "prerelease")
    assert verdict["sentence"] == (
        "releasegate: production, staging, testing are NOT safe to release: 2 charts could not be "
        "rendered (staging: helm/app: template error in app/templates/hostile.yaml:2:3; testing: "
        "helm/app: memory limit (render.memory_mb)), 18 checks not run (chart not rendered)")
    assert (verdict["unrendered"], verdict["errors"], verdict["safe"]) == (2, 0, False)
    summary = step_summary(verdict, found)
    assert summary.count("- **error**") == 2
    assert f"- **error** `testing`: `{memory}` (15 checks not checked)" in summary


def test_the_drift_report_keeps_each_such_check_an_error() -> None:
    """drift.json compares findings by check across runs: a check its chart's failure left
    unchecked stays an error there (as before), neither lost nor a new finding."""
    from releasegate.drift.document import category

    record = {"outcome": "skipped", "severity": None, "message": unrendered.skip_reason("testing"),
              "details": {"unrendered": LINE}}
    assert category(record) == "error"
    assert category({**record, "details": {}}) == "skipped"


def test_annotations_and_sarif_get_one_error_per_environment() -> None:
    """On GitHub Actions the failure is one ::error (and one SARIF result), not one per check."""
    from releasegate.annotate import annotation, reported, sarif

    found = [{"nodeid": f"checks/test_x.py::test_{n}[testing]", "check": f"test_{n}",
              "environment": "testing", "item": None, "outcome": "skipped", "severity": None,
              "message": unrendered.skip_reason("testing"), "details": {"unrendered": LINE}}
             for n in range(4)]
    assert [annotation(r, {}, Path("/w")) for r in reported(found)] == [
        f"::error title=releasegate render[testing]::testing: {LINE} (4 checks not checked)"]
    assert [r["message"]["text"] for r in sarif(found, {})["runs"][0]["results"]] == [
        f"testing: {LINE} (4 checks not checked)"]


@pytest.mark.parametrize("values, said", [
    ("a: [1\n", "helm could not render helm/app: gitops:helm/app/values-x.yaml: invalid YAML: "
                "while parsing a flow sequence"),
    ("a: &r [*r]\n", "helm could not render helm/app: gitops:helm/app/values-x.yaml:1: an alias "
                     "refers to the anchor that contains it (a recursive alias)"),
])
def test_a_value_file_that_is_not_yaml_is_a_chart_that_does_not_render(
        tmp_path: Path, values: str, said: str) -> None:
    """`helm template -f` fails on such a file: the same one error per environment."""
    from git_commit import chart_in_git
    from releasegate.core import helm
    from releasegate.core.gitrepo import GitRepo
    from releasegate.core.render_child import RenderError

    chart_in_git(tmp_path, "helm/app", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
                 {"values-x.yaml": values})
    gitops = GitRepo(tmp_path, "gitops")
    try:
        with pytest.raises(RenderError) as caught:
            helm.render(gitops, gitops.resolve("main"), helm.ChartSource("helm/app", ("values-x.yaml",)))
    finally:
        helm.clear_cache()
    assert str(caught.value).startswith(said)
    assert unrendered.failure("testing", f"testing: {caught.value}") == str(caught.value)
