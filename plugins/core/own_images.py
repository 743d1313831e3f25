"""Which images of a rendered chart are the application's own: the only ones whose release-version
tag may name an application commit.

A commit SHA tag names a commit of the application whatever image carries it (a SHA cannot be
another project's version by chance). A release version can: `v13` on a toolbox image built by
another repository is that repository's version, not the application's release `v13`. So a
release version names the application's release only on an image that something in the estate
ties to the application:

1. `sources.<app>.images`, when the environments file lists them (then only those);
2. otherwise, any of: a repository that a `builds` workflow of the application pushes; the image of
   a container that a `settings` entry of the application names (`settings[].containers`); the image
   whose tag is the chart's `appVersion` (https://helm.sh/docs/topics/charts/#the-chartyaml-file:
   "appVersion: The version of the app that this contains").

Anything else is "not checked": the suite cannot tell, and says what would let it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from releasegate.core.gitrepo import SourceError
from releasegate.core.manifests import workloads
from releasegate.images import imageref, workflows

if TYPE_CHECKING:
    from releasegate.core.host import EnvHost


@dataclass(frozen=True)
class Ownership:
    """The image repositories known to be the application's, and how the suite knows."""

    repositories: frozenset[str]  # normalised names (registry/path)
    declared: bool = False  # sources.<app>.images says so (then nothing else counts)
    unread: tuple[str, ...] = ()  # builds workflows' reusable calls not read: they may push more

    def owns(self, ref: imageref.ImageRef) -> bool:
        """True when the image's repository is the application's own."""
        return ref.name in self.repositories


def normalised(names: Iterable[str]) -> frozenset[str]:
    """Repository names as imageref normalises them (docker.io/library/ added); unparsable ones as
    written."""
    out = set()
    for name in names:
        try:
            out.add(imageref.parse(name).name)
        except imageref.InvalidReference:
            out.add(name)
    return frozenset(out)


def judge(declared: Iterable[str], pushed: Iterable[str], settings_images: Iterable[str],
          app_version: str | None, images: Iterable[imageref.ImageRef],
          unread: tuple[str, ...] = ()) -> Ownership:
    """The rule of this module's docstring, on what was read: the repositories the file declares
    (authoritative when any), else those pushed by the app's workflows, those of its settings
    containers, and those whose tag is the chart's appVersion."""
    listed = normalised(declared)
    if listed:
        return Ownership(listed, declared=True)
    own = set(normalised(pushed)) | set(normalised(settings_images))
    if app_version:
        own |= {ref.name for ref in images if ref.tag == app_version}
    return Ownership(frozenset(own), unread=unread)


_READ: dict[tuple[str, str, str], workflows.Workflow] = {}


def _pushed(host: EnvHost, names: Iterable[str]) -> tuple[set[str], tuple[str, ...]]:
    """The repositories among ``names`` that a `builds` workflow of the application pushes (read at
    the application's ref under test), and the reusable workflows those could not read."""
    app, pushed, unread = host.app_source, set(), []
    others = tuple((name, host.git(name)) for name in sorted(host.estate.sources))
    for entry in host.estate.builds:
        if entry.kind != "github-actions" or entry.source != app:
            continue
        repo = host.git(app)
        try:
            key = (str(repo.path), repo.resolve(host.ref(app)), entry.workflow)
            if key not in _READ:  # a replay asks at every gitops commit: one read per app commit
                _READ[key] = workflows.at_commit(repo, key[1], entry.workflow, others)
            flow = _READ[key]
        except SourceError:
            continue  # unreadable or absent: it tells nothing here (the build checks report it)
        pushed |= {name for name in names if flow.pushes_of(name)}
        unread.extend(flow.unread)
    return pushed, tuple(dict.fromkeys(unread))


def of_app(host: EnvHost, manifests: tuple[dict[str, Any], ...], images: list[imageref.ImageRef],
           app_version: str | None) -> Ownership:
    """Which of ``images`` (parsed from the chart rendered as ``manifests``) are the app's own."""
    declared = host.estate.sources[host.app_source].images
    if declared:
        return judge(declared, (), (), None, images)
    names = {c for entry in host.estate.settings if entry.source == host.app_source
             for c in entry.containers}
    settings_images = [c.image for w in workloads(manifests) for c in w.containers if c.name in names]
    pushed, unread = _pushed(host, {ref.name for ref in images})
    return judge((), pushed, settings_images, app_version, images, unread)


def why_not(ownership: Ownership, app: str) -> str:
    """Why an image is not known to be the application's, and what would let the suite know."""
    if ownership.declared:
        return f"it is none of sources.{app}.images: add it there if the application's releases build it"
    reasons = ["no builds workflow of the application pushes it"]
    if ownership.unread:
        reasons[0] += f" (calls not read: {', '.join(ownership.unread[:2])})"
    reasons += ["no settings entry names its container", "its tag is not the chart's appVersion"]
    return "; ".join(reasons) + f": list the application's image repositories under sources.{app}.images"
