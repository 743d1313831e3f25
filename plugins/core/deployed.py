"""Which application commit an environment runs: the SHA its rendered chart tags the app's images with."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from plugins.images import imageref
from plugins.core.gitrepo import SourceError, short
from plugins.core.manifests import workloads

if TYPE_CHECKING:
    from plugins.core.host import EnvHost

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
    absent: str | None = None  # none of the containers asked for runs in the chart: nothing to check


def for_host(host: EnvHost, gitops_ref: str | None = None,
             containers: Iterable[str] | None = None,
             manifests: tuple[dict[str, Any], ...] | None = None) -> Deployed:
    """The app commit the environment's chart deploys (the most common SHA-like image tag).

    Which images are the application's own is read from the chart rendered at the gitops commit
    under check: images from registries that are not skipped (third-party images are not ours).
    With ``containers``, only those containers count; when none of them runs in the chart at that
    commit (an entry added to the estate later), ``absent`` says so and there is nothing to check.
    """
    if manifests is None:
        manifests = host.render(gitops_ref) if gitops_ref else host.manifests
    gitops = host.git(host.gitops_source)
    where = f"gitops {short(gitops.resolve(gitops_ref or host.ref(host.gitops_source)))}"
    repo = host.git(host.app_source)
    skip = set(host.estate.registries.skip)
    tags: Counter[str] = Counter()
    images: dict[str, set[str]] = {}
    running = [c for w in workloads(manifests) for c in w.containers]
    wanted = set(containers) if containers else None
    if wanted is not None:
        running = [c for c in running if c.name in wanted]
        if not running:
            return Deployed(None, None, absent=f"no container {', '.join(sorted(wanted))} runs in the chart "
                                               f"at {where}")
    for container in running:
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
        whose = f"of container {', '.join(sorted({c.name for c in running}))}" if wanted else "of the chart"
        seen = sorted({c.image for c in running})
        return Deployed(None, None, problems=(
            f"{host.name}: no image {whose} carries a commit SHA tag "
            f"({', '.join(seen[:3]) + (' ...' if len(seen) > 3 else '') or 'no image'}): the running commit is "
            "read from the image tags in git; pin the chart's tags to commits, or pass --ref app=REF",))
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
