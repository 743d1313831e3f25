"""Chart dependencies and charts from Helm repositories, as Argo CD gets them before rendering
(reposerver/repository/repository.go helmTemplate: `helm dependency build` on a missing
dependency, runHelmBuild), with Helm's own engine and packager on real git repositories."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import helm_python
import pytest

from releasegate.core import helm
from releasegate.core.gitrepo import GitRepo, NotChecked
from releasegate.render.argocd import helm_sources
from releasegate.render.charts import CACHE_VARIABLE
from releasegate.render.semver import satisfies
from tests.test_render_argocd import make_repo

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{v: {value}}}\n"


def parent(deps: str, values: str = "") -> dict[str, str]:
    """A chart `app` whose Chart.yaml lists deps, and a local chart `libs/db` next to it."""
    return {
        "charts/app/Chart.yaml": "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n"
                                 + textwrap.indent(textwrap.dedent(deps), "  "),
        "charts/app/values.yaml": values or "db: {enabled: true}\n",
        "charts/app/templates/cm.yaml": CM.format(name="app", value="{{ .Values.imported | default \"none\" | quote }}"),
        "libs/db/Chart.yaml": "apiVersion: v2\nname: db\nversion: 1.2.3\n",
        "libs/db/values.yaml": "exports:\n  data: {imported: from-db}\n",
        "libs/db/templates/cm.yaml": CM.format(name="db", value="x"),
    }


def names(repo: GitRepo, chart: str = "charts/app") -> list[str]:
    sha = repo.resolve("main")
    source = helm.ChartSource(chart=chart, release="r", namespace="n")
    return sorted(f"{m['metadata']['name']}={m['data']['v']}" for m in helm.render(repo, sha, source))


def test_local_file_dependency_is_built(tmp_path: Path) -> None:
    """helm pkg/downloader/manager.go (Build/Update: file:// repositories are copied from the
    path, relative to the chart) as `helm dependency build` does it; Argo CD runs it first."""
    repo = make_repo(tmp_path, parent("- {name: db, version: 1.2.3, repository: 'file://../../libs/db'}"))
    assert names(repo) == ["app=none", "db=x"]


def test_condition_tags_and_import_values_are_helms(tmp_path: Path) -> None:
    """helm pkg/chartutil/dependencies.go ProcessDependencies: condition and tags disable a
    subchart, import-values copies its exports into the parent (the engine does it once the
    subchart is in charts/)."""
    off = make_repo(tmp_path / "a", parent(
        "- {name: db, version: 1.2.3, repository: 'file://../../libs/db', condition: db.enabled}",
        "db: {enabled: false}\n"))
    assert names(off) == ["app=none"]
    tagged = make_repo(tmp_path / "b", parent(
        "- {name: db, version: 1.2.3, repository: 'file://../../libs/db', tags: [storage]}",
        "tags: {storage: false}\n"))
    assert names(tagged) == ["app=none"]
    imported = make_repo(tmp_path / "c", parent(
        "- {name: db, version: 1.2.3, repository: 'file://../../libs/db', import-values: [data]}"))
    assert names(imported) == ["app=from-db", "db=x"]


def test_a_changed_local_dependency_renders_anew(tmp_path: Path) -> None:
    """The render cache is keyed by the chart tree and the trees of its file:// dependencies."""
    repo = make_repo(tmp_path, parent("- {name: db, version: 1.2.3, repository: 'file://../../libs/db'}"))
    first = repo.resolve("main")
    (tmp_path / "libs/db/templates/cm.yaml").write_text(CM.format(name="db", value="y"))
    subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t",
                    "commit", "-qam", "db changes"], check=True)
    source = helm.ChartSource(chart="charts/app", release="r", namespace="n")
    before = [m["data"]["v"] for m in helm.render(repo, first, source) if m["metadata"]["name"] == "db"]
    assert before == ["x"] and names(GitRepo(tmp_path, "gitops")) == ["app=none", "db=y"]


def test_remote_dependency_not_vendored_is_not_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """helm pkg/action/dependency.go CheckDependencies: Helm's CLI refuses a chart whose
    dependency is missing from charts/; Argo CD would fetch it (runHelmBuild). No network here:
    not checked, never rendered without it."""
    monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path / "cache"))
    repo = make_repo(tmp_path / "g", parent("- {name: redis, version: 17.1.0, repository: 'https://charts.example.com'}"))
    with pytest.raises(NotChecked, match=r"charts/app/Chart.yaml: not checked: chart charts/app depends "
                                         r"on redis 17.1.0 from https://charts.example.com, which "
                                         r"cannot be fetched here; vendor it \(helm dependency build"):
        names(repo)


def _package(tmp_path: Path, name: str, version: str, dest: Path) -> Path:
    chart = tmp_path / "src" / name
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: {version}\n")
    (chart / "templates/cm.yaml").write_text(CM.format(name=name, value=f"'{version}'"))
    dest.mkdir(parents=True, exist_ok=True)
    return Path(helm_python.package(chart, destination=dest))


def test_remote_dependency_vendored_or_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CheckDependencies matches charts/ by name: a vendored package renders; else the chart
    cache (filled by `helm pull`) gives the highest version the constraint allows."""
    monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path / "cache"))
    files = parent("- {name: redis, version: '~17.1.0', repository: 'https://charts.example.com'}")
    vendored = _package(tmp_path / "v", "redis", "17.1.0", tmp_path / "vendor")
    files["charts/app/charts/redis-17.1.0.tgz"] = ""
    repo_dir = tmp_path / "g"
    (repo_dir / "charts/app/charts").mkdir(parents=True)
    (repo_dir / "charts/app/charts/redis-17.1.0.tgz").write_bytes(vendored.read_bytes())
    del files["charts/app/charts/redis-17.1.0.tgz"]
    assert names(make_repo(repo_dir, files)) == ["app=none", "redis=17.1.0"]
    for version in ("17.1.2", "17.1.5", "17.2.0"):
        _package(tmp_path / version, "redis", version, tmp_path / "cache")
    cached = make_repo(tmp_path / "h", parent(
        "- {name: redis, version: '~17.1.0', repository: 'https://charts.example.com'}"))
    assert names(cached) == ["app=none", "redis=17.1.5"]


def test_remote_chart_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An Application source with repoURL + chart + targetRevision (a Helm repository or OCI
    registry: repository.go helmTemplate on the pulled chart): rendered from the chart cache,
    value files from `$ref` sources; not in the cache: not checked, saying how to fill it."""
    monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path / "cache"))
    application = json.dumps({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "cache-prod"},
        "spec": {"destination": {"namespace": "prod"}, "sources": [
            {"repoURL": "oci://registry.example.com/charts", "chart": "redis",
             "targetRevision": "17.1.2", "helm": {"valueFiles": ["$values/envs/redis.yaml"]}},
            {"repoURL": "https://git.example.com/gitops.git", "ref": "values"}]}})
    repo = make_repo(tmp_path / "g", {"apps/redis.yaml": application, "envs/redis.yaml": "a: 1\n"})
    with pytest.raises(NotChecked, match=r"cannot fetch redis@17.1.2 from oci://registry.example.com/charts"):
        [helm.render(repo, repo.resolve("main"), s) for s in helm_sources(repo, "main", "apps/redis.yaml")]
    _package(tmp_path, "redis", "17.1.2", tmp_path / "cache")
    (source,) = helm_sources(repo, "main", "apps/redis.yaml")
    (cm,) = helm.render(repo, repo.resolve("main"), source)
    assert cm["metadata"] == {"name": "redis", "namespace": "prod"} and cm["data"] == {"v": "17.1.2"}


@pytest.mark.parametrize("version,constraint,expected", [
    ("1.2.3", "1.2.3", True), ("1.2.4", "1.2.3", False), ("1.2.4", "1.2.x", True),
    ("1.3.0", "~1.2.0", False), ("1.9.0", "^1.2", True), ("2.0.0", "^1.2", False),
    ("0.2.5", "^0.2.3", True), ("0.3.0", "^0.2.3", False), ("1.5.0", ">=1.0 <2.0", True),
    ("2.0.0", ">=1.0, <2.0", False), ("3.1.0", "1.x || 3.x", True), ("1.0.0-rc1", "*", False),
    ("1.0.0", "", True), ("v1.2.3", "1.2.3", True),
])
def test_version_constraints(version: str, constraint: str, expected: bool) -> None:
    """Masterminds/semver v3 constraints (Helm's dependency versions): ^ and ~ ranges, x
    wildcards, comparisons joined by space or comma, || alternatives, prereleases excluded."""
    assert satisfies(version, constraint) is expected
