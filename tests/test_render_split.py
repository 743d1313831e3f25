"""Rendered templates are cut into documents as Helm cuts them (issue 24 follow-up, trials: the
`---kind` merge on mybinder staging): helm pkg/releaseutil/manifest.go SplitManifests, the rule
`var sep = regexp.MustCompile("(?:^|\\s*\\n)---\\s*")` with strings.TrimSpace around the text and
each piece, empty pieces dropped (chart API v1/v2; SortManifests calls it on every template)."""

from __future__ import annotations

from pathlib import Path

import pytest

from git_commit import chart_in_git
from releasegate.core import helm
from releasegate.core.gitrepo import GitRepo


@pytest.mark.parametrize("text, pieces", [
    # a trimming `{{- ... -}}` glued the next document to the separator: Helm splits there
    ("a: 1\n---kind: ConfigMap\nb: 2\n", ["a: 1", "kind: ConfigMap\nb: 2"]),
    ("---kind: ConfigMap\n", ["kind: ConfigMap"]),  # ^ is the start of the text
    ("a: 1\n---\nb: 2\n", ["a: 1", "b: 2"]),
    ("a: 1   \n\n---   \n\n b: 2", ["a: 1", "b: 2"]),  # \s* on both sides, trimmed pieces
    ("---\na: 1\n---\n", ["a: 1"]),  # empty pieces dropped
    # the first match `^---\s*` takes the newline the second `---` would need: YAML reads the
    # piece left as one document, as go-yaml does after Helm's split
    ("---\n---\na: 1\n", ["---\na: 1"]),
    ("a: 1\n--- # Source: x.yaml\nb: 2\n", ["a: 1", "# Source: x.yaml\nb: 2"]),
    ("a: |\n  ---kind\nb: x---y\n", ["a: |\n  ---kind\nb: x---y"]),  # only after a newline
    ("a: 1 ---\nb: 2", ["a: 1 ---\nb: 2"]),  # in the middle of a line: not a separator
    ("a: 1\n----\nb: 2", ["a: 1", "-\nb: 2"]),  # Helm's regexp takes three of four dashes
    ("a: 1\n\v---b: 2", ["a: 1\n\v---b: 2"]),  # \v is not in Go's \s; \n must come right before
    ("", []),
    ("  \n ", []),
])
def test_split_manifests_is_helms_rule(text: str, pieces: list[str]) -> None:
    assert helm.split_manifests(text) == pieces


def test_a_glued_separator_renders_two_objects(tmp_path: Path) -> None:
    """A chart whose template ends its first object with a trimmed `{{- ... -}}` before `---`
    renders two ConfigMaps (as `helm template` shows), not one merged object."""
    repo = tmp_path / "gitops"
    chart_in_git(repo, "helm/glued",
                 "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: first}\ndata: {a: b}\n---"
                 "{{- /* trimmed */ -}}\n"
                 "kind: ConfigMap\napiVersion: v1\nmetadata: {name: second}\n")
    gitops = GitRepo(repo, "gitops")
    try:
        rendered = helm.render(gitops, gitops.resolve("main"), helm.ChartSource("helm/glued"))
    finally:
        helm.clear_cache()
    assert [(m["kind"], m["metadata"]["name"], m.get("data")) for m in rendered] == [
        ("ConfigMap", "first", {"a": "b"}), ("ConfigMap", "second", None)]
