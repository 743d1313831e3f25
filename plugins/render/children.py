"""The Application an environment deploys when nobody writes it by hand: named by its parent (an
app-of-apps Application, or an ApplicationSet) and its own name, rendered at the commit under check.

An app-of-apps parent is rendered as Argo CD renders any Application (reposerver/repository
GenerateManifests: a Helm chart, a Kustomize source or a directory of manifests); the
Applications and ApplicationSets it renders are its children.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from releasegate.core import helm
from releasegate.core.gitrepo import GitRepo, NotChecked, SourceError
from releasegate.core.helm import ChartSource, load_yaml_documents
from releasegate.render.generators import generate
from releasegate.render.argocd import helm_sources, readable


def rendered_children(repo: GitRepo, ref: str, parent_path: str,
                      unread: list[str] | None = None) -> list[dict[str, Any]]:
    """The Applications a parent yields: an ApplicationSet's generated Applications, what an
    app-of-apps Application renders, or what a chart or folder of the repository renders (as the
    Application that points at it would: release named after the folder), ApplicationSets among
    them expanded. The "not checked" line of each source of a multi-source parent that cannot be
    rendered here goes to unread (what only it would yield)."""
    where = f"{repo.name}:{parent_path}"
    sha = repo.resolve(ref)
    found: list[Any] = []
    tree = repo.object_at(sha, parent_path.strip("/"))
    if tree is not None and tree[1] == "tree":
        folder = parent_path.strip("/")
        source = ChartSource(chart=folder, release=PurePosixPath(folder).name, namespace="argocd")
        if not repo.exists(sha, f"{folder}/Chart.yaml"):
            source = ChartSource(chart=folder, release=source.release, namespace="argocd",
                                 directory="{}")
        found.extend(helm.render(repo, sha, source))
    else:
        for doc in load_yaml_documents(repo.show(sha, parent_path), where):
            if isinstance(doc, dict) and doc.get("kind") == "Application":
                sources, lines = readable(helm_sources(repo, sha, parent_path, doc))
                (unread if unread is not None else []).extend(lines)
                for source in sources:
                    found.extend(helm.render(repo, sha, source))
            elif isinstance(doc, dict):
                found.append(doc)
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
    unread: list[str] = []
    apps = rendered_children(repo, ref, parent_path, unread)
    for app in apps:
        if (app.get("metadata") or {}).get("name") == child:
            return app
    names = sorted(str((a.get("metadata") or {}).get("name")) for a in apps)
    if unread:  # controller/state.go GetRepoObjs: the source not rendered here may yield it
        raise NotChecked(f"{repo.name}:{parent_path}: no Application named {child!r} among what is "
                         f"rendered here; {'; '.join(unread)}")
    raise SourceError(f"{repo.name}:{parent_path}: yields no Application named {child!r} at "
                      f"{ref[:12]} (it yields: {', '.join(names) or 'none'})")
