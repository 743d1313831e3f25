"""Kustomize sources of Argo CD Applications, built by the machine's kustomize engine (kubectl
kustomize here) after Argo CD's `kustomize:` settings (argoproj/argo-cd util/kustomize/kustomize.go
kustomize.Build: `kustomize edit set nameprefix/namesuffix/image/replicas/namespace`, `edit add
label/annotation/component`, patches appended to the kustomization)."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest

from releasegate.core import helm
from releasegate.core.gitrepo import NotChecked
from releasegate.render import kustomize
from releasegate.render.argocd import helm_sources
from releasegate.render.kustomize import _image, apply_settings
from tests.test_render_argocd import make_repo

BASE = {
    "base/kustomization.yaml": "resources: [deploy.yaml]\nnamePrefix: base-\n",
    "base/deploy.yaml": textwrap.dedent("""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: api}
        spec:
          replicas: 1
          selector: {matchLabels: {app: api}}
          template:
            metadata: {labels: {app: api}}
            spec: {containers: [{name: api, image: registry.example.com/api:1.0}]}
        """),
    "overlays/prod/kustomization.yaml": "resources: [../../base]\n",
    "components/debug/kustomization.yaml": textwrap.dedent("""\
        apiVersion: kustomize.config.k8s.io/v1alpha1
        kind: Component
        commonAnnotations: {debug: "on"}
        """),
}


def app(settings: str) -> str:
    return textwrap.dedent("""\
        apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {name: api-prod}
        spec:
          destination: {namespace: prod}
          source:
            repoURL: https://git.example.com/org/gitops.git
            path: overlays/prod
        """) + textwrap.indent(textwrap.dedent(settings), "    ")


def build(tmp_path: Path, settings: str) -> dict[str, Any]:
    repo = make_repo(tmp_path, {**BASE, "app.yaml": app(settings)})
    sha = repo.resolve("main")
    (source,) = helm_sources(repo, sha, "app.yaml")
    (deploy,) = helm.render(repo, sha, source)
    return deploy


@pytest.mark.skipif(kustomize.engine() is None, reason="no kustomize engine on PATH")
def test_plain_kustomization(tmp_path: Path) -> None:
    """GenerateManifests: a path with a kustomization is a Kustomize source (`kustomize build`);
    the destination namespace fills what the build leaves unset."""
    deploy = build(tmp_path, "")
    assert deploy["metadata"] == {"name": "base-api", "namespace": "prod"}


@pytest.mark.skipif(kustomize.engine() is None, reason="no kustomize engine on PATH")
def test_argo_kustomize_settings(tmp_path: Path) -> None:
    """kustomize.Build: namePrefix/nameSuffix set on the overlay, images, replicas, commonLabels,
    commonAnnotations, namespace and components, then `kustomize build`."""
    deploy = build(tmp_path, """\
        kustomize:
          namePrefix: prod-
          nameSuffix: -v2
          images: ['registry.example.com/api=registry.example.com/api-fips:2.0']
          replicas: [{name: base-api, count: 3}]
          commonLabels: {team: core}
          namespace: prod-ns
          components: [../../components/debug]
        """)
    assert deploy["metadata"]["name"] == "prod-base-api-v2"
    assert deploy["metadata"]["namespace"] == "prod-ns"
    assert deploy["metadata"]["labels"] == {"team": "core"}
    assert deploy["metadata"]["annotations"] == {"debug": "on"}
    assert deploy["spec"]["replicas"] == 3
    (container,) = deploy["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.example.com/api-fips:2.0"


@pytest.mark.parametrize("spec,entry", [
    ("nginx=registry/nginx:1.2", {"name": "nginx", "newName": "registry/nginx", "newTag": "1.2"}),
    ("nginx:1.2", {"name": "nginx", "newTag": "1.2"}),
    ("host:5000/nginx:1.2", {"name": "host:5000/nginx", "newTag": "1.2"}),
    ("nginx@sha256:abc", {"name": "nginx", "digest": "sha256:abc"}),
    ("nginx=other", {"name": "nginx", "newName": "other"}),
])
def test_edit_set_image_arguments(spec: str, entry: dict[str, str]) -> None:
    """kustomize commands/edit/set/setimage.go: the forms of `kustomize edit set image`."""
    assert _image(spec) == entry


def test_settings_replace_or_extend() -> None:
    """`edit set` replaces (namePrefix, an image of the same name); `edit add` extends labels."""
    out = apply_settings({"namePrefix": "a-", "images": [{"name": "x", "newTag": "1"}],
                          "commonLabels": {"a": "1"}},
                         {"namePrefix": "b-", "images": ["x:2"], "commonLabels": {"b": "2"}})
    assert out == {"namePrefix": "b-", "images": [{"name": "x", "newTag": "2"}],
                   "commonLabels": {"a": "1", "b": "2"}}


def test_no_engine_is_not_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without kustomize or kubectl on PATH the source is not checked, saying what would help."""
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(NotChecked, match="needs `kustomize` or `kubectl` on PATH"):
        build(tmp_path, "")
