"""Flux HelmReleases rendered as helm-controller renders them, with Helm's engine on a real git
repository. Rules: fluxcd/helm-controller api/v2/helmrelease_types.go (GetReleaseName,
GetReleaseNamespace) and fluxcd/pkg chartutil/values.go (ChartValuesFromReferences,
ReplacePathValue)."""

from __future__ import annotations

import base64
import textwrap
from pathlib import Path
from typing import Any

import pytest

from releasegate.core import helm
from releasegate.core.gitrepo import NotChecked
from releasegate.render.flux import helmrelease_source
from tests.test_render_argocd import CHART, make_repo

SOURCES = textwrap.dedent("""\
    apiVersion: source.toolkit.fluxcd.io/v1
    kind: GitRepository
    metadata: {name: platform, namespace: flux-system}
    spec: {url: https://git.example.com/org/gitops.git, ref: {branch: main}}
    """)


def release(spec: str, name: str = "web", namespace: str = "apps") -> str:
    return (f"apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\n"
            f"metadata: {{name: {name}, namespace: {namespace}}}\nspec:\n"
            + textwrap.indent(textwrap.dedent(spec), "  "))


CHART_REF = """\
chart:
  spec:
    chart: ./charts/web
    sourceRef: {kind: GitRepository, name: platform, namespace: flux-system}
"""


def render(tmp_path: Path, spec: str, extra: dict[str, str] | None = None) -> dict[str, Any]:
    repo = make_repo(tmp_path, {**CHART, "flux/sources.yaml": SOURCES,
                                "flux/web/release.yaml": release(CHART_REF + textwrap.dedent(spec)), **(extra or {})})
    source = helmrelease_source(repo, "main", "flux/web/release.yaml")
    (cm,) = [m for m in helm.render(repo, repo.resolve("main"), source) if m["kind"] == "ConfigMap"]
    return cm


def test_release_name_and_namespace(tmp_path: Path) -> None:
    """GetReleaseName: releaseName, else [targetNamespace-]name; GetReleaseNamespace:
    targetNamespace, else the HelmRelease's namespace."""
    plain = render(tmp_path / "a", "values: {host: h}\n")
    target = render(tmp_path / "b", "targetNamespace: prod\nvalues: {host: h}\n")
    named = render(tmp_path / "c", "releaseName: custom\nvalues: {host: h}\n")
    assert (plain["metadata"]["name"], plain["data"]["namespace"]) == ("web", "apps")
    assert (target["metadata"]["name"], target["data"]["namespace"]) == ("prod-web", "prod")
    assert named["metadata"]["name"] == "custom"


def test_values_from_config_maps_and_secrets(tmp_path: Path) -> None:
    """ChartValuesFromReferences: each valuesFrom in order (valuesKey default values.yaml), a
    targetPath set like --set (quoted: --set-string), spec.values over everything."""
    configmap = textwrap.dedent("""\
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: web-values, namespace: apps}
        data:
          values.yaml: |
            host: from-configmap
            port: 81
          conf: '"8080"'
        """)
    secret = ("apiVersion: v1\nkind: Secret\nmetadata: {name: web-secret, namespace: apps}\n"
              f"data: {{custom: {base64.b64encode(b'port: 82').decode()}}}\n")
    cm = render(tmp_path, """\
        valuesFrom:
          - {kind: ConfigMap, name: web-values}
          - {kind: Secret, name: web-secret, valuesKey: custom}
          - {kind: ConfigMap, name: web-values, valuesKey: conf, targetPath: labels.port}
          - {kind: ConfigMap, name: absent, optional: true}
        values: {labels: {team: core}}
        """, {"flux/web/values.yaml": configmap, "flux/web/secret.yaml": secret})
    assert cm["data"]["host"] == "from-configmap"
    assert cm["data"]["port"] == "82"
    assert cm["data"]["labels"] == '{"port":"8080","team":"core"}'


def test_values_from_missing_in_git_is_not_checked(tmp_path: Path) -> None:
    """ChartValuesFromReferences: a missing non-optional reference fails the release; a
    ConfigMap or Secret made in the cluster is not in git, so the suite cannot know: not checked."""
    with pytest.raises(NotChecked, match="valuesFrom Secret apps/made-in-cluster .* is not in the repository"):
        render(tmp_path, "valuesFrom: [{kind: Secret, name: made-in-cluster}]\n")


def test_helm_repository_chart_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A chart from a HelmRepository is pulled by source-controller; here it comes from the chart
    cache, else the release is not checked."""
    monkeypatch.setenv("RELEASEGATE_CHART_CACHE", str(tmp_path / "cache"))
    repo = make_repo(tmp_path / "g", {
        "sources.yaml": "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\n"
                        "metadata: {name: charts, namespace: apps}\nspec: {url: https://charts.example.com}\n",
        "release.yaml": release("chart: {spec: {chart: redis, version: '17.x', "
                                "sourceRef: {kind: HelmRepository, name: charts}}}\n")})
    source = helmrelease_source(repo, "main", "release.yaml")
    with pytest.raises(NotChecked, match=r"cannot fetch redis@17.x from https://charts.example.com"):
        helm.render(repo, repo.resolve("main"), source)
