"""releasegate.kubernetes.api and the health/drift logic against a real cluster, when KUBECONFIG names one.

Read-only like the checks. RELEASEGATE_TEST_CONTEXT picks a context (default: the current one);
RELEASEGATE_TEST_NAMESPACE a namespace (default: kube-system, which every cluster has).
"""

from __future__ import annotations

import os

import pytest

from releasegate.kubernetes import drift as k8s_drift, health as k8s_health, workloads as k8s_workloads
from releasegate.kubernetes import api as kube
from test_kubernetes_emulated import make_host

pytestmark = pytest.mark.skipif(
    not os.environ.get("KUBECONFIG"),
    reason="KUBECONFIG is not set: no real cluster to read (set it to run these tests against one)")

NAMESPACE = os.environ.get("RELEASEGATE_TEST_NAMESPACE", "kube-system")


@pytest.fixture(scope="module")
def client():
    path = next(p for p in os.environ["KUBECONFIG"].split(os.pathsep) if p)
    connected = kube.connect(make_host(path, namespace=NAMESPACE,
                                       context=os.environ.get("RELEASEGATE_TEST_CONTEXT"),
                                       timeout_s=15))
    yield connected
    connected.close()


def test_every_kind_is_listed_with_gets_only(client):
    assert set(client.live) == set(kube.LISTS)
    for kind, objects in client.live.items():
        assert all(o["metadata"]["namespace"] == NAMESPACE and o["kind"] == kind for o in objects)
    assert client.calls and {method for method, _ in client.calls} == {"GET"}
    assert all(f"/namespaces/{NAMESPACE}/" in url for _, url in client.calls)


def test_live_workloads_compared_with_themselves_show_no_drift(client):
    manifests = [o for kind in ("Deployment", "StatefulSet", "DaemonSet", "CronJob",
                                "HorizontalPodAutoscaler", "Service")
                 for o in client.live[kind]]
    for _, workload in k8s_workloads.item_ids(k8s_workloads.declared(manifests)):
        assert k8s_drift.drift(workload, client.live) == [], workload.name
    assert k8s_drift.undeclared(manifests, client.live, NAMESPACE) == []


def test_health_reads_every_live_workload(client):
    manifests = [o for kind in k8s_workloads.WORKLOAD_KINDS for o in client.live[kind]]
    for _, workload in k8s_workloads.item_ids(k8s_workloads.declared(manifests)):
        for finding in k8s_health.health(workload, client.live, NAMESPACE):
            assert finding.severity == "block" and workload.name in finding.message


def test_argocd_lookup_of_an_absent_application_is_not_an_error(client):
    present, app = client.argocd_application("releasegate-probe-absent", "argocd")
    assert app is None and present in (True, False)
