"""Which application commit an environment runs: the commit its rendered chart's image tags name
(a commit SHA or a release version), or an explicit --ref app=REF."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from releasegate.images import imageref
from releasegate.core import image_tags, own_images
from releasegate.core.gitrepo import NotChecked, SourceError, short
from releasegate.core.manifests import workloads

if TYPE_CHECKING:
    from releasegate.core.host import EnvHost


@dataclass(frozen=True)
class Deployed:
    """The application commit an environment's chart deploys, and how it was found."""

    sha: str | None
    tag: str | None  # the image tag as written (full or short SHA, or release version)
    images: tuple[str, ...] = ()
    release_tags: tuple[str, ...] = ()
    unresolved: tuple[str, ...] = ()  # SHA-like tags not found in the app repository
    problems: tuple[str, ...] = ()  # why sha is None, one line each
    absent: str | None = None  # none of the containers asked for runs in the chart: nothing to check
    not_checked: str | None = None  # the tags name no commit: why, and what would let the suite know
    explicit: bool = False  # --ref app=REF said which commit runs
    unowned: tuple[str, ...] = ()  # images whose release-version tag may be another project's version


class CommitUnknown(NotChecked):
    """The image tags name no commit (a moving tag, an untagged version, a digest): the checks that
    need the running commit skip with this one line."""


def _explicit(host: EnvHost, repo: Any, images: Iterable[str]) -> Deployed | None:
    ref = host.settings.refs.get(host.app_source)
    if not ref:
        return None
    sha = repo.resolve(ref)
    glob = host.estate.sources[host.app_source].release_tags
    return Deployed(sha, ref, tuple(sorted(images)), repo.tags_at(sha, glob), explicit=True)


def app_version(host: EnvHost, gitops_ref: str | None) -> str | None:
    """The chart's appVersion (Chart.yaml at the gitops commit), or None when it cannot be read."""
    try:
        chart = host.chart_source(gitops_ref).chart
        ref = gitops_ref or host.ref(host.gitops_source)
        text = host.git(host.gitops_source).show(ref, f"{chart.rstrip('/')}/Chart.yaml")
        found = re.search(r"(?m)^appVersion:\s*[\"']?([^\"'\s#]+)", text)
    except (SourceError, OSError, AttributeError):
        return None
    return found.group(1) if found else None


def for_host(host: EnvHost, gitops_ref: str | None = None,
             containers: Iterable[str] | None = None,
             manifests: tuple[dict[str, Any], ...] | None = None) -> Deployed:
    """The app commit the environment's chart deploys (the most common image tag naming a commit).

    The images considered are read from the chart rendered at the gitops commit under check: those
    of registries that are not skipped. A tag names a commit when it is a (short) SHA of the
    application, or a release version whose release tag exists (image_tags.commit_of) on one of
    the application's own images (own_images); on other images a version names nothing, and
    ``not_checked`` says which images and how to tell. With ``containers``, only those count;
    when none of them runs in the chart at that commit (an entry added to the estate later),
    ``absent`` says so and there is nothing to check. An explicit ``--ref app=REF`` is the running
    commit, whatever the tags say. Tags that name no commit give ``not_checked``.
    """
    if manifests is None:
        manifests = host.render(gitops_ref) if gitops_ref else host.manifests
    gitops = host.git(host.gitops_source)
    where = f"gitops {short(gitops.resolve(gitops_ref or host.ref(host.gitops_source)))}"
    repo = host.git(host.app_source)
    skip = set(host.estate.registries.skip)
    running = [c for w in workloads(manifests) for c in w.containers]
    wanted = set(containers) if containers else None
    if wanted is not None:
        running = [c for c in running if c.name in wanted]
        if not running:
            return Deployed(None, None, absent=f"no container {', '.join(sorted(wanted))} runs in the chart "
                                               f"at {where}")
    ours = []
    for container in running:
        try:
            ref = imageref.parse(container.image)
        except imageref.InvalidReference:
            continue  # test_image_present names it
        if ref.registry not in skip:
            ours.append((container.image, ref))
    explicit = _explicit(host, repo, {image for image, _ in ours})
    if explicit is not None:
        return explicit
    glob = host.estate.sources[host.app_source].release_tags
    tags: Counter[str] = Counter()
    images: dict[str, set[str]] = {}
    found: dict[str, image_tags.TagCommit] = {}
    for image, ref in ours:
        tag = ref.tag or ""
        found.setdefault(tag, image_tags.commit_of(repo, ref.tag, glob))
        tags[tag] += 1
        images.setdefault(tag, set()).add(image)
    # A SHA tag names the app's commit on any image; a release version only on the app's own images
    # (own_images): `v13` of a toolbox built elsewhere is not the app's release v13. SHAs first.
    resolved = {t: f.sha for t, f in found.items() if f.sha and f.kind == "sha"}
    foreign: dict[str, list[str]] = {}
    owner, considered = own_images.Ownership(frozenset()), ours
    if not resolved and any(f.kind == "release" for f in found.values()):
        owner = own_images.of_app(host, manifests, [r for _, r in ours], app_version(host, gitops_ref))
        for image, ref in ours:
            tag = ref.tag or ""
            if found[tag].kind != "release":
                continue
            if owner.owns(ref):
                resolved[tag] = found[tag].sha
            else:
                foreign.setdefault(tag, []).append(image)
        own = [(image, ref) for image, ref in ours if owner.owns(ref)]
        if own:  # the app's own images say which tags it runs: the others' versions do not matter
            foreign, considered = {}, own
    unresolved = tuple(sorted(t for t, f in found.items() if f.kind == "sha" and not f.sha))
    if resolved:
        best = max(sorted(resolved), key=lambda t: tags[t])
        sha = resolved[best]
        return Deployed(sha, best, tuple(sorted(images[best])), repo.tags_at(sha, glob), unresolved)
    if unresolved:
        best = max(unresolved, key=lambda t: tags[t])
        return Deployed(None, best, tuple(sorted(images[best])), (), unresolved, (
            f"{host.name}: image tag {best} is no commit of {host.app_source}: "
            "build and deploy a commit that exists",))
    counted = Counter(r.tag or "" for _, r in considered)
    why = (_foreign(host, foreign, found, owner) if foreign else
           _nameless(host, gitops_ref, running, considered, counted, glob, bool(wanted)))
    return Deployed(None, max(counted, key=counted.__getitem__) if counted else None, problems=(why,),
                    not_checked=why, unowned=tuple(sorted(i for listed in foreign.values() for i in listed)))


def _foreign(host: EnvHost, foreign: dict[str, list[str]], found: dict[str, image_tags.TagCommit],
             owner: own_images.Ownership) -> str:
    """One line: a release version of the app is the tag of images not known to be the app's own."""
    named = [f"{image} (release {found[tag].release_tag} of {host.app_source} is "
             f"{short(found[tag].sha or '')})" for tag, listed in sorted(foreign.items())
             for image in sorted(listed)]
    listed = "; ".join(named[:3]) + (" ..." if len(named) > 3 else "")
    return (f"{host.name}: not checked: which commit of {host.app_source} runs: the only tags that look "
            f"like its releases are on images not known to be its own: {listed}: "
            f"{own_images.why_not(owner, host.app_source)}, or pass --ref {host.app_source}=REF")


def _nameless(host: EnvHost, gitops_ref: str | None, running: list[Any], ours: list[tuple[str, Any]],
              tags: Counter[str], glob: str, wanted: bool) -> str:
    """One line: no image tag names a commit; why, and what would let the suite know."""
    whose = f"of container {', '.join(sorted({c.name for c in running}))}" if wanted else "of the chart"
    if not ours:
        seen = sorted({c.image for c in running})
        listed = ", ".join(seen[:3]) + (" ..." if len(seen) > 3 else "") or "no image"
        return (f"{host.name}: no image {whose} is the application's own ({listed}): the running commit is "
                "unknown: pass --ref app=REF")
    image, ref = next((i, r) for i, r in ours if (r.tag or "") == max(tags, key=tags.__getitem__))
    if not ref.tag:
        return (f"{host.name}: not checked: image {image} {whose} names no tag (a digest or the default "
                "latest), so no commit of the application: pass --ref app=REF to say which commit runs")
    version = app_version(host, gitops_ref)
    chart = " (the chart's appVersion)" if version == ref.tag else ""
    names = image_tags.release_names(ref.tag, glob)
    why = (f"no commit SHA, and no release tag {' or '.join(names)} in {host.app_source}" if names else
           f"no commit SHA, nor a version of release_tags {glob!r}")
    fix = f"or tag that release {names[0]}" if names else f"or deploy release versions ({glob!r})"
    return (f"{host.name}: not checked: image tag {ref.tag}{chart} of {image} names no commit of "
            f"{host.app_source} ({why}): pass --ref app=REF to say which commit runs, {fix}")


def require_commit(host: EnvHost, gitops_ref: str | None = None) -> Deployed:
    """The deployed commit; CommitUnknown (a skip) when the tags name no commit, else a SourceError."""
    found = for_host(host, gitops_ref)
    if found.sha is None:
        if found.not_checked:
            raise CommitUnknown(found.not_checked)
        raise SourceError(found.problems[0] if found.problems else f"{host.name}: unknown commit")
    return found
