"""The application's Python source at a commit, for the boot: exported from git objects (never the
checkout) into the boot's shared read-only folder, so that settings that import their own package
(`from myapp.schemas import ...`, relative imports) boot as they do in the image.

Only Python files and the small configuration files settings read at import (JSON, YAML, TOML,
INI; up to 1 MiB) are exported: a monorepo's assets, and blobs a partial clone lacks, stay out. A
tree git cannot list leaves the boot with the settings file alone (its own imports are then "not
checked", never a pass).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

from releasegate.settings import boot

_SUFFIXES = (".py", ".json", ".yaml", ".yml", ".toml", ".ini", ".cfg")
_MAX_BYTES = 1 << 20  # a file bigger than this is data, not configuration


def export(repo: Any, sha: str) -> str | None:
    """The folder holding the repository's Python and configuration files at `sha` (written once
    per session: close_all removes them), or None when git cannot list them."""
    dest = Path(boot.trees()) / f"{repo.name}-{sha}"
    if dest.exists():
        return str(dest)
    listed = subprocess.run(["git", "-C", str(repo.path), "ls-tree", "-r", "-z", "--name-only", sha],
                            capture_output=True, timeout=300)
    if listed.returncode != 0:
        return None
    names = [n for n in listed.stdout.decode(errors="surrogateescape").split("\0") if n.endswith(_SUFFIXES)]
    request = "".join(f"{sha}:{name}\n" for name in names).encode(errors="surrogateescape")
    blobs = subprocess.run(["git", "-C", str(repo.path), "cat-file", "--batch"], input=request,
                           capture_output=True, timeout=300).stdout
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    at = 0
    for name in names:  # one answer per name: "<object> blob <size>\n<bytes>\n", or "<name> missing\n"
        end = blobs.index(b"\n", at)
        header = blobs[at:end].split()
        at = end + 1
        if len(header) != 3 or header[1] != b"blob":
            continue  # a blob a partial clone lacks: left out
        size = int(header[2])
        if size <= _MAX_BYTES and ".." not in PurePosixPath(name).parts:
            target = partial / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(blobs[at:at + size])
        at += size + 1
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
