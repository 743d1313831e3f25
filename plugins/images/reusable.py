"""Reusable workflows of other repositories (`jobs.<id>.uses: owner/repo/.github/workflows/x.yml@ref`):
read when that repository is one of the environments file's `sources`, matched by the source's name
(`repo` or `owner/repo`) or by a remote URL of its clone ending in `owner/repo`; read at `ref` in
that clone. Anything else is not read, and says why
(https://docs.github.com/en/actions/using-workflows/reusing-workflows#calling-a-reusable-workflow:
`{owner}/{repo}/.github/workflows/{filename}@{ref}`, ref a SHA, tag or branch).
"""
from __future__ import annotations

import re
from typing import Any, Callable

_USES = re.compile(r"^(?P<owner>[^/@\s]+)/(?P<repo>[^/@\s]+)/(?P<path>[^@\s]+)@(?P<ref>\S+)$")

Read = Callable[[str], str]


def _slug(url: str) -> str:
    """owner/repo of a remote URL (https, ssh or scp-like), lower-case, without .git."""
    tail = re.split(r"[:/]", url.rstrip("/").removesuffix(".git"))
    return "/".join(tail[-2:]).lower() if len(tail) >= 2 else url.lower()


def source_of(uses: str, repos: tuple[tuple[str, Any], ...]) -> tuple[str, Any] | None:
    """The (source name, GitRepo) whose repository the `uses` reference names, or None."""
    match = _USES.match(uses)
    if not match:
        return None
    slug = f"{match['owner']}/{match['repo']}".lower()
    for name, repo in repos:
        if name.lower() in (slug, match["repo"].lower()) or slug in {_slug(u) for u in repo.remote_urls()}:
            return name, repo
    return None


def reader(repos: tuple[tuple[str, Any], ...]) -> Callable[[str], "tuple[str, str, Read] | str"]:
    """A function reading a remote reusable workflow: (text, path, read for its own local calls),
    or one line saying why it is not read."""
    def read_remote(uses: str) -> tuple[str, str, Read] | str:
        match = _USES.match(uses)
        if not match:
            return f"{uses} is no owner/repo/path@ref reference"
        found = source_of(uses, repos)
        if found is None:
            return (f"{match['owner']}/{match['repo']} is none of the sources (add its clone under sources "
                    "to read it)")
        name, repo = found
        sha = repo.rev_parse(match["ref"])
        if sha is None:
            return f"{match['ref']} is not in the clone of source {name} (fetch it to read the workflow)"
        if not repo.exists(sha, match["path"]):
            return f"{match['path']} does not exist at {match['ref']} in source {name}"
        return repo.show(sha, match["path"]), match["path"], lambda other: repo.show(sha, other)

    return read_remote
