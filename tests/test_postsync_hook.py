"""deploy/argocd-postsync-smoke.yaml: post-deploy smoke as an Argo CD PostSync hook.

No Argo CD runs here, so the manifest is held to Argo CD's documented rules
(docs/user-guide/resource_hooks.md, https://argo-cd.readthedocs.io/en/stable/user-guide/resource_hooks/):

- "Hooks are simply Kubernetes manifests annotated with `argocd.argoproj.io/hook`"; `PostSync`
  "Executes after all `Sync` hooks completed and were successful, a successful apply, and all
  resources in a `Healthy` state" -- the moment right after a deploy, the suite's smoke moment;
- "Named hooks (i.e. ones with `/metadata/name`) will only be created once. If you want a hook to be
  re-created each time either use `BeforeHookCreation` policy ... or `/metadata/generateName`";
- `argocd.argoproj.io/hook-delete-policy` takes `HookSucceeded`, `HookFailed` or
  `BeforeHookCreation`.

and to Kubernetes through the kubernetes client's V1Job model (a field the API does not know is
dropped by the round trip and fails the test), as deploy/cronjob-drift.yaml is.
"""

from __future__ import annotations

import shlex

import pytest
from kubernetes import client

from test_drift_deploy import DEPLOY, ROOT, load_all, unknown_fields

HOOK = DEPLOY / "argocd-postsync-smoke.yaml"
POLICIES = {"HookSucceeded", "HookFailed", "BeforeHookCreation"}


@pytest.fixture(scope="module")
def job() -> client.V1Job:
    docs = load_all(HOOK)
    assert [d["kind"] for d in docs] == ["Job"]
    api = client.ApiClient()
    model = api._ApiClient__deserialize(docs[0], "V1Job")
    assert unknown_fields(docs[0], api.sanitize_for_serialization(model)) == []
    return model


def test_is_a_postsync_hook_recreated_on_every_sync(job):
    notes = job.metadata.annotations
    assert notes["argocd.argoproj.io/hook"] == "PostSync"
    policies = set(notes["argocd.argoproj.io/hook-delete-policy"].split(","))
    assert policies <= POLICIES and policies
    # a named hook is created once unless BeforeHookCreation deletes the previous one
    assert job.metadata.generate_name or "BeforeHookCreation" in policies


def test_runs_the_smoke_moment_once_and_bounded(job):
    spec = job.spec
    assert spec.backoff_limit == 0 and spec.active_deadline_seconds
    pod = spec.template.spec
    assert pod.restart_policy == "Never"
    smoke = next(c for c in pod.containers if c.name == "smoke")
    args = smoke.args
    assert args[:2] == ["-m", "smoke"]
    env = next(a.split("=", 1)[1] for a in args if a.startswith("--env="))
    documented = HOOK.read_text().split("apiVersion:", 1)[0]
    assert f"--env set to that environment ({env} below)" in " ".join(documented.split())


def test_uses_the_suite_image_and_the_read_only_account_of_the_cronjob(job):
    cron = next(d for d in load_all(DEPLOY / "cronjob-drift.yaml") if d["kind"] == "CronJob")
    cron_pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    pod = job.spec.template.spec
    rbac = load_all(DEPLOY / "rbac.yaml")
    account = next(d for d in rbac if d["kind"] == "ServiceAccount")
    assert pod.service_account_name == account["metadata"]["name"] == cron_pod["serviceAccountName"]
    # a pod can only use a service account of its own namespace
    assert job.metadata.namespace == account["metadata"]["namespace"]
    assert {c.image for c in pod.containers + pod.init_containers} == {
        c["image"] for c in cron_pod["containers"] + cron_pod["initContainers"]}
    assert {v.name: v.config_map.name for v in pod.volumes if v.config_map} == {
        v["name"]: v["configMap"]["name"] for v in cron_pod["volumes"] if "configMap" in v}
    volumes = {v.name for v in pod.volumes}
    for container in pod.containers + pod.init_containers:
        assert {m.name for m in container.volume_mounts} <= volumes
        ctx = container.security_context
        assert ctx.read_only_root_filesystem and not ctx.allow_privilege_escalation
    assert pod.security_context.run_as_non_root


def test_the_image_entrypoint_plus_args_is_a_valid_smoke_run(job, pytester, demo_env_file):
    """The Dockerfile's ENTRYPOINT with the Job's args parses and selects the smoke checks."""
    import json
    import re

    entry = json.loads(re.search(r"^ENTRYPOINT (.+)$", (DEPLOY / "Dockerfile").read_text(), re.M).group(1))
    assert entry[:3] == ["python", "-m", "pytest"]
    smoke = next(c for c in job.spec.template.spec.containers if c.name == "smoke")
    args = [a for a in smoke.args if not a.startswith("--report-json")]
    pytester.makeconftest('pytest_plugins = ["plugins.plugin"]')
    result = pytester.runpytest_subprocess(
        str(ROOT / "checks"), *args, f"--environments={demo_env_file}", "--static",
        "--collect-only", "-q", "-p", "no:cacheprovider", f"--rootdir={ROOT}")
    assert result.ret == 0, result.stdout.str()[-2000:]
    assert "test_workload_healthy[production-" in result.stdout.str()
    assert not any("[testing-" in line for line in result.outlines), shlex.join(args)


def test_documented_beside_the_cronjob():
    readme = (ROOT / "README.md").read_text()
    assert "deploy/argocd-postsync-smoke.yaml" in readme
    assert "argocd-postsync-smoke.yaml" in (DEPLOY / "cronjob-drift.yaml").read_text()
