"""An anchor defined again is valid YAML (issue 24 follow-up, trials item 6: a deployed values
file with `&max-upload-size` three times errored every check of its environment).

YAML 1.2 §3.2.2.2 "Anchors and Aliases" (and 1.1 §3.2.2.2): an anchor need not be unique; an
alias refers to the most recent node with that anchor. go-yaml (yaml.v2/v3 parserc.go/decode.go:
`p.anchors[n.anchor] = n` overwrites) is what Helm reads values with, so the most recent wins.
The alias bounds (plugins/core/yaml_bounds.py) still hold on such files."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from git_commit import chart_in_git
from releasegate.core import helm, locations
from releasegate.core.gitrepo import SourceError

GOVUK_SHAPE = """\
apps:
  asset-manager:
    nginx:
      clientMaxBodySize: &max-upload-size 500m
    uploads: *max-upload-size
  publisher:
    nginx:
      clientMaxBodySize: &max-upload-size 50m
    uploads: *max-upload-size
  whitehall:
    nginx:
      clientMaxBodySize: &max-upload-size 1g
    uploads: *max-upload-size
"""


@pytest.fixture(params=["libyaml", "ruamel"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both of load_yaml_documents' paths: PyYAML's C loader, and ruamel when libyaml is absent."""
    if request.param == "ruamel":
        monkeypatch.setattr(helm, "_CLoader", None)
    return request.param


@pytest.mark.parametrize("text, documents", [
    (GOVUK_SHAPE, [{"apps": {
        "asset-manager": {"nginx": {"clientMaxBodySize": "500m"}, "uploads": "500m"},
        "publisher": {"nginx": {"clientMaxBodySize": "50m"}, "uploads": "50m"},
        "whitehall": {"nginx": {"clientMaxBodySize": "1g"}, "uploads": "1g"}}}]),
    ("a: &x {k: 1}\nb: *x\nc: &x [2]\nd: *x\n", [{"a": {"k": 1}, "b": {"k": 1}, "c": [2], "d": [2]}]),
    # redefined inside its own first node: the alias after it refers to the inner one
    ("a: &x [&x 1, *x]\nb: *x\n", [{"a": [1, 1], "b": 1}]),
    # anchors are per document: the second document's alias is its own anchor's
    ("a: &x 1\nb: *x\n---\nc: &x 2\nd: *x\n", [{"a": 1, "b": 1}, {"c": 2, "d": 2}]),
])
def test_the_most_recent_anchor_wins(reader: str, text: str, documents: list) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert helm.load_yaml_documents(text, "values.yaml") == documents
    assert [str(w.message) for w in caught] == []  # valid YAML: nothing for the run's output


@pytest.mark.parametrize("text, said", [
    # a recursive alias through an anchor defined again is still refused, with its line
    ("a: &r [1]\nb: &r [*r]\n", "values.yaml:2: an alias refers to the anchor that contains it "
                                "(a recursive alias)"),
    ("a0: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\na1: &a [1]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}' if i > 2 else '*a'] * 10)}]\n" for i in range(2, 7)),
     None),  # built on the second, one-item &a: 2 * 10^5 nodes, within the bound
    ("a0: &a [1]\na1: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}' if i > 2 else '*a'] * 10)}]\n" for i in range(2, 7)),
     "values.yaml:7: expands to more than 1000000 values through repeated aliases (an alias bomb)"),
    ("a: &x 1\nb: *y\n", "values.yaml: invalid YAML: found undefined alias"),
])
def test_bounds_still_hold_with_anchors_defined_again(reader: str, text: str,
                                                      said: str | None) -> None:
    if said is None:
        assert len(helm.load_yaml_documents(text, "values.yaml")[0]) == 7
        return
    with pytest.raises(SourceError) as caught:
        helm.load_yaml_documents(text, "values.yaml")
    assert str(caught.value).startswith(said)


def test_positions_of_a_file_with_an_anchor_defined_again() -> None:
    """The line of a finding in such a file is still found (plugins/core/locations.py)."""
    positions = {path: line for path, line, _ in locations.yaml_positions(GOVUK_SHAPE)}
    assert positions[(0, "apps", "whitehall", "uploads")] == 13


def test_a_chart_renders_with_such_values(tmp_path: Path) -> None:
    """The values file is read as Helm reads it: the chart renders with the most recent value."""
    repo = tmp_path / "gitops"
    chart_in_git(repo, "helm/app",
                 "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: sizes}\ndata:\n"
                 "{{- range $name, $app := .Values.apps }}\n"
                 "  {{ $name }}: {{ $app.uploads | quote }}\n{{- end }}\n",
                 {"values-integration.yaml": GOVUK_SHAPE})
    from releasegate.core.gitrepo import GitRepo

    gitops = GitRepo(repo, "gitops")
    try:
        rendered = helm.render(gitops, gitops.resolve("main"),
                               helm.ChartSource("helm/app", values=("values-integration.yaml",)))
    finally:
        helm.clear_cache()
    assert [m["data"] for m in rendered] == [
        {"asset-manager": "500m", "publisher": "50m", "whitehall": "1g"}]
