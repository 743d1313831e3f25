"""What the cluster runs, read from git: the deployment commit to compare the one under check with,
the CustomResourceDefinitions a repository ships, and the template a rendered object came from.

The running state is what Argo CD's sync last applied: for a run whose gitops ref is not the
integration branch (a pull-request gate, `--gitops-ref`), the integration branch's head; else the
newest earlier first-parent commit whose render of the environment differs (the change before).
"""

from __future__ import annotations

import re
import subprocess
from typing import TYPE_CHECKING, Any

from releasegate.core import helm
from releasegate.core.gitrepo import SourceError, short

if TYPE_CHECKING:
    from releasegate.core.host import EnvHost

MAX_BACK = 50  # commits walked back to find the previous change of an environment's render


_RUNNING: dict[tuple[str, str, str, str], tuple[str, str] | None] = {}


def running_ref(host: EnvHost) -> tuple[str, str] | None:
    """(commit, how it was chosen) of the state the run compares against, or None when there is none
    (the environment's first commit, or a render that does not change in MAX_BACK commits)."""
    repo = host.git(host.gitops_source)
    under = repo.resolve(host.ref(host.gitops_source))
    key = (str(repo.path), host.name, under, repr(host.chart_source(under)))
    if key not in _RUNNING:  # two checks ask per environment
        _RUNNING[key] = _running_ref(host, repo, under)
    return _RUNNING[key]


def _running_ref(host: EnvHost, repo: Any, under: str) -> tuple[str, str] | None:
    main = host.estate.sources[host.gitops_source].main
    head = repo.rev_parse(main)
    if head and head != under:
        return head, f"{main} ({short(head)}), what is deployed"
    current = host.render(under)
    for commit in repo.log(f"{under}~1", first_parent=True)[:MAX_BACK] if repo.rev_parse(f"{under}~1") else ():
        try:
            before = host.render(commit.sha)
        except SourceError:
            return None  # the environment (or its chart) did not exist before: a creation
        if before != current:
            return commit.sha, f"{commit.short}, the previous change of this environment"
    return None


def crd_documents(host: EnvHost, ref: str, manifests: tuple[dict[str, Any], ...]) -> list[Any]:
    """Every CustomResourceDefinition the render holds, the chart's crds/ folder, or any YAML file
    of the deployment repository at ref holds."""
    docs: list[Any] = [m for m in manifests if m.get("kind") == "CustomResourceDefinition"]
    repo = host.git(host.gitops_source)
    sha = repo.resolve(ref)
    result = subprocess.run(["git", "-C", str(repo.path), "grep", "-l", "-I", "-e",
                             "kind: *CustomResourceDefinition", sha, "--", "*.yaml", "*.yml"],
                            capture_output=True, text=True, timeout=120,
                            env={"GIT_OPTIONAL_LOCKS": "0", "PATH": "/usr/bin:/bin"})
    for line in result.stdout.splitlines()[:200]:
        path = line.split(":", 1)[1] if ":" in line else line
        try:
            docs.extend(helm.load_yaml_documents(repo.show(sha, path), f"{repo.name}:{path}"))
        except SourceError:
            continue  # a template with Go directives in it: its render is among the manifests
    return docs


def template_of(host: EnvHost, ref: str, obj: dict[str, Any], key: str | None = None) -> str | None:
    """The chart template that declares the object: the only template of the chart that names the
    object's kind (and, among several, the only one that writes `key:`), else None. The rendered
    objects do not keep Helm's `# Source:` comment."""
    try:
        chart = host.chart_source(ref).chart
        repo = host.git(host.gitops_source)
        files = repo.read_tree(ref, f"{chart}/templates")
    except SourceError:
        return None
    kind = re.compile(rf"^kind:\s*[\"']?{re.escape(str(obj.get('kind')))}[\"']?\s*$", re.M)
    found = [p for p, data in files.items() if kind.search(data.decode("utf-8", "replace"))]
    if len(found) > 1 and key:
        field = re.compile(rf"\b{re.escape(key)}:")
        found = [p for p in found if field.search(files[p].decode("utf-8", "replace"))]
    return f"{chart}/templates/{found[0]}" if len(found) == 1 else None
