"""ApplicationSets and app-of-apps, read at a commit as Argo CD generates and renders them; each
test cites the rule in argoproj/argo-cd applicationset/ or reposerver/."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from releasegate.core import helm
from releasegate.core.gitrepo import NotChecked, SourceError
from releasegate.render.appsets import fasttemplate, glob_regex, sanitize_name
from releasegate.render.generators import generate
from releasegate.render.argocd import helm_sources
from releasegate.render.children import child_application, rendered_children
from tests.test_render_argocd import CHART, make_repo

TEMPLATE = """\
  template:
    metadata: {name: 'web-{{cluster}}'}
    spec:
      project: default
      destination: {namespace: 'web-{{cluster}}'}
      source:
        repoURL: https://git.example.com/org/gitops.git
        path: charts/web
        helm:
          valueFiles: ['../../envs/prod.yaml']
          parameters: [{name: host, value: '{{url}}'}]
"""


def appset(generators: str, template: str = TEMPLATE, go: bool = False) -> str:
    return ("apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {name: web}\n"
            f"spec:\n  goTemplate: {str(go).lower()}\n  generators:\n"
            + textwrap.indent(textwrap.dedent(generators).rstrip("\n") + "\n", "    ") + template)


LIST = """\
- list:
    elements:
      - {cluster: eu, url: eu.example.com}
      - {cluster: us, url: us.example.com}
"""


def test_list_generator_renders_each_element(tmp_path: Path) -> None:
    """generators/list.go ListGenerator.GenerateParams + utils/utils.go Render.Replace
    (fasttemplate): one Application per element, `{{key}}` replaced in every string."""
    repo = make_repo(tmp_path, {**CHART, "apps/web-set.yaml": appset(LIST)})
    apps = rendered_children(repo, "main", "apps/web-set.yaml")
    assert [a["metadata"]["name"] for a in apps] == ["web-eu", "web-us"]
    child = child_application(repo, "main", "apps/web-set.yaml", "web-us")
    (source,) = helm_sources(repo, "main", "apps/web-set.yaml#web-us", child)
    (cm,) = [m for m in helm.render(repo, repo.resolve("main"), source) if m["kind"] == "ConfigMap"]
    assert cm["metadata"] == {"name": "web-us", "namespace": "web-us"}
    assert cm["data"]["host"] == "us.example.com"
    with pytest.raises(SourceError, match="yields no Application named 'web-ap'.*web-eu, web-us"):
        child_application(repo, "main", "apps/web-set.yaml", "web-ap")


def test_list_values_must_be_strings_without_go_template(tmp_path: Path) -> None:
    """generators/list.go: without goTemplate a non-string element value is an error."""
    repo = make_repo(tmp_path, {"set.yaml": appset("- list: {elements: [{cluster: 1, url: u}]}")})
    with pytest.raises(SourceError, match="error parsing value as string"):
        rendered_children(repo, "main", "set.yaml")


def test_go_template_with_sprig(tmp_path: Path) -> None:
    """utils/utils.go Render.Replace with goTemplate: text/template and sprig over the params
    (nested values reachable; Helm's engine runs the same template library)."""
    template = TEMPLATE.replace("'web-{{cluster}}'", "'web-{{ .cluster.name | upper }}'").replace(
        "'{{url}}'", "'{{ printf \"%s.example.com\" .cluster.name }}'")
    repo = make_repo(tmp_path, {"set.yaml": appset(
        "- list: {elements: [{cluster: {name: eu}}]}", template, go=True)})
    (app,) = rendered_children(repo, "main", "set.yaml")
    assert app["metadata"]["name"] == "web-EU"
    assert app["spec"]["source"]["helm"]["parameters"] == [{"name": "host", "value": "eu.example.com"}]


def test_git_directories_generator(tmp_path: Path) -> None:
    """generators/git.go filterApps (path.Match: `*` stays in one segment; an exclude wins) and
    generateParamsFromApps (path, path.basename, path[n])."""
    files = {"clusters/eu/a.yaml": "x: 1\n", "clusters/us/a.yaml": "x: 1\n",
             "clusters/old/a.yaml": "x: 1\n", "clusters/eu/deep/b.yaml": "x: 1\n"}
    gen = """\
    - git:
        repoURL: https://git.example.com/org/gitops.git
        revision: HEAD
        directories: [{path: 'clusters/*'}, {path: clusters/old, exclude: true}]
    """
    template = TEMPLATE.replace("{{cluster}}", "{{path.basename}}").replace("{{url}}", "{{path[0]}}")
    repo = make_repo(tmp_path, {**files, "set.yaml": appset(gen, template)})
    apps = rendered_children(repo, "main", "set.yaml")
    assert [a["metadata"]["name"] for a in apps] == ["web-eu", "web-us"]
    assert apps[0]["spec"]["source"]["helm"]["parameters"][0]["value"] == "clusters"


def test_git_files_generator(tmp_path: Path) -> None:
    """generators/git.go generateParamsFromGitFile: each file's object flattened (a.b), plus
    path (the file's folder), path.basename and path.filename."""
    gen = """\
    - git:
        repoURL: https://git.example.com/org/gitops.git
        revision: HEAD
        files: [{path: 'clusters/**/config.yaml'}]
    """
    template = TEMPLATE.replace("{{cluster}}", "{{cluster.name}}").replace("{{url}}", "{{path}}/{{path.filename}}")
    repo = make_repo(tmp_path, {"clusters/eu/config.yaml": "cluster: {name: eu}\n",
                                "set.yaml": appset(gen, template)})
    (app,) = rendered_children(repo, "main", "set.yaml")
    assert app["metadata"]["name"] == "web-eu"
    assert app["spec"]["source"]["helm"]["parameters"][0]["value"] == "clusters/eu/config.yaml"


def test_other_generators_are_not_checked(tmp_path: Path) -> None:
    """Cluster, matrix, SCM and other generators need a cluster or an API: not checked."""
    repo = make_repo(tmp_path, {"set.yaml": appset("- clusters: {selector: {matchLabels: {env: prod}}}")})
    with pytest.raises(NotChecked, match=r"spec.generators\[0\].clusters: the clusters generator is not rendered"):
        rendered_children(repo, "main", "set.yaml")


def test_app_of_apps_helm_parent(tmp_path: Path) -> None:
    """An app-of-apps parent is rendered like any Application (GenerateManifests: Helm, with its
    parameters); the child Application it renders is then rendered in turn."""
    parent_chart = {
        "apps/Chart.yaml": "apiVersion: v2\nname: apps\nversion: 0.1.0\n",
        "apps/values.yaml": "host: ''\n",
        "apps/templates/web.yaml": textwrap.dedent("""\
            apiVersion: argoproj.io/v1alpha1
            kind: Application
            metadata: {name: web}
            spec:
              destination: {namespace: web}
              source:
                path: charts/web
                helm:
                  parameters: [{name: host, value: {{ required "host must be set" .Values.host | quote }}}]
            """),
        "root.yaml": textwrap.dedent("""\
            apiVersion: argoproj.io/v1alpha1
            kind: Application
            metadata: {name: root}
            spec:
              source:
                path: apps
                helm: {parameters: [{name: host, value: from-root}]}
            """),
    }
    repo = make_repo(tmp_path, {**CHART, **parent_chart})
    child = child_application(repo, "main", "root.yaml", "web")
    (source,) = helm_sources(repo, "main", "root.yaml#web", child)
    (cm,) = [m for m in helm.render(repo, repo.resolve("main"), source) if m["kind"] == "ConfigMap"]
    assert cm["data"]["host"] == "from-root"


def test_helpers() -> None:
    """utils.SanitizeName; fasttemplate leaves unknown tags as written; path.Match segments."""
    assert sanitize_name("My_App.v2") == "my-app.v2"
    assert fasttemplate("{{a}}-{{ b }}-{{c}}", {"a": "1", "b": "2"}) == "1-2-{{c}}"
    assert glob_regex("clusters/*").match("clusters/eu")
    assert not glob_regex("clusters/*").match("clusters/eu/deep")
    assert glob_regex("clusters/**/x.yaml").match("clusters/a/b/x.yaml")
    assert generate.__doc__


def test_a_chart_folder_as_parent_and_other_source_kinds(tmp_path: Path) -> None:
    """argoproj/argocd-example-apps' `apps` chart pattern: the parent is a chart folder whose
    render is the children (util/app/discovery: Chart.yaml is Helm, else a kustomization, else a
    directory of manifests; an explicit plugin or Jsonnet file is not checked here)."""
    children = textwrap.dedent("""\
        {{- range .Values.apps }}
        apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {name: {{ .name }}}
        spec:
          destination: {namespace: {{ .name }}}
          source:
            path: {{ .path }}
            {{- with .tool }}
            {{- toYaml . | nindent 4 }}
            {{- end }}
        ---
        {{ end -}}
        """)
    files = {
        "apps/Chart.yaml": "apiVersion: v2\nname: apps\nversion: 0.1.0\n",
        "apps/values.yaml": "apps:\n  - {name: plain, path: manifests}\n"
                            "  - {name: cmp, path: manifests, tool: {plugin: {name: x}}}\n"
                            "  - {name: jsonnet, path: jsonnet}\n",
        "apps/templates/apps.yaml": children,
        "manifests/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\n",
        "manifests/deep/ignored.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\n",
        "jsonnet/app.jsonnet": "{}\n",
    }
    repo = make_repo(tmp_path, files)
    sha = repo.resolve("main")

    def render(name: str) -> list[str]:
        app = child_application(repo, "main", "apps", name)
        return [m["metadata"]["name"] for s in helm_sources(repo, sha, f"apps#{name}", app)
                for m in helm.render(repo, sha, s)]

    assert render("plain") == ["plain"]  # directory.recurse not set: deep/ is not read
    with pytest.raises(NotChecked, match="spec.source.plugin: not checked: a config management plugin"):
        render("cmp")
    with pytest.raises(NotChecked, match="app.jsonnet: not checked: a Jsonnet source"):
        render("jsonnet")
