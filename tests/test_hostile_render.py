"""Hostile charts and YAML (issue 24, items 1 and 6): every render runs in a bounded child process
(plugins/core/render_child.py) and YAML aliases are bounded at load (plugins/core/yaml_bounds.py).
Each case asserts the one line it ends with; all run on loopback only, in bounded time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, demo_environments
from releasegate.core import render_child
from releasegate.core.gitrepo import SourceError
from releasegate.core.helm import load_yaml_documents
from releasegate.core.render_child import Limits, RenderError
from releasegate.estate.loader import EnvironmentsError, load

TPL_LOOP = "{{ tpl .Values.loop . }}"
CPU_BOUND = "{{- range $i := until 100000 }}{{ range $j := until 100000 }}{{ end }}{{ end }}\n"
BOMB = "a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9))


def _chart(tmp_path: Path, name: str, template: str) -> Path:
    chart = tmp_path / name
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n" + template)
    return chart


@pytest.fixture(autouse=True)
def _default_limits() -> object:
    """Each test sets its own bounds; the defaults come back after it."""
    yield
    render_child.configure(Limits())


def _failure(tmp_path: Path, name: str, template: str, values: dict | None = None,
             **bounds: float) -> str:
    """The one line a render of a one-template chart fails with, under the given bounds."""
    render_child.configure(Limits(**{"timeout_s": 60, "memory_mb": 2048, "output_mb": 64, **bounds}))
    with pytest.raises(RenderError) as caught:
        render_child.render(_chart(tmp_path, name, template), values or {}, f"helm/{name}", "r", "ns")
    return str(caught.value)


@pytest.mark.parametrize("name, template, values, bounds, said", [
    ("loop", "  a: {{ tpl .Values.loop . | quote }}\n", {"loop": TPL_LOOP}, {},
     "it ran out of its 2048 MiB memory limit (render.memory_mb); its stack grew without end: "
     "a template that calls itself (tpl or include)"),
    ("big", '  a: {{ repeat 3000000 "x" | quote }}\n', None, {"output_mb": 1},
     "its output is 2 MiB, over the 1 MiB limit (render.output_mb)"),
    ("huge", '  a: {{ repeat 100000000 "x" | repeat 50 | quote }}\n', None, {},
     "it ran out of its 2048 MiB memory limit (render.memory_mb)"),
])
def test_a_render_past_a_bound_is_one_line_naming_chart_and_bound(
        tmp_path: Path, name: str, template: str, values: dict | None, bounds: dict,
        said: str) -> None:
    assert _failure(tmp_path, name, template, values, **bounds) == \
        f"helm could not render helm/{name}: {said}"
    ok = _chart(tmp_path, "fine", "  a: b\n")  # the next render gets a fresh worker when needed
    assert "data:\n  a: b" in render_child.render(ok, {}, "helm/fine", "r", "ns")["fine/templates/cm.yaml"]


def test_cpu_bound_template_stops_at_the_deadline(tmp_path: Path) -> None:
    started = time.monotonic()
    said = _failure(tmp_path, "spin", CPU_BOUND + "  a: b\n", timeout_s=2)
    assert time.monotonic() - started < 10
    assert said in (
        "helm could not render helm/spin: no result within 2 s (render.timeout_s)",
        "helm could not render helm/spin: it used more than 2 s of CPU time (render.timeout_s)")


def test_a_template_error_names_the_template(tmp_path: Path) -> None:
    said = _failure(tmp_path, "bad", "  a: {{ .Values.x.y }}\n")
    assert said.startswith("helm could not render helm/bad: bad/templates/cm.yaml:5:")
    assert "nil pointer evaluating interface {}.y" in said


def test_alias_bomb_in_values_is_refused_with_its_line() -> None:
    with pytest.raises(SourceError) as caught:
        load_yaml_documents(BOMB, "gitops:helm/app/values.yaml")
    assert str(caught.value) == ("gitops:helm/app/values.yaml:6: expands to more than 1000000 "
                                 "values through repeated aliases (an alias bomb)")


@pytest.mark.parametrize("text", ["a: &r [*r]\n", "a: &r\n  b: *r\n"])
def test_recursive_alias_in_values_is_refused_with_its_line(text: str) -> None:
    with pytest.raises(SourceError) as caught:
        load_yaml_documents(text, "values.yaml")
    assert str(caught.value) == ("values.yaml:1: an alias refers to the anchor that contains it "
                                 "(a recursive alias)")


def test_aliases_within_bounds_still_load() -> None:
    assert load_yaml_documents("a: &x {b: 1}\nc: *x\n---\n---\nd: '*/5 * * * *'\n", "v") == [
        {"a": {"b": 1}, "c": {"b": 1}}, {"d": "*/5 * * * *"}]


@pytest.mark.parametrize("prefix", ["", "# a '!' sends the file to ruamel's parser\n"])
@pytest.mark.parametrize("extra, line, problem", [
    (BOMB, 5, "expands to more than 100000 values through repeated aliases (an alias bomb)"),
    ("x: &r [*r]\n", 1, "an alias refers to the anchor that contains it (a recursive alias)"),
])
def test_environments_file_refuses_bombs_and_recursive_aliases(
        tmp_path: Path, demo_env_file: Path, prefix: str, extra: str, line: int,
        problem: str) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(prefix + extra + demo_env_file.read_text())
    with pytest.raises(EnvironmentsError) as caught:
        load(path)
    shift = prefix.count("\n")
    assert str(caught.value) == f"{path}:{line + shift}: {problem}"


def test_the_bad_environments_file_is_a_usage_error_exit_4(tmp_path: Path,
                                                           demo_env_file: Path) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text("x: &r [*r]\n" + demo_env_file.read_text())
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "prerelease", "--env=production",
         f"--environments={path}", "-p", "no:cacheprovider", "-q"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={k: v for k, v in os.environ.items() if k != "PYTEST_DISABLE_PLUGIN_AUTOLOAD"})
    assert result.returncode == 4, result.stdout[-2000:] + result.stderr[-2000:]
    said = result.stdout + result.stderr
    assert f"{path}:1: an alias refers to the anchor that contains it (a recursive alias)" in said
    assert "Traceback" not in said


def test_one_hostile_chart_among_three_environments(tmp_path: Path, estate_copy: Path) -> None:
    """The issue's "Done when": a full prerelease of the demo where testing's values switch on a
    CPU-bound template finishes within one render deadline (render.timeout_s: 5), names that
    chart, and production's real blockers are all still there."""
    gitops = estate_copy / "gitops"
    (gitops / "helm/app/templates/hostile.yaml").write_text(
        "{{- if .Values.hostile }}\n" + CPU_BOUND + "{{- end }}\n")
    with open(gitops / "helm/app/values-testing.yaml", "a") as values:
        values.write("hostile: true\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", "-C", str(gitops), "add", "-A"], check=True, env=env)
    subprocess.run(["git", "-C", str(gitops), "commit", "-qm", "hostile"], check=True, env=env)
    env_file = tmp_path / "environments.yaml"
    env_file.write_text(demo_environments(estate_copy, "render: {timeout_s: 5}\n"))
    report = tmp_path / "run.json"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "prerelease", "--env=production",
         f"--environments={env_file}", f"--report-json={report}", "-p", "no:cacheprovider"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={k: v for k, v in os.environ.items() if k != "PYTEST_DISABLE_PLUGIN_AUTOLOAD"})
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stdout[-3000:]
    assert "production: cannot compare with it: helm could not render helm/app: no result within " \
           "5 s (render.timeout_s)" in result.stdout
    failed = {r["nodeid"].split("::", 1)[1] for r in json.loads(report.read_text())["records"]
              if r["outcome"] in ("failed", "error")}
    assert "test_hotfix_commits_on_main[production]" in failed
    assert len(failed) == 8, failed
    assert "releasegate: production is NOT safe to release: 8 blockers" in result.stdout
    assert elapsed < 5 + 60, elapsed  # one deadline, plus the run itself on a busy machine


def test_chart_files_over_the_bound_are_not_read_and_the_failure_is_kept(tmp_path: Path) -> None:
    """A chart whose files alone pass render.output_mb is refused from git's sizes (ls-tree -l)
    before anything is exported; the failure is kept, so every later check gets it at once."""
    from releasegate.core import helm
    from releasegate.core.gitrepo import GitRepo

    repo = tmp_path / "gitops"
    _chart(repo / "helm", "fat", "  a: b\n")
    (repo / "helm/fat/files.bin").write_bytes(b"x" * (3 << 20))
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "fat chart"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, capture_output=True)
    render_child.configure(Limits(output_mb=2))
    gitops = GitRepo(repo, "gitops")
    source = helm.ChartSource("helm/fat")
    for _ in range(2):
        with pytest.raises(RenderError) as caught:
            helm.render(gitops, gitops.resolve("main"), source)
        assert str(caught.value) == ("helm could not render helm/fat: its files are 3 MiB, over the "
                                     "2 MiB limit (render.output_mb)")
    helm.clear_cache()


@pytest.mark.parametrize("template, said", [
    # mybinder's analytics-publisher/secret.yaml: b64enc of a value set only in an encrypted file
    ("  a: {{ .Values.x | b64enc }}\n",
     'bad/templates/cm.yaml:5:20 executing "bad/templates/cm.yaml" at <b64enc>: '
     "invalid value; expected string"),
    ("  a: {{ index .Values.m 3 }}\n",
     'template: bad/templates/cm.yaml:5:8: executing "bad/templates/cm.yaml" at '
     "<index .Values.m 3>: error calling index: index out of range: 3"),
    ('  a: {{ fail (printf "%s" (repeat 1000 "why ")) }}\n',
     "execution error at (bad/templates/cm.yaml:5:8): " + ("why " * 88)[:351].rstrip() + "…"),
])
def test_a_template_error_keeps_its_reason_bounded(tmp_path: Path, template: str, said: str) -> None:
    """Helm's engine breaks its message after the template's position; the line keeps the
    reason that follows (trials item 11), cut at render_child.MOST_SAID characters."""
    line = _failure(tmp_path, "bad", template, {"m": [1]})
    assert line == f"helm could not render helm/bad: {said}"
    assert len(line) <= len("helm could not render helm/bad: ") + render_child.MOST_SAID
