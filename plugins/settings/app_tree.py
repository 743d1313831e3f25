"""The application's source tree at a commit, for the boot: exported from git objects (never the
checkout) into the boot's shared read-only folder, so that settings that import their own package
(`from myapp.schemas import ...`, relative imports) boot as they do in the image.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path, PurePosixPath
from typing import Any

from plugins.settings import boot


@functools.lru_cache(maxsize=64)
def export(repo: Any, sha: str) -> str:
    """The folder holding the repository's tree at `sha` (written once per session)."""
    dest = Path(boot.trees()) / f"{repo.name}-{sha}"
    if not dest.exists():
        partial = dest.with_name(dest.name + ".partial")
        repo.export(sha, "", partial)
        os.replace(partial, dest)
    return str(dest)


def import_paths(tree: str, path: str) -> tuple[tuple[str, ...], str | None]:
    """(folders for the import path, the file's dotted module name) for a settings file in `tree`.

    The package root first (the folder above the file's outermost package, found by __init__.py),
    then the repository's root and its src/, then every other folder above the file: where a
    namespace package (no __init__.py) starts cannot be told, so each is tried.
    """
    parts = PurePosixPath(path).parts
    top = len(parts) - 1
    while top > 0 and (Path(tree, *parts[:top]) / "__init__.py").is_file():
        top -= 1
    dotted = ".".join(parts[top:])[:-3] if top < len(parts) - 1 and path.endswith(".py") else None
    folders = [str(Path(tree, *parts[:top]))] + [tree, str(Path(tree, "src"))]
    folders += [str(Path(tree, *parts[:i])) for i in range(1, len(parts) - 1)]
    return tuple(dict.fromkeys(f for f in folders if os.path.isdir(f))), dotted
