"""Every finding knows its source line: JSON `location`, GitHub annotations, SARIF 2.1.0."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import pytest

from conftest import ROOT
from releasegate.core import locations

SARIF_SCHEMA = ROOT / "tests" / "data" / "sarif-schema-2.1.0.json"  # OASIS errata01, vendored


def _line(repo: Path, ref: str, path: str, text: str) -> int:
    """1-based line of the first line of path at ref that starts (after indentation) with text."""
    shown = subprocess.run(["git", "-C", str(repo), "show", f"{ref}:{path}"], check=True,
                           capture_output=True, text=True).stdout
    return next(i for i, line in enumerate(shown.splitlines(), 1) if line.strip().startswith(text))


def _sha(repo: Path, ref: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "rev-parse", ref], check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory, demo_repos):
    """The demo's prerelease run on GitHub Actions, with --report-json and --sarif."""
    from conftest import demo_environments

    tmp = tmp_path_factory.mktemp("locations")
    env_file = tmp / "environments.yaml"
    env_file.write_text(demo_environments(demo_repos))
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("RELEASEGATE_DEMO", "GITHUB_"))}
    environ.update(GITHUB_ACTIONS="true", GITHUB_WORKSPACE=str(demo_repos / "gitops"))
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                             f"--environments={env_file}", "-m", "prerelease", "--env=production",
                             f"--report-json={tmp / 'r.json'}", f"--sarif={tmp / 'r.sarif'}"],
                            cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    records = json.loads((tmp / "r.json").read_text())["records"]
    return SimpleNamespace(stdout=result.stdout, sarif=json.loads((tmp / "r.sarif").read_text()),
                           found={(r["check"], r["item"]): r for r in records if r["severity"]})


def test_each_finding_kind_of_the_demo_points_at_its_line(demo_run, demo_repos):
    gitops, app = demo_repos / "gitops", demo_repos / "app"
    values = "helm/app/values-production.yaml"
    env_line = _line(gitops, "main", values, "env:")
    expected = {
        # a variable the values lack: the most specific values file, where its variables live
        ("test_settings_required_candidate", "SEARCH_URL"): ("gitops", values, env_line, "main"),
        ("test_settings_boot", "ENABLE_AUDIT_LOG"): ("gitops", values, env_line, "main"),
        ("test_env_cross_parity", "SEARCH_URL"): ("gitops", values, env_line, "main"),
        # a variable the values set (featureFlags.AGENT_LOOPS -> FEATURE_FLAGS__AGENT_LOOPS)
        ("test_feature_flags", "FEATURE_FLAGS__AGENT_LOOPS"):
            ("gitops", values, _line(gitops, "main", values, "AGENT_LOOPS:"), "main"),
        # the SealedSecret that lacks the key, at its encryptedData
        ("test_secret_keys", "backend-secrets.SMTP_PASSWORD"):
            ("gitops", "secrets/sealed-backend-secrets-prod.yaml",
             _line(gitops, "main", "secrets/sealed-backend-secrets-prod.yaml", "encryptedData:"), "main"),
        # the workflow whose matrix the image belongs in
        ("test_build_matrix_parity", "registry.demo.test/app/agent"):
            ("app", ".github/workflows/ci.yml", _line(app, "main", ".github/workflows/ci.yml", "matrix:"),
             "main"),
        # a release-process finding: the hotfix commit itself
        ("test_hotfix_commits_on_main", None): ("app", None, None, "v1.4.1^{commit}"),
        # a settings class whose own validator fails at boot: the class in the settings module
        ("test_settings_boot", "ErrorReportingSettings"):
            ("app", "server/app/settings.py",
             _line(app, "v1.4.1", "server/app/settings.py", "class ErrorReportingSettings"),
             "v1.4.1^{commit}"),
    }
    for key, (source, path, line, ref) in expected.items():
        assert demo_run.found[key]["location"] == {
            "source": source, "path": path, "line": line,
            "commit": _sha(gitops if source == "gitops" else app, ref)}, key
    # a settings entry naming no container: its containers key in the environments file
    containers = demo_run.found[("test_settings_containers", "containers")]["location"]
    lines = Path(containers["path"]).read_text().splitlines()
    assert containers["source"] is None and lines[containers["line"] - 1].strip().startswith("containers:")
    blockers = [r for r in demo_run.found.values() if r["severity"] == "blocker"]
    assert len(blockers) >= 5 and all(r["location"]["line"] or r["location"]["commit"]
                                      for r in blockers)


def test_github_annotations_name_file_and_line(demo_run, demo_repos):
    line = _line(demo_repos / "gitops", "main", "secrets/sealed-backend-secrets-prod.yaml", "encryptedData:")
    assert (f"::error file=secrets/sealed-backend-secrets-prod.yaml,line={line},title=releasegate "
            "test_secret_keys[production-backend-secrets.SMTP_PASSWORD]::production: secret "
            "backend-secrets key SMTP_PASSWORD") in demo_run.stdout
    assert "::warning file=helm/app/values-production.yaml,line=" in demo_run.stdout
    # the app repository is not below the workspace: named in the message, not as a file here
    matrix = next(l for l in demo_run.stdout.splitlines() if "test_build_matrix_parity" in l and l.startswith("::"))
    assert matrix.startswith("::error title=") and "(at app:.github/workflows/ci.yml:" in matrix


def test_sarif_validates_against_the_2_1_0_schema(demo_run):
    schema = json.loads(SARIF_SCHEMA.read_text())
    jsonschema.validate(demo_run.sarif, schema)
    results = demo_run.sarif["runs"][0]["results"]
    counted = [r for r in demo_run.found.values() if r["outcome"] == "failed"
               or (r["severity"] == "warning" and "waiver" not in r)]
    assert len(results) == len(counted) >= 8  # blockers and warnings; the waived one left out
    secret = next(r for r in results if r["ruleId"] == "test_secret_keys")
    assert secret["level"] == "error"
    assert secret["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "secrets/sealed-backend-secrets-prod.yaml", "uriBaseId": "gitops"}
    assert set(demo_run.sarif["runs"][0]["originalUriBaseIds"]) == {"app", "gitops"}


class _Host:
    """Just enough of an EnvHost for the resolvers that the demo's static run does not reach."""

    def __init__(self, repos: Path, env: str = "production") -> None:
        from releasegate.estate import load
        from releasegate.core.host import Estatewide
        from releasegate.options import Settings
        from conftest import demo_environments

        path = repos.parent / "environments-locations.yaml"
        path.write_text(demo_environments(repos))
        estate = load(path)
        self.host = Estatewide(estate, Settings(environments_path=path, env_names=None)).host(env)


def test_argocd_image_snapshot_and_subdomain_locations(demo_repos):
    host = _Host(demo_repos).host
    gitops = demo_repos / "gitops"
    argo = locations.argocd_location(host)
    assert (argo.path, argo.line) == ("argo/app-prod.yaml",
                                      _line(gitops, "main", "argo/app-prod.yaml", "targetRevision:"))
    tag = locations.value_location(host, "registry.demo.test/app/api:" + _sha(demo_repos / "app", "v1.4.1^{commit}"))
    assert (tag.path, tag.line) == ("helm/app/values-production.yaml",
                                    _line(gitops, "main", "helm/app/values-production.yaml", "tag:"))
    snap = locations.snapshot_location(host, "app@v1.4.1:directus/sync/snapshot", "org_membership", "user_id")
    assert snap == locations.Location("app", "directus/sync/snapshot/fields/org_membership/user_id.json",
                                      1, _sha(demo_repos / "app", "v1.4.1^{commit}"))
    sub = locations.environments_location(host.estate.path, "environments", "production", "subdomains", "api")
    lines = host.estate.path.read_text().splitlines()
    assert lines[sub.line - 1].strip().startswith("api:") and sub.source is None
    assert "production:" in "\n".join(lines[:sub.line])
