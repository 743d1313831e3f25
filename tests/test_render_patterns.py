"""Environments declared once with a pattern (issue 22 item 5): `web-*` with gitops.argocd_parent
is one environment per Application the parent yields whose name matches, as the ApplicationSet
controller generates them (argoproj/argo-cd applicationset/generators/list.go
ListGenerator.GenerateParams + applicationset/utils Render: one Application per element)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from releasegate.estate import EnvironmentsError, ensure_sources, load
from test_render_appsets import CHART, LIST, appset, make_repo


def estate_file(tmp_path: Path, envs: str) -> Path:
    """An estate whose gitops repository holds the ApplicationSet web (web-eu, web-us) and envs."""
    make_repo(tmp_path / "gitops", {**CHART, "apps/web-set.yaml": appset(LIST)})
    path = tmp_path / "environments.yaml"
    path.write_text(f"version: 1\nsources:\n  gitops: {{path: {tmp_path / 'gitops'}}}\n"
                    "environments:\n" + textwrap.indent(textwrap.dedent(envs), "  "))
    return path


def entry(name: str, gitops: str = "argocd_parent: apps/web-set.yaml, argocd_child: '{name}'") -> str:
    """One environment of the file, `gitops` its gitops mapping's text."""
    return f"{name}:\n  deploys: {{branch: main}}\n  gitops: {{{gitops}}}\n"


@pytest.mark.parametrize("envs, expected", [
    (entry("web-*"), {"web-eu": "web-eu", "web-us": "web-us"}),
    (entry("web-u*"), {"web-us": "web-us"}),
    # an entry the file names itself wins over the pattern's one of the same name
    (entry("web-eu", "argocd_parent: apps/web-set.yaml, argocd_child: web-eu, namespace: own")
     + entry("web-*"), {"web-eu": "web-eu", "web-us": "web-us"}),
])
def test_pattern_expands_to_generated_applications(tmp_path: Path, envs: str,
                                                   expected: dict[str, str]) -> None:
    """Each generated Application whose name matches the pattern is an environment of that name,
    its argocd_child the Application's name; the host renders it as any argocd_parent entry."""
    from releasegate.core.host import Estatewide
    from releasegate.options import Settings

    path = estate_file(tmp_path, envs)
    estate = load(path)
    ensure_sources(estate)
    assert {n: e.gitops.argocd_child for n, e in estate.environments.items()} == expected
    assert all(e.name == n for n, e in estate.environments.items())
    host = Estatewide(estate, Settings(environments_path=path, env_names=None)).host("web-us")
    (cm,) = [m for m in host.render() if m["kind"] == "ConfigMap"]
    assert cm["data"]["host"] == "us.example.com"
    if "namespace: own" in envs:
        assert estate.environments["web-eu"].gitops.namespace == "own"


@pytest.mark.parametrize("envs, message", [
    (entry("api-*"), "matches no Application that apps/web-set.yaml yields at main "
                     "(it yields: web-eu, web-us)"),
    (entry("web-*", "chart: charts/web"), "a name with '*' declares the environments an Argo CD "
                                          "parent yields"),
])
def test_pattern_usage_errors(tmp_path: Path, envs: str, message: str) -> None:
    """A pattern that matches nothing, or that names no parent, is a usage error naming the key."""
    estate = load(estate_file(tmp_path, envs))
    with pytest.raises(EnvironmentsError, match=r"environments\.(api|web)-\*") as caught:
        ensure_sources(estate)
    assert message in str(caught.value)


def test_pattern_is_refused_in_source_names(tmp_path: Path) -> None:
    """Only environment names may be patterns: a source's name stays a plain name."""
    path = estate_file(tmp_path, "web:\n  deploys: {branch: main}\n  gitops: {chart: charts/web}\n")
    path.write_text(path.read_text().replace("  gitops: {path", "  git*: {path").replace(
        "gitops: {chart: charts/web}", "gitops: {chart: charts/web, source: 'git*'}"))
    with pytest.raises(EnvironmentsError, match="expected a name"):
        load(path)
