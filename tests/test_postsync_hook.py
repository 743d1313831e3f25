"""deploy/argocd-postsync-smoke/base/job.yaml: post-deploy smoke as an Argo CD PostSync hook.

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

import subprocess

import pytest
from kubernetes import client

from test_drift_deploy import DEPLOY, ROOT, load_all, unknown_fields

HOOK = DEPLOY / "argocd-postsync-smoke" / "base" / "job.yaml"
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
    assert 'releasegate smoke --env="$RELEASEGATE_SMOKE_ENV"' in smoke.args[0]
    env = next(e.value for e in smoke.env if e.name == "RELEASEGATE_SMOKE_ENV")
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


def test_the_hook_script_runs_the_smoke_and_keeps_its_report_in_the_log(job, tmp_path,
                                                                         demo_env_file):
    """The container's script, run by sh with `releasegate` (the image's console command) on the
    PATH: it runs the smoke moment of its environment, exits with its code, and prints the JSON
    report as one line of the Job's log after the verdict."""
    import json
    import os
    import sys

    smoke = next(c for c in job.spec.template.spec.containers if c.name == "smoke")
    assert smoke.command == ["/bin/sh", "-ec"]
    reports = tmp_path / "reports"
    reports.mkdir()
    script = smoke.args[0].replace("/reports/", f"{reports}/")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("python", '"$@"'),
                       ("releasegate", '-c "from releasegate.cli import main; raise SystemExit(main())" "$@"')):
        (bin_dir / name).write_text(f'#!/bin/sh\nexec "{sys.executable}" {body}\n')
        (bin_dir / name).chmod(0o755)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RELEASEGATE_")}
    environ.update(PATH=f"{bin_dir}{os.pathsep}{environ['PATH']}", PYTHONPATH=str(ROOT),
                   RELEASEGATE_ENVIRONMENTS=str(demo_env_file),
                   **{e.name: e.value for e in smoke.env if e.name == "RELEASEGATE_SMOKE_ENV"})
    result = subprocess.run(["sh", "-ec", script], cwd=tmp_path, env=environ,
                            capture_output=True, text=True, timeout=300)
    lines = result.stdout.splitlines()
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]  # the planted blocker
    verdict = next(i for i, line in enumerate(lines) if line.startswith("releasegate: "))
    assert "the deploy of production is NOT healthy" in lines[verdict]
    (report,) = [line for line in lines[verdict:] if line.startswith("releasegate-report ")]
    payload = json.loads(report.removeprefix("releasegate-report "))
    assert payload["verdict"]["sentence"] == lines[verdict]
    assert {r["environment"] for r in payload["records"]} == {"production"}


def test_documented_beside_the_cronjob():
    readme = (ROOT / "README.md").read_text()
    assert "deploy/argocd-postsync-smoke/" in readme
    assert "deploy/argocd-postsync-smoke/" in (DEPLOY / "cronjob-drift.yaml").read_text()
