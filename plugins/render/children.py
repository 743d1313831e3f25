"""The Application an environment deploys when nobody writes it by hand: named by its parent (an
app-of-apps Application, or an ApplicationSet) and its own name, rendered at the commit under check.

An app-of-apps parent is rendered as Argo CD renders any Application (reposerver/repository
GenerateManifests: a Helm chart, else a directory of manifests, recursing only with
directory.recurse); the Applications and ApplicationSets it renders are its children.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from plugins.core import helm
from plugins.core.gitrepo import GitRepo, SourceError
from plugins.core.helm import load_yaml_documents
from plugins.render.appsets import generate
from plugins.render.argocd import helm_sources


def _directory_docs(repo: GitRepo, ref: str, source: dict[str, Any]) -> list[Any]:
    base = str(source.get("path") or "").strip("/")
    recurse = bool((source.get("directory") or {}).get("recurse"))
    docs: list[Any] = []
    for path in repo.ls_tree(ref, base):
        rel = path[len(base) + 1:] if base else path
        if PurePosixPath(path).suffix in (".yaml", ".yml", ".json") and (recurse or "/" not in rel):
            docs.extend(load_yaml_documents(repo.show(ref, path), f"{repo.name}:{path}"))
    return docs


def rendered_children(repo: GitRepo, ref: str, parent_path: str) -> list[dict[str, Any]]:
    """The Applications a parent file yields: an ApplicationSet's generated Applications, or
    what an app-of-apps Application renders (Applications, and those of ApplicationSets)."""
    where = f"{repo.name}:{parent_path}"
    docs = [d for d in load_yaml_documents(repo.show(ref, parent_path), where) if isinstance(d, dict)]
    found: list[Any] = []
    sha = repo.resolve(ref)
    for doc in docs:
        if doc.get("kind") == "ApplicationSet":
            found.append(doc)
        elif doc.get("kind") == "Application":
            spec = doc.get("spec") or {}
            sources = spec.get("sources") or [spec.get("source") or {}]
            if any(s.get("path") and not repo.exists(sha, f"{str(s['path']).strip('/')}/Chart.yaml")
                   for s in sources if isinstance(s, dict)):
                for source in sources:
                    found.extend(_directory_docs(repo, sha, source))
            else:
                for source in helm_sources(repo, sha, parent_path, doc):
                    found.extend(helm.render(repo, sha, source))
    apps: list[dict[str, Any]] = []
    for doc in found:
        if isinstance(doc, dict) and doc.get("kind") == "Application":
            apps.append(doc)
        elif isinstance(doc, dict) and doc.get("kind") == "ApplicationSet":
            name = (doc.get("metadata") or {}).get("name", "?")
            apps.extend(generate(repo, sha, doc, f"{where} ApplicationSet {name}"))
    return apps


def child_application(repo: GitRepo, ref: str, parent_path: str, child: str) -> dict[str, Any]:
    """The child Application named `child` that the parent yields at a ref."""
    apps = rendered_children(repo, ref, parent_path)
    for app in apps:
        if (app.get("metadata") or {}).get("name") == child:
            return app
    names = sorted(str((a.get("metadata") or {}).get("name")) for a in apps)
    raise SourceError(f"{repo.name}:{parent_path}: yields no Application named {child!r} at "
                      f"{ref[:12]} (it yields: {', '.join(names) or 'none'})")
