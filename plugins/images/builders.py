"""Parity: does some workflow build what an environment deploys, tagged the way it deploys it?"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from releasegate.images.triggers import BRANCH, TAG
from releasegate.images.workflows import Push, Workflow


@dataclass(frozen=True)
class Target:
    """What an environment deploys, as pushes that build it: branch names and tag names."""

    branches: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    label: str = ""

    def describe(self) -> str:
        """e.g. ``branch testing``, or the label given (``release tags v*.*.* or branch main``)."""
        if self.label:
            return self.label
        parts = [f"branch {b}" for b in self.branches] + [f"tag {t}" for t in self.tags]
        return " or ".join(parts)


@dataclass(frozen=True)
class Builder:
    """One workflow push of a repository, and whether it serves a target."""

    workflow: Workflow
    push: Push
    triggered: bool        # the workflow runs for the commits the target deploys
    tag_fits: bool         # its tag template can produce the deployed tag

    def describe(self) -> str:
        """e.g. ``testing.yml (on push to testing, tagged short SHA (7))``."""
        return (f"{self.workflow.file} (on {self.workflow.triggers.describe()}, tagged "
                f"{self.push.tag.describe()})")


def builders(workflows: Iterable[Workflow], repository: str, tag: str | None,
             target: Target) -> list[Builder]:
    """Every push of ``repository`` in the workflows, judged against a deploy target and tag."""
    out = []
    for workflow in workflows:
        for push in workflow.pushes_of(repository):
            triggered = any(workflow.builds(BRANCH, b) and push.applies(BRANCH, b)
                            for b in target.branches) or \
                any(workflow.builds(TAG, t) and push.applies(TAG, t) for t in target.tags)
            fits = tag is None or push.tag.matches(tag)
            out.append(Builder(workflow, push, triggered, fits))
    return out


def fitting_workflows(workflows: Iterable[Workflow], tag: str | None,
                      target: Target) -> list[Workflow]:
    """Workflows that already push some repository for the target with a tag scheme that fits
    ``tag``: where a missing repository belongs."""
    out = []
    for workflow in workflows:
        for push in workflow.pushes:
            runs = any(workflow.builds(BRANCH, b) and push.applies(BRANCH, b)
                       for b in target.branches) or \
                any(workflow.builds(TAG, t) and push.applies(TAG, t) for t in target.tags)
            if runs and (tag is None or push.tag.matches(tag)):
                out.append(workflow)
                break
    return out


def sample_tag(glob: str) -> str:
    """A tag name that a release-tag glob matches, e.g. v1.0.0 for ``v*.*.*``."""
    return re.sub(r"\*+", "1", glob).replace("?", "")
