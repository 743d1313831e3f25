"""Which application commits an environment's settings are checked against, and the settings
model at each: the running release, the candidate, and main's head for a shared branch.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Any, Iterable

from releasegate.core.deployed import Deployed, for_host
from releasegate.estate import SettingsEntry
from releasegate.settings import reader
from releasegate.settings.containers import unmatched_containers
from releasegate.settings.finding import WARN, Finding
from releasegate.settings.classes import SettingsModel


@dataclass(frozen=True)
class Target:
    """An application commit an environment's config is checked against."""

    role: str  # running | candidate | reset
    sha: str
    label: str  # "v1.4.1 (0123456789ab)"


def running(host: Any, gitops_ref: str | None = None, entry: SettingsEntry | None = None) -> Deployed:
    """Which application commit the environment runs (from its rendered chart at a gitops ref).

    Only the entry's containers that exist count; names that match nothing are reported on their
    own (containers_finding) and never change which commit is found.
    """
    names = [n for n in entry.containers if n not in unmatched_containers(host, entry, gitops_ref)] \
        if entry and entry.containers else None
    return for_host(host, gitops_ref, names or None)


def label(host: Any, sha: str, ref: str | None = None) -> str:
    """A commit as a release manager reads it: its release tag (or the ref named) and the short SHA."""
    app = host.git(host.app_source)
    tags = app.tags_at(sha, host.estate.sources[host.app_source].release_tags)
    name = tags[-1] if tags else (ref if ref and not sha.startswith(ref) else None)
    return f"{name} ({sha[:12]})" if name else sha[:12]


def targets(host: Any, entry: SettingsEntry, gitops_ref: str | None = None) -> dict[str, Target]:
    """The application commits to check the environment's config against.

    `running`: an explicit --ref for the application, else what the chart deploys.
    `candidate`: the code the environment gets next (--candidate or the application's main for an
    environment that deploys tags, the branch head for one that deploys a branch); left out when it
    is the running commit.
    `reset`: main's head, for an environment that deploys another branch (a shared branch reset to
    main after use); left out when it is the running or candidate commit.
    """
    app = host.git(host.app_source)
    out: dict[str, Target] = {}
    explicit = host.settings.refs.get(host.app_source)
    run_sha = app.resolve(explicit) if explicit else running(host, gitops_ref, entry).sha
    if run_sha:
        out["running"] = Target("running", run_sha, label(host, run_sha))
    ref = host.spec.deploys.branch or host.shared.candidate()
    cand = app.resolve(ref)
    if cand != run_sha:
        out["candidate"] = Target("candidate", cand, label(host, cand, ref))
    main = reset_branch(host)
    if main and not explicit:
        head = app.resolve(main)
        if head not in (run_sha, cand):
            out["reset"] = Target("reset", head, label(host, head, main))
    return out


def reset_branch(host: Any) -> str | None:
    """The application's main branch, for an environment that deploys another (shared) branch: it
    gets main's head at its next reset. None when the environment deploys tags or main itself."""
    branch = host.spec.deploys.branch
    main = host.estate.sources[host.app_source].main
    return main if branch and branch != main else None


def as_reset(host: Any, found: Iterable[Finding]) -> list[Finding]:
    """Findings against main's head for a shared-branch environment: warnings that say the next reset fails."""
    lead = f"{host.name}: the next reset of {host.spec.deploys.branch} to {reset_branch(host)} will not boot: "
    return [replace(f, severity=WARN, message=lead + f.message.removeprefix(f"{host.name}: ")) for f in found]


@functools.lru_cache(maxsize=256)
def _model(repo: Any, sha: str, path: str) -> tuple[str, SettingsModel]:
    text = repo.show(sha, path)
    return text, reader.read(text, path)


def model(host: Any, entry: SettingsEntry, sha: str) -> tuple[str, SettingsModel]:
    """(source text, model) of a settings entry at an application commit."""
    return _model(host.git(entry.source), sha, entry.path)


def units(host: Any, entry: SettingsEntry, target: Target, with_boot: bool) -> list[str]:
    """The settings classes of an entry at a commit (and its boot function, `with_boot`): one item each."""
    _, m = model(host, entry, target.sha)
    return [c.name for c in m.classes] + ([entry.boot] if with_boot and entry.boot else [])
