"""The application's own environment for the boot (plugins/settings/app_env.py, app_tree.py): built
with uv from the lock at a commit, read from real git objects, cached by the lock's content; an
application on pydantic v1; settings that import their own package; an interpreter kept as given."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from examples.materialize import git
from releasegate.core.gitrepo import GitRepo
from releasegate.settings import app_env, app_tree, boot, boot_runs

V1_SETTINGS = textwrap.dedent("""
    from pydantic import BaseSettings
    from myapp.limits import DEFAULT_WORKERS

    class WorkerSettings(BaseSettings):
        workers: int = DEFAULT_WORKERS
        broker_url: str

        class Config:
            env_prefix = "APP_"
""")


def repo_with(tmp_path: Path, commits: list[dict[str, str]]) -> tuple[GitRepo, list[str]]:
    root = tmp_path / "app"
    root.mkdir()
    git(root, "init", "--quiet", "-b", "main")
    shas = []
    for files in commits:
        for path, text in files.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(text)
        git(root, "add", "-A")
        git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "c")
        shas.append(git(root, "rev-parse", "HEAD").strip())
    return GitRepo(root, "app"), shas


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RELEASEGATE_CACHE", str(tmp_path / "cache"))
    app_env._built.cache_clear()
    return tmp_path / "cache"


def test_an_app_on_pydantic_v1_that_imports_its_own_package_boots_in_its_environment(
        tmp_path: Path, cache: Path) -> None:
    """requirements.txt pins pydantic 1: the boot runs in a venv uv built from it (BaseSettings is
    pydantic v1's own, no pydantic-settings), the app's tree at that commit on the import path; a
    second commit with the same lock shares the environment."""
    files = {"requirements.txt": "pydantic==1.10.19\n", "myapp/__init__.py": "",
             "myapp/limits.py": "DEFAULT_WORKERS = 4\n", "myapp/settings.py": V1_SETTINGS}
    repo, (first, second) = repo_with(tmp_path, [files, {"myapp/limits.py": "DEFAULT_WORKERS = 8\n"}])
    python = app_env.build(repo, first, "myapp/settings.py", "auto", None)
    assert python == app_env.build(repo, second, "myapp/settings.py", "auto", None)  # same lock, one environment
    assert len(list((cache / "envs").iterdir())) == 1
    paths, dotted = app_tree.import_paths(app_tree.export(repo, first), "myapp/settings.py")
    assert dotted == "myapp.settings" and paths[0] == app_tree.export(repo, first)
    job = boot.BootJob("j", V1_SETTINGS, "settings.py", {"APP_WORKERS": "many"}, ("WorkerSettings",),
                       paths=paths, dotted=dotted)
    got = boot.run([job], python=python)["j"].outcomes[0]
    assert [(e["loc"], e["type"], e["title"]) for e in got.errors] == [
        (["workers"], "type_error.integer", "WorkerSettings"), (["broker_url"], "missing", "WorkerSettings")]
    ok = boot.run([boot.BootJob("k", V1_SETTINGS, "settings.py", {"APP_BROKER_URL": "amqp://b"},
                                ("WorkerSettings",), paths=paths, dotted=dotted)], python=python)["k"]
    assert ok.outcomes[0].ok and ok.unavailable is None


def test_a_package_no_index_serves_names_the_package_and_the_lock(tmp_path: Path, cache: Path) -> None:
    repo, (sha,) = repo_with(tmp_path, [{"svc/requirements.txt": "releasegate-no-such-package-xyz==1.0\n",
                                         "svc/settings.py": "x = 1\n"}])
    with pytest.raises(app_env.EnvironmentUnavailable) as caught:
        app_env.build(repo, sha, "svc/settings.py", "auto", None)
    message = str(caught.value)
    assert message.startswith(f"the application's environment from svc/requirements.txt at {sha[:12]} cannot be "
                              "built: ")
    assert "releasegate-no-such-package-xyz was not found in the package registry" in message
    assert not [p for p in (cache / "envs").iterdir() if p.is_dir()]  # no half-built environment is kept


def test_a_named_lock_that_does_not_exist_at_the_commit(tmp_path: Path, cache: Path) -> None:
    repo, (sha,) = repo_with(tmp_path, [{"settings.py": "x = 1\n"}])
    with pytest.raises(app_env.EnvironmentUnavailable, match=f"lock uv.lock does not exist at {sha[:12]}"):
        app_env.build(repo, sha, "settings.py", "uv.lock", None)
    with pytest.raises(app_env.EnvironmentUnavailable, match="no uv.lock, requirements.txt, pyproject.toml"):
        app_env.build(repo, sha, "settings.py", "auto", None)


def test_entry_python_is_kept_as_given(tmp_path: Path) -> None:
    """A virtual environment's bin/python is a symlink to its base interpreter: kept as given, the
    boot runs in that environment (its sys.prefix), not the base."""
    subprocess.run([str(Path(sys.executable).with_name("uv")), "venv", "-q", "--python", sys.executable,
                    str(tmp_path / "venv")], check=True, env={**os.environ, "VIRTUAL_ENV": ""})
    assert (tmp_path / "venv" / "bin" / "python").is_symlink()
    host = SimpleNamespace(estate=SimpleNamespace(root=tmp_path))
    entry = SimpleNamespace(python="venv/bin/python", environment=None)
    python = boot_runs.interpreter(host, entry)
    assert python == str(tmp_path / "venv" / "bin" / "python")
    source = "import sys\nclass S:\n    def __init__(self):\n        raise SystemExit(sys.prefix)\n"
    got = boot.run([boot.BootJob("j", source, "s.py", {}, ("S",))], python=python)["j"].outcomes[0]
    assert got.exception == f"SystemExit: {tmp_path / 'venv'}"


def test_a_uv_lock_with_a_local_package_installs_it_from_the_commit(tmp_path: Path, cache: Path) -> None:
    """A uv.lock whose workspace member or path dependency lives in the repository
    (`source = { editable = "packages/helper" }`, uv's lock format) installs it from the commit's
    own tree, written beside the lock (field trial: drone-tm's `packages/drone-flightplan` was
    "Distribution not found")."""
    import shutil as _shutil
    import subprocess as _subprocess

    uv = _shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    project = tmp_path / "draft" / "svc"
    helper = project / "packages" / "helper"
    (helper / "helper").mkdir(parents=True)
    (helper / "helper" / "__init__.py").write_text("ANSWER = 42\n")
    (helper / "pyproject.toml").write_text(
        '[project]\nname = "helper"\nversion = "0.1.0"\n'
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n')
    (project / "pyproject.toml").write_text(
        '[project]\nname = "svc"\nversion = "0.1.0"\nrequires-python = ">=3.11"\ndependencies = ["helper"]\n'
        '[tool.uv.sources]\nhelper = { path = "packages/helper", editable = true }\n')
    done = _subprocess.run([uv, "lock", "--quiet"], cwd=project, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        pytest.skip(f"uv lock could not run here: {done.stderr.strip()[-200:]}")
    lock = (project / "uv.lock").read_text()
    assert app_env.local_sources(lock) == ["packages/helper"]
    files = {f"svc/{p.relative_to(project)}": p.read_text() for p in project.rglob("*")
             if p.is_file() and ".venv" not in p.parts}
    files["svc/settings.py"] = "X = 1\n"
    repo, (sha,) = repo_with(tmp_path, [files])
    python = app_env.build(repo, sha, "svc/settings.py", "auto", None)
    out = _subprocess.run([python, "-c", "import helper; print(helper.ANSWER)"], capture_output=True, text=True,
                          timeout=60)
    assert out.stdout.strip() == "42", out.stderr[-500:]
