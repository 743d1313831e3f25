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
    assert project["entry-points"]["pytest11"] == {"plugins.plugin": "plugins.plugin"}


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


def test_installed_in_a_fresh_venv_the_three_moments_run_from_anywhere(tmp_path, demo_repos):
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
    env_file = tmp_path / "conf" / "environments.yaml"
    env_file.parent.mkdir()
    env_file.write_text(demo_environments(demo_repos))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTEST_DISABLE_PLUGIN_AUTOLOAD",
                                                                 "PYTHONPATH")
               and not k.startswith("RELEASEGATE_DEMO")}
    where = subprocess.run([python, "-c", "import plugins, releasegate_checks; "
                            "print(plugins.__file__); print(releasegate_checks.__file__)"],
                           cwd=elsewhere, env=environ, check=True, capture_output=True, text=True)
    assert all(line.startswith(str(venv)) for line in where.stdout.split()), where.stdout
    data = subprocess.run([python, "-c", "from plugins.estate.schema import SCHEMA_PATH; "
                           "print(SCHEMA_PATH.is_file())"],
                          cwd=elsewhere, env=environ, capture_output=True, text=True)
    assert data.stdout.strip() == "True", data.stderr[-1500:]  # package data ships
    moments = [
        (["-m", "prerelease", "--env=production"], 1, "production is NOT safe to release: "),
        (["-m", "smoke", "--env=echo-next"], 1, "the deploy of echo-next is NOT healthy"),
        (["-m", "drift", "--env=all", "--drift-report", str(tmp_path / "drift")], 1,
         "echo-next, production, testing have drifted from git"),
    ]
    for args, code, verdict in moments:
        result = subprocess.run([python, "-m", "pytest", "--pyargs", "releasegate_checks", *args,
                                 "--environments", str(env_file), "-p", "no:cacheprovider"],
                                cwd=elsewhere, env=environ, capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == code, args + [result.stdout[-2500:], result.stderr[-1500:]]
        assert result.stdout.rstrip().splitlines()[-1].startswith(f"releasegate: {verdict}"), args
    assert (tmp_path / "drift" / "drift.json").is_file()
    page = (tmp_path / "drift" / "drift.html").read_text()
    assert "#matrix td.cell" in page and "addEventListener" in page  # template, CSS, JS ship
