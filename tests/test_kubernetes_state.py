"""Health and drift logic over the objects a cluster reports after a deploy (no network)."""

from __future__ import annotations

import copy
import datetime as dt
import subprocess
from pathlib import Path

import pytest

from examples.services import kube as emu
from releasegate.kubernetes import argocd as k8s_argocd, drift as k8s_drift, health as k8s_health, workloads as k8s_workloads
from releasegate.core.gitrepo import GitRepo

NS = "app-prod"
NOW = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.timezone.utc)


def live_of(objects: list[dict]) -> dict[str, list[dict]]:
    live: dict[str, list[dict]] = {}
    for obj in objects:
        live.setdefault(obj["kind"], []).append(obj)
    return live


@pytest.fixture
def chart() -> list[dict]:
    return emu.sample_manifests()


@pytest.fixture
def objects(chart: list[dict]) -> list[dict]:
    return emu.deploy(chart, NS)


def findings(chart: list[dict], objects: list[dict], threshold: int = 5) -> dict[str, list]:
    """Every finding by workload (health + drift) plus the undeclared ones under '*'."""
    live = live_of(objects)
    out = {}
    for item_id, workload in k8s_workloads.item_ids(k8s_workloads.declared(chart)):
        found = k8s_health.health(workload, live, NS, NOW, threshold) + k8s_drift.drift(workload, live)
        if found:
            out[item_id] = found
    extra = k8s_drift.undeclared(chart, live, NS)
    if extra:
        out["*"] = extra
    return out


def test_declared_workloads_carry_their_services_and_hpa(chart):
    by_name = dict(k8s_workloads.item_ids(k8s_workloads.declared(chart)))
    assert sorted(by_name) == ["agent", "api", "scheduler", "worker"]
    assert [s["metadata"]["name"] for s in by_name["api"].services] == ["api"]
    assert by_name["api"].hpa["spec"]["maxReplicas"] == 6
    assert by_name["worker"].services == () and by_name["worker"].hpa is None
    assert by_name["scheduler"].kind == "CronJob"


def test_item_ids_prefix_the_kind_only_when_names_clash(chart):
    clash = copy.deepcopy(next(m for m in chart if m["metadata"]["name"] == "worker"))
    clash["kind"] = "StatefulSet"
    ids = [i for i, _ in k8s_workloads.item_ids(k8s_workloads.declared(chart + [clash]))]
    assert ids == ["agent", "api", "scheduler", "deployment-worker", "statefulset-worker"]


def test_healthy_rollout_has_no_finding(chart, objects):
    assert findings(chart, objects) == {}


def test_absent_workload_is_one_blocker(chart, objects):
    objects[:] = [o for o in objects if not (o["kind"] == "Deployment"
                                             and o["metadata"]["name"] == "worker")]
    found = findings(chart, objects)
    assert list(found) == ["worker"]
    [finding] = found["worker"]
    assert finding.severity == "block"
    assert "Deployment worker is declared in git but absent from namespace app-prod" in finding.message


def test_restarts_within_the_hour_over_threshold_block(chart, objects):
    emu.set_restarts(objects, "worker", "worker", 7, NOW - dt.timedelta(minutes=10),
                     reason="OOMKilled", exit_code=137)
    [finding] = findings(chart, objects)["worker"]
    assert finding.message.startswith("worker: container worker (registry.example.test/worker:v1.4.1) "
                                      "restarted 7 times")
    assert "OOMKilled code 137" in finding.message
    assert finding.details["reason"] == "OOMKilled"


def test_old_restarts_or_few_restarts_do_not_block(chart, objects):
    emu.set_restarts(objects, "worker", "worker", 40, NOW - dt.timedelta(hours=3))
    emu.set_restarts(objects, "agent", "agent", 5, NOW - dt.timedelta(minutes=1))
    assert findings(chart, objects) == {}


def test_restart_threshold_is_configurable(chart, objects):
    emu.set_restarts(objects, "agent", "agent", 2, NOW - dt.timedelta(minutes=1))
    assert list(findings(chart, objects, threshold=1)) == ["agent"]


def test_generation_not_observed_is_an_incomplete_rollout(chart, objects):
    emu.find(objects, "Deployment", "agent")["metadata"]["generation"] = 3
    [finding] = findings(chart, objects)["agent"]
    assert finding.message == ("Deployment agent: rollout incomplete: generation 3 not yet "
                               "observed by the controller (observed 1)")


def test_cronjob_whose_last_run_failed_blocks(chart, objects):
    emu.find(objects, "CronJob", "scheduler")["status"] = {
        "lastScheduleTime": "2026-11-27T09:55:00Z", "lastSuccessfulTime": "2026-11-27T06:00:00Z"}
    [finding] = findings(chart, objects)["scheduler"]
    assert finding.message == ("CronJob scheduler: the run scheduled at 2026-11-27T09:55:00Z did "
                               "not succeed (last success: 2026-11-27T06:00:00Z)")


def test_cronjob_with_a_run_in_progress_is_fine(chart, objects):
    emu.find(objects, "CronJob", "scheduler")["status"] = {
        "lastScheduleTime": "2026-11-27T09:55:00Z", "lastSuccessfulTime": "2026-11-27T09:50:00Z",
        "active": [{"kind": "Job", "name": "scheduler-29400595"}]}
    assert findings(chart, objects) == {}


def test_service_without_ready_endpoints_blocks(chart, objects):
    # the live Service selects nothing any more: pods are fine, nobody answers behind the Service
    emu.find(objects, "Service", "agent")["spec"]["selector"] = {"app.kubernetes.io/name": "agnt"}
    emu.settle(objects)
    live = live_of(objects)
    agent = dict(k8s_workloads.item_ids(k8s_workloads.declared(chart)))["agent"]
    [health] = k8s_health.health(agent, live, NS, NOW)
    assert health.message == "agent: Service agent has no ready endpoints: nothing behind it answers"
    [drift] = k8s_drift.drift(agent, live)
    assert "Service agent selector" in drift.message and "differs from git" in drift.message


def test_equal_quantities_in_other_units_are_not_drift(chart, objects):
    api = emu.find(objects, "Deployment", "api")
    api["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "requests": {"cpu": "0.25", "memory": "262144Ki"}, "limits": {"cpu": "1000m",
                                                                      "memory": "1024Mi"}}
    assert findings(chart, objects) == {}


def test_changed_resources_are_drift(chart, objects):
    api = emu.find(objects, "Deployment", "api")
    api["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = "2Gi"
    [finding] = findings(chart, objects)["api"]
    assert finding.message == ("api: container api resources differ from git: limits.memory git "
                               "1Gi live 2Gi")


def test_env_drift_names_variables_and_hides_secret_values(chart, objects):
    env = emu.find(objects, "Deployment", "worker")["spec"]["template"]["spec"]["containers"][0]["env"]
    env[0]["value"] = "debug"                      # LOG_LEVEL edited by hand
    env[:] = [e for e in env if e["name"] != "SEARCH_URL"] + [{"name": "API_TOKEN", "value": "s3cr3t"}]
    messages = [f.message for f in findings(chart, objects)["worker"]]
    assert messages == [
        "worker: container worker env differs from git: missing live: SEARCH_URL; not in git: API_TOKEN",
        "worker: container worker env values differ from git: LOG_LEVEL",
    ]
    assert "s3cr3t" not in repr(findings(chart, objects))


def test_secret_reference_change_is_drift_without_values(chart, objects):
    env = emu.find(objects, "Deployment", "agent")["spec"]["template"]["spec"]["containers"][0]["env"]
    env[2]["valueFrom"]["secretKeyRef"]["name"] = "old-secrets"
    [finding] = findings(chart, objects)["agent"]
    assert finding.message == "agent: container agent env values differ from git: SMTP_PASSWORD"


def test_hpa_bounds_changed_live_is_drift(chart, objects):
    emu.find(objects, "HorizontalPodAutoscaler", "api")["spec"]["maxReplicas"] = 20
    [finding] = findings(chart, objects)["api"]
    assert finding.message == "api: HPA api bounds are 2..20 live, git declares 2..6"


def test_replicas_outside_hpa_bounds_is_drift(chart, objects):
    emu.scale(objects, "api", 9)
    [finding] = findings(chart, objects)["api"]
    assert finding.message == "api: 9 replicas is outside HPA api bounds 2..6: scaled by hand"


def test_selector_label_changed_live_is_drift(chart, objects):
    worker = emu.find(objects, "Deployment", "worker")
    worker["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"] = "manual"
    worker["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/instance"] = "manual"
    messages = [f.message for f in k8s_drift.drift(
        dict(k8s_workloads.item_ids(k8s_workloads.declared(chart)))["worker"], live_of(objects))]
    assert len(messages) == 2
    assert messages[0].startswith("worker: selector") and "differs from git" in messages[0]
    assert messages[1] == ("worker: pod labels used by selectors differ from git: "
                           "app.kubernetes.io/instance=manual (git app)")


def test_pinned_digest_differing_from_pods_is_drift(chart, objects):
    image = "registry.example.test/agent@sha256:" + "a" * 64
    for manifest in (next(m for m in chart if m["metadata"]["name"] == "agent"),
                     emu.find(objects, "Deployment", "agent")):
        manifest["spec"]["template"]["spec"]["containers"][0]["image"] = image
    [finding] = findings(chart, objects)["agent"]
    assert finding.message.startswith("agent: container agent pins sha256:aaaaaaaaaaaa... but pods run")


def test_tag_resolving_to_two_digests_is_a_warning(chart, objects):
    pods = emu.pods_of(objects, emu.find(objects, "Deployment", "worker"))
    pods[1]["status"]["containerStatuses"][0]["imageID"] = \
        "docker-pullable://registry.example.test/worker@sha256:" + "b" * 64
    [finding] = findings(chart, objects)["worker"]
    assert finding.severity == "warn"
    assert "resolves to 2 digests across pods: the tag was pushed again" in finding.message


def test_owned_objects_and_the_kubernetes_service_are_not_undeclared(chart, objects):
    objects.append({"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": "kubernetes", "namespace": NS}, "spec": {}})
    assert k8s_drift.undeclared(chart, live_of(objects), NS) == []


@pytest.mark.parametrize(("sync", "health", "revision", "expected"), [
    ("Synced", "Healthy", "main", []),
    ("OutOfSync", "Healthy", "main",
     [("block", "Argo CD Application app-prod is OutOfSync at main: the cluster does not match git")]),
    ("Synced", "Degraded", "main",
     [("block", "Argo CD Application app-prod health is Degraded: agent is not available")]),
    ("Synced", "Progressing", "main", [("warn", "Argo CD Application app-prod health is Progressing")]),
    ("Synced", "Healthy", "hotfix",
     [("block", "Argo CD Application app-prod targets revision hotfix, git declares main")]),
])
def test_argocd_application(sync, health, revision, expected):
    declared = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                "metadata": {"name": "app-prod", "namespace": "argocd"},
                "spec": {"source": {"repoURL": "https://git.example.test/gitops.git",
                                    "path": "helm/app", "targetRevision": "main"}}}
    live = emu.argo_application(declared, sync=sync, health=health)
    live["spec"]["source"]["targetRevision"] = revision
    live["status"]["health"]["message"] = "agent is not available"
    assert [(f.severity, f.message) for f in k8s_argocd.argocd(declared, live)] == expected


def test_argocd_application_absent_is_a_warning():
    declared = {"kind": "Application", "metadata": {"name": "app-prod"}, "spec": {}}
    [finding] = k8s_argocd.argocd(declared, None)
    assert (finding.severity, finding.details) == ("warn", {"application": "app-prod"})


@pytest.mark.parametrize(("text", "value"), [("500m", "0.5"), ("1Gi", "1073741824"), ("1e3", "1000"),
                                             ("128Mi", "134217728"), ("2", "2")])
def test_quantity(text, value):
    assert k8s_drift.quantity(text) == k8s_drift.quantity(value)


@pytest.fixture(scope="module")
def gitops(tmp_path_factory: pytest.TempPathFactory) -> tuple[GitRepo, dict[str, str]]:
    """main: c0 - c1 - c2 - c3; a side branch forks at c1."""
    path = tmp_path_factory.mktemp("gitops")

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@t",
                               *args], check=True, capture_output=True, text=True).stdout.strip()
    git("init", "-q", "-b", "main")
    shas = {}
    for i in range(4):
        git("commit", "-q", "--allow-empty", "-m", f"c{i}")
        shas[f"c{i}"] = git("rev-parse", "HEAD")
    git("checkout", "-q", "-b", "side", shas["c1"])
    git("commit", "-q", "--allow-empty", "-m", "side")
    shas["side"] = git("rev-parse", "HEAD")
    return GitRepo(Path(path), "gitops"), shas


def _synced_to(revision: str) -> dict:
    return {"status": {"sync": {"status": "Synced", "revision": revision}}}


@pytest.mark.parametrize(("synced", "expected_at", "severity", "words"), [
    ("c3", "c3", None, None),
    ("c1", "c3", "block", "is synced to gitops {c1:.12}, 2 commit(s) behind gitops main ({c3:.12})"),
    ("c3", "c2", "warn", "is synced to {c3:.12}, ahead of gitops main ({c2:.12}) in the local clone "
                         "of gitops: fetch it"),
    ("side", "c3", "block", "is synced to {side:.12}, which is not on gitops main ({c3:.12})"),
    ("f" * 40, "c3", "warn", "is synced to ffffffffffff, which the local clone of gitops does not "
                             "have: fetch it to compare with gitops main"),
])
def test_argocd_synced_revision_against_git(gitops, synced, expected_at, severity, words):
    repo, shas = gitops
    found = k8s_argocd.argocd_revision("app-prod", _synced_to(shas.get(synced, synced)), repo,
                                      shas[expected_at], "gitops main")
    if severity is None:
        assert found == []
        return
    [finding] = found
    assert finding.severity == severity
    assert finding.message.startswith("Argo CD Application app-prod " + words.format(**shas))


def test_argocd_error_conditions_block_and_others_do_not():
    live = {"status": {"conditions": [
        {"type": "ComparisonError", "message": "rpc error:\n  authentication required"},
        {"type": "SharedResourceWarning", "message": "shared with another app"}]}}
    [finding] = k8s_argocd.argocd_conditions("app-prod", live)
    assert (finding.severity, finding.message) == (
        "block", "Argo CD Application app-prod reports ComparisonError: rpc error: authentication "
                 "required")
    assert k8s_argocd.argocd_conditions("app-prod", None) == []

