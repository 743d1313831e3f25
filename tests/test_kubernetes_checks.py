"""checks/test_kubernetes.py run by pytest against the demo estate and its emulated cluster.

The emulator records every request the checks make: they must be reads, and exactly the reads
that deploy/rbac.yaml grants (no more, so the manifests stay honest; no less, so nothing is denied).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from conftest import ROOT, demo_environments
from examples.services import free_port
from examples.services import kube as emu

CHECKS = (ROOT / "checks" / "test_kubernetes.py").read_text()
READ_VERBS = {"get", "list", "watch"}


@pytest.fixture(scope="module")
def demo_env_path(tmp_path_factory: pytest.TempPathFactory, demo_repos: Path) -> Path:
    path = tmp_path_factory.mktemp("kube-demo") / "environments.yaml"
    path.write_text(demo_environments(demo_repos))
    return path


@pytest.fixture(scope="module")
def demo_objects(demo_env_path: Path) -> list[dict]:
    return emu.demo_objects(demo_env_path)


@pytest.fixture(scope="module")
def cluster(demo_objects: list[dict]):
    server = emu.serve(demo_objects, contexts={emu.DEMO_CONTEXT: ""}, argocd=True)
    yield server
    server.stop()


@pytest.fixture
def run(pytester: pytest.Pytester, demo_env_path: Path, cluster, monkeypatch):
    monkeypatch.setenv(emu.DEMO_KUBECONFIG_VAR, str(cluster.kubeconfig))
    pytester.makeconftest('pytest_plugins = ["releasegate.plugin"]')
    pytester.makepyfile(test_kubernetes=CHECKS)
    env_file = pytester.path / "environments.yaml"
    env_file.write_text(demo_env_path.read_text())

    def go(*args: str) -> pytest.RunResult:
        cluster.clear_requests()
        return pytester.runpytest("--environments", str(env_file), "-p", "no:cacheprovider", *args)
    return go


def rbac_rules() -> set[tuple[str, str, str]]:
    """(apiGroup or "url", resource or URL, verb) for every rule in deploy/rbac.yaml."""
    rules = set()
    for doc in YAML(typ="safe").load_all((ROOT / "deploy" / "rbac.yaml").read_text()):
        for rule in (doc or {}).get("rules") or ():
            for verb in rule["verbs"]:
                for url in rule.get("nonResourceURLs") or ():
                    rules.add(("url", url, verb))
                for group in rule.get("apiGroups") or ():
                    for resource in rule["resources"]:
                        rules.add((group, resource, verb))
    return rules


def as_rule(request: dict) -> tuple[str, str, str]:
    """The RBAC rule a request needs, worked out from its method and path as the API server does."""
    parts = request["path"].strip("/").split("/")
    group, rest = ("", parts[2:]) if parts[0] == "api" else (parts[1], parts[3:])
    if not rest:
        return ("url", request["path"], {"GET": "get"}.get(request["method"], request["method"]))
    if rest[0] == "namespaces" and len(rest) > 2:
        rest = rest[2:]
    named = len(rest) > 1
    verb = {"GET": "watch" if request["query"].get("watch") in ("true", "1")
            else "get" if named else "list",
            "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}[request["method"]]
    return (group, rest[0], verb)


def test_the_checks_make_exactly_the_reads_rbac_grants(run, cluster):
    result = run("--env=all")
    # production's agent (seen twice, see below) and staging's agent and portal, whose images
    # the demo registry lacks
    result.assert_outcomes(passed=49, failed=4)
    requests = cluster.requests()
    assert requests, "the checks made no API call"
    assert {r["method"] for r in requests} == {"GET"}
    used = {as_rule(r) for r in requests}
    assert {verb for _, _, verb in used} <= READ_VERBS
    assert used == rbac_rules()
    lists = [(r["namespace"], r["path"]) for r in requests
             if r["namespace"] and not r["path"].startswith("/apis/argoproj.io")]
    assert len(lists) == len(set(lists)) == 3 * 8  # each kind listed once per namespace, cached
    assert {namespace for namespace, _ in lists} == {"app-testing", "app-next", "app-prod"}


def test_rbac_manifests_grant_only_reads():
    assert {verb for _, _, verb in rbac_rules()} <= READ_VERBS
    kinds = [doc["kind"] for doc in YAML(typ="safe").load_all((ROOT / "deploy" / "rbac.yaml").read_text())]
    assert kinds == ["ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"]


def test_demo_production_agent_in_image_pull_backoff_blocks_the_smoke_run(run, tmp_path):
    report = tmp_path / "report.json"
    result = run("--env=production", "-m", "smoke", "--report-json", str(report))
    result.assert_outcomes(passed=7, failed=2)
    result.stdout.fnmatch_lines([
        "*test_workload_healthy?production-agent?*",
        "production: agent: container agent (registry.demo.test/app/agent:*) is waiting with ImagePullBackOff "
        "on 1/1 pod(s): Back-off pulling image \"registry.demo.test/app/agent:*\"",
        "*test_argocd_application?production?*",
        "production: Argo CD Application app-prod health is Degraded: Deployment \"agent\" exceeded its "
        "progress deadline",
    ])
    records = json.loads(report.read_text())["records"]
    [agent] = [r for r in records if r["check"] == "test_workload_healthy" and r["item"] == "agent"
               and r["severity"] == "blocker"]
    assert agent["environment"] == "production"
    assert {k: agent["details"][k] for k in ("workload", "container", "reason")} == {
        "workload": "agent", "container": "agent", "reason": "ImagePullBackOff"}
    assert agent["details"]["image"].startswith("registry.demo.test/app/agent:")
    assert agent["details"]["kubelet_message"].startswith("Back-off pulling image")


def test_staging_matches_git_and_only_unpulled_images_block(run):
    result = run("--env=echo-next")
    result.assert_outcomes(passed=15, failed=2, deselected=1)  # no Argo CD Application declared
    result.stdout.fnmatch_lines([
        "*_ test_workload_healthy?echo-next-agent? _*",
        "echo-next: agent: container agent * is waiting with ImagePullBackOff*",
        "*_ test_workload_healthy?echo-next-portal? _*",
        "echo-next: portal: container portal * is waiting with ImagePullBackOff*",
    ])


def test_without_the_kubeconfig_variable_the_checks_skip_naming_it(run, monkeypatch):
    monkeypatch.delenv(emu.DEMO_KUBECONFIG_VAR)
    result = run("--env=testing", "-m", "smoke", "-rs")
    result.assert_outcomes(skipped=9)
    result.stdout.fnmatch_lines(["*testing: environments.testing.kubernetes.kubeconfig is not "
                                 "configured (${RELEASEGATE_DEMO_KUBECONFIG} is not set)*"])


def test_hand_made_changes_in_production_show_in_the_drift_run(run, cluster, demo_objects):
    changed = json.loads(json.dumps(demo_objects))
    emu.set_image(changed, "worker", "worker", "registry.demo.test/app/worker:hotfix",
                  namespace="app-prod")
    emu.scale(changed, "dashboard", 3, namespace="app-prod")
    debug = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "debug-shell"},
             "spec": {"replicas": 1, "selector": {"matchLabels": {"run": "debug-shell"}},
                      "template": {"metadata": {"labels": {"run": "debug-shell"}}, "spec": {
                          "containers": [{"name": "sh", "image": "busybox:1.36"}]}}}}
    cluster.load(changed + emu.deploy([debug], "app-prod")[:-1], argocd=True)
    try:
        result = run("--env=production", "-m", "drift", "-k", "matches_git or undeclared")
    finally:
        cluster.load(demo_objects, argocd=True)
    result.assert_outcomes(passed=7, failed=2)
    result.stdout.fnmatch_lines_random([
        "*worker: container worker runs image registry.demo.test/app/worker:hotfix, git declares "
        "registry.demo.test/app/worker:*",
        "*dashboard: scaled by hand to 3 replicas, git declares 1 and no HPA*",
        "*Deployment debug-shell runs in app-prod but git does not declare it: a prune would "
        "delete it*",
    ])


def test_dead_api_server_is_an_error_naming_environment_and_endpoint(run, monkeypatch, tmp_path):
    port = free_port()
    config = emu.write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{port}",
                                  {emu.DEMO_CONTEXT: ""}, "t")
    monkeypatch.setenv(emu.DEMO_KUBECONFIG_VAR, str(config))
    result = run("--env=production", "-m", "smoke")
    result.assert_outcomes(errors=9)
    result.stdout.fnmatch_lines([f"*production: http://127.0.0.1:{port} unreachable: *"])
    assert "Traceback" not in result.stdout.str()


def test_an_application_synced_behind_git_with_a_comparison_error_blocks(run, cluster, demo_objects,
                                                                        demo_repos):
    gitops = demo_repos / "gitops"
    head, older = (subprocess.run(["git", "-C", str(gitops), "rev-parse", ref], check=True,
                                  capture_output=True, text=True).stdout.strip()
                   for ref in ("main", "main~2"))
    stale = json.loads(json.dumps(demo_objects))
    [app] = [o for o in stale if o["kind"] == "Application"
             and o["metadata"]["name"] == "app-prod"]
    app["status"]["sync"]["revision"] = older
    app["status"]["conditions"] = [{
        "type": "ComparisonError", "lastTransitionTime": "2026-11-20T03:00:00Z",
        "message": "Failed to load target state: rpc error: code = Unknown desc = authentication "
                   "required"}]
    cluster.load(stale, argocd=True)
    try:
        result = run("--env=production", "-k", "test_argocd_application", "--report-json=r.json")
    finally:
        cluster.load(demo_objects, argocd=True)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines_random([
        f"production: Argo CD Application app-prod is synced to gitops {older[:12]}, 2 commit(s) "
        f"behind gitops main ({head[:12]}): the cluster does not run what git says; *",
        "production: Argo CD Application app-prod reports ComparisonError: Failed to load target "
        "state: rpc error: code = Unknown desc = authentication required",
    ])
    records = json.loads(Path("r.json").read_text())["records"]  # pytester's cwd
    behind = [r for r in records if r["details"].get("behind")]
    assert [(r["severity"], r["details"]["synced_revision"], r["details"]["behind"])
            for r in behind] == [("blocker", older, 2)]

