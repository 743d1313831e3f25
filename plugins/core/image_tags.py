"""Which application commit an image tag names: a commit SHA, or a release tag of the application.

Estates tag their images one of two ways: with the commit they were built from (a full or short
SHA), or with the release version (`v1.0.0`, `1.3.1`), often the chart's `appVersion` when the
values leave the tag to the chart (`{{ .Values.image.tag | default .Chart.AppVersion }}`, as
`helm create` scaffolds it: https://helm.sh/docs/chart_template_guide/builtin_objects/ names
`.Chart.AppVersion`; https://helm.sh/docs/topics/charts/#the-chartyaml-file describes `appVersion`).
A release version names the commit its release tag points at, with or without the leading `v`
(`1.3.1` is the release tagged `v1.3.1` when the source's `release_tags` glob is `v*.*.*`,
and `v1.3.1` is the release tagged `1.3.1` under `*.*.*`). Anything else (`latest`, `testing`, a
version that was never tagged, an image pinned by digest only) names no commit: which code runs
is unknown, and the checks that need it say so instead of guessing.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from releasegate.core.gitrepo import GitRepo

HEX = re.compile(r"^[0-9a-f]{7,40}$")


@dataclass(frozen=True)
class TagCommit:
    """What one image tag names in the application repository."""

    sha: str | None  # the commit, or None
    kind: str  # "sha" | "release" | "none"
    release_tag: str | None = None  # the git tag a release version matched


def release_names(tag: str, glob: str) -> list[str]:
    """The git tag names a release version may be written as, that the release glob accepts:
    the tag itself, then with the `v` added or dropped."""
    names = [tag, tag[1:] if tag[:1] in "vV" and tag[1:2].isdigit() else f"v{tag}"]
    return [n for n in dict.fromkeys(names) if fnmatch.fnmatchcase(n, glob)]


def commit_of(repo: GitRepo, tag: str | None, glob: str) -> TagCommit:
    """The commit an image tag names: a (short) SHA that is a commit of the repository, else a
    release version whose git tag (with or without `v`, matching `glob`) exists; else none.

    A SHA-like tag that is no commit of the repository is kind "sha" with no commit (a build of a
    commit that does not exist, or one lost to a rewrite): the caller reports it.
    """
    if not tag:
        return TagCommit(None, "none")
    for name in release_names(tag, glob):
        sha = repo.rev_parse(f"refs/tags/{name}")
        if sha:
            return TagCommit(sha, "release", name)
    if HEX.match(tag):
        sha = repo.rev_parse(tag)
        return TagCommit(sha if sha and sha.startswith(tag) else None, "sha")
    return TagCommit(None, "none")

