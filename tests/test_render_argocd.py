"""Argo CD Helm sources rendered as Argo CD's repo server renders them, with Helm's own engine on a
real git repository. Each test cites the rule (argoproj/argo-cd file and function)."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from releasegate.core import helm
from releasegate.core.gitrepo import GitRepo, NotChecked, SourceError
from releasegate.render.argocd import build_env, envsubst, helm_sources, readable, same_repo
from releasegate.render.parameters import clean_set_parameter

CHART = {
    "charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    "charts/web/values.yaml": "host: ''\nport: 80\nlabels: {}\n"
                              "hosts:\n  - {name: a, paths: ['/']}\n",
    "charts/web/templates/cm.yaml": textwrap.dedent("""\
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: {{ .Release.Name }}
        data:
          host: {{ required "host must be set" .Values.host | quote }}
          port: {{ .Values.port | quote }}
          portType: {{ kindOf .Values.port | quote }}
          labels: {{ toJson .Values.labels | quote }}
          hosts: {{ toJson .Values.hosts | quote }}
          namespace: {{ .Release.Namespace | quote }}
          conf: {{ .Values.conf | default "" | quote }}
        """),
    "charts/web/crds/crd.yaml": "apiVersion: apiextensions.k8s.io/v1\n"
                                "kind: CustomResourceDefinition\nmetadata: {name: foos.example.com}\n",
    "envs/prod.yaml": "host: prod.example.com\nport: 8080\n",
    "envs/extra.conf": "a=1,b=2\n",
}


def make_repo(root: Path, files: dict[str, str]) -> GitRepo:
    """A real git repository with one commit holding files."""
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    return GitRepo(root, "gitops")


def app(helm_spec: str, *, name: str = "web-prod", namespace: str = "prod",
        extra_sources: str = "") -> str:
    """An Application whose one source is charts/web, with a helm: block."""
    body = textwrap.indent(textwrap.dedent(helm_spec), " " * 6)
    return textwrap.dedent(f"""\
        apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {{name: {name}, namespace: argocd}}
        spec:
          project: platform
          destination: {{server: https://kubernetes.default.svc, namespace: {namespace}}}
          source:
            repoURL: https://git.example.com/org/gitops.git
            targetRevision: main
            path: charts/web
            helm:
        """) + body


def rendered(tmp_path: Path, application: str, files: dict[str, str] | None = None) -> dict[str, Any]:
    repo = make_repo(tmp_path / "gitops", {**CHART, **(files or {}), "apps/web.yaml": application})
    sha = repo.resolve("main")
    manifests = [m for s in helm_sources(repo, sha, "apps/web.yaml") for m in helm.render(repo, sha, s)]
    cm = next(m for m in manifests if m["kind"] == "ConfigMap")
    return {"cm": cm, "data": cm["data"], "kinds": [m["kind"] for m in manifests]}


def test_parameters_apply_after_value_files_and_values(tmp_path: Path) -> None:
    """repository.go helmTemplate: helm.parameters become --set, applied by Helm after every
    --values (pkg/cli/values/options.go MergeValues), so a parameter wins over valueFiles and
    values; Argo CD's own issue: an app-of-apps passing global.host by parameter."""
    out = rendered(tmp_path, app("""\
        valueFiles: [../../envs/prod.yaml]
        values: |
          host: from-values
        parameters:
          - {name: host, value: from-parameter}
        """))
    assert out["data"]["host"] == "from-parameter"
    assert out["data"]["port"] == "8080"


def test_force_string_keeps_text(tmp_path: Path) -> None:
    """repository.go helmTemplate: forceString => --set-string (strvals typedVal not applied),
    else --set infers a number (int64 in Helm's CLI; the embedded engine receives values as JSON,
    so a number there is a float64, as any number from a value file is)."""
    typed = rendered(tmp_path / "a", app("parameters: [{name: host, value: h}, {name: port, value: '9090'}]"))
    forced = rendered(tmp_path / "b", app(
        "parameters: [{name: host, value: h}, {name: port, value: '9090', forceString: true}]"))
    assert typed["data"]["portType"] in ("int64", "float64") and forced["data"]["portType"] == "string"


def test_parameter_into_list_element_keeps_its_other_keys(tmp_path: Path) -> None:
    """helm pkg/strvals/parser.go ParseInto (listItem): hosts[0].name=b updates the element of the
    value files merged so far in place (its paths stay); the chart's own values.yaml is not part
    of that merge (chartutil coalesces it afterwards), so there the list is replaced, as with
    Helm's CLI."""
    files = {"envs/hosts.yaml": "hosts:\n  - {name: a, paths: [/x]}\n"}
    merged = rendered(tmp_path / "a", app("""\
        valueFiles: [../../envs/hosts.yaml]
        parameters: [{name: host, value: h}, {name: 'hosts[0].name', value: b}]
        """), files)
    assert merged["data"]["hosts"] == '[{"name":"b","paths":["/x"]}]'
    default = rendered(tmp_path / "b", app(
        "parameters: [{name: host, value: h}, {name: 'hosts[0].name', value: b}]"))
    assert default["data"]["hosts"] == '[{"name":"b"}]'


def test_commas_in_a_parameter_value_are_escaped(tmp_path: Path) -> None:
    """util/helm/cmd.go cleanSetParameters: a value's commas are escaped (one value), a {a,b}
    value is a list."""
    out = rendered(tmp_path, app("parameters: [{name: host, value: 'a,b'}, {name: labels.x, value: '{1,2}'}]"))
    assert out["data"]["host"] == "a,b"
    assert out["data"]["labels"] == '{"x":[1,2]}'
    assert clean_set_parameter(r"a\,b,c") == r"a\,b\,c"


def test_values_object_wins_over_values(tmp_path: Path) -> None:
    """pkg/apis/application/v1alpha1/values.go ValuesYAML: valuesObject, when set, is used and
    values ignored; both come after valueFiles (the extra --values file is passed last)."""
    out = rendered(tmp_path, app("""\
        valueFiles: [../../envs/prod.yaml]
        values: |
          host: from-values
        valuesObject:
          host: from-object
        """))
    assert out["data"]["host"] == "from-object" and out["data"]["port"] == "8080"


def test_release_name_defaults_to_the_application_name(tmp_path: Path) -> None:
    """repository.go helmTemplate: Name is the app name (argo.ParseInstanceName) unless
    helm.releaseName; the namespace is the destination's unless helm.namespace
    (types.go GetNamespaceOrDefault)."""
    default = rendered(tmp_path / "a", app("values: 'host: h'"))
    named = rendered(tmp_path / "b", app("releaseName: custom\nnamespace: other\nvalues: 'host: h'"))
    assert default["cm"]["metadata"]["name"] == "web-prod" and default["data"]["namespace"] == "prod"
    assert named["cm"]["metadata"]["name"] == "custom" and named["data"]["namespace"] == "other"


def test_missing_value_file(tmp_path: Path) -> None:
    """repository.go getResolvedValueFiles: a missing value file fails the render unless
    ignoreMissingValueFiles, then it is skipped."""
    with pytest.raises(SourceError, match="value file ../../envs/gone.yaml not found"):
        rendered(tmp_path / "a", app("valueFiles: [../../envs/gone.yaml]\nvalues: 'host: h'"))
    out = rendered(tmp_path / "b", app(
        "valueFiles: [../../envs/gone.yaml, ../../envs/prod.yaml]\nignoreMissingValueFiles: true"))
    assert out["data"]["host"] == "prod.example.com"


def test_build_variables_in_parameters(tmp_path: Path) -> None:
    """repository.go newEnv + helmTemplate (env.Envsubst on Set values): $ARGOCD_APP_NAME,
    ${ARGOCD_APP_NAMESPACE}, $ARGOCD_APP_REVISION (the commit rendered), source path and URL."""
    out = rendered(tmp_path, app("""\
        parameters:
          - {name: host, value: '$ARGOCD_APP_NAME.${ARGOCD_APP_NAMESPACE}.$ARGOCD_APP_SOURCE_PATH'}
          - {name: labels.rev, value: '$ARGOCD_APP_REVISION_SHORT', forceString: true}
          - {name: labels.target, value: '$ARGOCD_APP_SOURCE_TARGET_REVISION'}
        """))
    assert out["data"]["host"] == "web-prod.prod.charts/web"
    sha = GitRepo(tmp_path / "gitops").resolve("main")
    assert out["data"]["labels"] == f'{{"rev":"{sha[:7]}","target":"main"}}'


@pytest.mark.parametrize("text,expected", [
    ("$A-${A}", "x-x"), ("$$A", "$A"), ("$UNKNOWN.", "."), ("${}", ""), ("a$", "a$"),
    ("$1b", "b"), ("100%$", "100%$"), ("$ A", "$ A"),
])
def test_envsubst_is_gos_os_expand(text: str, expected: str) -> None:
    """pkg/apis/application/v1alpha1/types.go Env.Envsubst: os.Expand with `$$` as a dollar and
    unknown names empty (Go's getShellName for ${}, specials and alphanumerics)."""
    assert envsubst(text, {"A": "x"}) == expected


def test_build_env_names() -> None:
    """repository.go newEnv: the nine ARGOCD_APP_* variables."""
    env = build_env({"metadata": {"name": "n"}, "spec": {"project": "p", "destination": {
        "namespace": "ns"}}}, {"repoURL": "u", "path": "p/q", "targetRevision": "t"}, "0123456789")
    assert env == {"ARGOCD_APP_NAME": "n", "ARGOCD_APP_NAMESPACE": "ns", "ARGOCD_APP_PROJECT_NAME": "p",
                   "ARGOCD_APP_REVISION": "0123456789", "ARGOCD_APP_REVISION_SHORT": "0123456",
                   "ARGOCD_APP_REVISION_SHORT_8": "01234567", "ARGOCD_APP_SOURCE_REPO_URL": "u",
                   "ARGOCD_APP_SOURCE_PATH": "p/q", "ARGOCD_APP_SOURCE_TARGET_REVISION": "t"}


def test_file_parameters_read_from_the_repository(tmp_path: Path) -> None:
    """repository.go helmTemplate: fileParameters => --set-file name=path, the path resolved like
    a value file (against the source path, or the repository root when absolute)."""
    out = rendered(tmp_path, app("values: 'host: h'\nfileParameters: [{name: conf, path: /envs/extra.conf}]"))
    assert out["data"]["conf"] == "a=1,b=2\n"


def test_crds_included_unless_skip_crds(tmp_path: Path) -> None:
    """util/helm/cmd.go Cmd.template: --include-crds unless helm.skipCrds."""
    assert "CustomResourceDefinition" in rendered(tmp_path / "a", app("values: 'host: h'"))["kinds"]
    assert "CustomResourceDefinition" not in rendered(
        tmp_path / "b", app("values: 'host: h'\nskipCrds: true"))["kinds"]


def multi_source(chart_url: str, value_files: str, values_url: str) -> str:
    """An Application with charts/web from chart_url and a `values` ref source at values_url."""
    return textwrap.dedent(f"""\
        apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {{name: web-prod}}
        spec:
          destination: {{namespace: prod}}
          sources:
            - {{repoURL: '{chart_url}', path: charts/web, helm: {{valueFiles: [{value_files}]}}}}
            - {{repoURL: '{values_url}', ref: values}}
        """)


def test_multi_source_ref_value_files(tmp_path: Path) -> None:
    """repository.go getResolvedRefValueFile: `$values/envs/prod.yaml` reads envs/prod.yaml from
    the root of the source whose ref is `values` (here the same repository)."""
    application = multi_source("https://git.example.com/org/gitops.git", "$values/envs/prod.yaml",
                               "https://git.example.com/org/gitops.git")
    assert rendered(tmp_path, application)["data"]["host"] == "prod.example.com"


def test_source_from_another_repository_is_not_checked(tmp_path: Path) -> None:
    """A multi-source Application's source in a repository the suite does not read: not checked
    (util/git NormalizeGitURL decides what is the same repository)."""
    repo = make_repo(tmp_path / "gitops", {**CHART, "apps/web.yaml": textwrap.dedent("""\
        apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {name: web-prod}
        spec:
          sources:
            - {repoURL: 'https://git.example.com/org/other', path: charts/web}
        """)})
    subprocess.run(["git", "-C", str(repo.path), "remote", "add", "origin",
                    "git@git.example.com:org/gitops.git"], check=True)
    with pytest.raises(NotChecked, match=r"spec.sources\[0\] .* not checked: .* add that repository"):
        readable(helm_sources(repo, "main", "apps/web.yaml"))
    assert same_repo("git@git.example.com:org/gitops.git", "https://Git.example.com/org/gitops/")


def test_multi_source_across_estate_repositories(tmp_path: Path) -> None:
    """repository.go getResolvedRefValueFile + the app controller's per-source render: the chart
    from the charts repository (another estate source, found by its origin URL), a value file
    from the deployment repository by `$values/...`; an unknown ref source is not checked."""
    charts = GitRepo(make_repo(tmp_path / "charts", CHART).path, "charts")
    subprocess.run(["git", "-C", str(charts.path), "remote", "add", "origin",
                    "https://git.example.com/org/charts.git"], check=True)
    application = multi_source("https://git.example.com/org/charts.git",
                               "values.yaml, $values/envs/web.yaml", "git@git.example.com:org/gitops.git")
    gitops = make_repo(tmp_path / "gitops", {"apps/web.yaml": application, "envs/web.yaml": "host: h\n"})
    subprocess.run(["git", "-C", str(gitops.path), "remote", "add", "origin",
                    "https://git.example.com/org/gitops.git"], check=True)
    estate = {"charts": charts}

    def resolve(url: str) -> tuple[str, GitRepo, str] | None:
        found = [(n, r, r.resolve("main")) for n, r in estate.items() if same_repo(url, r.remote_url())]
        return found[0] if found else None

    (source,) = helm_sources(gitops, "main", "apps/web.yaml", resolve=resolve)
    assert source.repo_source == "charts" and source.values == ("values.yaml", "gitops:envs/web.yaml")
    cm = next(m for m in helm.render(charts, charts.resolve("main"), source) if m["kind"] == "ConfigMap")
    assert cm["data"]["host"] == "h"
    with pytest.raises(NotChecked, match="this check reads the deployment repository only"):
        helm.render(gitops, gitops.resolve("main"), source)  # what a gitops-only reader asks
    estate.clear()
    with pytest.raises(NotChecked, match=r"spec.sources\[0\] .* none of the estate's sources"):
        readable(helm_sources(gitops, "main", "apps/web.yaml", resolve=resolve))
