"""The Kubernetes checks' logic end to end: kmock API emulator over HTTP <- real kubernetes client.

Each case loads what a cluster shows after deploying the sample chart, plants one problem, reads it
back through releasegate.kubernetes.api and asserts that exactly its finding comes out.
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import pytest

from conftest import demo_environments
from examples.services import free_port
from examples.services import kube as emu
from releasegate import estate as environments
from releasegate.kubernetes import drift as k8s_drift, health as k8s_health, workloads as k8s_workloads
from releasegate.kubernetes import api as kube
from releasegate.estate import KubeSpec, Unset
from releasegate.core.handle import Unreachable

NS = "app-prod"
IMAGE = "registry.example.test/{}:v1.4.1"


def make_host(kubeconfig: str | Unset | None, *, namespace: str | None = NS, context: str | None = None,
              timeout_s: float = 5.0, root: Path = Path("/")) -> SimpleNamespace:
    """The parts of an EnvHost that releasegate.kubernetes.api reads."""
    return SimpleNamespace(
        name="production", namespace=namespace, timeout_s=timeout_s,
        spec=SimpleNamespace(kubernetes=KubeSpec(context=context, namespace=namespace,
                                                 kubeconfig=kubeconfig)),
        estate=SimpleNamespace(root=root, network=SimpleNamespace(timeout_s=timeout_s), raw={}))


@pytest.fixture(scope="module")
def emulator():
    server = emu.serve(contexts={"prod": NS, "other": "elsewhere"})
    yield server
    server.stop()


@pytest.fixture
def chart() -> list[dict]:
    return emu.sample_manifests()


@pytest.fixture
def read(emulator, chart) -> Callable[[list[dict]], kube.KubeClient]:
    """Serve these objects and connect the way the checks do."""
    clients = []

    def load(objects: list[dict]) -> kube.KubeClient:
        emulator.load(objects)
        emulator.clear_requests()
        client = kube.connect(make_host(str(emulator.kubeconfig)))
        clients.append(client)
        return client

    yield load
    for client in clients:
        client.close()


def all_findings(chart: list[dict], client: kube.KubeClient) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for item_id, workload in k8s_workloads.item_ids(k8s_workloads.declared(chart)):
        found = k8s_health.health(workload, client.live, client.namespace) \
            + k8s_drift.drift(workload, client.live)
        if found:
            out[item_id] = [(f.severity, f.message) for f in found]
    extra = k8s_drift.undeclared(chart, client.live, client.namespace)
    if extra:
        out["*"] = [(f.severity, f.message) for f in extra]
    return out


def ago(minutes: int) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=minutes)


def healthy(objects):
    return objects


def image_pull_backoff(objects):
    return emu.set_waiting(objects, "agent", "agent", "ImagePullBackOff",
                           f'Back-off pulling image "{IMAGE.format("agent")}"')


def crash_loop(objects):
    emu.set_restarts(objects, "worker", "worker", 12, ago(2))
    return emu.set_waiting(objects, "worker", "worker", "CrashLoopBackOff",
                           "back-off 5m0s restarting failed container=worker", restarts=12)


def missing_secret_key(objects):
    return emu.set_waiting(objects, "api", "api", "CreateContainerConfigError",
                           f"couldn't find key SMTP_PASSWORD in Secret {NS}/backend-secrets")


def hand_scaled(objects):
    return emu.scale(objects, "worker", 5)


def within_hpa_bounds(objects):
    return emu.scale(objects, "api", 4)


def changed_image(objects):
    return emu.set_image(objects, "agent", "agent", "registry.example.test/agent:debug")


def undeclared_deployment(objects):
    extra = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "debug-shell"},
             "spec": {"replicas": 1, "selector": {"matchLabels": {"run": "debug-shell"}},
                      "template": {"metadata": {"labels": {"run": "debug-shell"}},
                                   "spec": {"containers": [{"name": "sh", "image": "busybox:1.36"}]}}}}
    return emu.settle(objects + emu.deploy([extra], NS)[:-1])  # without a second Namespace object


CASES = {
    "healthy rollout": (healthy, {}),
    "ImagePullBackOff of an internal service": (image_pull_backoff, {"agent": [(
        "block", f"agent: container agent ({IMAGE.format('agent')}) is waiting with ImagePullBackOff "
                 f"on 1/1 pod(s): Back-off pulling image \"{IMAGE.format('agent')}\"")]}),
    "crash loop": (crash_loop, {"worker": [(
        "block", f"worker: container worker ({IMAGE.format('worker')}) is waiting with "
                 "CrashLoopBackOff on 2/2 pod(s): back-off 5m0s restarting failed container=worker")]}),
    "missing secret key": (missing_secret_key, {"api": [(
        "block", f"api: container api ({IMAGE.format('api')}) is waiting with "
                 "CreateContainerConfigError on 2/2 pod(s): couldn't find key SMTP_PASSWORD in "
                 f"Secret {NS}/backend-secrets")]}),
    "hand-scaled without HPA": (hand_scaled, {"worker": [(
        "block", "worker: scaled by hand to 5 replicas, git declares 2 and no HPA: Argo CD "
                 "self-heal will revert it (or sync is broken)")]}),
    "scaled within HPA bounds": (within_hpa_bounds, {}),
    "changed image": (changed_image, {"agent": [(
        "block", "agent: container agent runs image registry.example.test/agent:debug, git declares "
                 f"{IMAGE.format('agent')}")]}),
    "undeclared deployment": (undeclared_deployment, {"*": [(
        "warn", f"Deployment debug-shell runs in {NS} but git does not declare it: a prune would "
                "delete it (if Argo CD tracks it); add it to the chart or remove it")]}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_case_gives_exactly_its_finding(case, chart, read):
    plant, expected = CASES[case]
    client = read(plant(emu.deploy(chart, NS)))
    assert all_findings(chart, client) == expected


def test_blocker_details_name_workload_container_image_reason_and_message(chart, read):
    client = read(image_pull_backoff(emu.deploy(chart, NS)))
    agent = dict(k8s_workloads.item_ids(k8s_workloads.declared(chart)))["agent"]
    [finding] = k8s_health.health(agent, client.live, NS)
    assert {k: finding.details[k] for k in ("workload", "container", "image", "reason",
                                            "kubelet_message")} == {
        "workload": "agent", "container": "agent", "image": IMAGE.format("agent"),
        "reason": "ImagePullBackOff",
        "kubelet_message": f'Back-off pulling image "{IMAGE.format("agent")}"'}
    # the consequences are kept as details, not repeated as blockers
    assert finding.details["services_without_ready_endpoints"] == ["agent"]
    assert finding.details["rollout"] == ["0/1 ready", "0/1 available"]


def test_live_state_is_read_with_one_list_per_kind_and_cached(emulator, chart, read):
    client = read(emu.deploy(chart, NS))
    for _ in range(3):
        assert len(client.live["Pod"]) == 2 + 2 + 1  # api (HPA min 2), worker 2, agent 1
    requests = emulator.requests()
    assert sorted(r["path"] for r in requests) == sorted(
        f"/api{'s' if group else ''}/{group + '/' if group else ''}{version}/namespaces/{NS}/{resource}"
        for group, version, resource in [
            ("apps", "v1", "deployments"), ("apps", "v1", "statefulsets"), ("apps", "v1", "daemonsets"),
            ("batch", "v1", "cronjobs"), ("autoscaling", "v2", "horizontalpodautoscalers"),
            ("", "v1", "services"), ("discovery.k8s.io", "v1", "endpointslices"), ("", "v1", "pods")])
    assert {r["authorization"] for r in requests} == {f"Bearer {emulator.token}"}


def test_argocd_application_read_when_the_crd_is_served(emulator, chart):
    declared = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                "metadata": {"name": "app-prod", "namespace": "argocd"},
                "spec": {"source": {"path": "helm/app", "targetRevision": "main"}}}
    emulator.load(emu.deploy(chart, NS) + [emu.argo_application(declared, sync="OutOfSync")],
                  argocd=True)
    client = kube.connect(make_host(str(emulator.kubeconfig)))
    try:
        present, live = client.argocd_application("app-prod", "argocd")
        assert present and live["status"]["sync"]["status"] == "OutOfSync"
        assert client.argocd_application("nope", "argocd") == (True, None)
        emulator.load(emu.deploy(chart, NS), argocd=False)
        assert client.argocd_application("app-prod", "argocd") == (False, None)
    finally:
        client.close()


def test_context_and_namespace_come_from_the_kubeconfig(emulator, chart):
    emulator.load(emu.deploy(chart, "elsewhere"))
    client = kube.connect(make_host(str(emulator.kubeconfig), namespace=None, context="other"))
    try:
        assert client.namespace == "elsewhere"
        assert [d["metadata"]["name"] for d in client.live["Deployment"]] == ["api", "worker", "agent"]
    finally:
        client.close()


def test_unknown_context_is_an_error_naming_it(emulator):
    with pytest.raises(Unreachable, match=r"production: .*kubeconfig unreachable: kubeconfig unusable "
                                          r"for context staging"):
        kube.connect(make_host(str(emulator.kubeconfig), context="staging"))


def test_unset_kubeconfig_variable_skips_naming_key_and_variable():
    host = make_host(Unset("environments.production.kubernetes.kubeconfig", "DEMO_KUBECONFIG"))
    with pytest.raises(pytest.skip.Exception, match=r"kubernetes.kubeconfig.*\$\{DEMO_KUBECONFIG\} "
                                                    "is not set"):
        kube.connect(host)


def test_no_kubeconfig_anywhere_skips(monkeypatch, tmp_path):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(pytest.skip.Exception, match=r"production: no kubeconfig: .*KUBECONFIG is "
                                                    r"unset and ~/.kube/config does not exist"):
        kube.connect(make_host(None))


def test_kubeconfig_from_env_var_when_the_environment_names_none(monkeypatch, emulator, chart):
    emulator.load(emu.deploy(chart, NS))
    monkeypatch.setenv("KUBECONFIG", str(emulator.kubeconfig))
    client = kube.connect(make_host(None))
    try:
        assert len(client.live["Deployment"]) == 3
    finally:
        client.close()


def test_relative_kubeconfig_resolves_against_the_environments_file(emulator, chart, tmp_path):
    emulator.load(emu.deploy(chart, NS))
    (tmp_path / "kubeconfig").write_text(emulator.kubeconfig.read_text())
    client = kube.connect(make_host("kubeconfig", root=tmp_path))
    client.close()
    assert client.endpoint == emulator.url


def test_closed_port_is_unreachable_naming_environment_and_endpoint(tmp_path):
    port = free_port()
    config = emu.write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{port}", {"x": NS}, "t")
    with pytest.raises(Unreachable) as exc:
        kube.connect(make_host(str(config), timeout_s=2))
    assert str(exc.value).startswith(f"production: http://127.0.0.1:{port} unreachable: ")


def test_silent_server_is_unreachable_within_the_timeout(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts connections, never answers
    accepted = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    config = emu.write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{port}", {"x": NS}, "t")
    started = time.monotonic()
    try:
        with pytest.raises(Unreachable, match=rf"production: http://127.0.0.1:{port} unreachable: "
                                              r".*(timed out|Timeout)"):
            kube.connect(make_host(str(config), timeout_s=1))
        assert time.monotonic() - started < 10  # one bounded attempt, no retry loop
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()


def test_token_never_appears_in_errors(tmp_path):
    port = free_port()
    config = emu.write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{port}", {"x": NS},
                                  "tok-3f9a77c2e1")
    with pytest.raises(Unreachable) as exc:
        kube.connect(make_host(str(config), timeout_s=2))
    assert "tok-3f9a77c2e1" not in str(exc.value)


def test_forbidden_list_is_an_error_pointing_at_the_rbac_manifests(chart):
    server = emu.serve(emu.deploy(chart, NS), contexts={"prod": NS})
    denied = (f'pods is forbidden: User "system:serviceaccount:releasegate:releasegate" cannot list '
              f'resource "pods" in API group "" in the namespace "{NS}"')
    server.respond("GET", f"/api/v1/namespaces/{NS}/pods", 403, {
        "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden",
        "code": 403, "message": denied})
    try:
        with pytest.raises(Unreachable) as exc:
            kube.connect(make_host(str(server.kubeconfig)))
    finally:
        server.stop()
    assert str(exc.value) == (f"production: {server.url} unreachable: GET /api/v1/namespaces/{NS}/pods "
                              f"answered 403 Forbidden: {denied}; the account needs the read rules "
                              "of deploy/rbac.yaml")


def test_restart_threshold_defaults_to_five_and_is_read_per_environment(tmp_path, demo_repos):
    assert kube.restart_threshold(make_host(None)) == 5
    env_file = tmp_path / "environments.yaml"
    env_file.write_text(demo_environments(demo_repos).replace(
        "kubernetes: {context: demo, namespace: app-prod,",
        "kubernetes: {restart_threshold: 2, context: demo, namespace: app-prod,"))
    estate = environments.load(env_file)
    assert kube.restart_threshold(SimpleNamespace(spec=estate.environments["production"])) == 2
    assert kube.restart_threshold(SimpleNamespace(spec=estate.environments["testing"])) == 5
