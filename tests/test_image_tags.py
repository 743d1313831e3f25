"""image_tags.commit_of: which commit an image tag names, table-tested on a real git repository.

Rules (plugins/core/image_tags.py): a (short) commit SHA names that commit; a release version
names the commit of its release tag, with or without the leading `v`, when the source's
`release_tags` glob accepts that name (environments file: `sources.<name>.release_tags`); anything
else (`latest`, a version never tagged, no tag at all: https://docs.docker.com/reference/cli/docker/image/tag/
"the tag defaults to latest") names no commit.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from releasegate.core.gitrepo import GitRepo
from releasegate.core.image_tags import commit_of, release_names

GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@x.test",
           "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@x.test"}


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env=GIT_ENV).stdout.strip()


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[GitRepo, dict[str, str]]:
    """Three commits: v1.0.0 (annotated tag), 2.0.0 (lightweight, no v), and an untagged head."""
    path = tmp_path_factory.mktemp("app")
    _git(path, "init", "-q", "-b", "main")
    shas = {}
    for name in ("one", "two", "three"):
        (path / name).write_text(name)
        _git(path, "add", name)
        _git(path, "commit", "-qm", name)
        shas[name] = _git(path, "rev-parse", "HEAD")
    _git(path, "tag", "-a", "v1.0.0", "-m", "release", shas["one"])
    _git(path, "tag", "2.0.0", shas["two"])
    return GitRepo(path, "app"), shas


@pytest.mark.parametrize(("tag", "glob", "commit", "kind", "release"), [
    ("v1.0.0", "v*.*.*", "one", "release", "v1.0.0"),  # the release tag itself (annotated: peeled)
    ("1.0.0", "v*.*.*", "one", "release", "v1.0.0"),  # without the v
    ("1.0.0", "*", "one", "release", "v1.0.0"),  # a glob that accepts both names: the one that exists
    ("2.0.0", "*.*.*", "two", "release", "2.0.0"),
    ("v2.0.0", "*.*.*", "two", "release", "2.0.0"),  # with a v the repository does not write
    ("2.0.0", "v*.*.*", None, "none", None),  # release_tags v*.*.*: 2.0.0 is no release of this source
    ("0.0.1", "v*.*.*", None, "none", None),  # a version never tagged
    ("latest", "v*.*.*", None, "none", None),  # a moving tag
    (None, "v*.*.*", None, "none", None),  # digest only, or no tag
    ("FULL", "v*.*.*", "three", "sha", None),  # a full commit SHA
    ("SHORT", "v*.*.*", "three", "sha", None),  # a short SHA
    ("deadbee", "v*.*.*", None, "sha", None),  # SHA-like, but no commit here: the caller reports it
])
def test_commit_of(repo: tuple[GitRepo, dict[str, str]], tag: str | None, glob: str, commit: str | None,
                   kind: str, release: str | None) -> None:
    git, shas = repo
    tag = {"FULL": shas["three"], "SHORT": shas["three"][:8]}.get(tag or "", tag)
    found = commit_of(git, tag, glob)
    assert (found.sha, found.kind, found.release_tag) == (shas[commit] if commit else None, kind, release)


@pytest.mark.parametrize(("tag", "glob", "names"), [
    ("1.3.1", "v*.*.*", ["v1.3.1"]),
    ("v1.3.1", "v*.*.*", ["v1.3.1"]),
    ("v1.3.1", "*.*.*", ["v1.3.1", "1.3.1"]),
    ("latest", "v*.*.*", []),
    ("vnext", "*", ["vnext", "vvnext"]),  # a v not before a digit is part of the name
])
def test_release_names(tag: str, glob: str, names: list[str]) -> None:
    assert release_names(tag, glob) == names
