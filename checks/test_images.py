"""Every image a chart deploys exists in its registry, and CI really builds every one of them.

- test_image_present: per environment and workload container, the registry has the reference
  (an index must hold registries.platform; a digest pin must resolve to that digest).
- test_build_matrix_parity: per environment and repository, some workflow of `builds` that runs
  for the commits the environment deploys pushes that repository, tagged the way the environment's
  values name it (git only: no registry needed).
- test_candidate_images_ready: before a release, every repository production's chart names has a
  tag for the candidate commit.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

import pytest

from releasegate.images import imageref
from releasegate.core import locations
from releasegate.images import builders, workflows
from releasegate.findings import Gate
from releasegate.core.gitrepo import Absent, SourceError
from releasegate.core.host import EnvHost
from releasegate.core.handle import Unreachable
from releasegate.core.resolver_once import blame
from releasegate.images.imageref import ImageRef
from releasegate.params import nothing_to_check, per_env, per_item
from releasegate.images.builders import Target
from releasegate.images.results import (DENIED, DIGEST_MISMATCH, MISSING, NO_PLATFORM, NOT_CONFIGURED,
                                    SKIPPED, RegistryUnreachable, Result)
from releasegate.images.workflows import Workflow

if TYPE_CHECKING:
    from releasegate.images.registry import RegistryClient


@dataclass(frozen=True)
class ImageItem:
    """One container's image in one workload of the rendered chart."""

    workload: str
    kind: str
    container: str
    init: bool
    image: str
    ref: ImageRef | None
    error: str | None = None

    @property
    def where(self) -> str:
        """``worker-cpu/worker (init)``: how a person finds it in the chart."""
        return f"{self.workload}/{self.container}" + (" (init)" if self.init else "")


@dataclass(frozen=True)
class RepositoryItem:
    """One image repository an environment's chart names, with the tags it deploys."""

    name: str
    tags: tuple[str | None, ...]
    users: tuple[str, ...]          # workload/container that use it

    @property
    def short(self) -> str:
        """The last path component (``agent``), as a matrix entry names it."""
        return self.name.rsplit("/", 1)[-1]


# ---------------------------------------------------------------------------------------------
# Items (collection time: git and helm only)


def image_items(host: EnvHost) -> Iterable[tuple[str, ImageItem]]:
    """Every container and init container image of every workload, named workload-container."""
    seen: dict[str, int] = {}
    items = []
    for workload in host.workloads:
        for container in workload.containers:
            try:
                ref, error = imageref.parse(container.image), None
            except imageref.InvalidReference as exc:
                ref, error = None, str(exc)
            item_id = f"{workload.name}-{container.name}"
            if item_id in seen:
                item_id = f"{workload.kind.lower()}-{item_id}"
            seen[item_id] = 1
            items.append((item_id, ImageItem(workload.name, workload.kind, container.name,
                                             container.init, container.image, ref, error)))
    return items


def repository_items(host: EnvHost) -> Iterable[tuple[str, RepositoryItem]]:
    """Every repository of a registry not under registries.skip, with its deployed tags."""
    tags: dict[str, dict[str | None, None]] = {}
    users: dict[str, list[str]] = {}
    for _, item in image_items(host):
        if item.ref is None or item.ref.registry in host.estate.registries.skip:
            continue
        tags.setdefault(item.ref.name, {})[item.ref.tag] = None
        users.setdefault(item.ref.name, []).append(item.where)
    return [(name, RepositoryItem(name, tuple(tags[name]), tuple(users[name])))
            for name in sorted(tags)]


def deploys_tags(host: EnvHost) -> bool:
    """The environment deploys release tags (production)."""
    return host.spec.deploys.tag is not None


# ---------------------------------------------------------------------------------------------
# Workflows of the builds entries, read at the ref under test


def _build_commit(host: EnvHost, source: str, sha: str | None) -> str:
    return sha if sha and source == host.app_source else host.git(source).resolve(host.ref(source))


def _sources(host: EnvHost) -> tuple[tuple[str, Any], ...]:
    """(name, GitRepo) of every source: where another repository's reusable workflow is read."""
    return tuple((name, host.git(name)) for name in sorted(host.estate.sources))


def build_workflows(host: EnvHost, sha: str | None = None) -> list[tuple[str, Workflow]]:
    """(source, workflow) for each github-actions entry of `builds` at the ref under test (the
    workflows that build what comes next), or at `sha`, an application commit; SourceError if
    unreadable.

    A workflow that does not exist at that commit (added later, or gone since) builds nothing
    there: it is left out, and `absent_workflows` names it."""
    found = []
    for entry in host.estate.builds:
        if entry.kind != "github-actions":
            continue
        at = _build_commit(host, entry.source, sha)
        try:
            found.append((entry.source, workflows.at_commit(host.git(entry.source), at, entry.workflow,
                                                            _sources(host))))
        except Absent as exc:
            absent = nothing_to_check(host, exc, f"builds {entry.workflow}")
            if not absent.skip:  # not on the integration branch either: the environments file is wrong
                raise SourceError(absent.reason) from None
    return found


def absent_workflows(host: EnvHost, sha: str | None = None) -> list[str]:
    """One line per `builds` workflow that does not exist at the commit build_workflows reads."""
    out = []
    for entry in host.estate.builds:
        if entry.kind != "github-actions":
            continue
        at = _build_commit(host, entry.source, sha)
        if not host.git(entry.source).exists(at, entry.workflow):
            out.append(f"builds {entry.workflow}: does not exist at {entry.source} {at[:12]}")
    return out


def deploy_target(host: EnvHost, source: str) -> Target:
    """The pushes that build what this environment deploys: its branch, or its release tags and
    the integration branch they are cut from."""
    deploys, main = host.spec.deploys, host.estate.sources[source].main
    if deploys.branch:
        return Target(branches=(deploys.branch,), label=f"branch {deploys.branch}")
    glob = deploys.tag or host.estate.sources[source].release_tags
    existing = host.git(source).tags(glob)
    samples = tuple(existing[-3:]) or (builders.sample_tag(glob),)
    return Target(branches=(main,), tags=samples, label=f"release tags {glob} or branch {main}")


def _builders(host: EnvHost, repository: str, tag: str | None,
              sha: str | None = None) -> list[builders.Builder]:
    found = []
    for source, flow in build_workflows(host, sha):
        found.extend(builders.builders([flow], repository, tag, deploy_target(host, source)))
    return found


@pytest.fixture
def flows(host: EnvHost) -> list[tuple[str, Workflow]]:
    """The build workflows at the ref under test (an unreadable one is an ERROR; one that does not
    exist there is left out, and the check skips when none does)."""
    try:
        found = build_workflows(host)
        if not found and host.estate.builds:
            pytest.skip(f"{host.name}: {'; '.join(absent_workflows(host))}: nothing to check there")
        return found
    except SourceError as exc:
        raise SourceError(f"{host.name}: {exc}") from None


# ---------------------------------------------------------------------------------------------
# Registry answers (fixtures: an unreachable registry is an ERROR, a skipped one a SKIP)


def _unreachable(host: EnvHost, exc: RegistryUnreachable) -> Unreachable:
    return blame(host.name, exc.endpoint, exc.reason, exc.state)  # a silent resolver: once per run


@pytest.fixture
def image_result(host: EnvHost, item: ImageItem, request: pytest.FixtureRequest) -> Result | None:
    """The registry's answer for the item (all of the environment's images fetched at once);
    None for a reference that does not parse, which needs no registry to fail."""
    if item.ref is None:
        return None
    if item.ref.registry in host.estate.registries.skip:
        pytest.skip(f"{host.name}: {item.ref}: registry {item.ref.registry} is in registries.skip")
    registry: RegistryClient = request.getfixturevalue("registry")
    refs = [i.ref for _, i in image_items(host) if i.ref is not None]
    outcome = registry.check_all(refs)[str(item.ref)]
    if isinstance(outcome, RegistryUnreachable):
        raise _unreachable(host, outcome)
    if outcome.status in (SKIPPED, NOT_CONFIGURED):
        pytest.skip(f"{host.name}: {item.ref}: {outcome.detail}")
    return outcome


# ---------------------------------------------------------------------------------------------
# Checks


_ADVICE = {
    MISSING: "build and push it, or point the chart at a tag that exists",
    DENIED: "grant the configured login pull access, or fix the reference",
    NO_PLATFORM: "build the image for that platform, or change registries.platform",
    DIGEST_MISMATCH: "pin the digest the registry serves, or push the pinned image",
}


@pytest.mark.prerelease
@pytest.mark.smoke
@pytest.mark.drift
@per_item(image_items)
def test_image_present(host: EnvHost, item: ImageItem, image_result: Result | None,
                       gate: Gate) -> None:
    """The registry has the image (for registries.platform; at the pinned digest)."""
    if item.error is not None:
        gate.fail(f"{host.name}: {item.where} names {item.error}: fix the image in the chart "
                  "values",
                  image=item.image)
    assert image_result is not None and item.ref is not None
    if image_result.ok:
        return
    what = {MISSING: "is missing from the registry", DENIED: "cannot be read from the registry",
            NO_PLATFORM: f"has no {host.estate.registries.platform} image",
            DIGEST_MISMATCH: "does not resolve to its pinned digest"}[image_result.status]
    hint = ""
    if item.ref.tag and imageref.is_full_sha(item.ref.tag) and \
            any(t and item.ref.tag.startswith(t) for t in image_result.tags):
        hint = " (a short-SHA tag of the same commit exists: check which workflow builds it)"
    gate.fail(f"{host.name}: {item.where} image {item.ref} {what} ({image_result.detail}){hint}: "
              f"{_ADVICE[image_result.status]}", image=str(item.ref), status=image_result.status,
              workload=item.workload, kind=item.kind, container=item.container,
              digest=image_result.digest, platforms=list(image_result.platforms),
              tags=list(image_result.tags), endpoint=image_result.endpoint)


@pytest.mark.prerelease
@pytest.mark.drift
@per_item(repository_items)
def test_build_matrix_parity(host: EnvHost, item: RepositoryItem, flows: list[tuple[str, Workflow]],
                             gate: Gate) -> None:
    """Some workflow that builds what this environment deploys pushes the repository, tagged the
    way the environment's values name it."""
    if not flows:
        pytest.skip(f"{host.name}: no github-actions entry under builds")
    for tag in item.tags:
        found = _builders(host, item.name, tag)
        if any(b.triggered and b.tag_fits for b in found):
            continue
        target = deploy_target(host, flows[0][0])
        deployed = f"{item.name}:{_short(tag)}" if tag else item.name
        unread = [uses for _, f in flows for uses in f.unread]
        if unread:  # a workflow not read may be the one that builds it: no claim either way
            pytest.skip(f"{host.name}: not checked: {deployed} may be built by {', '.join(unread)}, not read "
                        f"({next((n for _, f in flows for n in f.notes if 'read' in n), 'unread')})")
        scheme = imageref.describe_tag(tag)
        home = builders.fitting_workflows([f for _, f in flows], tag, target)
        fix = (f"add {item.short} to the matrix of {home[0].file}, which builds "
               f"{target.describe()} with {scheme} tags" if home else
               f"add {item.short} to a workflow that builds {target.describe()} with {scheme} "
               "tags")
        if not found:
            fix += ", or list its registry under registries.skip if the image is not yours"
        built = f"only {'; '.join(b.describe() for b in found)} pushes it" if found else \
            f"no workflow of builds ({', '.join(f.file for _, f in flows)}) pushes it"
        fixed_in = next((s, f) for s, f in flows if f in home) if home else flows[0]
        gate.block(f"{host.name}: {deployed} ({scheme}; {', '.join(item.users)}) is not built for "
                   f"{target.describe()}: {built}: {fix}",
                   location=locations.workflow_location(host, fixed_in[0], fixed_in[1].path),
                   repository=item.name, tag=tag, scheme=scheme, users=list(item.users),
                   builders=[b.describe() for b in found], workflows=[f.path for _, f in flows],
                   notes=[note for _, f in flows for note in f.notes] + absent_workflows(host))


def _short(tag: str | None) -> str:
    return (tag[:12] + "...") if tag and imageref.is_full_sha(tag) else str(tag)


def candidate_tag(host: EnvHost, item: RepositoryItem, sha: str) -> str | None:
    """The tag the candidate commit gets in this repository, judged from how the environment's
    values tag it now (full SHA, short SHA) or from the workflows' templates."""
    for tag in item.tags:
        if imageref.is_full_sha(tag):
            return sha
        if imageref.is_short_sha(tag):
            return sha[:len(tag or "")]
    release = host.settings.tag
    for builder in _builders(host, item.name, None, sha):
        if builder.triggered:
            rendered = builder.push.tag.render(sha, release)
            if rendered and re.fullmatch(r"[\w][\w.-]{0,127}", rendered):
                return rendered
    return None


@pytest.fixture
def candidate_results(host: EnvHost, registry: RegistryClient) -> dict[str, Any]:
    """The candidate commit, and the registry's answer for each repository's candidate tag."""
    repo = host.git(host.app_source)
    candidate = host.shared.candidate()
    sha = repo.rev_parse(candidate)
    if sha is None:
        raise SourceError(f"candidate {candidate} does not exist in {repo.name}")
    expected: dict[str, ImageRef | None] = {}
    for name, item in repository_items(host):
        tag = candidate_tag(host, item, sha)
        expected[name] = imageref.parse(f"{name}:{tag}") if tag else None
    outcomes = registry.check_all([r for r in expected.values() if r is not None])
    results: dict[str, Result | None] = {}
    unreachable: dict[str, RegistryUnreachable] = {}
    for name, ref in expected.items():
        outcome = outcomes.get(str(ref)) if ref is not None else None
        if isinstance(outcome, RegistryUnreachable):
            unreachable[name] = outcome  # only this registry's images: the others are still asked
            outcome = None
        results[name] = outcome
    return {"candidate": candidate, "sha": sha, "expected": expected, "results": results,
            "unreachable": unreachable}


@pytest.mark.prerelease
@per_env(deploys_tags)
def test_candidate_images_ready(host: EnvHost, candidate_results: dict[str, Any],
                                gate: Gate) -> None:
    """Every repository the chart names has a tag for the candidate commit in the registry."""
    label = f"{candidate_results['candidate']} ({candidate_results['sha'][:12]})"
    missing, unknown = [], []
    for name, result in sorted(candidate_results["results"].items()):
        if candidate_results["expected"][name] is None:
            unknown.append(name)
        elif result is not None and not result.ok:
            missing.append(result)
    untold = (f"not checked: cannot tell which tag candidate {label} gets in {', '.join(unknown)}: its values "
              "use neither a commit SHA nor a tag the workflows render; pass --tag") if unknown else ""
    unreachable = candidate_results["unreachable"]
    if missing:
        listed = ", ".join(f"{r.ref.name}:{_short(r.ref.tag)}" for r in missing)
        unasked = "".join(f" ({name} not checked: {exc.endpoint} {exc.state}: {exc.reason})"
                          for name, exc in sorted(unreachable.items())) + (f" ({untold})" if untold else "")
        gate.fail(f"{host.name}: candidate {label} is not built for {len(missing)} image(s): "
                  f"{listed}: wait for CI to finish, or rerun the failed build, before tagging"
                  f"{unasked}",
                  missing=[str(r.ref) for r in missing], details=[r.detail for r in missing],
                  not_checked=sorted([*unreachable, *unknown]))
    elif unreachable:
        raise _unreachable(host, next(iter(unreachable.values())))
    elif unknown:  # where the suite cannot know, a "not checked" line, not a warning
        pytest.skip(f"{host.name}: {untold}")
