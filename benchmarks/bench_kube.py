"""Kubernetes checks: reading a namespace and judging it, against kubectl reading the same lists.

    python benchmarks/bench_kube.py

Serves N deployments (2 pods, a Service each) from the kmock emulator on loopback and times, per
namespace size: releasegate's connect (eight list calls, one per kind) plus health, drift and the
undeclared-object scan of every workload; `kubectl get <the same eight kinds> -o json` (the reads
alone, what a user would script; discovery cache warm); and curl fetching the eight lists.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.timing import median_seconds  # noqa: E402
from examples.services import kube as emu  # noqa: E402
from releasegate.kubernetes import drift as k8s_drift, health as k8s_health, workloads as k8s_workloads  # noqa: E402
from releasegate.kubernetes import api as kube  # noqa: E402
from releasegate.estate import KubeSpec  # noqa: E402

NS = "bench"
SIZES = (10, 50, 200)
ROUNDS = 5
KINDS = "deployments.apps,statefulsets.apps,daemonsets.apps,cronjobs.batch," \
        "horizontalpodautoscalers.autoscaling,services,endpointslices.discovery.k8s.io,pods"


def manifests(count: int) -> list[dict]:
    """``count`` copies of the sample chart's agent (Deployment with 2 replicas + Service)."""
    sample = emu.sample_manifests()
    deployment = next(m for m in sample if m["kind"] == "Deployment" and m["metadata"]["name"] == "agent")
    service = next(m for m in sample if m["kind"] == "Service" and m["metadata"]["name"] == "agent")
    out = []
    for i in range(count):
        name = f"svc-{i:03d}"
        labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": "bench"}
        dep = copy.deepcopy(deployment)
        dep["metadata"]["name"] = name
        dep["spec"]["replicas"] = 2
        dep["spec"]["selector"]["matchLabels"] = labels
        dep["spec"]["template"]["metadata"]["labels"] = dict(labels)
        svc = copy.deepcopy(service)
        svc["metadata"]["name"] = name
        svc["spec"]["selector"] = labels
        out += [dep, svc]
    return out


def main() -> None:
    """Time health + drift on the emulator at three sizes against kubectl get."""
    kubectl, curl = shutil.which("kubectl"), shutil.which("curl")
    print(f"{'workloads':>9} {'pods':>5} {'releasegate s':>13} {'kubectl s':>10} {'ratio':>6} "
          f"{'curl s':>7} {'ratio':>6}")
    for size in SIZES:
        chart = manifests(size)
        server = emu.serve(emu.deploy(chart, NS), contexts={"bench": NS})
        host = SimpleNamespace(name="bench", namespace=NS, timeout_s=10.0,
                               spec=SimpleNamespace(kubernetes=KubeSpec(None, NS, str(server.kubeconfig))),
                               estate=SimpleNamespace(root=Path("/"), raw={},
                                                      network=SimpleNamespace(timeout_s=10.0)))
        declared = k8s_workloads.declared(chart)

        def releasegate() -> None:
            client = kube.connect(host)
            for workload in declared:
                assert not k8s_health.health(workload, client.live, NS)
                assert not k8s_drift.drift(workload, client.live)
            assert not k8s_drift.undeclared(chart, client.live, NS)
            client.close()

        with tempfile.TemporaryDirectory() as cache:
            ours = median_seconds(releasegate, ROUNDS, warmup=True)
            theirs = median_seconds(lambda: subprocess.run(
                [kubectl, "--kubeconfig", str(server.kubeconfig), "--cache-dir", cache, "-n", NS,
                 "get", KINDS, "-o", "json"], check=True, capture_output=True),
                ROUNDS, warmup=True) if kubectl else None
            paths = [f"{server.url}/{prefix}/namespaces/{NS}/{resource}"
                     for prefix, resource in kube.LISTS.values()]
            raw = median_seconds(lambda: subprocess.run([curl, "-sf", *paths], check=True,
                                                         capture_output=True),
                                 ROUNDS, warmup=True) if curl else None
        pods = 2 * size
        server.stop()
        fmt = (lambda v: f"{v:.3f}" if v is not None else "n/a")
        print(f"{size:>9} {pods:>5} {ours:>13.3f} {fmt(theirs):>10} "
              f"{(ours / theirs if theirs else float('nan')):>6.2f} {fmt(raw):>7} "
              f"{(ours / raw if raw else float('nan')):>6.2f}")


if __name__ == "__main__":
    main()
