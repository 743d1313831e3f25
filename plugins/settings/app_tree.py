"""The application's Python source at a commit, for the boot: exported from git objects (never the
checkout) into the boot's shared read-only folder, so that settings that import their own package
(`from myapp.schemas import ...`, relative imports) boot as they do in the image.

Only `*.py` files are exported: a monorepo's assets (and blobs a partial clone lacks) stay out. A
tree that cannot be exported leaves the boot with the settings file alone (its own imports are
then "not checked", never a pass).
"""
from __future__ import annotations

import functools
import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path, PurePosixPath
from typing import Any

from plugins.settings import boot


@functools.lru_cache(maxsize=64)
def export(repo: Any, sha: str) -> str | None:
    """The folder holding the repository's Python files at `sha` (written once per session), or
    None when git cannot give them."""
    dest = Path(boot.trees()) / f"{repo.name}-{sha}"
    if dest.exists():
        return str(dest)
    done = subprocess.run(["git", "-C", str(repo.path), "archive", "--format=tar", sha, "--", "*.py"],
                          capture_output=True, timeout=300)
    if done.returncode != 0:
        return None
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as tar:
        tar.extractall(partial, filter="data")
    os.replace(partial, dest)
    return str(dest)


def import_paths(tree: str | None, path: str) -> tuple[tuple[str, ...], str | None]:
    """(folders for the import path, the file's dotted module name) for a settings file in `tree`.

    The package root first (the folder above the file's outermost package, found by __init__.py),
    then the repository's root and its src/, then every other folder above the file: where a
    namespace package (no __init__.py) starts cannot be told, so each is tried.
    """
    if tree is None:
        return (), None
    parts = PurePosixPath(path).parts
    top = len(parts) - 1
    while top > 0 and (Path(tree, *parts[:top]) / "__init__.py").is_file():
        top -= 1
    dotted = ".".join(parts[top:])[:-3] if top < len(parts) - 1 and path.endswith(".py") else None
    folders = [str(Path(tree, *parts[:top]))] + [tree, str(Path(tree, "src"))]
    folders += [str(Path(tree, *parts[:i])) for i in range(1, len(parts) - 1)]
    return tuple(dict.fromkeys(f for f in folders if os.path.isdir(f))), dotted
