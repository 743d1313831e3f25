"""checks/test_cluster.py through pytest (pytester) on a small real estate: custom resources against
the CRD the repository ships, a kind with no schema "not checked", a cluster version newer than
every kept schema "not checked", and a probe route that cannot be resolved "not checked"."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from conftest import ROOT
from test_sweep_identity import APP, _commit

CRD = """
    apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    metadata: {name: widgets.demo.test}
    spec:
      group: demo.test
      names: {kind: Widget, plural: widgets}
      scope: Namespaced
      versions:
        - name: v1
          served: true
          storage: true
          schema:
            openAPIV3Schema:
              type: object
              properties:
                spec:
                  type: object
                  properties: {size: {type: integer}}
"""
OBJECTS = """
    apiVersion: demo.test/v1
    kind: Widget
    metadata: {name: w}
    spec: {size: 3, colour: red}
    ---
    apiVersion: other.test/v1
    kind: Gadget
    metadata: {name: g}
    spec: {}
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: api}
    spec:
      selector: {matchLabels: {app: api}}
      template:
        metadata: {labels: {app: api}}
        spec:
          containers:
            - name: api
              image: registry.example.test/api:{{ .Values.tag }}
              ports: [{name: http, containerPort: 8000}]
              readinessProbe: {httpGet: {path: /ready, port: http}}
"""
MAIN_PY = "from fastapi import FastAPI\nfrom elsewhere import router\napp = FastAPI()\napp.include_router(router)\n"


@pytest.fixture
def run(pytester: pytest.Pytester, tmp_path: Path):
    for name in ("app", "gitops"):
        (tmp_path / name).mkdir()
        subprocess.run(["git", "init", "-q", "-b", "main", str(tmp_path / name)], check=True)
    sha = _commit(tmp_path / "app", 0, "app", {"server/main.py": MAIN_PY})
    _commit(tmp_path / "gitops", 0, "chart", {
        "chart/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
        "chart/values.yaml": f"tag: '{sha}'\n", "chart/templates/objects.yaml": OBJECTS,
        "argo/app-prod.yaml": APP, "crds/widgets.yaml": CRD})
    env_file = pytester.path / "environments.yaml"
    env_file.write_text(textwrap.dedent(f"""
        version: 1
        sources:
          app: {{path: {tmp_path / 'app'}, main: main}}
          gitops: {{path: {tmp_path / 'gitops'}, main: main}}
        settings:
          - {{kind: pydantic-settings, source: app, path: server/settings.py, containers: [api],
             app: "server/main.py:app"}}
        environments:
          production:
            deploys: {{branch: main}}
            gitops: {{argocd_app: argo/app-prod.yaml}}
            kubernetes: {{version: "1.30"}}
          future:
            deploys: {{branch: main}}
            gitops: {{argocd_app: argo/app-prod.yaml}}
            kubernetes: {{version: "1.99"}}
    """))
    pytester.makeconftest('pytest_plugins = ["releasegate.plugin"]')
    pytester.makepyfile(test_cluster=(ROOT / "checks" / "test_cluster.py").read_text())

    def go(*args: str) -> pytest.RunResult:
        return pytester.runpytest("--environments", str(env_file), "-p", "no:cacheprovider", "-rs", *args)
    return go


def test_custom_resources_and_what_cannot_be_checked(run):
    result = run("-m", "prerelease", "-k", "schema or probe")
    result.stdout.fnmatch_lines([
        "*production: Widget/web/w: spec.colour: unknown field (the API server refuses it)*; schema of Kubernetes 1.30",
        "*production: not checked: no schema for other.test/v1 Gadget (no such kind in Kubernetes 1.30, "
        "and no CustomResourceDefinition for it in the chart or the deployment repository)",
        "*future: not checked: no schema for Kubernetes 1.99 in kubernetes-validate (newest kept: *): "
        "upgrade the package",
        "*production: not checked: the routes of server/main.py:app at * cannot all be read statically "
        "(server/main.py:4: router router cannot be read)",
    ])
    # production: Widget fails; Deployment and the probe port pass; Gadget and the routes skip.
    # future: its three kinds skip (too new), its probe port passes, its routes skip.
    result.assert_outcomes(failed=1, passed=3, skipped=6)


def test_an_unquoted_version_is_a_usage_error(run, pytester: pytest.Pytester):
    env_file = pytester.path / "environments.yaml"
    env_file.write_text(env_file.read_text().replace('version: "1.30"', "version: 1.30"))
    result = run("-m", "prerelease")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*kubernetes.version*expected a string*"])
