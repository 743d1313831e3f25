"""deploy/: the CronJob, the GitHub Actions workflow and the Dockerfile fit together.

No cluster or runner here: the manifests go through the kubernetes client's own models (a field
the API does not know is dropped by the round trip and fails the test), the kubeconfig through the
client's loader, and the cross references (service account, volumes, report paths) are checked.
"""
from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from kubernetes import client, config as kube_config
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def load_all(path: Path) -> list[dict]:
    return [json.loads(json.dumps(doc)) for doc in YAML(typ="safe").load_all(path.read_text())
            if doc]


@pytest.fixture(scope="module")
def cron_docs() -> dict[str, dict]:
    docs = load_all(DEPLOY / "cronjob-drift.yaml")
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


@pytest.fixture(scope="module")
def pod(cron_docs) -> dict:
    return cron_docs["CronJob/releasegate-drift"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def unknown_fields(original, round_tripped, path="") -> list[str]:
    """Keys of the manifest that the client's model dropped (typos, wrong nesting)."""
    if isinstance(original, dict):
        if not isinstance(round_tripped, dict):
            return [path or "/"]
        missing = []
        for key, value in original.items():
            if key not in round_tripped:
                missing.append(f"{path}/{key}")
            else:
                missing += unknown_fields(value, round_tripped[key], f"{path}/{key}")
        return missing
    if isinstance(original, list):
        return [m for i, (a, b) in enumerate(zip(original, round_tripped))
                for m in unknown_fields(a, b, f"{path}[{i}]")]
    return []


MODELS = {"CronJob": "V1CronJob", "ConfigMap": "V1ConfigMap",
          "PersistentVolumeClaim": "V1PersistentVolumeClaim"}


def test_manifests_use_only_fields_the_api_knows(cron_docs):
    api = client.ApiClient()
    assert sorted(d["kind"] for d in cron_docs.values()) == [
        "ConfigMap", "ConfigMap", "CronJob", "PersistentVolumeClaim"]
    for name, doc in cron_docs.items():
        # the client's own dict -> model step (its public deserialize() changed across versions)
        model = api._ApiClient__deserialize(doc, MODELS[doc["kind"]])
        assert unknown_fields(doc, api.sanitize_for_serialization(model)) == [], name


def test_round_trip_catches_a_misspelt_field(cron_docs):
    doc = json.loads(json.dumps(cron_docs["CronJob/releasegate-drift"]))
    doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]["serviceAcountName"] = "releasegate"
    api = client.ApiClient()
    back = api.sanitize_for_serialization(api._ApiClient__deserialize(doc, "V1CronJob"))
    assert unknown_fields(doc, back) == ["/spec/jobTemplate/spec/template/spec/serviceAcountName"]


def test_runs_as_the_read_only_service_account(cron_docs, pod):
    rbac = load_all(DEPLOY / "rbac.yaml")
    account = next(d for d in rbac if d["kind"] == "ServiceAccount")
    assert pod["serviceAccountName"] == account["metadata"]["name"] == "releasegate"
    for doc in cron_docs.values():
        assert doc["metadata"]["namespace"] == account["metadata"]["namespace"]
    bound = {s["name"] for d in rbac if d["kind"].endswith("Binding") for s in d["subjects"]}
    assert bound == {"releasegate"}


def test_report_directory_lives_on_the_claim(cron_docs, pod):
    drift = next(c for c in pod["containers"] if c["name"] == "drift")
    report = next(a.split("=", 1)[1] for a in drift["args"] if a.startswith("--drift-report="))
    mounts = {m["mountPath"]: m["name"] for m in drift["volumeMounts"]}
    owner = next(name for path, name in mounts.items() if report.startswith(path + "/"))
    volume = next(v for v in pod["volumes"] if v["name"] == owner)
    claim = volume["persistentVolumeClaim"]["claimName"]
    assert f"PersistentVolumeClaim/{claim}" in cron_docs
    assert "--drift-fail-on=new" in drift["args"] and drift["args"][0] == "drift"  # releasegate drift


def test_every_mount_has_a_volume_and_every_config_map_is_defined_or_documented(cron_docs, pod):
    volumes = {v["name"]: v for v in pod["volumes"]}
    for container in pod["initContainers"] + pod["containers"]:
        for mount in container["volumeMounts"]:
            assert mount["name"] in volumes, (container["name"], mount["name"])
    header = (DEPLOY / "cronjob-drift.yaml").read_text().split("apiVersion:", 1)[0]
    for volume in volumes.values():
        if "configMap" in volume:
            name = volume["configMap"]["name"]
            assert f"ConfigMap/{name}" in cron_docs or f"create configmap {name}" in header, name
    for container in pod["initContainers"] + pod["containers"]:
        for source in container.get("envFrom", []):
            secret = source["secretRef"]
            assert secret["optional"] is True
            assert f"create secret generic {secret['name']}" in header


def test_no_retry_no_overlap_and_locked_down(cron_docs, pod):
    cron = cron_docs["CronJob/releasegate-drift"]["spec"]
    assert cron["concurrencyPolicy"] == "Forbid"
    assert cron["jobTemplate"]["spec"]["backoffLimit"] == 0
    assert len(cron["schedule"].split()) == 5
    assert pod["securityContext"]["runAsNonRoot"] is True
    for container in pod["initContainers"] + pod["containers"]:
        ctx = container["securityContext"]
        assert ctx["readOnlyRootFilesystem"] is True and ctx["allowPrivilegeEscalation"] is False
        assert ctx["capabilities"]["drop"] == ["ALL"]
    estate = {c["name"]: next(m for m in c["volumeMounts"] if m["name"] == "estate")
              for c in pod["initContainers"] + pod["containers"]}
    assert estate["drift"]["readOnly"] is True  # the suite only reads the clones


def test_kubeconfig_uses_the_pods_own_token(cron_docs, pod, tmp_path):
    text = cron_docs["ConfigMap/releasegate-kubeconfig"]["data"]["kubeconfig"]
    path = tmp_path / "kubeconfig"
    path.write_text(text)
    contexts, current = kube_config.list_kube_config_contexts(config_file=str(path))
    assert [c["name"] for c in contexts] == ["in-cluster"] and current["name"] == "in-cluster"
    loaded = YAML(typ="safe").load(text)
    assert loaded["users"][0]["user"] == {
        "tokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token"}
    drift = next(c for c in pod["containers"] if c["name"] == "drift")
    env = {e["name"]: e["value"] for e in drift["env"]}
    mount = next(m for m in drift["volumeMounts"] if m["name"] == "kubeconfig")
    assert env["KUBECONFIG"] == f"{mount['mountPath']}/kubeconfig"


@pytest.fixture(scope="module")
def workflow() -> dict:
    return YAML(typ="safe", pure=True).load((DEPLOY / "github-actions-drift.yml").read_text())


def step(workflow, uses_or_name: str) -> tuple[int, dict]:
    steps = workflow["jobs"]["drift"]["steps"]
    return next((i, s) for i, s in enumerate(steps)
                if s.get("uses", "").startswith(uses_or_name) or s.get("name") == uses_or_name)


def test_workflow_is_scheduled_and_read_only(workflow):
    assert workflow["permissions"] == {"contents": "read"}
    cron = workflow["on"]["schedule"][0]["cron"]
    assert len(cron.split()) == 5
    assert "workflow_dispatch" in workflow["on"]


def test_workflow_runs_the_suite_with_a_baseline_and_publishes(workflow):
    report = workflow["jobs"]["drift"]["env"]["REPORT"]
    restore_at, restore = step(workflow, "actions/cache/restore")
    run_at, run = step(workflow, "Drift checks")
    save_at, save = step(workflow, "actions/cache/save")
    upload_at, upload = step(workflow, "actions/upload-artifact")
    summary_at, summary = step(workflow, "Step summary")
    assert restore_at < run_at < min(save_at, upload_at, summary_at)
    args = shlex.split(run["run"].replace('"$REPORT"', report))
    assert args[:2] == ["releasegate", "drift"]  # the console command the install step installs
    assert f"--drift-report={report}" in args and "--env=all" in args
    assert restore["with"]["path"] == save["with"]["path"] == report
    assert save["with"]["key"] == restore["with"]["key"]
    assert restore["with"]["restore-keys"] in restore["with"]["key"]
    assert upload["with"]["path"].rstrip("/") == report
    for later in (save, upload, summary):
        assert later["if"].startswith("always()")
    assert 'cat "$REPORT/drift.md" >> "$GITHUB_STEP_SUMMARY"' in summary["run"]


def test_workflow_never_prints_the_token(workflow):
    _, mirror = step(workflow, "Mirror the estate's repositories (every branch and tag, read-only)")
    script = mirror["run"]
    assert "--mirror" in script and "::add-mask::" in script
    assert '-c "http.extraHeader=Authorization: Basic $basic"' in script  # not stored in config
    assert "git config" not in script
    assert not re.search(r"https://[^\s\"]*\$\{?ESTATE_TOKEN", script)  # never in a remote URL


def test_dockerfile_copies_what_exists_and_runs_the_drift_report():
    text = (DEPLOY / "Dockerfile").read_text()
    for line in text.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"
    # only what the suite needs to run: requirements.txt, never requirements-test.txt; then the
    # suite itself, whose console command is the entry point
    assert re.search(r"^RUN pip install --no-cache-dir -r requirements.txt$", text, re.M)
    assert re.search(r"^RUN pip install --no-cache-dir --no-deps --compile \. ", text, re.M)
    assert re.search(r'^ENTRYPOINT \["releasegate"\]$', text, re.M)
    cmd = json.loads(re.search(r"^CMD (.+)$", text, re.M).group(1))
    assert cmd[0] == "drift" and "--drift-report=/reports/drift" in cmd
    assert not re.search(r"^(RUN|COPY) .*requirements-test", text, re.M)
    assert re.search(r"^USER 10001", text, re.M)
    pod_user = load_all(DEPLOY / "cronjob-drift.yaml")[-1]["spec"]["jobTemplate"]["spec"][
        "template"]["spec"]["securityContext"]["runAsUser"]
    assert pod_user == 10001
