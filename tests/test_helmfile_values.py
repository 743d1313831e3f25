"""A value file named *.gotmpl is a Helmfile template (field trial N1): helmfile renders it before
Helm reads it, so the environment's render is "not checked", never an "invalid YAML" ERROR.

Rule: helmfile docs, "Templating" / "Values Files Templates" (https://helmfile.readthedocs.io/en/
latest/#templating): "values files with the .gotmpl extension are rendered as templates" (helmfile
pkg/state/state.go: a value file whose name ends in .gotmpl goes through the template renderer
before it is passed to helm as -f).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, demo_environments
from git_commit import commit_all

TEMPLATE = ("image:\n  tag: {{ .Values.tag | quote }}\n{{- if eq .Environment.Name \"prod\" }}\n"
            "replicas: 3\n{{- end }}\n")


def test_a_gotmpl_value_file_is_not_checked_not_invalid_yaml(tmp_path: Path) -> None:
    from git_commit import chart_in_git
    from releasegate.core import helm
    from releasegate.core.gitrepo import GitRepo, NotChecked

    chart_in_git(tmp_path, "helm/app", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
                 {"api.yaml.gotmpl": TEMPLATE})
    gitops = GitRepo(tmp_path, "gitops")
    source = helm.ChartSource("helm/app", ("api.yaml.gotmpl",))
    try:
        with pytest.raises(NotChecked) as caught:
            helm.render(gitops, gitops.resolve("main"), source)
    finally:
        helm.clear_cache()
    assert str(caught.value) == (
        "not checked: value file gitops:helm/app/api.yaml.gotmpl is a Helmfile template (.gotmpl), "
        "rendered by helmfile before Helm reads it; render it with `helmfile template` and name "
        "the output, or name plain YAML value files instead")


def test_the_environment_is_not_checked_and_the_verdict_names_no_error(
        tmp_path: Path, estate_copy: Path) -> None:
    """The demo's echo-next naming a .gotmpl value file: its render-reading checks skip with the
    line (counted "Helmfile template"), no ERROR line, no unrendered chart in the verdict."""
    gitops = estate_copy / "gitops"
    (gitops / "helm/app/api.yaml.gotmpl").write_text(TEMPLATE)
    commit_all(gitops, "a helmfile value template")
    env_file = tmp_path / "environments.yaml"
    text = demo_environments(estate_copy)
    old = "values: [values.yaml, values-extended-env.yaml]"
    assert old in text
    env_file.write_text(text.replace(old, "values: [values.yaml, api.yaml.gotmpl]"))
    report = tmp_path / "run.json"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "prerelease", f"--environments={env_file}",
         f"--report-json={report}", "-p", "no:cacheprovider", "--env=echo-next"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={k: v for k, v in os.environ.items() if k != "PYTEST_DISABLE_PLUGIN_AUTOLOAD"})
    payload = json.loads(report.read_text())
    assert not [line for line in result.stdout.splitlines() if line.startswith("ERROR ")]
    assert "invalid YAML" not in result.stdout
    skipped = [r for r in payload["records"]
               if r["outcome"] == "skipped" and "Helmfile template" in r["message"]]
    assert len(skipped) >= 5, result.stdout[-3000:]
    assert {r["message"] for r in skipped} == {
        "echo-next: not checked: value file gitops:helm/app/api.yaml.gotmpl is a Helmfile template "
        "(.gotmpl), rendered by helmfile before Helm reads it; render it with `helmfile template` "
        "and name the output, or name plain YAML value files instead"}
    verdict = payload["verdict"]
    assert (verdict["unrendered"], verdict["errors"]) == (0, 0)
    assert f"{len(skipped)} Helmfile template" in result.stdout.rstrip().splitlines()[-1]
