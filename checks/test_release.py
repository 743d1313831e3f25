"""Release-process checks: the candidate, the next tag, hotfixes and the shared branches (git only)."""

from __future__ import annotations

import fnmatch
import re

import pytest

from releasegate.core.deployed import CommitUnknown, Deployed, for_host, require_commit
from releasegate.findings import Gate
from releasegate.core.gitrepo import Commit, GitRepo
from releasegate.core.host import EnvHost
from releasegate.params import per_env

_VERSION = re.compile(r"^(?P<prefix>v?)(?P<major>\d+)\.(?P<minor>\d+)\.(?P<patch>\d+)$")


def deploys_tags(host: EnvHost) -> bool:
    """The environment deploys release tags (production)."""
    return host.spec.deploys.tag is not None


def deploys_side_branch(host: EnvHost) -> bool:
    """The environment deploys a shared branch other than the integration branch (testing)."""
    branch = host.spec.deploys.branch
    return branch is not None and branch != host.estate.sources[host.app_source].main


def _version(tag: str) -> tuple[int, int, int] | None:
    match = _VERSION.match(tag)
    return (int(match["major"]), int(match["minor"]), int(match["patch"])) if match else None


def _app(host: EnvHost) -> tuple[GitRepo, str]:
    source = host.estate.sources[host.app_source]
    return host.git(source.name), source.main


def _release_glob(host: EnvHost) -> str:
    return host.spec.deploys.tag or host.estate.sources[host.app_source].release_tags


def _release_tags(host: EnvHost) -> list[str]:
    repo, _ = _app(host)
    return [t for t in repo.tags(_release_glob(host)) if _version(t)]


def _running_label(running: Deployed) -> str:
    return ", ".join(running.release_tags) or running.sha[:12]


def _commits(commits: list[Commit]) -> str:
    return ", ".join(f"{c.short} {c.subject!r} ({c.author.split(' <')[0]})" for c in commits)


def next_tag(host: EnvHost) -> str:
    """--tag, else the next patch after the greatest release tag."""
    if host.settings.tag:
        return host.settings.tag
    tags = sorted(_release_tags(host), key=lambda t: _version(t) or (0, 0, 0))
    if not tags:
        return "v0.1.0"
    major, minor, patch = _version(tags[-1]) or (0, 0, 0)
    prefix = "v" if tags[-1].startswith("v") else ""
    return f"{prefix}{major}.{minor}.{patch + 1}"


@pytest.mark.prerelease
@per_env(deploys_tags)
def test_candidate_on_main(host: EnvHost, gate: Gate) -> None:
    """The commit about to be tagged is on the integration branch."""
    repo, main = _app(host)
    candidate = host.shared.candidate()
    sha = repo.rev_parse(candidate)
    if sha is None:
        gate.fail(f"candidate {candidate} does not exist in {repo.name}: pass --candidate REF")
    if host.settings.hotfix:
        pytest.skip("--hotfix: the candidate is checked against the running release instead")
    if not repo.is_ancestor(sha, main):
        gate.fail(f"candidate {candidate} ({sha[:12]}) is not on {main}: release from {main}, "
                  "or pass --hotfix for a hotfix", candidate=sha, branch=main)


@pytest.mark.prerelease
@per_env(deploys_tags)
def test_next_tag(host: EnvHost, gate: Gate) -> None:
    """The next tag matches the release pattern, is new and is greater than every release tag."""
    repo, _ = _app(host)
    tag = next_tag(host)
    glob = _release_glob(host)
    if not fnmatch.fnmatchcase(tag, glob) or _version(tag) is None:
        gate.block(f"next tag {tag} does not match the release tag pattern {glob!r}", tag=tag)
    if repo.rev_parse(f"refs/tags/{tag}"):
        gate.block(f"tag {tag} already exists in {repo.name}: choose the next version", tag=tag)
    newer = [t for t in _release_tags(host) if (_version(t) or (0,)) >= (_version(tag) or (0,))
             and t != tag]
    if newer:
        gate.block(f"next tag {tag} is not greater than existing release tag(s) "
                   f"{', '.join(newer)}", tag=tag, existing=newer)


@pytest.mark.prerelease
@per_env(deploys_tags)
def test_hotfix_commits_on_main(host: EnvHost, gate: Gate) -> None:
    """Every commit of the running release is on main (by patch id), so the next release keeps it."""
    if host.settings.hotfix:
        pytest.skip("--hotfix: the candidate is the hotfix itself")
    repo, main = _app(host)
    running = require_commit(host)
    only_released = repo.log(f"{main}..{running.sha}")
    if not only_released:
        return
    on_main = repo.patch_ids(f"{repo.merge_base(main, running.sha)}..{main}")
    released_ids = repo.patch_ids(f"{main}..{running.sha}")
    missing_shas = set(released_ids.values()) - {
        sha for pid, sha in released_ids.items() if pid in on_main}
    missing = [c for c in only_released if c.sha in missing_shas]
    if missing:
        label = _running_label(running)
        gate.block(f"{host.name} runs {label}, whose commit(s) {_commits(missing)} are not on "
                   f"{main}: cherry-pick them onto {main} before the next release, or the release "
                   "undoes the hotfix", commits=[c.sha for c in missing], running=running.sha)


@pytest.mark.prerelease
@per_env(deploys_tags)
def test_hotfix_candidate(host: EnvHost, gate: Gate) -> None:
    """--hotfix: the candidate descends from the running release and carries nothing unreleased."""
    if not host.settings.hotfix:
        pytest.skip("only with --hotfix")
    repo, main = _app(host)
    running = require_commit(host)
    candidate = repo.resolve(host.shared.candidate())
    if not repo.is_ancestor(running.sha, candidate):
        label = _running_label(running)
        gate.fail(f"hotfix candidate {candidate[:12]} does not descend from {label}, the release "
                  f"{host.name} runs: branch the hotfix from that tag", candidate=candidate)
    unreleased = [c for c in repo.log(f"{running.sha}..{candidate}")
                  if repo.is_ancestor(c.sha, main)]
    if unreleased:
        gate.block(f"hotfix candidate {candidate[:12]} carries unreleased commit(s) of {main}: "
                   f"{_commits(unreleased)}: branch from the release tag and cherry-pick only the "
                   "fix", commits=[c.sha for c in unreleased])


@pytest.mark.prerelease
@pytest.mark.drift
@per_env(deploys_side_branch)
def test_shared_branch_in_flight(host: EnvHost, gate: Gate) -> None:
    """Work on the shared testing branch that is not on main is someone's work in flight."""
    repo, main = _app(host)
    branch = host.spec.deploys.branch or ""
    if repo.branch_head(branch) is None:
        gate.fail(f"branch {branch} does not exist in {repo.name}")
    ahead = repo.log(f"{main}..{branch}")
    if ahead:
        gate.warn(f"{branch} is {len(ahead)} commit(s) ahead of {main}, work in flight: "
                  f"{_commits(ahead)}", commits=[c.sha for c in ahead],
                  authors=sorted({c.author for c in ahead}))


@pytest.mark.smoke
@per_env(deploys_side_branch)
def test_shared_branch_reset(host: EnvHost, gate: Gate) -> None:
    """After the periodic reset (--after-reset), the shared branch equals main."""
    if not host.settings.after_reset:
        pytest.skip("run with --after-reset right after the shared branch was reset to main")
    repo, main = _app(host)
    branch = host.spec.deploys.branch or ""
    head, main_head = repo.branch_head(branch), repo.resolve(main)
    if head != main_head:
        ahead = repo.log(f"{main}..{branch}")
        gate.fail(f"{branch} ({(head or 'missing')[:12]}) does not equal {main} "
                  f"({main_head[:12]}) after the reset: {len(ahead)} commit(s) ahead: "
                  f"{_commits(ahead)}", commits=[c.sha for c in ahead])


@pytest.mark.prerelease
@pytest.mark.smoke
@pytest.mark.drift
@per_env(deploys_tags)
def test_deployed_commit_is_release(host: EnvHost, gate: Gate) -> None:
    """The image tag the deployment repository names for a tag environment is a released commit.

    A tag that names no commit (`latest`, a version never tagged) is a warning here: the environment
    deploys release tags, so the suite knows a non-release tag is not what it should run.
    """
    found = for_host(host)
    if found.sha is None and found.unowned:
        raise CommitUnknown(found.not_checked or "")  # maybe a release: the suite cannot tell (a skip)
    if found.sha is None and found.not_checked:
        gate.warn(f"{found.not_checked.replace(': not checked: ', ': ', 1)}; {host.name} deploys release tags "
                  f"({host.spec.deploys.tag!r}), and this is none", tag=found.tag)
        return
    running = require_commit(host)
    if not running.release_tags:
        how = f"--ref app={running.tag}" if running.explicit else f"image tag {running.tag}"
        gate.fail(f"{host.name} deploys {running.sha[:12]} ({how}), which "
                  f"carries no release tag matching {host.spec.deploys.tag!r}: deploy a tagged "
                  "release", commit=running.sha, images=list(running.images))


@pytest.mark.prerelease
@pytest.mark.smoke
@pytest.mark.drift
@per_env(lambda host: host.spec.deploys.branch is not None)
def test_branch_env_tracks_branch(host: EnvHost, gate: Gate) -> None:
    """A branch environment deploys its branch's head or a recent ancestor of it."""
    repo, _ = _app(host)
    branch = host.spec.deploys.branch or ""
    head = repo.branch_head(branch)
    if head is None:
        gate.fail(f"branch {branch} does not exist in {repo.name}")
    running = require_commit(host)
    if running.sha == head:
        return
    if not repo.is_ancestor(running.sha, head):
        gate.fail(f"{host.name} deploys {running.sha[:12]}, which is not on {branch}: point its "
                  f"values at {branch}'s head {head[:12]}", commit=running.sha, head=head)
    behind = repo.count(f"{running.sha}..{head}")
    limit = host.settings.max_commits_behind
    if behind > limit:
        gate.warn(f"{host.name} deploys {running.sha[:12]}, {behind} commits behind {branch} "
                  f"({head[:12]}), more than {limit}: is its deploy stuck?", behind=behind)
