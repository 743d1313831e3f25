"""Environments declared once with a pattern: `web-*` with gitops.argocd_parent stands for one
environment per Application the parent yields (an ApplicationSet's generated Applications, an
app-of-apps' children) whose name matches, read at the deployment repository's integration branch.

The environment is named after the Application; `{name}` in argocd_child is that name. An entry
the file names explicitly wins over the pattern's expansion of the same name.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from typing import Any

from releasegate.core.gitrepo import GitRepo, SourceError
from releasegate.estate.loader import EnvironmentsError
from releasegate.render.children import rendered_children


def expand_patterns(estate: Any) -> None:
    """Replace each pattern entry of estate.environments by the environments it stands for, in
    place and in order; a pattern without argocd_parent, or matching nothing, is a usage error."""
    if not any("*" in name for name in estate.environments):
        return
    expanded: dict[str, Any] = {}
    for name, env in estate.environments.items():
        if "*" not in name:
            expanded.setdefault(name, env)
            continue
        for child, generated in _matches(estate, name, env):
            if child not in estate.environments:
                expanded.setdefault(child, generated)
    object.__setattr__(estate, "environments", expanded)


def _matches(estate: Any, pattern: str, env: Any) -> list[tuple[str, Any]]:
    key = f"environments.{pattern}"
    spec = env.gitops
    if not spec.argocd_parent:
        raise EnvironmentsError(estate.path, None, key, "a name with '*' declares the environments "
                                "an Argo CD parent yields: set gitops.argocd_parent")
    source_name = estate.gitops_source(env)
    source = estate.sources[source_name]
    repo = GitRepo(source.path, source_name)
    try:
        apps = rendered_children(repo, source.main, spec.argocd_parent)
    except SourceError as exc:
        raise EnvironmentsError(estate.path, None, key, f"cannot list the Applications of "
                                f"{spec.argocd_parent} at {source.main}: {exc}") from None
    names = sorted({str((a.get("metadata") or {}).get("name") or "") for a in apps} - {""})
    found = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
    if not found:
        raise EnvironmentsError(estate.path, None, key, f"matches no Application that "
                                f"{spec.argocd_parent} yields at {source.main} (it yields: "
                                f"{', '.join(names) or 'none'})")
    out = []
    for child in found:
        gitops = dataclasses.replace(spec, argocd_child=(spec.argocd_child or "{name}")
                                     .replace("{name}", child))
        generated = dataclasses.replace(env, gitops=gitops)
        object.__setattr__(generated, "name", child)
        out.append((child, generated))
    return out
