"""Estates evolve: an entry of the environments file whose file or container does not exist at a
commit under check skips with one line naming the entry and the commit, and the rest run; which
images are the application's own is read from the chart at the commit under check; the replay
walks a range across such changes. Real git repositories built in a temp folder, Helm's engine,
the boot subprocess, the checks run by pytest as a user runs them.

  app:    v1.0.0  server/settings.py; ci.yml pushes registry.example.test/app/server
          v1.1.0  (main) adds agent/settings.py (requires AGENT_MODEL), agent.yml and the schema
                  snapshot; ci.yml pushes app/api instead (the image was renamed)
  gitops: g1  production runs v1.0.0 as image app/server; no agent container; no secrets/agent.yaml
          g2  production runs v1.1.0 as app/api, plus an agent container and secrets/agent.yaml
          g3  "prod: drop AGENT_MODEL" (breaks the agent)
          g4  "prod: AGENT_MODEL back" (fixes it)
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from examples.materialize import git
from releasegate.core import deployed
from releasegate.estate import load
from releasegate.core.gitrepo import Absent, GitRepo
from releasegate.core.host import Estatewide
from releasegate.options import Settings
from tests.test_settings_estate import CHART as ESTATE_CHART, commit, init

MAIN = Path(__file__).resolve().parents[1]

WORKFLOW = """
    name: {name}
    on:
      push:
        branches: [main]
        tags: ["v*.*.*"]
    jobs:
      build:
        runs-on: ubuntu-latest
        steps:
          - uses: docker/build-push-action@v5
            with:
              push: true
              tags: registry.example.test/app/{image}:${{{{ github.sha }}}}
"""
APP_V1 = {
    "server/settings.py": """
        from typing import Literal
        from pydantic_settings import BaseSettings

        class ServerSettings(BaseSettings):
            log_format: Literal["json", "text"] = "json"
    """,
    ".github/workflows/ci.yml": WORKFLOW.format(name="ci", image="server"),
}
APP_MAIN = {
    "agent/settings.py": """
        from pydantic import Field
        from pydantic_settings import BaseSettings

        class AgentSettings(BaseSettings):
            model: str = Field(alias="AGENT_MODEL")
    """,
    ".github/workflows/ci.yml": WORKFLOW.format(name="ci", image="api"),
    ".github/workflows/agent.yml": WORKFLOW.format(name="agent", image="agent"),
    "directus/snapshot/info.json": '{"version": 1, "directus": "11.13.4", "vendor": "postgres"}\n',
    "directus/snapshot/collections/note.json": '{"collection": "note", "meta": {}, "schema": {"name": "note"}}\n',
}
DEPLOYMENT = """
    apiVersion: apps/v1
    kind: Deployment
    metadata: {{name: {name}}}
    spec:
      selector: {{matchLabels: {{app: {name}}}}}
      template:
        metadata: {{labels: {{app: {name}}}}}
        spec:
          containers:
            - name: {name}
              image: "registry.example.test/app/{{{{ .Values.{key}.image }}}}:{{{{ .Values.tag }}}}"
              env:
                - {{name: LOG_FORMAT, value: json}}
"""
AGENT_ENV = """            {{- if .Values.agent.model }}
            - {name: AGENT_MODEL, value: {{ .Values.agent.model | quote }}}
            {{- end }}
            - name: AGENT_TOKEN
              valueFrom: {secretKeyRef: {name: agent-secrets, key: token}}
"""
CHART = {
    "helm/app/Chart.yaml": "apiVersion: v2\nname: app\nversion: 0.1.0\n",
    "helm/app/values.yaml": "api: {image: server}\ntag: latest\n",
    "helm/app/templates/api.yaml": DEPLOYMENT.format(name="api", key="api"),
    "argo/app-prod.yaml": ESTATE_CHART["argo/app-prod.yaml"],  # values.yaml, values-production.yaml
}
AGENT_SECRET = """
    apiVersion: bitnami.com/v1alpha1
    kind: SealedSecret
    metadata: {name: agent-secrets, namespace: app-prod}
    spec:
      encryptedData: {token: AgBsealed}
"""
ENVIRONMENTS = """
    version: 1
    sources:
      app: {path: app, main: main, release_tags: "v*.*.*"}
      gitops: {path: gitops, main: main}
    settings:
      - {kind: pydantic-settings, source: app, path: server/settings.py, containers: [api]}
      - {kind: pydantic-settings, source: app, path: agent/settings.py, containers: [agent]}
    builds:
      - {kind: github-actions, source: app, workflow: .github/workflows/ci.yml}
      - {kind: github-actions, source: app, workflow: .github/workflows/agent.yml}
    snapshot: {kind: directus, source: app, path: directus/snapshot}
    environments:
      production:
        deploys: {tag: "v*.*.*"}
        gitops: {argocd_app: argo/app-prod.yaml, secrets: [secrets/agent.yaml]}
        database: {dsn_env: RELEASEGATE_EVOLVING_DSN}
    registries: {skip: [docker.io]}
    network: {timeout_s: 10}
"""


def prod_values(tag: str, image: str, agent: str | None = None) -> dict[str, str]:
    text = f"tag: '{tag}'\napi: {{image: {image}}}\n"
    if agent is not None:
        text += f"agent: {{image: agent, model: '{agent}'}}\n"
    return {"helm/app/values-production.yaml": text}


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("evolving")
    init(root / "app")
    v1 = commit(root / "app", APP_V1, "feat: server", tag="v1.0.0")
    v11 = commit(root / "app", APP_MAIN, "feat: agent; server image renamed to api", tag="v1.1.0")
    init(root / "gitops")
    g1 = commit(root / "gitops", {**CHART, **prod_values(v1, "server")}, "prod: v1.0.0")
    agent_chart = {"helm/app/templates/agent.yaml": "{{- if .Values.agent }}\n" + textwrap.dedent(
        DEPLOYMENT.format(name="agent", key="agent")).lstrip("\n") + AGENT_ENV + "{{- end }}\n",
        "secrets/agent.yaml": AGENT_SECRET}
    g2 = commit(root / "gitops", {**agent_chart, **prod_values(v11, "api", "m-large")}, "prod: v1.1.0 with the agent")
    g3 = commit(root / "gitops", prod_values(v11, "api", ""), "prod: drop AGENT_MODEL")
    g4 = commit(root / "gitops", prod_values(v11, "api", "m-small"), "prod: AGENT_MODEL back")
    text = textwrap.dedent(ENVIRONMENTS).replace("path: app,", f"path: {root / 'app'},")
    (root / "environments.yaml").write_text(text.replace("path: gitops,", f"path: {root / 'gitops'},"))
    return root, {"v1": v1, "v11": v11, "g": [g1, g2, g3, g4]}


def host(root: Path, **refs: str):
    estate_file = root / "environments.yaml"
    return Estatewide(load(estate_file), Settings(estate_file, None, refs=refs)).host("production")


def checks(root: Path, *args: str, env_file: Path | None = None) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """The suite's own checks against the estate, as a user runs them."""
    report = root / f"report-{abs(hash(args))}.json"
    result = subprocess.run([sys.executable, "-m", "pytest", "checks", "-p", "no:cacheprovider", "-rsE",
                             f"--environments={env_file or root / 'environments.yaml'}", f"--report-json={report}",
                             "--env=production", *args], capture_output=True, text=True, cwd=MAIN, timeout=300)
    records = json.loads(report.read_text())["records"] if report.exists() else []
    return result, records


def outcome(records: list[dict], check: str) -> list[tuple[str, str, str]]:
    return sorted((r["nodeid"].split("[", 1)[-1].rstrip("]"), r["outcome"], r.get("message") or "")
                  for r in records if r["nodeid"].split("::")[-1].startswith(check + "["))


def test_running_commit_is_read_from_the_chart_at_the_commit_under_check(estate: tuple[Path, dict]) -> None:
    """At g1 the application's image was still called app/server (main's workflows push app/api):
    the running commit is what the chart at g1 tags its own images with, not what main builds."""
    root, shas = estate
    g1, g2 = shas["g"][:2]
    prod = host(root)
    at_g1 = deployed.for_host(prod, g1, containers=["api"])
    assert (at_g1.sha, at_g1.release_tags, at_g1.images, at_g1.problems) == (
        shas["v1"], ("v1.0.0",), (f"registry.example.test/app/server:{shas['v1']}",), ())
    assert deployed.for_host(prod, g2, containers=["api"]).sha == shas["v11"]
    agent = deployed.for_host(prod, g1, containers=["agent"])  # added to the estate later
    assert (agent.sha, agent.problems, agent.absent) == (
        None, (), f"no container agent runs in the chart at gitops {g1[:12]}")


def test_entries_missing_at_the_commit_under_check_skip_and_the_rest_run(estate: tuple[Path, dict]) -> None:
    """Production at g1: the agent entry's container and secret manifest came later; its checks skip
    with one line naming the entry and the commit, and the server entry's checks run and pass."""
    root, shas = estate
    g1 = shas["g"][0]
    result, records = checks(root, "-m", "prerelease", f"--gitops-ref={g1}", "-k", "settings or secret")
    assert result.returncode == 0, result.stdout[-3000:]
    skipped = (f"production: settings agent/settings.py: no container agent runs in the chart at gitops {g1[:12]}: "
               "nothing to check there")
    for check in ("test_settings_required", "test_settings_boot", "test_settings_required_candidate",
                  "test_settings_boot_candidate"):  # no container at g1 boots the agent, whichever code
        assert outcome(records, check) == [("production-0.ServerSettings", "passed", ""),
                                           ("production-1.absent", "skipped", skipped)]
    assert outcome(records, "test_settings_containers") == [  # the name is right: the container came later
        ("production-0.containers", "passed", ""),
        ("production-1.containers", "skipped", f"production: settings[1].containers: agent runs in the chart only "
                                               f"after gitops {g1[:12]}: nothing to check there")]
    assert not [r for r in records if r["outcome"] in ("error", "failed")]


def test_a_settings_module_added_later_skips_at_the_release_that_lacks_it(estate: tuple[Path, dict]) -> None:
    """g2 runs an agent container; replayed against app v1.0.0, which has no agent/settings.py: the agent
    entry has nothing to check at that commit, the server entry runs."""
    root, shas = estate
    result, records = checks(root, "-m", "prerelease", "--ref", "app=v1.0.0", f"--gitops-ref={shas['g'][1]}",
                             "-k", "test_settings_required and not candidate")
    assert result.returncode == 0, result.stdout[-3000:]
    found = outcome(records, "test_settings_required")
    assert [(i, o) for i, o, _ in found] == [("production-0.ServerSettings", "passed"),
                                             ("production-1.absent", "skipped")]
    assert found[1][2] == (f"production: settings at app v1.0.0 ({shas['v1'][:12]}) (running): app: agent/settings.py "
                           f"does not exist at {shas['v1'][:12]}: nothing to check there")


def test_a_workflow_added_later_is_left_out_and_the_others_run(estate: tuple[Path, dict]) -> None:
    """At v1.0.0 only ci.yml exists (agent.yml came with v1.1.0): the matrix parity of g1's image runs
    with ci.yml, which pushes app/server at that commit."""
    root, shas = estate
    result, records = checks(root, "-m", "prerelease", "--ref", "app=v1.0.0", f"--gitops-ref={shas['g'][0]}",
                             "-k", "test_build_matrix_parity")
    assert result.returncode == 0, result.stdout[-3000:]
    assert outcome(records, "test_build_matrix_parity") == [
        ("production-registry.example.test/app/server", "passed", "")]


def test_a_snapshot_added_later_has_nothing_to_check_at_the_release_before_it(estate: tuple[Path, dict]) -> None:
    root, shas = estate
    result, records = checks(root, "-m", "prerelease", f"--gitops-ref={shas['g'][0]}", "-k",
                             "test_schema_matches_database")
    assert result.returncode == 0, result.stdout[-3000:]
    v1 = shas["v1"][:12]
    assert outcome(records, "test_schema_matches_database") == [("production-absent", "skipped", (
        f"production: app@v1.0.0:directus/snapshot: no info.json at that ref (app: directus/snapshot does not exist "
        f"at {v1}): nothing to check there"))]


def test_a_path_that_exists_nowhere_is_an_error_not_history(estate: tuple[Path, dict], tmp_path: Path) -> None:
    """A typo in the environments file is not an entry added later: it stays an ERROR saying so."""
    root, shas = estate
    env_file = tmp_path / "environments.yaml"
    env_file.write_text((root / "environments.yaml").read_text().replace("path: agent/settings.py",
                                                                          "path: agnet/settings.py"))
    result, records = checks(root, "-m", "prerelease", "-k", "test_settings_required and not candidate",
                             env_file=env_file)
    found = outcome(records, "test_settings_required")
    assert [(i, o) for i, o, _ in found] == [("production-0.ServerSettings", "passed"),
                                             ("production-1.absent", "error")], result.stdout[-3000:]
    v11 = shas["v11"][:12]  # production runs v1.1.0, main's head
    assert found[1][2] == (f"production: settings at app v1.1.0 ({v11}) (running): app: agnet/settings.py does not "
                           f"exist at {v11}, nor on main: fix the environments file")


def test_replay_walks_across_entries_that_appear_and_names_every_break(estate: tuple[Path, dict]) -> None:
    root, shas = estate
    g1, g2, g3, g4 = shas["g"]
    run = [sys.executable, "-m", "releasegate.replay", "--env", "production", "--range", f"{g1}..{g4}",
           "--environments", str(root / "environments.yaml")]
    first = subprocess.run(run, capture_output=True, text=True, cwd=MAIN, timeout=300)
    lines = first.stdout.splitlines()
    assert first.returncode == 1, first.stderr
    assert lines[:2] == [
        f"    skip: settings agent/settings.py: no container agent runs in the chart at gitops "
        f"{g1[:12]} (at the base)",
        f"    skip: gitops.secrets secrets/agent.yaml: does not exist at gitops {g1[:12]}: secret keys not "
        "checked (at the base)"]
    assert lines[2:5] == [f"ok   {g2[:12]} prod: v1.1.0 with the agent", "    checked again: settings agent/settings.py",
                          "    checked again: gitops.secrets secrets/agent.yaml"]
    assert lines[5].startswith(f"FAIL {g3[:12]} prod: drop AGENT_MODEL")
    assert "AgentSettings.model is required (reads AGENT_MODEL)" in lines[6]
    assert lines[-1] == f"first failing commit for production: {g3} 'prod: drop AGENT_MODEL'"
    every = subprocess.run(run + ["--keep-going"], capture_output=True, text=True, cwd=MAIN, timeout=300)
    tail = every.stdout.splitlines()
    assert every.returncode == 1, every.stderr
    assert tail[-7].startswith(f"FIX  {g4[:12]} prod: AGENT_MODEL back")
    assert tail[-6].startswith("    cleared: production: AgentSettings.model is required")
    # issue 27: the walk ends with one row per break: introduced at, fixed at, time to fix, check
    assert tail[-5] == f"breaks of production ({g1}..{g4}):"
    assert tail[-4].split() == ["introduced", "fixed", "time", "to", "fix", "check"]
    assert tail[-3].split()[:2] == [g3[:12], g4[:12]] and tail[-3].split()[2].endswith("m")
    assert "test_settings_required[" in tail[-3] and "AgentSettings.model is required" in tail[-3]
    assert tail[-2:] == ["1 commit(s) of 3 add a blocker for production",
                         f"first failing commit for production: {g3} 'prod: drop AGENT_MODEL'"]


def test_a_branch_that_exists_only_on_the_remote_resolves_as_checkout_finds_it(estate: tuple[Path, dict],
                                                                                  tmp_path: Path) -> None:
    """A fresh `git clone` has a local main and origin/<name> for every other branch; a branch
    environment's branch is read from there (log ranges included), and a path absent at a commit
    is an Absent naming the source, the path and the commit."""
    root, shas = estate
    git(root / "app", "branch", "--force", "testing", "v1.0.0")
    git(root / "app", "checkout", "--quiet", "testing")
    side = commit(root / "app", {"server/extra.py": "X = 1\n"}, "wip on testing")
    git(root / "app", "checkout", "--quiet", "main")
    subprocess.run(["git", "clone", "--quiet", str(root / "app"), str(tmp_path / "clone")], check=True)
    repo = GitRepo(tmp_path / "clone", "app")
    assert subprocess.run(["git", "-C", str(tmp_path / "clone"), "rev-parse", "--verify", "-q", "testing"],
                          capture_output=True).returncode != 0  # git itself does not find it
    assert repo.rev_parse("testing") == side
    assert [c.subject for c in repo.log("main..testing")] == ["wip on testing"]
    assert repo.count("v1.0.0..testing") == 1 and repo.is_ancestor("v1.0.0", "testing")
    with pytest.raises(Absent, match=f"^app: agent/settings.py does not exist at {shas['v1'][:12]}$"):
        repo.show(shas["v1"], "agent/settings.py")
