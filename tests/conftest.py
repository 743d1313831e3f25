"""Shared fixtures of the suite's own tests: pytester, and a copy of the demo estate to alter."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from examples.materialize import materialize

pytest_plugins = ["pytester"]


def _load_every_plugin_module() -> None:
    """Import all of plugins/ once, in this process, before any test runs.

    pytester's in-process runs drop the modules a run imported when it ends, but a package keeps
    its submodule as an attribute: a later run's ``from releasegate.images import host_registry``
    then finds the old module, whose RegistryUnreachable is not the class that the re-imported
    registry client raises, and an error meant as one line showed as a traceback (only when
    tests/test_images.py ran on its own). Loaded here, nothing of ours is imported inside a run.
    """
    import importlib
    import pkgutil

    import releasegate

    for module in pkgutil.walk_packages(releasegate.__path__, "plugins."):
        importlib.import_module(module.name)


_load_every_plugin_module()

ROOT = Path(__file__).resolve().parent.parent
SHARED_SNAPSHOT = ROOT.parent / "shared" / "fixtures" / "directus-snapshot"


@pytest.fixture(scope="session")
def shared_snapshot() -> Path:
    """The shared 880-file directus snapshot (read-only): skips where absent, fails in CI."""
    if not (SHARED_SNAPSHOT / "info.json").is_file():
        missing = f"shared snapshot fixture not found at {SHARED_SNAPSHOT} (CI puts it in ../shared)"
        if os.environ.get("CI"):
            pytest.fail(missing)  # in CI it is always there: never let these tests skip silently
        pytest.skip(missing)
    return SHARED_SNAPSHOT


@pytest.fixture(scope="session")
def demo_repos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo estate's git repositories, built once per session (never altered)."""
    dest = tmp_path_factory.mktemp("demo") / "estate"
    materialize(dest)
    return dest


@pytest.fixture
def estate_copy(tmp_path: Path, demo_repos: Path) -> Path:
    """A private copy of the demo repositories (app/ and gitops/) that a test may change."""
    dest = tmp_path / "estate"
    shutil.copytree(demo_repos, dest, symlinks=True)
    return dest


def demo_environments(estate: Path, extra: str = "") -> str:
    """The root environments.yaml rewritten to point at another copy of the demo repositories."""
    text = (ROOT / "environments.yaml").read_text()
    text = text.replace("path: examples/.estate/app", f"path: {estate / 'app'}")
    text = text.replace("path: examples/.estate/gitops", f"path: {estate / 'gitops'}")
    text = text.replace("    create: python examples/materialize.py\n", "")
    return text + extra


def tagged_repo(path: Path, files: dict[str, str], tag: str, remote: str | None = None) -> Path:
    """A real git repository at `path` holding `files` in one commit on main, tagged `tag`, with an
    origin remote URL when given (read only through git; nothing is fetched)."""
    import subprocess

    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t.test", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t.test", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "files"], ["tag", tag],
                 *([["remote", "add", "origin", remote]] if remote else [])):
        subprocess.run(["git", "-C", str(path), *args], check=True, env=env, capture_output=True)
    return path


@pytest.fixture
def demo_env_file(tmp_path: Path, estate_copy: Path) -> Path:
    """An environments file for the private demo copy."""
    path = tmp_path / "environments.yaml"
    path.write_text(demo_environments(estate_copy))
    return path


@pytest.fixture(autouse=True)
def _no_plugin_autoload(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inner pytester runs load only the plugins they name: third-party autoloads cost seconds."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
