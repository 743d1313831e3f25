"""checks/test_images.py end to end: the demo estate's real git repos and a real docker-registry
seeded the way the demo's CI would have seeded it (but for the planted gap)."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from conftest import demo_environments, tagged_repo
from examples.services import registry as service
from releasegate.estate import load
from releasegate.images.results import RegistryUnreachable

CHECK = Path(__file__).resolve().parent.parent / "checks" / "test_images.py"
VARS = (service.DEMO_REGISTRY_VAR, service.DEMO_CA_VAR, service.DEMO_DOCKER_CONFIG_VAR)


@pytest.fixture(autouse=True)
def only_releasegate_plugins(monkeypatch):
    """Inner runs load releasegate's plugins only; no registry unless a test points at one."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    for name in VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def demo_registry(demo_repos, tmp_path_factory):
    """A basic-auth TLS registry holding what the demo's CI pushed, minus the planted gap."""
    env_file = tmp_path_factory.mktemp("seed") / "environments.yaml"
    env_file.write_text(demo_environments(demo_repos))
    estate = load(env_file)
    reg = service.start("basic", aliases=[service.DEMO_ALIAS])
    try:
        gap = service.planted_gap(estate)
        service.seed(reg, [p.reference for p in service.ci_pushes(estate)
                           if p.reference not in gap])
        yield reg
    finally:
        reg.stop()


@pytest.fixture
def with_registry(monkeypatch, demo_registry):
    for name, value in demo_registry.env.items():
        monkeypatch.setenv(name, value)
    return demo_registry


def run(pytester, env_file: Path, *args: str):
    report = pytester.path / "report.json"
    result = pytester.runpytest_inprocess(str(CHECK), "-p", "no:cacheprovider", "--assert=plain",
                                          f"--environments={env_file}", f"--report-json={report}",
                                          "-rA", *args)
    records = json.loads(report.read_text())["records"] if report.exists() else []
    return result, records


def outcomes(records, check):
    return {(r["environment"], r["item"]): r["outcome"] for r in records if r["check"] == check}


def commit(repo: Path, path: str, old: str, new: str) -> None:
    """Change a file of a private copy of a demo repo on its checked-out branch, and commit."""
    target = repo / path
    text = target.read_text()
    assert old in text
    target.write_text(text.replace(old, new))
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t.test",
                    "commit", "--quiet", "-am", f"test: change {path}"], check=True)


def rename_agent_image(estate: Path, name: str) -> None:
    """Point the chart's agent at another repository (in a private copy of the gitops repo)."""
    commit(estate / "gitops", "helm/app/values.yaml", "    image: app/agent\n",
           f"    image: {name}\n")


# ---------------------------------------------------------------------------------------------
# Build-matrix parity (git only)


def test_parity_blocks_the_image_only_the_short_sha_workflow_builds(pytester, demo_env_file):
    result, records = run(pytester, demo_env_file, "-m", "prerelease", "--env=production",
                          "-k", "parity")
    result.assert_outcomes(passed=4, failed=1)
    assert outcomes(records, "test_build_matrix_parity") == {
        ("production", f"registry.demo.test/app/{name}"): "failed" if name == "agent" else "passed"
        for name in ("agent", "api", "dashboard", "portal", "worker")}
    result.stdout.fnmatch_lines([
        "production: registry.demo.test/app/agent:*... (full SHA; agent/agent) is not built for "
        "release tags v*.*.* or branch main: only testing.yml (on push to testing, tagged short "
        "SHA (7)) pushes it: add agent to the matrix of ci.yml, which builds release tags "
        "v*.*.* or branch main with full SHA tags"])


def test_parity_passes_once_the_main_workflow_lists_the_image(pytester, estate_copy,
                                                              demo_env_file):
    commit(estate_copy / "app", ".github/workflows/ci.yml", "          - image: portal\n",
           "          - image: portal\n            dockerfile: portal/Dockerfile\n"
           "          - image: agent\n")
    result, records = run(pytester, demo_env_file, "--env=all", "-k", "parity")
    result.assert_outcomes(passed=15)
    assert len(outcomes(records, "test_build_matrix_parity")) == 15


def test_parity_names_a_repository_no_workflow_pushes(pytester, estate_copy, demo_env_file):
    rename_agent_image(estate_copy, "tools/agent")
    result, _ = run(pytester, demo_env_file, "--env=echo-next", "-k", "parity and agent")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "echo-next: registry.demo.test/tools/agent:*... (full SHA; agent/agent) is not built for "
        "branch main: no workflow of builds (ci.yml, testing.yml) pushes it: add agent to the "
        "matrix of ci.yml, which builds branch main with full SHA tags, or list its registry "
        "under registries.skip if the image is not yours"])


def test_parity_reports_an_unreadable_workflow_as_an_error(pytester, estate_copy, demo_env_file):
    commit(estate_copy / "app", ".github/workflows/ci.yml", "jobs:", "jobs: [")
    result, _ = run(pytester, demo_env_file, "--env=echo-next", "-k", "parity and api")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*echo-next: builds: app@*: .github/workflows/ci.yml:8: not "
                                 "valid YAML*"])
    assert "Traceback" not in result.stdout.str()


def test_markers(pytester, demo_env_file):
    result, _ = run(pytester, demo_env_file, "-m", "prerelease", "--env=production",
                    "--collect-only", "-q")
    text = result.stdout.str()
    assert "test_build_matrix_parity[production-registry.demo.test/app/agent]" in text
    assert "test_candidate_images_ready[production]" in text
    assert "test_image_present[production-agent-agent]" in text
    result, _ = run(pytester, demo_env_file, "-m", "smoke", "--collect-only", "-q")
    text = result.stdout.str()
    assert "test_image_present[testing-api-migrate]" in text
    assert "parity" not in text and "candidate" not in text


# ---------------------------------------------------------------------------------------------
# Presence and candidate readiness (real registry)


def test_presence_catches_the_planted_gap_and_the_unbuilt_agent(pytester, demo_env_file,
                                                                  with_registry):
    result, records = run(pytester, demo_env_file, "-m", "smoke", "--env=echo-next,testing",
                          "-k", "image_present")
    result.assert_outcomes(passed=14, failed=2, skipped=2)
    found = outcomes(records, "test_image_present")
    failed = sorted(k for k, v in found.items() if v == "failed")
    assert failed == [("echo-next", "agent-agent"), ("echo-next", "portal-portal")]
    assert found[("testing", "agent-agent")] == "passed"
    result.stdout.fnmatch_lines([
        "echo-next: portal/portal image registry.demo.test/app/portal:* is missing from the "
        "registry (no such tag; the repository has * other tag(s): *): build and push it, or "
        "point the chart at a tag that exists",
        "*SKIPPED*echo-next: docker.io/directus/directus:11.13.4: registry docker.io is in "
        "registries.skip"])
    assert with_registry.password not in result.stdout.str()


def test_candidate_readiness_lists_what_ci_has_not_pushed(pytester, demo_env_file, with_registry):
    result, _ = run(pytester, demo_env_file, "-m", "prerelease", "--env=production",
                    "-k", "candidate")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "production: candidate main (*) is not built for 2 image(s): "
        "registry.demo.test/app/agent:*..., registry.demo.test/app/portal:*...: wait for CI to "
        "finish, or rerun the failed build, before tagging"])
    result, _ = run(pytester, demo_env_file, "--env=production", "-k", "candidate",
                    "--candidate", "v1.4.1")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["production: candidate v1.4.1 (*) is not built for 1 image(s): "
                                 "registry.demo.test/app/agent:*...: *"])


def test_candidate_tag_the_suite_cannot_tell_is_not_checked(pytester, estate_copy, demo_env_file,
                                                           with_registry):
    """Field trial W1 (docs/field-trials.md): production's values tag the images "stable" (no commit
    SHA), and no workflow triggered by release tags renders a tag for app/agent (only testing.yml pushes
    it). Where the suite cannot know, the item SKIPS with one "not checked" line saying why and what
    would let it check (the project's rule: "not checked" beats false), not a warning. The other
    images' tags render from ci.yml and are built for v1.4.1. With images missing (candidate main)
    the item still fails, the unknown repository named as not checked."""
    values = "helm/app/values-production.yaml"
    sha = (estate_copy / "gitops" / values).read_text().split('tag: "')[1].split('"')[0]
    commit(estate_copy / "gitops", values, f'tag: "{sha}"', 'tag: "stable"')
    result, records = run(pytester, demo_env_file, "--env=production", "-k", "candidate",
                          "--candidate", "v1.4.1")
    result.assert_outcomes(skipped=1)
    assert outcomes(records, "test_candidate_images_ready") == {("production", None): "skipped"}
    result.stdout.fnmatch_lines([
        "*production: not checked: cannot tell which tag candidate v1.4.1 (*) gets in "
        "registry.demo.test/app/agent: its values use neither a commit SHA nor a tag the workflows "
        "render; pass --tag"])
    assert "WARNING" not in result.stdout.str()
    result, _ = run(pytester, demo_env_file, "--env=production", "-k", "candidate")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "production: candidate main (*) is not built for 1 image(s): registry.demo.test/app/portal:*...: "
        "wait for CI to finish, or rerun the failed build, before tagging (not checked: cannot tell "
        "which tag candidate main (*) gets in registry.demo.test/app/agent: *; pass --tag)"])


def test_invalid_reference_in_the_chart_is_a_blocker_even_without_registry(pytester, estate_copy,
                                                                          demo_env_file):
    rename_agent_image(estate_copy, "app/Agent")
    result, _ = run(pytester, demo_env_file, "--env=testing", "-k", "image_present and agent")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "testing: agent/agent names invalid image reference 'registry.demo.test/app/Agent:*': "
        "repository name must be lowercase: fix the image in the chart values"])


def test_registry_down_is_an_error_naming_environment_and_endpoint(pytester, demo_env_file,
                                                                   with_registry, monkeypatch):
    port = service.free_port()
    monkeypatch.setenv(service.DEMO_REGISTRY_VAR, f"https://127.0.0.1:{port}")
    started = time.monotonic()
    result, records = run(pytester, demo_env_file, "--env=testing", "-k", "image_present")
    assert time.monotonic() - started < 30
    result.assert_outcomes(errors=8, skipped=1)
    result.stdout.fnmatch_lines([f"*testing: https://127.0.0.1:{port} unreachable: *"])
    assert {r["outcome"] for r in records if r["check"] == "test_image_present"} >= {"error"}


def test_auth_refused_is_an_error(pytester, demo_env_file, with_registry, monkeypatch, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"auths": {service.DEMO_ALIAS: {
        "auth": "cmVsZWFzZWdhdGU6d3Jvbmctc2VjcmV0LXZhbHVl"}}}))  # releasegate:wrong-secret-value
    monkeypatch.setenv(service.DEMO_DOCKER_CONFIG_VAR, str(config))
    result, _ = run(pytester, demo_env_file, "--env=testing", "-k", "image_present")
    result.assert_outcomes(errors=8, skipped=1)
    result.stdout.fnmatch_lines(["*testing: https://127.0.0.1:* unreachable: auth refused: login "
                                 "from auths for registry.demo.test rejected (HTTP 401)*"])
    assert "wrong-secret-value" not in result.stdout.str()


def test_unset_registry_variable_skips_naming_it(pytester, demo_env_file):
    result, _ = run(pytester, demo_env_file, "--env=testing", "-k", "image_present")
    result.assert_outcomes(skipped=9)
    result.stdout.fnmatch_lines(["*testing: registries.mirrors.registry.demo.test is not "
                                 "configured (${RELEASEGATE_DEMO_REGISTRY} is not set)"])


def test_registry_keys_in_the_environments_file(pytester, demo_repos, with_registry):
    text = demo_environments(demo_repos)
    assert "  platform: linux/amd64\n" in text
    env_file = pytester.path / "environments.yaml"
    env_file.write_text(text.replace("  platform: linux/amd64\n",
                                     "  platform: linux/amd64\n  concurrency: 2\n"))
    result, _ = run(pytester, env_file, "--env=testing", "-k", "image_present")
    result.assert_outcomes(passed=8, skipped=1)
    env_file.write_text(text.replace("  platform: linux/amd64\n",
                                     "  platform: linux/amd64\n  concurrency: many\n"))
    result, _ = run(pytester, env_file, "--env=testing", "-k", "image_present")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "registries.concurrency: expected a whole number" in result.stderr.str()


# ---------------------------------------------------------------------------------------------
# One registry client per session (environments with the same settings share it)


def session_hosts(env_file: Path) -> tuple:
    from releasegate.core.host import Estatewide
    from releasegate.options import Settings

    shared = Estatewide(load(env_file), Settings(environments_path=env_file, env_names=None))
    return shared, shared.host("testing"), shared.host("echo-next")


def test_environments_share_one_registry_client_closed_with_the_session(demo_env_file,
                                                                         with_registry):
    shared, testing, staging = session_hosts(demo_env_file)
    try:
        client = testing.registry
        assert staging.registry is client
        ref = "registry.demo.test/app/api:v1.4.1"
        before = client.requests
        assert client.check(ref) == client.check(ref)  # asked once for both environments
        sent = client.requests
        assert sent - before <= 4  # GET /v2/ (challenge, then the login) and one HEAD
        assert staging.registry.check(ref) == client.check(ref) and client.requests == sent
        testing.close()  # one environment's close leaves the shared client open
        assert staging.registry.check(ref).status == client.check(ref).status
        assert not client._http.is_closed
    finally:
        shared.close()
    assert client._http.is_closed


def test_a_shared_registry_that_is_down_errors_naming_each_environment(demo_env_file,
                                                                       with_registry, monkeypatch):
    """Building the client asks no registry; the first reference asks once, and the failure is
    remembered for every environment sharing the client (named by image_result per host)."""
    port = service.free_port()
    monkeypatch.setenv(service.DEMO_REGISTRY_VAR, f"https://127.0.0.1:{port}")
    shared, testing, staging = session_hosts(demo_env_file)
    try:
        client = testing.registry
        assert staging.registry is client and client.requests == 0
        ref = "registry.demo.test/app/api:v1.4.1"
        first = client.check_all([ref])[ref]
        sent = client.requests
        second = staging.registry.check_all([ref])[ref]  # remembered: not asked again
        assert client.requests == sent
        assert isinstance(first, RegistryUnreachable) and second is first
        assert str(first).startswith(f"https://127.0.0.1:{port} unreachable: ")
    finally:
        shared.close()


# -- reusable workflows of other repositories (issue 21) --------------------------------------------
SHARED_BUILD = """
on: {workflow_call: {inputs: {image: {type: string, required: true}}}}
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - {uses: docker/build-push-action@v6,
         with: {push: true, tags: "${{ format('registry.demo.test/app/{0}:{1}', inputs.image, github.sha) }}"}}
"""
CALLS_SHARED = ("\n  agent:\n    uses: acme/shared-builds/.github/workflows/build.yml@v1\n"
                "    with:\n      image: agent\n")


@pytest.mark.parametrize(("source_name", "remote", "outcome"), [
    ("shared-builds", None, "passed"),  # matched by the source's name (the repository part)
    ("builds", "git@github.com:acme/shared-builds.git", "passed"),  # by the clone's remote URL
    (None, None, "skipped"),  # not a source: not read, so not checked (never a blocker)
])
def test_a_reusable_workflow_of_another_repository(pytester, estate_copy, tmp_path, source_name, remote,
                                                   outcome):
    """`jobs.<id>.uses: owner/repo/.github/workflows/x.yml@ref`
    (https://docs.github.com/en/actions/using-workflows/reusing-workflows#calling-a-reusable-workflow)
    is read at `ref` when that repository is one of the sources (by name or remote URL) and its
    `with:` inputs fill `inputs.*`; otherwise the build-matrix check of the images no read workflow
    builds says "not checked: ... not read" instead of the planted agent blocker."""
    text = (estate_copy / "app/.github/workflows/ci.yml").read_text()
    (estate_copy / "app/.github/workflows/ci.yml").write_text(text + CALLS_SHARED)
    subprocess.run(["git", "-C", str(estate_copy / "app"), "-c", "user.name=t", "-c", "user.email=t@t.test",
                    "commit", "-qam", "ci: agent by the shared workflow"], check=True)
    text = demo_environments(estate_copy)
    if source_name:
        tagged_repo(tmp_path / "shared", {".github/workflows/build.yml": SHARED_BUILD}, "v1", remote)
        text = text.replace("sources:\n", f"sources:\n  {source_name}:\n    path: {tmp_path / 'shared'}\n", 1)
    env_file = tmp_path / "environments.yaml"
    env_file.write_text(text)
    result, records = run(pytester, env_file, "-m", "prerelease", "--env=production", "-k", "parity and agent")
    [record] = [r for r in records if r["check"] == "test_build_matrix_parity"]
    assert record["outcome"] == outcome, record["message"]
    if outcome == "skipped":
        assert record["message"].startswith(
            "production: not checked: registry.demo.test/app/agent:")
        assert ("may be built by acme/shared-builds/.github/workflows/build.yml@v1, not read (job agent: calls "
                "acme/shared-builds/.github/workflows/build.yml@v1, which is not read: acme/shared-builds is none "
                "of the sources (add its clone under sources to read it))") in record["message"]


@pytest.mark.parametrize("fault", ["stopped", "login refused"])
def test_one_dead_registry_among_two_errors_only_its_images(pytester, demo_env_file,
                                                            with_registry, fault, monkeypatch,
                                                            tmp_path):
    """Issue 28 item 3: docker.io's images go through a second real docker-registry, stopped
    before the run, or running but refusing the configured login. Its image (directus) is an
    ERROR naming that registry; the images on the live demo registry are still checked, and the
    planted "never built" agent image still fails."""
    other = service.start("basic")
    dead = other.url
    if fault == "stopped":
        other.stop()
        reason = "unreachable: "
    else:
        # one docker config and one CA bundle for both registries, with a wrong password for
        # the second
        config = json.loads(Path(with_registry.docker_config).read_text())
        config["auths"][dead.removeprefix("https://")] = {
            "auth": "cmVsZWFzZWdhdGU6d3Jvbmctc2VjcmV0LXZhbHVl"}  # releasegate:wrong-secret-value
        (tmp_path / "config.json").write_text(json.dumps(config))
        (tmp_path / "ca.pem").write_text(Path(with_registry.ca_file).read_text()
                                         + Path(other.ca_file).read_text())
        monkeypatch.setenv(service.DEMO_DOCKER_CONFIG_VAR, str(tmp_path / "config.json"))
        monkeypatch.setenv(service.DEMO_CA_VAR, str(tmp_path / "ca.pem"))
        reason = "unreachable: auth refused"
    text = demo_env_file.read_text()
    assert "  skip: [docker.io]\n" in text
    demo_env_file.write_text(text.replace("  skip: [docker.io]\n", "").replace(
        '    registry.demo.test: "${RELEASEGATE_DEMO_REGISTRY}"\n',
        '    registry.demo.test: "${RELEASEGATE_DEMO_REGISTRY}"\n'
        f'    docker.io: "{dead}"\n'))
    try:
        result, records = run(pytester, demo_env_file, "--env=production", "-k",
                              "image_present or candidate")
    finally:
        other.stop()
    found = outcomes(records, "test_image_present")
    assert found[("production", "agent-agent")] == "failed"
    assert found[("production", "directus-directus")] == "error"
    assert {o for (_, item), o in found.items()
            if item not in ("agent-agent", "directus-directus")} == {"passed"}
    assert outcomes(records, "test_candidate_images_ready") == {("production", None): "failed"}
    result.stdout.fnmatch_lines([f"*production: {dead} {reason}*"])
    errors = [line for line in result.stdout.lines if " unreachable: " in line]
    assert errors and not any(with_registry.url in line for line in errors)
    assert "wrong-secret-value" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*production: agent/agent image registry.demo.test/app/agent:* "
                                 "is missing from the registry*"])
