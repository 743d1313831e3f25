"""Directory sources of Argo CD Applications: plain manifests in a folder of the repository.

reposerver/repository/repository.go GenerateManifests (findManifests): every .yaml, .yml and
.json file of the folder (its subfolders only with directory.recurse), minus directory.exclude,
limited to directory.include when set (glob patterns, `{a,b}` alternatives); a Jsonnet file
needs Argo CD's Jsonnet engine, which is not here: not checked.
"""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import PurePosixPath
from typing import Any

from releasegate.core.gitrepo import GitRepo, NotChecked
from releasegate.render.charts import documents


def _patterns(text: str) -> list[str]:
    """A glob with `{a,b}` alternatives as the plain globs it stands for."""
    match = re.search(r"\{([^{}]*)\}", text or "")
    if not match:
        return [text] if text else []
    return [p for alt in match.group(1).split(",")
            for p in _patterns(text[:match.start()] + alt + text[match.end():])]


def _matches(rel: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(rel, p) or fnmatch.fnmatchcase(PurePosixPath(rel).name, p)
               for p in patterns)


def render_directory(repo: GitRepo, sha: str, path: str, settings_json: str,
                     namespace: str) -> tuple[dict[str, Any], ...]:
    """The manifests of a directory source at a commit."""
    settings = json.loads(settings_json or "{}")
    base = path.strip("/")
    include, exclude = _patterns(settings.get("include", "")), _patterns(settings.get("exclude", ""))
    manifests: list[dict[str, Any]] = []
    for file in repo.ls_tree(sha, base if base not in ("", ".") else ""):
        rel = file[len(base) + 1:] if base not in ("", ".") else file
        if "/" in rel and not settings.get("recurse"):
            continue
        if exclude and _matches(rel, exclude) or include and not _matches(rel, include):
            continue
        if file.endswith((".jsonnet", ".libsonnet")):
            raise NotChecked(f"{repo.name}:{file}: not checked: a Jsonnet source needs Argo CD's "
                             "Jsonnet engine")
        if file.endswith((".yaml", ".yml", ".json")):
            for doc in documents(repo.show(sha, file), f"{repo.name}:{file}"):
                doc.setdefault("metadata", {}).setdefault("namespace", namespace)
                manifests.append(doc)
    return tuple(manifests)
