"""The application's own environment for the settings boot: a virtual environment built with uv
from the lock or requirements file at the commit booted (read from git objects, never the
checkout), cached by that file's content, so that two commits with the same lock share one.

Where it cannot be built (a package no index here serves, a file uv cannot read), `build` says why
in uv's own words (the package) and the lock file: the boot check skips with that line.
"""
from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

from releasegate.core.gitrepo import SourceError


_LOCKS = ("uv.lock", "requirements.txt", "pyproject.toml")
_BUILD_TIMEOUT = 600


class EnvironmentUnavailable(Exception):
    """The application's environment cannot be built here: one line naming the package and the file."""


def cache_dir() -> Path:
    """Where built environments live: $RELEASEGATE_CACHE, else ~/.cache/releasegate."""
    root = os.environ.get("RELEASEGATE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "releasegate")
    return Path(root) / "envs"


def find_lock(repo: Any, sha: str, settings_path: str, lock: str) -> str:
    """The lock file to build from at a commit: the one named, or (`auto`) the first of uv.lock,
    requirements.txt, pyproject.toml in the settings module's folder or a folder above it."""
    if lock != "auto":
        if not repo.exists(sha, lock):
            raise EnvironmentUnavailable(f"settings environment lock {lock} does not exist at {sha[:12]}")
        return lock
    folder = PurePosixPath(settings_path).parent
    for parent in [folder, *folder.parents]:
        for name in _LOCKS:
            path = str(parent / name) if str(parent) != "." else name
            if repo.exists(sha, path):
                return path
    raise EnvironmentUnavailable(f"no {', '.join(_LOCKS)} at {sha[:12]} in {folder} or above it: "
                                 "name one in settings[].environment")


def build(repo: Any, sha: str, settings_path: str, lock: str, base: str | None) -> str:
    """The interpreter of the application's environment at a commit (built on first use)."""
    path = find_lock(repo, sha, settings_path, lock)
    inputs = [path, repo.show(sha, path)]
    if path.endswith("uv.lock"):
        project = str(PurePosixPath(path).with_name("pyproject.toml"))
        inputs += [repo.show(sha, project)] if repo.exists(sha, project) else []
        for local in local_sources(inputs[1]):  # their trees key the environment too
            found = repo.object_at(sha, _beside(path, local))
            inputs.append(f"{local}={found[0] if found else ''}")
    return _built(repo, sha, path, base or sys.executable, hashlib.sha256("\0".join(inputs).encode()).hexdigest())


@functools.lru_cache(maxsize=64)
def _built(repo: Any, sha: str, path: str, base: str, digest: str) -> str:
    key = hashlib.sha256(f"{digest}\0{os.path.abspath(base)}".encode()).hexdigest()[:24]
    home = cache_dir() / key
    python = home / "bin" / "python"
    if (home / ".complete").exists():
        return str(python)
    cache_dir().mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=cache_dir()))
    try:
        with tempfile.TemporaryDirectory(prefix="releasegate-lock-") as src:
            _install(work, _lock_folder(repo, sha, path, Path(src) / "lock"), PurePosixPath(path).name, base)
        (work / ".complete").write_text(f"{path} at {sha}\n")
        try:
            os.replace(work, home)
        except OSError:  # another run built it meanwhile
            if not (home / ".complete").exists():
                raise
    except EnvironmentUnavailable as exc:
        raise EnvironmentUnavailable(f"the application's environment from {path} at {sha[:12]} cannot be built: "
                                     f"{exc}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return str(python)


def _lock_folder(repo: Any, sha: str, path: str, dest: Path) -> Path:
    """The lock file's folder at a commit, written from git: the lock and its neighbours uv may read
    with it (pyproject.toml, the other requirements and constraints files it can include)."""
    folder = str(PurePosixPath(path).parent)
    folder = "" if folder == "." else folder
    dest.mkdir(parents=True)
    for name in repo.ls_tree(sha, folder) if folder else repo.ls_tree(sha):
        rel = PurePosixPath(name).relative_to(folder) if folder else PurePosixPath(name)
        if len(rel.parts) == 1 and (name == path or rel.name in ("pyproject.toml", "uv.lock")
                                    or rel.name.startswith(("requirements", "constraints"))):
            (dest / rel.name).write_text(repo.show(sha, name))
    if path.endswith("uv.lock"):
        for local in local_sources(repo.show(sha, path)):
            try:
                files = repo.read_tree(sha, _beside(path, local))
            except SourceError as exc:
                raise EnvironmentUnavailable(f"the local package {local} of {path}: {exc}") from None
            for rel, data in files.items():
                target = dest / local / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
    return dest


def local_sources(lock_text: str) -> list[str]:
    """The folders a uv.lock installs from the repository itself (workspace members and path
    dependencies: `source = { editable | directory | path = "..." }`), relative to the lock; uv
    reads them from disk, so they are written from git beside the lock."""
    try:
        packages = tomllib.loads(lock_text).get("package") or []
    except tomllib.TOMLDecodeError:
        return []
    found = []
    for package in packages:
        source = package.get("source") or {}
        for kind in ("editable", "directory", "path"):
            where = source.get(kind)
            if isinstance(where, str) and where not in (".", "") and not PurePosixPath(where).is_absolute() \
                    and ".." not in PurePosixPath(where).parts:
                found.append(str(PurePosixPath(where)))
    return sorted(set(found))


def _beside(lock: str, local: str) -> str:
    folder = PurePosixPath(lock).parent
    return str(folder / local) if str(folder) != "." else local


def _uv(*args: str, cwd: Path | None = None) -> str:
    """Run uv; its last error line when it fails."""
    env = {**os.environ, "UV_CACHE_DIR": str(cache_dir().parent / "uv"), "UV_NO_PROGRESS": "1",
           "VIRTUAL_ENV": ""}
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    try:
        done = subprocess.run([uv, *args], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=_BUILD_TIMEOUT)
    except FileNotFoundError:
        raise EnvironmentUnavailable("uv is not installed (pip install uv)") from None
    except subprocess.TimeoutExpired:
        raise EnvironmentUnavailable(f"uv did not finish within {_BUILD_TIMEOUT}s") from None
    if done.returncode != 0:
        lines = [" ".join(line.replace("╰─▶", "").split()) for line in done.stderr.splitlines() if line.strip()]
        raise EnvironmentUnavailable(" ".join(lines[-3:])[-600:] or f"uv {args[0]} failed")
    return done.stdout


def _install(venv: Path, folder: Path, lock: str, base: str) -> None:
    """A virtual environment at `venv` with what `lock` (a file in `folder`) pins."""
    _uv("venv", "--quiet", "--python", base, str(venv))
    python = str(venv / "bin" / "python")
    requirements = folder / lock
    if lock == "uv.lock":
        requirements = venv / "requirements.txt"
        # --no-editable: a local package is installed from the tree written from git, which is removed after
        requirements.write_text(_uv("export", "--frozen", "--no-hashes", "--no-emit-project", "--no-editable", "--format",
                                    "requirements-txt", "--quiet", cwd=folder))
    try:  # offline first (uv's cache); bytecode compiled now: the sandbox reads the environment read-only
        _uv("pip", "install", "--quiet", "--offline", "--compile-bytecode", "--python", python, "-r", str(requirements),
            cwd=folder)
    except EnvironmentUnavailable:
        _uv("pip", "install", "--quiet", "--compile-bytecode", "--python", python, "-r", str(requirements), cwd=folder)
