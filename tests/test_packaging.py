"""releasegate installs as a pytest plugin: entry point, importable checks, split requirements.

The install test does what a new user does: a fresh virtual environment, `pip install` of a clean
copy of the repository, then the three moments from an unrelated directory with
`--environments /abs/path` written with a space. The venv sees the machine's site-packages for the
dependencies (no network in tests); the suite itself comes only from the install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from conftest import ROOT, demo_environments


def _requirements(name: str) -> list[str]:
    lines = [line.split("#", 1)[0].strip() for line in (ROOT / name).read_text().splitlines()]
    return [line for line in lines if line]


def test_requirements_split_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert _requirements("requirements.txt") == project["dependencies"]
    assert _requirements("requirements-test.txt") == ["-r requirements.txt",
                                                      *project["optional-dependencies"]["test"]]
    runtime = " ".join(project["dependencies"])
    for test_only in ("kmock", "pytest-asyncio", "aiohttp", "trustme"):
        assert test_only not in runtime  # pytest plugins that would load in every real run
    assert project["entry-points"]["pytest11"] == {"releasegate.plugin": "releasegate.plugin"}


def _clean_copy(dest: Path) -> Path:
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard"],
                             check=True, capture_output=True, text=True).stdout.split()
    for rel in tracked:
        source = ROOT / rel
        if rel.startswith("examples/.") or not source.is_file():
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest / rel)
    return dest


def _install(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A fresh venv with a clean copy of the repository installed (not editable); its python and
    an environment without the test run's plugin and demo variables."""
    clone = _clean_copy(tmp_path / "clone")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    # the dependencies (and pip) come from the running interpreter's site-packages, whether that
    # is a venv or the system's: --system-site-packages would give the base Python's only
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "_running.pth").write_text("\n".join(p for p in sys.path if p.endswith("-packages")))
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", str(clone)], check=True, capture_output=True)
    shutil.rmtree(clone)  # the install must not lean on the copy
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTEST_DISABLE_PLUGIN_AUTOLOAD",
                                                                 "PYTHONPATH")
               and not k.startswith("RELEASEGATE_")}
    return python, environ


def test_installed_in_a_fresh_venv_the_three_moments_run_from_anywhere(tmp_path, demo_repos):
    python, environ = _install(tmp_path)
    venv = tmp_path / "venv"
    env_file = tmp_path / "conf" / "environments.yaml"
    env_file.parent.mkdir()
    env_file.write_text(demo_environments(demo_repos))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run([python, "-c", "import releasegate, releasegate.checks; "
                            "print(releasegate.__file__); print(releasegate.checks.__file__)"],
                           cwd=elsewhere, env=environ, check=True, capture_output=True, text=True)
    assert all(line.startswith(str(venv)) for line in where.stdout.split()), where.stdout
    data = subprocess.run([python, "-c", "from releasegate.estate.schema import SCHEMA_PATH; "
                           "print(SCHEMA_PATH.is_file())"],
                          cwd=elsewhere, env=environ, capture_output=True, text=True)
    assert data.stdout.strip() == "True", data.stderr[-1500:]  # package data ships
    moments = [
        (["-m", "prerelease", "--env=production"], 1, "production is NOT safe to release: "),
        (["-m", "smoke", "--env=echo-next"], 1, "the deploy of echo-next is NOT healthy"),
        (["-m", "drift", "--env=all", "--drift-report", str(tmp_path / "drift")], 1,
         "echo-next, production, testing fail the git checks (live state not compared)"),
    ]
    for args, code, verdict in moments:
        result = subprocess.run([python, "-m", "pytest", "--pyargs", "releasegate.checks", *args,
                                 "--environments", str(env_file), "-p", "no:cacheprovider"],
                                cwd=elsewhere, env=environ, capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == code, args + [result.stdout[-2500:], result.stderr[-1500:]]
        assert result.stdout.rstrip().splitlines()[-1].startswith(f"releasegate: {verdict}"), args
    assert (tmp_path / "drift" / "drift.json").is_file()
    page = (tmp_path / "drift" / "drift.html").read_text()
    assert "#matrix td.cell" in page and "addEventListener" in page  # template, CSS, JS ship


def test_installed_console_command_runs_from_an_application_repository(tmp_path, demo_repos):
    """Issue 28 items 1-2: `releasegate prerelease --env production --environments /abs/path`
    (space form) from a directory that has its own `plugins/` package, pytest settings and
    conftest.py (none of them read) ends with the verdict; node ids and the cache stay with the
    directory it runs in."""
    python, environ = _install(tmp_path)
    command = str(Path(python).parent / "releasegate")
    env_file = tmp_path / "conf dir" / "environments.yaml"
    env_file.parent.mkdir()
    env_file.write_text(demo_environments(demo_repos))
    app = tmp_path / "app"
    (app / "plugins").mkdir(parents=True)
    (app / "plugins" / "__init__.py").write_text('"""the application\'s own plugins"""\n')
    (app / "pyproject.toml").write_text('[tool.pytest.ini_options]\naddopts = "--app-only-option"\n')
    (app / "conftest.py").write_text('raise RuntimeError("the application\'s conftest.py was loaded")\n')
    usage = subprocess.run([command], cwd=app, env=environ, capture_output=True, text=True)
    assert usage.returncode == 4 and usage.stderr.startswith("usage: releasegate "), usage.stderr
    result = subprocess.run([command, "prerelease", "--env", "production", "--environments",
                             str(env_file), "-rf"], cwd=app, env=environ, capture_output=True,
                            text=True, timeout=300)
    output = result.stdout + result.stderr
    assert "No module named" not in output  # the console script does not put cwd on sys.path
    assert "conftest.py was loaded" not in output, output[-3000:]
    assert result.returncode == 1, [result.stdout[-2500:], result.stderr[-1500:]]
    lines = result.stdout.rstrip().splitlines()
    assert lines[-1].startswith("releasegate: production is NOT safe to release: "), lines[-3:]
    failed = [line for line in lines if line.startswith("FAILED ")]
    assert failed and not any(" ../" in line for line in failed), failed[:3]
    assert f"rootdir: {app}\n" in result.stdout
    assert not (env_file.parent / ".pytest_cache").exists()
    replay = subprocess.run([command, "replay", "--env", "production", "--range", "main~3..main",
                             f"--environments={env_file}"], cwd=app, env=environ,
                            capture_output=True, text=True, timeout=300)
    assert replay.returncode == 1 and "c554f6b" in replay.stdout, replay.stdout[-2000:]


def test_console_command_builds_the_pytest_command_line(tmp_path, monkeypatch):
    """From the checkout: the checks folder and the checkout's rootdir; replay's spelling mapped."""
    from releasegate import cli

    monkeypatch.delenv("RELEASEGATE_ENVIRONMENTS", raising=False)
    args = cli.pytest_args("prerelease", ["--env", "production", "--environments", "a b.yaml"],
                           ROOT)
    assert args == ["-p", "releasegate.plugin", f"--rootdir={ROOT}", str(ROOT / "checks"),
                    "-m", "prerelease", "--env", "production", "--environments", "a b.yaml"]
    (tmp_path / "environments.yaml").write_text("")
    args = cli.pytest_args("replay", ["--env=production", "--range", "A..B", "--keep-going"],
                           tmp_path)
    assert args[-4:] == ["--env=production", "--replay", "A..B", "--replay-keep-going"]
    assert f"--environments={tmp_path / 'environments.yaml'}" in args
    assert cli.main(["nightly"]) == 4


def test_console_command_in_the_checkout_takes_the_environments_path_with_a_space(tmp_path,
                                                                                   demo_repos):
    """`python -m releasegate.cli` in the checkout: `--environments PATH` with a space works, and node
    ids are the checkout's (the rootdir is the checkout, whatever directory it runs from)."""
    env_file = tmp_path / "with space" / "environments.yaml"
    env_file.parent.mkdir()
    env_file.write_text(demo_environments(demo_repos))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RELEASEGATE_")}
    environ["PYTHONPATH"] = str(ROOT)
    result = subprocess.run([sys.executable, "-m", "releasegate.cli", "smoke", "--env", "echo-next",
                             "--environments", str(env_file), "-p", "no:cacheprovider", "-rf"],
                            cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, [result.stdout[-2500:], result.stderr[-1500:]]
    assert f"rootdir: {ROOT}\n" in result.stdout
    assert "test_settings.py::test_settings_containers[echo-next-containers]" in result.stdout
    assert result.stdout.rstrip().splitlines()[-1].startswith("releasegate: ")


def test_the_console_command_names_the_variable_the_plugin_reads():
    from releasegate import cli, options

    assert cli.ENVIRONMENTS_VAR == options.ENVIRONMENTS_VAR
