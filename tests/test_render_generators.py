"""ApplicationSet generators combined (matrix, merge), filtered (selector) and git files with
excludes, as argoproj/argo-cd applicationset/generators/*.go generate them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from releasegate.core.gitrepo import NotChecked, SourceError
from releasegate.render.generators import generate
from tests.test_render_argocd import make_repo

GIT = "repoURL: https://git.example.com/org/gitops.git\nrevision: HEAD\n"
FILES = {"addons/a/x.yaml": "k: 1\n", "addons/b/x.yaml": "k: 1\n",
         "clusters/dev/config.json": '{"cluster": {"name": "dev"}}',
         "clusters/prod/config.json": '{"cluster": {"name": "prod"}}'}


def names(tmp_path: Path, generators: str, name: str = "{{cluster}}-{{path.basename}}",
          go: bool = False) -> list[str]:
    appset = {"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
              "metadata": {"name": "s"},
              "spec": {"goTemplate": go, "generators": __import__("yaml").safe_load(textwrap.dedent(generators)),
                       "template": {"metadata": {"name": name}, "spec": {}}}}
    repo = make_repo(tmp_path, FILES)
    return [a["metadata"]["name"] for a in generate(repo, "main", appset, "s.yaml")]


def matrix_with_git(selection: str) -> str:
    """A matrix of a list of two clusters and a git generator with a directories/files entry."""
    return ("- matrix:\n    generators:\n      - list: {elements: [{cluster: dev}, {cluster: prod}]}\n"
            "      - git:\n" + textwrap.indent(GIT + selection, " " * 10))


def test_matrix_of_list_and_git(tmp_path: Path) -> None:
    """matrix.go GenerateParams: every set of the first generator with every set of the second;
    CombineStringMaps joins them (without goTemplate)."""
    out = names(tmp_path, matrix_with_git("directories: [{path: 'addons/*'}]\n"))
    assert out == ["dev-a", "dev-b", "prod-a", "prod-b"]


def test_matrix_second_generator_sees_the_first(tmp_path: Path) -> None:
    """matrix.go getParams + utils.RenderGeneratorParams: the second generator is rendered with
    each parameter set of the first (a path built from {{cluster}})."""
    out = names(tmp_path, matrix_with_git("files: [{path: 'clusters/{{cluster}}/config.json'}]\n"),
                name="{{cluster}}-{{cluster.name}}")
    assert out == ["dev-dev", "prod-prod"]


def test_matrix_clash_without_go_template(tmp_path: Path) -> None:
    """utils.CombineStringMaps: the same key with two values is an error."""
    with pytest.raises(SourceError, match="found duplicate key cluster with different value"):
        names(tmp_path, """\
            - matrix:
                generators:
                  - list: {elements: [{cluster: dev}]}
                  - list: {elements: [{cluster: prod}]}
            """)


def test_merge_by_keys(tmp_path: Path) -> None:
    """merge.go: the first generator's sets, each overridden by another generator's set with the
    same mergeKeys values; sets of the others with no base are dropped."""
    out = names(tmp_path, """\
        - merge:
            mergeKeys: [cluster]
            generators:
              - list: {elements: [{cluster: dev, size: s}, {cluster: prod, size: s}]}
              - list: {elements: [{cluster: prod, size: xl}, {cluster: qa, size: m}]}
        """, name="{{cluster}}-{{size}}")
    assert out == ["dev-s", "prod-xl"]


def test_selector_and_file_excludes(tmp_path: Path) -> None:
    """generator_spec_processor.go: selector.matchLabels keeps the matching sets; git.go
    generateParamsForGitFiles: files of the include patterns minus those of exclude ones."""
    out = names(tmp_path, f"""\
        - git:
            {textwrap.indent(GIT, ' ' * 12).strip()}
            files: [{{path: 'clusters/*/config.json'}}, {{path: clusters/dev/*, exclude: true}}]
        - list: {{elements: [{{cluster: a, tier: x}}, {{cluster: b, tier: y}}]}}
          selector: {{matchLabels: {{tier: y}}}}
        """, name="{{cluster.name}}{{cluster}}")
    assert out == ["prod{{cluster}}", "{{cluster.name}}b"]
    with pytest.raises(NotChecked, match="matchExpressions is not applied here"):
        names(tmp_path / "x", "- list: {elements: [{cluster: a}]}\n  selector: {matchExpressions: [{key: a, operator: In}]}\n")
