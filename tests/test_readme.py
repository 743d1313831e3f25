"""The README and the reference under docs/ stay true: the checks table (docs/checks.md) lists every
check and no gone one, the examples run, the set-up commands are the ones CI runs, the README stays
short and its minimal environments file works."""

from __future__ import annotations

import ast
import re

from conftest import ROOT


def _checks() -> set[str]:
    names = set()
    for path in (ROOT / "checks").glob("test_*.py"):
        tree = ast.parse(path.read_text())
        names |= {node.name for node in tree.body
                  if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}
    return names


def _table_rows() -> set[str]:
    reference = (ROOT / "docs" / "checks.md").read_text()
    section = reference.split("## Checks", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(test_[a-z_]+)\[", section, flags=re.MULTILINE))


def test_every_check_is_in_the_readme_table() -> None:
    checks, rows = _checks(), _table_rows()
    assert len(checks) > 20
    assert checks - rows == set(), "checks missing from the table of docs/checks.md"
    assert rows - checks == set(), "docs/checks.md rows for checks that no longer exist"


def test_every_check_carries_a_moment_marker() -> None:
    for path in (ROOT / "checks").glob("test_*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                marks = {ast.unparse(d) for d in node.decorator_list}
                assert marks & {"pytest.mark.prerelease", "pytest.mark.smoke", "pytest.mark.drift"}, \
                    f"{path.name}::{node.name} has no prerelease/smoke/drift marker"


def test_the_readme_example_check_runs_on_the_demo(pytester, demo_env_file) -> None:
    guide = (ROOT / "docs" / "adding-checks.md").read_text()
    section = guide.split("## Adding a check", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    pytester.makeconftest('pytest_plugins = ["releasegate.plugin"]')
    pytester.makepyfile(test_ingress=code)
    result = pytester.runpytest(f"--environments={demo_env_file}", "--env=production",
                                "-m", "smoke", "-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)  # api, dashboard, portal, directus: each has TLS
    result.stdout.fnmatch_lines(["*test_ingress_has_tls[[]production-portal.demo.test] PASSED*"])


def test_the_example_plugin_pack_installs_and_runs(tmp_path) -> None:
    import os
    import subprocess
    import sys

    import shutil

    site, pack = tmp_path / "site", tmp_path / "pack"
    # build from a copy: setuptools writes build/ and egg-info next to the sources
    shutil.copytree(ROOT / "examples" / "plugin-pack", pack,
                    ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(site), str(pack)],
                   check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_DISABLE_PLUGIN_AUTOLOAD"}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT)])
    result = subprocess.run([sys.executable, "-m", "pytest", "--pyargs",
                             "releasegate_ingress.checks", "-m", "smoke", "--env=production",
                             "-p", "no:cacheprovider", "-q"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "4 passed" in result.stdout


def test_the_set_up_commands_use_a_venv_and_ci_runs_them_as_written() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Set up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    commands = [line[4:] for line in section.splitlines() if line.startswith("    ")]
    demo = next(c for c in commands if c.endswith("-m prerelease --env=production") and "venv" in c)
    tests = next(c for c in commands if c.startswith("bash tests/setup.sh"))
    assert demo.startswith("python3 -m venv .venv && .venv/bin/pip install ")
    assert "-e ." in demo and tests.endswith(".venv/bin/python -m pytest tests -n 2")
    ci = (ROOT / ".ci" / "run").read_text()
    assert demo + " " in ci and tests + "\n" in ci
    assert ".venv" in (ROOT / "tests" / "setup.sh").read_text()


def test_the_readme_is_short_and_links_the_reference() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    for link in re.findall(r"\]\(((?:docs|examples)/[^)#]+)\)", readme):
        assert (ROOT / link).is_file(), link
    for page in ("checks", "environments", "options", "drift-report", "deploy", "adding-checks",
                 "benchmarks", "layout"):
        assert f"(docs/{page}.md)" in readme, page
        assert "[← README](../README.md)" in (ROOT / "docs" / f"{page}.md").read_text()


def test_the_readme_minimal_environments_file_runs(pytester, demo_repos) -> None:
    """The README's environments file for two repositories, pointed at the demo's clones: it
    loads, and the prerelease moment runs on it and ends with the verdict."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Point it at your two repositories", 1)[1]
    text = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert "argocd_app:" in text and text.count("path: ../") == 2
    env_file = pytester.path / "environments.yaml"
    env_file.write_text(text.replace("{path: ../app}", f"{{path: {demo_repos / 'app'}}}")
                        .replace("{path: ../gitops}", f"{{path: {demo_repos / 'gitops'}}}"))
    pytester.makeconftest('pytest_plugins = ["releasegate.plugin"]')
    result = pytester.runpytest_inprocess(str(ROOT / "checks"), f"--environments={env_file}",
                                          "-m", "prerelease", "--env=production", "--static",
                                          "-p", "no:cacheprovider", f"--rootdir={pytester.path}")
    assert result.ret == 1, result.stdout.str()[-2000:]  # the demo's planted blockers
    result.stdout.fnmatch_lines(["releasegate: production is NOT safe to release: *"])
    result.stdout.fnmatch_lines(["*test_secret_keys[[]production-backend-secrets.SMTP_PASSWORD[]]*"])
