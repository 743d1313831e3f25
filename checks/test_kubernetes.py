"""Kubernetes: what runs in each environment, whether it is healthy, and how far it is from git.

Declared workloads come from the chart rendered for the environment; live state is read once per
session with list calls only (deploy/rbac.yaml). Items are named by workload.
"""

from __future__ import annotations

from typing import Any, Iterable

import pytest

from releasegate.core import helm
from releasegate.kubernetes import api, argocd, drift, health, workloads
from releasegate.core.gitrepo import SourceError
from releasegate.core.host import EnvHost
from releasegate.params import per_env, per_item


def _on_cluster(host: EnvHost) -> bool:
    return host.spec.kubernetes is not None


def _argocd_managed(host: EnvHost) -> bool:
    return host.spec.kubernetes is not None and bool(host.spec.gitops.argocd_app
                                                     or host.spec.gitops.argocd_parent)


def workload_items(host: EnvHost) -> Iterable[tuple[str, workloads.Declared]]:
    """Every Deployment, StatefulSet, DaemonSet and CronJob of the rendered chart."""
    return workloads.item_ids(workloads.declared(host.manifests))


def _report(gate: Any, findings: Iterable[workloads.Finding]) -> None:
    for finding in findings:
        record = gate.block if finding.severity == "block" else gate.warn
        record(finding.message, **finding.details)


@pytest.mark.smoke
@pytest.mark.prerelease
@pytest.mark.drift
@per_item(workload_items, applies=_on_cluster)
def test_workload_healthy(host: EnvHost, item: workloads.Declared, k8s: api.KubeClient,
                          gate: Any) -> None:
    """Runs live, rollout complete, no pod stuck pulling/crashing, Services have ready endpoints."""
    _report(gate, health.health(item, k8s.live, k8s.namespace,
                                restart_threshold=api.restart_threshold(host)))


@pytest.mark.drift
@per_item(workload_items, applies=_on_cluster)
def test_workload_matches_git(host: EnvHost, item: workloads.Declared, k8s: api.KubeClient,
                              gate: Any) -> None:
    """Images, env, resources, replicas (HPA bounds) and selector labels are what git declares."""
    _report(gate, drift.drift(item, k8s.live))


@pytest.mark.drift
@per_env(_on_cluster)
def test_no_undeclared_objects(host: EnvHost, k8s: api.KubeClient, gate: Any) -> None:
    """Nothing runs in the namespace that git does not declare (what a prune would delete)."""
    manifests = host.manifests
    if host.unread_sources():  # what it deploys would be called undeclared: not checked
        pytest.skip(f"{host.name}: " + "; ".join(host.unread_sources()))
    _report(gate, drift.undeclared(manifests, k8s.live, k8s.namespace))


@pytest.mark.smoke
@pytest.mark.drift
@per_env(_argocd_managed)
def test_argocd_application(host: EnvHost, k8s: api.KubeClient, gate: Any) -> None:
    """The environment's Argo CD Application is Synced, Healthy, and targets what git declares."""
    repo = host.git(host.gitops_source)
    gitops = host.spec.gitops
    if gitops.argocd_parent:  # the Application its parent generates at the ref under check
        from releasegate.render.children import child_application

        declared = child_application(repo, host.ref(host.gitops_source), gitops.argocd_parent,
                                     gitops.argocd_child or "")
    else:
        path = gitops.argocd_app
        docs = helm.load_yaml_documents(repo.show(host.ref(host.gitops_source), path),
                                        f"{repo.name}:{path}")
        declared = next((d for d in docs if isinstance(d, dict) and d.get("kind") == "Application"),
                        None)
        if declared is None:
            raise SourceError(f"{repo.name}:{path} holds no Argo CD Application")
    meta = declared.get("metadata") or {}
    present, live = k8s.argocd_application(meta["name"], meta.get("namespace") or "argocd")
    if not present:
        pytest.skip(f"{host.name}: the cluster serves no Argo CD Application CRD "
                    f"(argoproj.io/v1alpha1 applications)")
    _report(gate, argocd.argocd(declared, live))
    target = ((declared.get("spec") or {}).get("source") or {}).get("targetRevision") or "HEAD"
    main = host.estate.sources[host.gitops_source].main
    # HEAD or the integration branch means "what this run reads as the gitops main" (--gitops-ref
    # replays); any other branch, tag or commit is looked up as named.
    ref = host.ref(host.gitops_source) if target in ("HEAD", main) else target
    expected = repo.rev_parse(ref)
    if live is not None and expected is not None:
        _report(gate, argocd.argocd_revision(meta["name"], live, repo, expected,
                                             f"{host.gitops_source} {ref}"))
