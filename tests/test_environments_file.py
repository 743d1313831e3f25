"""A bad environments file stops the run with exit code 4 and names file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import demo_environments

CHECK = """
def test_env(host):
    assert host.name
"""


def _run(pytester: pytest.Pytester, env_file: Path, *args: str) -> pytest.RunResult:
    pytester.makeconftest('pytest_plugins = ["releasegate.plugin"]')
    pytester.makepyfile(test_checks=CHECK)
    return pytester.runpytest(f"--environments={env_file}", "-p", "no:cacheprovider", *args)


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("change", "needle", "key", "problem"),
    [
        # YAML syntax error: an unclosed flow mapping
        (("deploys: {branch: testing}", "deploys: {branch: testing"), None, "", "YAML error"),
        # unknown key, typo in a nested mapping
        (("deploys: {branch: main}", "deploys: {brnch: main}"), "deploys: {brnch: main}",
         "environments.echo-next.deploys.brnch", "unknown key (valid keys: branch, tag)"),
        # wrong type
        (("timeout_s: 5", "timeout_s: soon"), "timeout_s: soon", "network.timeout_s",
         "expected a positive number, got str 'soon'"),
        # unknown environment named in a waiver
        (("    environment: production\n    item: SENDGRID_REGION",
          "    environment: prod\n    item: SENDGRID_REGION"), "- check: \"test_env_cross_parity*\"",
         "waivers.environment", "unknown environment 'prod'"),
        # wrong type in a list
        (("containers: [api, migrate", "containers: [{name: api}, migrate"),
         "containers: [{name: api}", "settings[0].containers[0]", "expected a string"),
        # settings[].classes for a container the entry does not boot (issue 23)
        (("    boot: get_settings\n", "    boot: get_settings\n    classes:\n      worker: [AppSettings]\n"
                                    "      indexer: [SearchSettings]\n"), "      indexer: [SearchSettings]",
         "settings[0].classes.indexer", "container 'indexer' is not one of the entry's containers (api, migrate, "
         "worker, worker-cpu, agent, scheduler, beat)"),
    ],
    ids=["yaml-error", "unknown-key", "wrong-type", "unknown-waiver-env", "list-item-type", "classes-container"],
)
def test_bad_file_is_a_usage_error(pytester: pytest.Pytester, estate_copy: Path,
                                   change: tuple[str, str], needle: str | None, key: str,
                                   problem: str) -> None:
    text = demo_environments(estate_copy)
    assert change[0] in text
    bad = text.replace(change[0], change[1], 1)
    env_file = pytester.path / "bad.yaml"
    env_file.write_text(bad)
    result = _run(pytester, env_file)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "Traceback" not in err + result.stdout.str()
    line = _line_of(bad, needle) if needle else None
    key = key.replace("[", "[[]")  # fnmatch: a literal bracket
    expected = f"*{env_file}:{line}: {key}: *{problem}*" if needle else f"*{env_file}:*: {problem}*"
    result.stderr.fnmatch_lines([expected])


def test_missing_source_path_names_line_and_key(pytester: pytest.Pytester,
                                                estate_copy: Path) -> None:
    text = demo_environments(estate_copy).replace(str(estate_copy / "gitops"),
                                                  str(estate_copy / "nowhere"))
    env_file = pytester.path / "envs.yaml"
    env_file.write_text(text)
    result = _run(pytester, env_file)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    line = _line_of(text, "nowhere")
    result.stderr.fnmatch_lines(
        [f"*{env_file}:{line}: sources.gitops.path: source path *nowhere does not exist*"])


@pytest.mark.parametrize(("what", "needle", "key", "problem"), [
    ("plain-folder", "path: {plain}", "sources.gitops.path", "{plain} is not a git repository"),
    ("inside-repo", "path: {inner}", "sources.gitops.path",
     "{inner} is a folder inside the git repository {gitops}: point at the repository's top level"),
    ("no-branch", "main: trunk", "sources.gitops.main", "branch 'trunk' does not exist in {gitops}"),
])
def test_a_source_that_is_not_a_usable_repository(pytester: pytest.Pytester, estate_copy: Path,
                                                  what: str, needle: str, key: str,
                                                  problem: str) -> None:
    gitops = estate_copy / "gitops"
    names = {"plain": pytester.mkdir("plain"), "inner": gitops / "helm", "gitops": gitops}
    text = demo_environments(estate_copy)
    source = f"path: {gitops}\n    main: main"
    assert source in text
    replacement = {"plain-folder": f"path: {names['plain']}\n    main: main",
                   "inside-repo": f"path: {names['inner']}\n    main: main",
                   "no-branch": f"path: {gitops}\n    main: trunk"}[what]
    bad = text.replace(source, replacement)
    env_file = pytester.path / "envs.yaml"
    env_file.write_text(bad)
    result = _run(pytester, env_file)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    line = _line_of(bad, needle.format(**names))
    result.stderr.fnmatch_lines([f"*{env_file}:{line}: {key}: {problem.format(**names)}"])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_missing_required_key(pytester: pytest.Pytester, estate_copy: Path) -> None:
    text = demo_environments(estate_copy).replace("    deploys: {tag: \"v*.*.*\"}\n", "")
    env_file = pytester.path / "envs.yaml"
    env_file.write_text(text)
    result = _run(pytester, env_file)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*environments.production.deploys: required key is missing*"])


def test_unknown_env_lists_known(pytester: pytest.Pytester, demo_env_file: Path) -> None:
    result = _run(pytester, demo_env_file, "--env=prod")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--env: unknown environment 'prod' (known: echo-next, production, testing, or all)*"])


def test_bad_option_values_are_usage_errors(pytester: pytest.Pytester,
                                            demo_env_file: Path) -> None:
    result = _run(pytester, demo_env_file, "--tag=1.5")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--tag: '1.5' is not a release tag like v1.5.0*"])
    result = _run(pytester, demo_env_file, "--ref=nosuch=main")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--ref: unknown source 'nosuch' (known: app, gitops)*"])


@pytest.mark.parametrize(("option", "message"), [
    ("--gitops-ref=deadbeef", "gitops=deadbeef (--ref, --app-ref or --gitops-ref): no branch, tag "
                              "or commit 'deadbeef' in source gitops (*)"),
    ("--ref=app=v9.9.9", "app=v9.9.9 (--ref, --app-ref or --gitops-ref): no branch, tag or commit "
                         "'v9.9.9' in source app (*)"),
    ("--candidate=nope", "--candidate: no branch, tag or commit 'nope' in source app (*)"),
])
def test_a_ref_that_does_not_exist_is_one_usage_error(pytester: pytest.Pytester,
                                                      demo_env_file: Path, option: str,
                                                      message: str) -> None:
    result = _run(pytester, demo_env_file, option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_environments_variable_and_interpolation(pytester: pytest.Pytester, demo_env_file: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makeconftest('pytest_plugins = ["releasegate.plugin"]')
    pytester.makepyfile(test_checks="""
        def test_network(host):
            resolve = host.estate.network.resolve
            assert resolve["portal.demo.test"] == "127.0.0.32:9443"
            assert not host.estate.network.ca_file
            assert "RELEASEGATE_DEMO_CA" in str(host.estate.network.ca_file)
    """)
    monkeypatch.setenv("RELEASEGATE_ENVIRONMENTS", str(demo_env_file))
    monkeypatch.setenv("RELEASEGATE_DEMO_HTTPS_PORT", "9443")
    monkeypatch.delenv("RELEASEGATE_DEMO_CA", raising=False)
    result = pytester.runpytest("-p", "no:cacheprovider", "--env=production")
    result.assert_outcomes(passed=1)
