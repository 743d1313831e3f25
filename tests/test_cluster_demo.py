"""Issue 27 on the demo: the side branch `cluster-breaks` of the deployment repository (a stale
branch merged for production) carries one planted case per cluster rule; main stays as it was.

Real parts only: the demo's git repositories, Helm's engine, the kept Kubernetes schemas, the
checks run as a user runs them (pytest in a subprocess), and the replay's command line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, demo_environments
from examples.services import kube as emu
from test_demo import _failed, _run_checks

PLANTED_CLUSTER = {
    "test_manifest_schema[production-networking.k8s.io/v1/Ingress]": [
        "production: Ingress/app-prod/app-prod-legacy: spec.rules[0].http.paths[0].backend.serviceName: "
        "unknown field (the API server refuses it) (template helm/app/templates/legacy.yaml); schema of "
        "Kubernetes 1.30",
        "production: Ingress/app-prod/app-prod-legacy: spec.rules[0].http.paths[0].backend.servicePort: "
        "unknown field (the API server refuses it) (template helm/app/templates/legacy.yaml); schema of "
        "Kubernetes 1.30"],
    "test_unique_objects[production]": [
        "production: Deployment/app-prod/portal is rendered 2 times (apps/v1, apps/v1): rename one"],
    "test_immutable_fields[production]": [
        "production: Deployment/app-prod/directus: spec.selector changed from {'matchLabels': "
        "{'app.kubernetes.io/name': 'directus'}} to {'matchLabels': {'app.kubernetes.io/name': "
        "'directus', 'tier': 'cms'}}: the field is immutable (running: main (36e6d20ebe95), what is deployed)",
        "production: Deployment/app-prod/portal: spec.selector changed from {'matchLabels': "
        "{'app.kubernetes.io/name': 'portal'}} to {'matchLabels': {'app.kubernetes.io/name': "
        "'portal-legacy'}}: the field is immutable (running: main (36e6d20ebe95), what is deployed)"],
    "test_probe_ports[production]": [
        "production: Deployment/api container api livenessProbe probes port 'http', which no port of "
        "the container is named (named: none): the probe can never succeed"],
    "test_probe_routes[production-server/app/main.py:app]": [
        "production: Deployment/api container api readinessProbe probes /health, which the application "
        "does not serve (routes like it: /api/health): the pods never become Ready (app v1.3.0 (4940688d4cd9))"],
}


@pytest.fixture
def env_file(tmp_path: Path, demo_repos: Path) -> Path:
    path = tmp_path / "environments.yaml"
    path.write_text(demo_environments(demo_repos))
    return path


def test_the_stale_branch_fails_each_cluster_rule_once(env_file: Path, tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    result = _run_checks(env_file, {}, report, "checks/test_cluster.py", "--gitops-ref=cluster-breaks")
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert _failed(report) == PLANTED_CLUSTER
    warnings = [line for line in result.stdout.splitlines() if line.startswith("WARNING test_versions_forward")]
    assert len(warnings) == 2
    assert ("image tag goes back from v1.4.1 (de1f397b2304) (running) to v1.3.0 (4940688d4cd9)"
            in warnings[1])
    assert "image tag goes back from 11.13.4 (running) to 11.12.0" in warnings[0]
    assert all("the same change removes featureFlags.AGENT_LOOPS, env FEATURE_FLAGS__AGENT_LOOPS" in w
               for w in warnings)


def test_main_passes_every_cluster_check(env_file: Path, tmp_path: Path) -> None:
    """The main job's counts stay: on main nothing of the cluster checks fails, for any environment."""
    report = tmp_path / "r.json"
    result = _run_checks(env_file, {}, report, "checks/test_cluster.py", environment="all")
    assert result.returncode == 0, result.stdout[-3000:]
    assert _failed(report) == {}


def test_the_sweep_names_the_merge_once_with_its_breaks(env_file: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "releasegate.replay", "--env", "production", "--range",
                             "main..cluster-breaks", "--keep-going", "--environments", str(env_file)],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    fail = next(i for i, line in enumerate(lines) if line.startswith("FAIL "))
    assert "prod: merge the stale legacy branch" in lines[fail]
    # v1.3.0 has no ErrorReportingSettings: its boot failure is not present there, not fixed
    assert not any(line.startswith("    cleared:") for line in lines)
    assert any("ErrorReportingSettings fails at boot" in line and "still failing" in line for line in lines)
    table = lines[lines.index("breaks of production (main..cluster-breaks):") + 2:-2]
    introduced = sorted(next(t for t in row.split() if t.startswith("test_")).split("[")[0].rstrip(":")
                        for row in table if not row.split()[0].startswith("<"))
    assert all("still failing" in row for row in table if not row.split()[0].startswith("<"))
    assert introduced == ["test_immutable_fields", "test_immutable_fields", "test_manifest_schema",
                          "test_manifest_schema", "test_probe_ports", "test_unique_objects"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, demo_repos: Path):
    path = tmp_path_factory.mktemp("cluster-demo") / "environments.yaml"
    path.write_text(demo_environments(demo_repos))
    objects = emu.demo_objects(path)
    server = emu.serve(objects, contexts={emu.DEMO_CONTEXT: ""}, argocd=True)
    yield server, objects, path
    server.stop()


def test_a_selector_changed_by_hand_in_the_cluster_blocks_the_next_sync(cluster, tmp_path: Path):
    """Drift: git's next sync against the live objects (list calls only, deploy/rbac.yaml)."""
    server, objects, env_file = cluster
    changed = json.loads(json.dumps(objects))
    emu.find(changed, "Deployment", "directus", "app-prod")["spec"]["selector"]["matchLabels"]["tier"] = "cms"
    server.load(changed, argocd=True)
    report = tmp_path / "r.json"
    try:
        result = _run_checks(env_file, {emu.DEMO_KUBECONFIG_VAR: str(server.kubeconfig)}, report,
                             "checks/test_cluster.py", "-m", "drift", "-k", "immutable_fields_live")
    finally:
        server.load(objects, argocd=True)
    assert result.returncode == 1, result.stdout[-3000:]
    assert _failed(report) == {"test_immutable_fields_live[production]": [
        "production: Deployment/app-prod/directus: spec.selector changed from {'matchLabels': "
        "{'app.kubernetes.io/name': 'directus', 'tier': 'cms'}} to {'matchLabels': "
        "{'app.kubernetes.io/name': 'directus'}}: the field is immutable (running: the live object in app-prod)"]}
