"""Workflow triggers: which pushed branches and tags run a workflow (GitHub's filter pattern syntax).

``on: push`` with its branches, tags and their -ignore lists; ``release`` counts as a tag push;
``workflow_dispatch`` is a manual run; other events are named but not treated as builds.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from releasegate.images.workflow_yaml import WorkflowError, mapping

BRANCH, TAG = "branch", "tag"


def _glob_regex(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char in "?+" and out:
            out.append(char)                      # zero-or-one / one-or-more of the previous char
        elif char == "[":
            end = pattern.find("]", i)
            if end > i:
                out.append(pattern[i:end + 1])
                i = end + 1
                continue
            out.append(re.escape(char))
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out) + r"\Z")


def filter_matches(patterns: Iterable[str], name: str) -> bool:
    """GitHub's branch/tag filter: the last matching pattern wins, ``!`` negates."""
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        if _glob_regex(pattern[1:] if negate else pattern).match(name):
            result = not negate
    return result


@dataclass(frozen=True)
class RefFilter:
    """Which branches (or tags) a push trigger fires for; None patterns: none at all."""

    include: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()

    def fires(self, name: str) -> bool:
        """True if a push of this branch or tag runs the workflow."""
        if self.include is None:
            return False
        if self.ignore and filter_matches(self.ignore, name):
            return False
        return filter_matches(self.include, name)

    def describe(self) -> str:
        """e.g. ``main, release/**``; ``any`` for every name."""
        if self.include is None:
            return ""
        text = "any" if self.include == ("**",) else ", ".join(self.include)
        return text + (f" (except {', '.join(self.ignore)})" if self.ignore else "")


@dataclass(frozen=True)
class Triggers:
    """The events that run a workflow on a pushed commit."""

    branches: RefFilter = field(default_factory=RefFilter)
    tags: RefFilter = field(default_factory=RefFilter)
    manual: bool = False
    other: tuple[str, ...] = ()

    def fires(self, kind: str, name: str) -> bool:
        """True if pushing branch (kind BRANCH) or tag (kind TAG) ``name`` runs the workflow."""
        return (self.branches if kind == BRANCH else self.tags).fires(name)

    def describe(self) -> str:
        """e.g. ``push to main; tags v*.*.*``."""
        parts = []
        if self.branches.include is not None:
            parts.append(f"push to {self.branches.describe()}")
        if self.tags.include is not None:
            parts.append(f"tags {self.tags.describe()}")
        if self.manual:
            parts.append("manual runs")
        return "; ".join(parts) or "no push trigger"


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    return (str(value),)


def read_triggers(on: Any, path: str) -> Triggers:
    """The triggers of a workflow's ``on:`` value; WorkflowError naming ``path`` if malformed."""
    events: dict[str, Any]
    if isinstance(on, str):
        events = {on: None}
    elif isinstance(on, list):
        events = {str(e): None for e in on}
    elif isinstance(on, dict):
        events = {str(k): v for k, v in on.items()}
    else:
        raise WorkflowError(f"{path}: 'on:' must be an event, a list or a mapping")
    branches, tags = RefFilter(), RefFilter()
    if "push" in events:
        push = mapping(events["push"])
        has_branches = "branches" in push or "branches-ignore" in push
        has_tags = "tags" in push or "tags-ignore" in push
        if has_branches or not has_tags:
            branches = RefFilter(_strings(push.get("branches")) or ("**",),
                                 _strings(push.get("branches-ignore")))
        if has_tags or not has_branches:
            tags = RefFilter(_strings(push.get("tags")) or ("**",),
                             _strings(push.get("tags-ignore")))
    if "release" in events and tags.include is None:
        tags = RefFilter(("**",))
    ignored = {"push", "release", "workflow_dispatch", "pull_request", "pull_request_target"}
    return Triggers(branches, tags, "workflow_dispatch" in events,
                    tuple(sorted(e for e in events if e not in ignored)))
