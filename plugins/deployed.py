"""Which application commit an environment runs: the SHA its rendered chart tags the app's images with."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from plugins import imageref
from plugins.gitrepo import SourceError
from plugins.manifests import workloads

if TYPE_CHECKING:
    from plugins.host import EnvHost

_HEX = re.compile(r"^[0-9a-f]{7,40}$")


@dataclass(frozen=True)
class Deployed:
    """The application commit an environment's chart deploys, and how it was found."""

    sha: str | None
    tag: str | None  # the image tag as written (full or short SHA)
    images: tuple[str, ...] = ()
    release_tags: tuple[str, ...] = ()
    unresolved: tuple[str, ...] = ()  # SHA-like tags not found in the app repository
    problems: tuple[str, ...] = ()  # why sha is None, one line each


def for_host(host: EnvHost, gitops_ref: str | None = None,
             containers: Iterable[str] | None = None,
             manifests: tuple[dict[str, Any], ...] | None = None) -> Deployed:
    """The app commit the environment's chart deploys (the most common SHA-like image tag).

    Only images from registries that are not skipped count (third-party images are not ours); with
    ``containers``, only those containers.
    """
    if manifests is None:
        manifests = host.render(gitops_ref) if gitops_ref else host.manifests
    wanted = set(containers) if containers else None
    repo = host.git(host.app_source)
    skip = set(host.estate.registries.skip)
    tags: Counter[str] = Counter()
    images: dict[str, set[str]] = {}
    for workload in workloads(manifests):
        for container in workload.containers:
            if wanted is not None and container.name not in wanted:
                continue
            try:
                ref = imageref.parse(container.image)
            except imageref.InvalidReference:
                continue  # test_image_present names it
            if ref.registry in skip:
                continue
            tag = ref.tag
            if tag and _HEX.match(tag):
                tags[tag] += 1
                images.setdefault(tag, set()).add(container.image)
    if not tags:
        return Deployed(None, None, problems=(
            f"{host.name}: no image of the chart carries a commit SHA tag",))
    resolved = {}
    for tag in tags:
        sha = repo.rev_parse(tag)
        if sha and sha.startswith(tag):
            resolved[tag] = sha
    unresolved = tuple(sorted(set(tags) - set(resolved)))
    if not resolved:
        best = tags.most_common(1)[0][0]
        return Deployed(None, best, tuple(sorted(images[best])), (), unresolved, (
            f"{host.name}: image tag {best} is no commit of {host.app_source}: "
            "build and deploy a commit that exists",))
    best = max(sorted(resolved), key=lambda t: tags[t])
    sha = resolved[best]
    glob = host.estate.sources[host.app_source].release_tags
    return Deployed(sha, best, tuple(sorted(images[best])), repo.tags_at(sha, glob), unresolved)


def require_commit(host: EnvHost, gitops_ref: str | None = None) -> Deployed:
    """The deployed commit, or a SourceError saying why it cannot be known."""
    found = for_host(host, gitops_ref)
    if found.sha is None:
        raise SourceError(found.problems[0] if found.problems else f"{host.name}: unknown commit")
    return found
