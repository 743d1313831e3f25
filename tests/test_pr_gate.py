"""deploy/github-actions-gitops-pr.yml: the pull-request gate of the deployment repository.

No runner here: the test reads the workflow, lays out the workspace the way its checkout steps do
(the deployment repository at the workspace root, the application repository at the path of the
second checkout), installs the suite the way its install step does (pip, entry point), and runs
the gate step's own `run:` script with bash and the step's environment, so the test and the
workflow cannot drift apart. On the demo: a branch that drops a key the running release still
reads fails, annotated on the values file and line; a harmless branch passes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from conftest import ROOT, demo_environments
from test_packaging import _clean_copy

WORKFLOW = ROOT / "deploy" / "github-actions-gitops-pr.yml"
GIT = ["git", "-c", "user.name=releasegate test", "-c", "user.email=test@example.invalid"]


def _steps() -> list[dict]:
    flow = YAML(typ="safe", pure=True).load(WORKFLOW.read_text())
    assert "pull_request" in flow["on"]
    (job,) = flow["jobs"].values()
    return job["steps"], job["env"]


def _git(repo: Path, *args: str) -> str:
    return subprocess.run([*GIT, "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The suite as the install step leaves it: pip-installed with its pytest11 entry point."""
    site = tmp_path_factory.mktemp("site")
    copy = _clean_copy(tmp_path_factory.mktemp("clone"))  # pip writes build files next to it
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(site), str(copy)],
                   check=True, capture_output=True)
    return site


def _workspace(tmp_path: Path, demo_repos: Path, change: str) -> tuple[Path, dict[str, str]]:
    """The runner's workspace for a pull request whose head makes one change to the demo."""
    steps, job_env = _steps()
    checkouts = [s for s in steps if s.get("uses", "").startswith("actions/checkout")]
    assert "path" not in checkouts[0].get("with", {})  # the deployment repository at the root
    assert checkouts[0]["with"]["ref"] == "${{ github.event.pull_request.head.sha }}"
    app_path = checkouts[1]["with"]["path"]
    workspace = tmp_path / "workspace"
    shutil.copytree(demo_repos / "gitops", workspace, symlinks=True)
    shutil.copytree(demo_repos / "app", workspace / app_path, symlinks=True)
    base = _git(workspace, "rev-parse", "main")
    _git(workspace, "checkout", "-q", "-b", "pr")
    values = workspace / "helm/app/values-testing.yaml"
    text = values.read_text()
    if change == "drop-key":  # the testing branch's code still requires SEARCH_URL
        text = text.replace("  SEARCH_URL: http://search.app-testing.svc:7700\n", "")
    elif change == "selector":  # issue 27: directus's selector gains a label (immutable)
        template = workspace / "helm/app/templates/deployments.yaml"
        template.write_text(template.read_text().replace(
            "      app.kubernetes.io/name: directus\n", "      app.kubernetes.io/name: directus\n      tier: cms\n"))
    else:
        text = text.replace("LOG_LEVEL: DEBUG", "LOG_LEVEL: INFO")
    values.write_text(text)
    _git(workspace, "commit", "-qam", f"testing: {change}")
    head = _git(workspace, "rev-parse", "HEAD")
    env_file = workspace / job_env["RELEASEGATE_ENVIRONMENTS"].split("'")[1]
    env_file.parent.mkdir(parents=True)
    env_file.write_text(demo_environments(demo_repos).replace(
        f"path: {demo_repos / 'app'}", f"path: ../{app_path}").replace(
        f"path: {demo_repos / 'gitops'}", "path: .."))
    return workspace, {"BASE_SHA": base, "HEAD_SHA": head,
                       "RELEASEGATE_ENVIRONMENTS": str(env_file.relative_to(workspace)),
                       "REPORTS": job_env["REPORTS"]}


def _gate(workspace: Path, step_env: dict[str, str], site: Path) -> subprocess.CompletedProcess[str]:
    steps, _ = _steps()
    gate = next(s for s in steps if s.get("name") == "Configuration checks, base then head")
    assert set(gate["env"]) == {"BASE_SHA", "HEAD_SHA"}
    bin_dir = workspace.parent / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "python").unlink(missing_ok=True)
    # a script, not a symlink: a symlinked venv interpreter finds no pyvenv.cfg beside it and
    # runs as the base Python, without the venv's packages
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bin_dir / "python").chmod(0o755)
    # the console script pip installs: the releasegate command (pyproject's [project.scripts])
    (bin_dir / "releasegate").write_text(
        f'#!/bin/sh\nexec "{sys.executable}" -c "from releasegate.cli import main; '
        f'raise SystemExit(main())" "$@"\n')
    (bin_dir / "releasegate").chmod(0o755)
    environ = {k: v for k, v in os.environ.items()
               if k not in ("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "PYTHONPATH")
               and not k.startswith(("RELEASEGATE_DEMO", "GITHUB_"))}
    environ.update(step_env, PATH=f"{bin_dir}{os.pathsep}{environ['PATH']}", PYTHONPATH=str(site),
                   GITHUB_ACTIONS="true", GITHUB_WORKSPACE=str(workspace),
                   GITHUB_STEP_SUMMARY=str(workspace.parent / "summary.md"))
    # the shell GitHub runs a step's script with: bash --noprofile --norc -eo pipefail
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", gate["run"]], cwd=workspace, env=environ,
                          capture_output=True, text=True, timeout=600)


def test_a_branch_dropping_a_still_required_key_fails_annotated(tmp_path, demo_repos, installed):
    workspace, env = _workspace(tmp_path, demo_repos, "drop-key")
    result = _gate(workspace, env, installed)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    values = (workspace / "helm/app/values-testing.yaml").read_text().splitlines()
    line = next(i for i, text in enumerate(values, 1) if text.startswith("extraEnv:"))
    errors = [l for l in result.stdout.splitlines() if l.startswith("::error ")]
    assert [l.split("::")[1] for l in errors] == [
        f"error file=helm/app/values-testing.yaml,line={line},"
        "title=releasegate test_settings_required[testing-SearchSettings]"], errors
    assert "SearchSettings.url is required (reads SEARCH_URL)" in errors[0]
    # what the base already had is a notice, not this pull request's fault
    assert any(l.startswith("::notice ") and "test_secret_keys" in l for l in result.stdout.splitlines())
    assert re.search(r"--drift-fail-on new: \d+ new finding\(s\) since the baseline: exit 1",
                     result.stdout)
    assert (workspace / env["REPORTS"] / "releasegate.sarif").is_file()


def test_a_harmless_branch_passes(tmp_path, demo_repos, installed):
    workspace, env = _workspace(tmp_path, demo_repos, "harmless")
    result = _gate(workspace, env, installed)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert not [l for l in result.stdout.splitlines() if l.startswith("::error ")]
    assert "nothing new since the baseline: exit 0" in result.stdout


def test_a_branch_changing_an_immutable_selector_fails_in_every_environment(tmp_path, demo_repos,
                                                                            installed):
    """Issue 27: the gate compares the pull request's render with main's (what Argo CD synced)."""
    workspace, env = _workspace(tmp_path, demo_repos, "selector")
    result = _gate(workspace, env, installed)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    errors = [l for l in result.stdout.splitlines() if l.startswith("::error ")]
    assert sorted(l.split("title=releasegate ")[1].split("::")[0] for l in errors) == [
        f"test_immutable_fields[{env_name}]" for env_name in ("echo-next", "production", "testing")]
    assert all("Deployment/" in l and "/directus: spec.selector changed" in l for l in errors)
