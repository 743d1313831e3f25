"""Every source of a multi-source Argo CD Application, as the host renders it and the checks read
it: each source rendered on its own and concatenated (argoproj/argo-cd controller/state.go
GetRepoObjs: one GenerateManifest per source, the manifests appended), a source of a repository
outside the estate left out with one "not checked" line, a folder without Chart.yaml or a
kustomization read as plain manifests (util/app/discovery/discovery.go Discover / AppType), and the
settings and secret checks reading the same manifests (Secrets of a directory source included)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT
from releasegate.core.gitrepo import GitRepo, NotChecked
from test_render_argocd import make_repo

CHART = {
    "charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    "charts/web/values.yaml": "image: registry.example.com/web:1.0\n",
    "charts/web/templates/deploy.yaml": textwrap.dedent("""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers:
                - name: web
                  image: {{ .Values.image }}
                  envFrom:
                    - configMapRef: {name: {{ .Values.conf | default "web-conf" }}}
                  env:
                    - name: DB_PASSWORD
                      valueFrom: {secretKeyRef: {name: {{ .Values.secret }}, key: password}}
        """),
}

FOREIGN = "https://git.example.com/other/pipeline.git"


def application(foreign: bool = True, remote: bool = False) -> str:
    """The chart from the charts repository with `$values/envs/prod.yaml` from the deployment
    repository, a directory source of the deployment repository and (foreign) one of a repository
    the estate does not list."""
    extra = f"    - {{repoURL: '{FOREIGN}', path: backend/pipeline}}\n" if foreign else ""
    extra += "    - {repoURL: 'https://charts.example.com/stable', chart: redis, targetRevision: 1.0.0}\n" \
        if remote else ""
    return textwrap.dedent("""\
        apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {name: web-prod, namespace: argocd}
        spec:
          destination: {namespace: prod}
          sources:
            - repoURL: https://git.example.com/org/charts.git
              path: charts/web
              helm: {valueFiles: [$values/envs/prod.yaml]}
            - {repoURL: 'git@git.example.com:org/gitops.git', ref: values}
            - {repoURL: 'https://git.example.com/org/gitops', path: manifests/prod}
        """) + extra


def _repo(root: Path, files: dict[str, str], origin: str) -> Path:
    make_repo(root, files)
    subprocess.run(["git", "-C", str(root), "remote", "add", "origin", origin], check=True)
    return root


def estate(tmp_path: Path, *, foreign: bool = True, remote: bool = False, secret: str = "web-db",
           keys: str = "password", conf: str = "web-conf") -> Path:
    """An estate of three repositories and one environment `prod` on apps/web.yaml."""
    _repo(tmp_path / "app", {"README": "app\n"}, "https://git.example.com/org/app.git")
    _repo(tmp_path / "charts", CHART, "https://git.example.com/org/charts.git")
    data = "".join(f"  {k}: cGFzcw==\n" for k in keys.split(",") if k)
    _repo(tmp_path / "gitops", {
        "apps/web.yaml": application(foreign, remote),
        "envs/prod.yaml": f"secret: {secret}\nconf: {conf}\n",
        "manifests/prod/secret.yaml": f"apiVersion: v1\nkind: Secret\nmetadata: {{name: web-db}}\n"
                                      f"data:\n{data}",
        "manifests/prod/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web-conf}\n"
                                  "data: {a: b}\n",
    }, "https://git.example.com/org/gitops.git")
    path = tmp_path / "environments.yaml"
    path.write_text(textwrap.dedent(f"""\
        version: 1
        sources:
          app: {{path: {tmp_path / 'app'}}}
          gitops: {{path: {tmp_path / 'gitops'}}}
          charts: {{path: {tmp_path / 'charts'}}}
        environments:
          prod:
            deploys: {{branch: main}}
            gitops: {{argocd_app: apps/web.yaml}}
        """))
    return path


def host(path: Path) -> Any:
    from releasegate.core.host import Estatewide
    from releasegate.estate import load
    from releasegate.options import Settings

    return Estatewide(load(path), Settings(environments_path=path, env_names=None)).host("prod")


def test_foreign_source_is_one_line_the_others_render(tmp_path: Path) -> None:
    """controller/state.go GetRepoObjs renders each source and appends its manifests: the chart of
    the charts repository (with `$values` from the deployment repository) and the directory source
    render; the source of a repository outside the estate is one line saying what would check it."""
    prod = host(estate(tmp_path))
    kinds = sorted(m["kind"] for m in prod.render())
    assert kinds == ["ConfigMap", "Deployment", "Secret"]
    (line,) = prod.unread_sources()
    assert "spec.sources[3] (path backend/pipeline of " + FOREIGN + "): not checked" in line
    assert "add that repository to `sources`" in line
    assert [s.repo_source for s in prod.chart_sources()] == ["charts", ""]


def test_remote_chart_not_in_the_cache_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GetRepoObjs per source again: a remote chart source that cannot be fetched here (no chart
    cache entry) hides only its own manifests, said in one line with the `helm pull` that fills it."""
    monkeypatch.setenv("RELEASEGATE_CHART_CACHE", str(tmp_path / "empty-cache"))
    prod = host(estate(tmp_path, foreign=False, remote=True))
    (line,) = prod.unread_sources()
    assert "cannot fetch redis@1.0.0 from https://charts.example.com/stable" in line
    assert sorted(m["kind"] for m in prod.render()) == ["ConfigMap", "Deployment", "Secret"]


def test_directory_source_is_plain_manifests(tmp_path: Path) -> None:
    """util/app/discovery Discover: no Chart.yaml and no kustomization.* is a directory source;
    reposerver/repository findManifests reads its YAML files, namespaced by the destination."""
    prod = host(estate(tmp_path, foreign=False))
    assert prod.unread_sources() == ()
    directory = prod.chart_sources()[1]
    assert directory.directory == "{}" and directory.chart == "manifests/prod"
    secret = next(m for m in prod.render() if m["kind"] == "Secret")
    assert secret["metadata"] == {"name": "web-db", "namespace": "prod"}


@pytest.mark.parametrize("secret, keys, expected", [
    ("web-db", "password", None),  # the directory source's Secret holds the key
    ("web-db", "user", "is not in"),  # it lacks it: a blocker, so it is checked
    ("web-other", "password", "not checked: secret web-other key password"),  # the foreign source may
])
def test_settings_read_every_source(tmp_path: Path, secret: str, keys: str, expected: str | None) -> None:
    """The settings and secret checks read the same manifests as the host's render: the chart of
    another estate source (read at its ref under test) and the Secrets of a directory source; a
    secret in no rendered source is not checked while a source is not rendered here."""
    from releasegate.settings import containers
    from releasegate.settings.secret_keys import secret_findings

    prod = host(estate(tmp_path, secret=secret, keys=keys))
    envs = containers.container_envs(prod)
    assert [e.container for e in envs] == ["web"]
    found = secret_findings(prod, envs, containers.secret_index(prod))
    if expected is None:
        assert found == []
    else:
        (finding,) = found
        assert expected in finding.message
        assert finding.severity == ("skipped" if "not checked" in expected else "blocker")


def test_no_readable_source_is_not_checked(tmp_path: Path) -> None:
    """A multi-source Application none of whose sources can be read here: the whole Application
    is not checked, with the line of each source."""
    path = estate(tmp_path)
    text = path.read_text().replace(f"  charts: {{path: {tmp_path / 'charts'}}}\n", "")
    path.write_text(text)
    prod = host(path)
    (tmp_path / "gitops" / "apps").mkdir(exist_ok=True)
    gitops = GitRepo(tmp_path / "gitops", "gitops")
    only_foreign = application().split("    - repoURL: https://git.example.com/org/charts.git")[0] + \
        f"    - {{repoURL: '{FOREIGN}', path: backend/pipeline}}\n"
    (tmp_path / "gitops/apps/web.yaml").write_text(only_foreign)
    subprocess.run(["git", "-C", str(gitops.path), "-c", "user.name=t", "-c", "user.email=t@t",
                    "commit", "-qam", "only foreign"], check=True)
    with pytest.raises(NotChecked, match=r"spec.sources\[0\] \(path backend/pipeline"):
        prod.chart_sources()


def test_checks_say_the_unread_source_once(tmp_path: Path) -> None:
    """The real checks/: test_sources_rendered skips with the foreign source's one line; the other
    checks run on the rendered sources (the image of the charts repository's chart is listed)."""
    path = estate(tmp_path)
    report = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_DISABLE_PLUGIN_AUTOLOAD"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "prerelease", "--env=prod", "--static",
         f"--environments={path}", f"--report-json={report}", "-p", "no:cacheprovider", "-rs",
         "-k", "sources_rendered or unique_objects or secret_keys"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    records = {r["nodeid"].split("::", 1)[1]: r for r in json.loads(report.read_text())["records"]}
    rendered = records["test_sources_rendered[prod]"]
    assert rendered["outcome"] == "skipped", result.stdout[-2000:]
    assert FOREIGN in rendered["message"] and "add that repository" in rendered["message"]
    assert records["test_unique_objects[prod]"]["outcome"] == "passed", result.stdout[-2000:]
    assert records["test_secret_keys[prod-web-db.password]"]["outcome"] == "passed"


def test_app_of_apps_parent_with_an_unread_source(tmp_path: Path) -> None:
    """A multi-source app-of-apps parent: the children of the sources rendered here are found
    (GetRepoObjs per source); a child found in none of them is not checked while a source of the
    parent is not rendered here (it may yield it), never "yields no Application"."""
    from releasegate.render.children import child_application

    parent = textwrap.dedent(f"""\
        apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {{name: root}}
        spec:
          sources:
            - {{repoURL: 'https://git.example.com/org/gitops.git', path: children}}
            - {{repoURL: '{FOREIGN}', path: more-children}}
        """)
    child = ("apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: web-a}\n"
             "spec: {source: {repoURL: x, path: charts/web}}\n")
    root = _repo(tmp_path / "gitops", {"root.yaml": parent, "children/web-a.yaml": child},
                 "https://git.example.com/org/gitops.git")
    repo = GitRepo(root, "gitops")
    assert child_application(repo, "main", "root.yaml", "web-a")["metadata"]["name"] == "web-a"
    with pytest.raises(NotChecked, match=r"no Application named 'web-z' .* spec.sources\[1\] "
                                         r"\(path more-children of " + FOREIGN):
        child_application(repo, "main", "root.yaml", "web-z")


def test_replay_says_the_unread_source_at_each_commit(tmp_path: Path) -> None:
    """The replay of a commit renders the sources it can and names the others as not checked at
    that commit (never a silent "ok" for what they deploy, never a break)."""
    from releasegate.replay import step

    prod = host(estate(tmp_path))
    blockers, skipped, manifests = step(prod, "main", None)
    assert blockers == [] and len(manifests) == 3
    assert FOREIGN in skipped["render"] and skipped["render"].endswith("(not checked)")


@pytest.mark.parametrize("foreign, severity", [(True, "skipped"), (False, "blocker")])
def test_config_map_no_rendered_source_holds(tmp_path: Path, foreign: bool, severity: str) -> None:
    """An envFrom config map no rendered source holds: a blocker when every source is rendered
    (the kubelet's CreateContainerConfigError), not checked while a source is not rendered here
    (it may deploy it), and its variables are unknown rather than missing for the settings checks."""
    from releasegate.settings import containers
    from releasegate.settings.secret_keys import ENV_PROBLEMS, secret_findings

    prod = host(estate(tmp_path, foreign=foreign, conf="web-missing"))
    envs = containers.container_envs(prod)
    (finding,) = [f for f in secret_findings(prod, envs, containers.secret_index(prod))
                  if f.item == ENV_PROBLEMS]
    assert finding.severity == severity and "config map web-missing" in finding.message
    assert bool(envs[0].opaque) is foreign


@pytest.mark.parametrize("foreign, severity", [(True, "skipped"), (False, "blocker")])
def test_settings_container_in_no_rendered_source(tmp_path: Path, foreign: bool, severity: str) -> None:
    """A settings entry's container that no rendered source runs: a misnaming (blocker) when every
    source is rendered; not checked while a source is not rendered here (it may run it)."""
    from types import SimpleNamespace

    from releasegate.settings import containers

    prod = host(estate(tmp_path, foreign=foreign))
    found = containers.containers_finding(prod, SimpleNamespace(containers=("worker",)), "settings[0].containers")
    assert found is not None and found.severity == severity and "worker" in found.message
    assert (FOREIGN in found.message) is foreign
