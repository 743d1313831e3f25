"""deploy/sharded/job-drift-sharded.yaml and deploy/github-actions-drift-sharded.yml (issue 26).

No cluster or runner here. The Job goes through the kubernetes client's own models (a field the
API does not know is dropped by the round trip and fails the test) and, where the package is
installed, kubernetes-validate's schemas; its container script then runs on this machine as the
Indexed Job's pods would run it: three processes with JOB_COMPLETION_INDEX 0, 1, 2 (Kubernetes
sets it in each pod of a Job with completionMode Indexed:
https://kubernetes.io/docs/concepts/workloads/controllers/job/#completion-mode), sharing a
folder as they share the volume. The workflow's steps that run the suite run here too.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client
from ruamel.yaml import YAML

from tests.conftest import demo_environments
from tests.test_drift_deploy import load_all, unknown_fields

ROOT = Path(__file__).resolve().parents[1]
JOB = ROOT / "deploy" / "sharded" / "job-drift-sharded.yaml"
WORKFLOW = ROOT / "deploy" / "github-actions-drift-sharded.yml"


@pytest.fixture(scope="module")
def docs() -> dict[str, dict]:
    return {d["kind"]: d for d in load_all(JOB)}


def _container(docs: dict) -> dict:
    return docs["Job"]["spec"]["template"]["spec"]["containers"][0]


def _env(container: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_the_job_uses_only_fields_the_api_knows(docs):
    api = client.ApiClient()
    for kind, model in (("Job", "V1Job"), ("PersistentVolumeClaim", "V1PersistentVolumeClaim")):
        obj = api._ApiClient__deserialize(docs[kind], model)
        assert unknown_fields(docs[kind], api.sanitize_for_serialization(obj)) == [], kind


def test_the_job_is_indexed_one_pod_a_shard(docs):
    spec = docs["Job"]["spec"]
    env = _env(_container(docs))
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == int(env["RELEASEGATE_SHARDS"]) == 4
    assert spec["backoffLimit"] == 0
    assert env["RELEASEGATE_SHARD_RUN"] == {
        "fieldRef": {"fieldPath": "metadata.labels['batch.kubernetes.io/controller-uid']"}}
    script = _container(docs)["args"][0]
    assert "--shard=auto" in script and "python -m releasegate.drift.merge" in script
    assert docs["PersistentVolumeClaim"]["spec"]["accessModes"] == ["ReadWriteMany"]
    claim = {v["name"]: v for v in docs["Job"]["spec"]["template"]["spec"]["volumes"]}["reports"]
    assert claim["persistentVolumeClaim"]["claimName"] == docs["PersistentVolumeClaim"][
        "metadata"]["name"]


def test_the_job_against_kubernetes_schemas(docs):
    validate = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate is not "
                                   "installed: the client's models above checked the fields")
    for doc in docs.values():
        validate.validate(doc, "1.29", strict=True)


def _env_base(extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "RELEASEGATE_", "JOB_COMPLETION_INDEX"))}
    env.update(PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
               PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


def test_the_job_s_pods_check_their_shards_and_pod_0_merges(docs, tmp_path, demo_repos):
    env_file = tmp_path / "environments.yaml"
    env_file.write_text(demo_environments(demo_repos))
    script = _container(docs)["args"][0].replace("--rootdir=/suite", f"--rootdir={ROOT}")
    reports = tmp_path / "reports"
    pods = [subprocess.Popen(["/bin/sh", "-c", script], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True,
                             env=_env_base({"JOB_COMPLETION_INDEX": str(i),
                                            "RELEASEGATE_SHARDS": "3",
                                            "RELEASEGATE_SHARD_RUN": "uid-1",
                                            "REPORTS": str(reports), "MERGE_WAIT_S": "600",
                                            "RELEASEGATE_ENVIRONMENTS": str(env_file)}))
            for i in (0, 1, 2)]
    outputs = [pod.communicate(timeout=600)[0] for pod in pods]
    codes = [pod.returncode for pod in pods]
    # pods 1 and 2 pass with blockers; pod 0's merge fails: everything is new (no baseline)
    assert codes == [1, 0, 0], outputs
    assert "from 3 shards (run uid-1)" in outputs[0]
    doc = json.loads((reports / "drift" / "drift.json").read_text())
    assert doc["run"]["shard"] == {"run": "uid-1", "total": 3, "merged": 3}
    assert doc["run"]["envs"] == ["echo-next", "production", "testing"]
    assert doc["summary"]["new"] == doc["summary"]["findings"] > 0
    assert (reports / "shards" / "uid-1" / "parity-index.json").is_file()
    records = json.loads((reports / "drift-records.json").read_text())
    assert {r["environment"] for r in records["records"]} == set(doc["run"]["envs"])


@pytest.fixture(scope="module")
def workflow() -> dict:
    return YAML(typ="safe").load(WORKFLOW.read_text())


def test_the_workflow_is_a_matrix_of_shards_and_a_merge(workflow):
    jobs = workflow["jobs"]
    shards = int(workflow["env"]["SHARDS"])
    assert jobs["shard"]["strategy"]["matrix"]["shard"] == list(range(1, shards + 1))
    assert jobs["shard"]["strategy"]["fail-fast"] is False
    assert jobs["shard"]["needs"] == "index" and jobs["merge"]["needs"] == "shard"
    assert jobs["merge"]["if"] == "always()"
    run = "\n".join(step.get("run", "") for step in jobs["shard"]["steps"])
    assert "--shard=${{ matrix.shard }}/$SHARDS" in run and "--parity-index=" in run
    uploads = [s["with"]["name"] for s in jobs["shard"]["steps"]
               if s.get("uses", "").startswith("actions/upload-artifact")]
    downloads = [s["with"]["pattern"] for s in jobs["merge"]["steps"]
                 if s.get("uses", "").startswith("actions/download-artifact")]
    assert uploads == ["drift-shard-${{ matrix.shard }}-${{ github.run_id }}"]
    assert downloads == ["drift-shard-*-${{ github.run_id }}"]
    merge = "\n".join(step.get("run", "") for step in jobs["merge"]["steps"])
    assert "python -m releasegate.drift.merge \"$REPORT\" shards/*/drift --fail-on=new" in merge


def test_the_workflow_s_index_steps_run(workflow, tmp_path, demo_repos):
    """The index job's two suite steps, run as written in a checkout holding environments.yaml."""
    (tmp_path / "environments.yaml").write_text(demo_environments(demo_repos))
    steps = {s.get("name"): s for s in workflow["jobs"]["index"]["steps"]}
    env = _env_base({"PYTHONPATH": str(ROOT), "GITHUB_OUTPUT": str(tmp_path / "out")})
    done = subprocess.run(["bash", "-eo", "pipefail", "-c",
                           steps["Pin every source to its commit now (all shards check the same)"]
                           ["run"]], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    refs = (tmp_path / "out").read_text().strip().removeprefix("refs=")
    assert refs.startswith("--ref=app=") and " --ref=gitops=" in refs
    index = steps["Parity index at those commits"]["run"]
    done = subprocess.run(["bash", "-eo", "pipefail", "-c", index], cwd=tmp_path,
                          env={**env, "REFS": refs}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "index" / "parity-index.json").read_text())["key"]["commits"] \
        == dict(pair.removeprefix("--ref=").split("=") for pair in refs.split())
