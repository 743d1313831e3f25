"""Read-only access to a git repository at any ref, without touching its checkout."""

from __future__ import annotations

import fnmatch
import functools
import os
import re
import subprocess
import tarfile
import io
from dataclasses import dataclass
from pathlib import Path


class SourceError(Exception):
    """A source (git, chart, file at a ref) cannot give what a check needs; one line, no traceback."""


class NotChecked(SourceError):
    """What a check needs cannot be known from the sources (an image tag that names no commit, keys
    that live outside git, a chart it cannot fetch, an engine it does not have): the check skips with
    this one line, which says why and what would let it check. Never a blocker, never an ERROR."""


class Absent(SourceError):
    """A path that does not exist at a commit: estates evolve, so what an entry of the environments
    file names may not exist yet (or any more) at the commit under check."""

    def __init__(self, source: str, path: str, ref: str) -> None:
        self.source, self.path, self.ref = source, path, ref
        super().__init__(f"{source}: {path} does not exist at {short(ref)}")


class Unreadable(SourceError):
    """An object git lists at a commit but cannot read (missing or corrupt): an error naming the
    object, never taken for a file that does not exist there."""

    def __init__(self, source: str, path: str, ref: str, said: str) -> None:
        self.source, self.path, self.ref = source, path, ref
        super().__init__(f"{source}: {path} at {short(ref)} cannot be read: {said}")


_HEX = re.compile(r"[0-9a-f]{7,40}")
_FULL_SHA = re.compile(r"[0-9a-f]{40}")
_BASE = re.compile(r"[^~^@:]+")  # the name before ~N, ^N, @{...} or :path


def short(ref: str) -> str:
    """A ref as a person reads it: a full SHA cut to 12 characters, anything else as given."""
    return ref[:12] if len(ref) == 40 and _HEX.fullmatch(ref) else ref


@dataclass(frozen=True)
class Commit:
    """One commit, as a release manager reads it."""

    sha: str
    author: str
    date: str
    subject: str

    @property
    def short(self) -> str:
        """The abbreviated SHA."""
        return self.sha[:12]


# Reads must never take locks or refresh the index of a repository someone works in.
_GIT_ENV = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0",
            "LC_ALL": "C", "GIT_CONFIG_NOSYSTEM": "1"}


class GitRepo:
    """A git repository read through plumbing commands only (no checkout, no index, no write)."""

    def __init__(self, path: Path, name: str | None = None) -> None:
        self.path = Path(path)
        self.name = name or self.path.name

    def _git(self, *args: str, check: bool = True, binary: bool = False) -> str | bytes:
        """git's output; text is decoded as UTF-8 with invalid bytes replaced (estate text is
        whatever its authors wrote)."""
        try:
            result = subprocess.run(["git", "-C", str(self.path), *args], capture_output=True,
                                    env=_GIT_ENV, timeout=120)
        except FileNotFoundError:
            raise SourceError("git is not installed") from None
        if check and result.returncode != 0:
            raise SourceError(f"{self.name}: git {' '.join(args[:3])}: {_last(result.stderr)}")
        return result.stdout if binary else result.stdout.decode("utf-8", errors="replace")

    @functools.lru_cache(maxsize=64)
    def remote_urls(self) -> tuple[str, ...]:
        """The URLs of the clone's remotes (none for a repository without remotes)."""
        out = str(self._git("config", "--get-regexp", r"^remote\..*\.url$", check=False))
        return tuple(line.split(None, 1)[1] for line in out.splitlines() if len(line.split(None, 1)) == 2)

    def top_level_problem(self) -> str | None:
        """Why the path is not the top level of a git repository (bare or not); None if it is."""
        try:
            out = str(self._git("rev-parse", "--is-bare-repository", "--show-cdup"))
        except SourceError as exc:
            said = str(exc)
            if said == "git is not installed":
                return said
            return f"{self.path} is not a git repository" + (
                "" if "not a git repository" in said else f" ({said.rsplit(': ', 1)[-1]})")
        bare, _, cdup = out.partition("\n")
        if bare.strip() != "true" and cdup.strip():
            top = (self.path / cdup.strip()).resolve()
            return (f"{self.path} is a folder inside the git repository {top}: point at the "
                    "repository's top level")
        return None

    @functools.lru_cache(maxsize=64)
    def remote_url(self) -> str:
        """The fetch URL of the remote origin ('' when there is none, as in a local-only repo)."""
        return str(self._git("config", "--get", "remote.origin.url", check=False)).strip()

    @functools.lru_cache(maxsize=4096)
    def rev_parse(self, ref: str) -> str | None:
        """Resolve a ref, tag or (short) SHA to a full commit SHA; None if it does not exist.

        A branch that exists only as a remote-tracking branch (what a fresh `git clone` leaves for
        every branch but the default one) resolves as `git checkout NAME` would find it.
        """
        out = self._git("rev-parse", "--verify", "--quiet", f"{self.name_of(ref)}^{{commit}}", check=False)
        return out.strip() or None

    @functools.lru_cache(maxsize=1024)
    def name_of(self, ref: str) -> str:
        """The full ref git should read for `ref`, never a bare name that a branch and a tag could
        both match (git itself would take the tag): `refs/heads/<name>`, else a remote-tracking
        branch (`refs/remotes/origin/<name>` first, what a fresh clone leaves), else
        `refs/tags/<name>`; a full ref, a full SHA or anything else as given. A suffix (`~2`,
        `^`, `@{...}`) is kept."""
        match = _BASE.match(ref)
        if not match or ref.startswith("refs/") or ".." in ref or _FULL_SHA.fullmatch(match[0]) \
                or match[0].endswith("HEAD"):  # HEAD, FETCH_HEAD, ...: git's own names
            return ref
        base = match[0]
        found = set(str(self._git("for-each-ref", "--format=%(refname)", f"refs/heads/{base}",
                                  f"refs/remotes/*/{base}", f"refs/remotes/{base}",
                                  f"refs/tags/{base}", check=False)).split())
        remotes = sorted(name for name in found if name.startswith("refs/remotes/")
                         and name.endswith("/" + base) and name.count("/") == 3 + base.count("/"))
        order = [f"refs/heads/{base}", f"refs/remotes/origin/{base}", *remotes,
                 f"refs/remotes/{base}", f"refs/tags/{base}"]
        best = next((name for name in order if name in found), None)
        return best + ref[len(base):] if best else ref

    def _range(self, revision_range: str) -> str:
        """A revision range with each end read as name_of reads it."""
        for sep in ("...", ".."):
            if sep in revision_range:
                a, b = revision_range.split(sep, 1)
                return f"{self.name_of(a) if a else a}{sep}{self.name_of(b) if b else b}"
        return self.name_of(revision_range)

    def resolve(self, ref: str) -> str:
        """Resolve a ref to a full commit SHA or raise SourceError naming it."""
        sha = self.rev_parse(ref)
        if not sha:
            raise SourceError(f"{self.name}: ref {ref!r} does not exist")
        return sha

    @functools.lru_cache(maxsize=4096)
    def show(self, ref: str, path: str) -> str:
        """Return a file's text at a ref; Absent only when git's tree says there is no such path,
        Unreadable when it lists one that cannot be read."""
        result = subprocess.run(["git", "-C", str(self.path), "show", f"{self.name_of(ref)}:{path}"],
                                capture_output=True, env=_GIT_ENV, timeout=120)
        if result.returncode != 0:
            if self.rev_parse(ref) is None:
                raise SourceError(f"{self.name}: ref {ref!r} does not exist")
            self._listed(ref, path, _last(result.stderr))
            raise Absent(self.name, path, ref)
        return result.stdout.decode("utf-8", errors="replace")

    def _listed(self, ref: str, path: str, said: str) -> None:
        """Raise Unreadable if git's tree at ref lists path (or cannot itself be read): what
        could not be read there is there, and broken; return if the path is truly absent. A path
        git does not take as it stands (a leading '/' as in an Argo CD `$ref/` value file, or '..')
        is absent as asked: the listing of another spelling of it says nothing about it."""
        parts = path.rstrip("/").split("/")
        if not path or any(part in ("", ".", "..") for part in parts):
            return  # '/x', 'a//b', '../x': no tree path git would list, so none was unreadable
        result = subprocess.run(["git", "-C", str(self.path), "ls-tree", "-z", self.name_of(ref),
                                 "--", path.strip("/")], capture_output=True, env=_GIT_ENV, timeout=120)
        if result.returncode != 0:
            raise Unreadable(self.name, path, ref, _last(result.stderr))
        entry = result.stdout.split(b"\0", 1)[0].decode("utf-8", errors="replace")
        if entry:
            kind, oid = entry.split("\t", 1)[0].split()[1:3]
            raise Unreadable(self.name, path, ref, f"{kind} {oid}: {said}")

    @functools.lru_cache(maxsize=4096)
    def object_at(self, ref: str, path: str) -> tuple[str, str] | None:
        """(object id, type) of a path at a ref; None if the ref or the path does not exist
        (Unreadable if git lists the path but cannot read its object)."""
        result = subprocess.run(["git", "-C", str(self.path), "cat-file", "--batch-check"],
                                input=f"{self.name_of(ref)}:{path}\n".encode(), capture_output=True,
                                env=_GIT_ENV, timeout=120)
        parts = result.stdout.decode("utf-8", errors="replace").split()
        if result.returncode == 0 and len(parts) == 3 and parts[1] != "missing":
            return parts[0], parts[1]
        if self.rev_parse(ref) is None:
            return None
        self._listed(ref, path, _last(result.stderr) if result.stderr.strip() else "object missing")
        return None

    def exists(self, ref: str, path: str) -> bool:
        """Whether a path exists at a ref."""
        return self.object_at(ref, path) is not None

    @functools.lru_cache(maxsize=1024)
    def ls_tree(self, ref: str, directory: str = "") -> tuple[str, ...]:
        """Every file path under a directory at a ref (recursive), relative to the repository."""
        args = ["ls-tree", "-r", "--name-only", "-z", self.name_of(ref)]
        if directory:
            args += ["--", directory.rstrip("/") + "/"]
        out = self._git(*args)
        return tuple(p for p in out.split("\0") if p)

    def read_tree(self, ref: str, directory: str) -> dict[str, bytes]:
        """Every file under a directory at a ref, as {path relative to the directory: bytes}."""
        directory = directory.strip("/")
        found = self.object_at(ref, directory)
        if found and found[1] == "tree":  # the same tree under many refs is read once
            return dict(self._tree_files(found[0]))
        if directory and found is None and self.rev_parse(ref) is not None:
            raise Absent(self.name, directory, ref)
        return self._archive(self.name_of(ref), directory)

    @functools.lru_cache(maxsize=256)
    def tree_size(self, tree: str) -> int:
        """The bytes of every file under a tree (git ls-tree -r -l), without reading them."""
        total = 0
        for entry in bytes(self._git("ls-tree", "-r", "-l", "-z", tree, binary=True)).split(b"\0"):
            fields = entry.split(b"\t", 1)[0].split()
            if len(fields) == 4 and fields[3].isdigit():
                total += int(fields[3])
        return total

    @functools.lru_cache(maxsize=256)
    def _tree_files(self, tree: str) -> dict[str, bytes]:
        return self._archive(tree, "")

    def _archive(self, treeish: str, directory: str) -> dict[str, bytes]:
        args = ["archive", "--format=tar", treeish] + (["--", directory] if directory else [])
        data = self._git(*args, binary=True)
        files = {}
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for member in tar.getmembers():
                if member.isfile():
                    handle = tar.extractfile(member)
                    rel = member.name[len(directory) + 1:] if directory else member.name
                    files[rel] = handle.read() if handle else b""
        return files

    def export(self, ref: str, directory: str, dest: Path) -> Path:
        """Write a subtree at a ref into dest (a scratch folder), never into the checkout."""
        dest.mkdir(parents=True, exist_ok=True)
        for rel, data in self.read_tree(ref, directory).items():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return dest

    @functools.lru_cache(maxsize=64)
    def tags(self, pattern: str = "*") -> tuple[str, ...]:
        """Tags matching a glob, oldest version first."""
        out = self._git("tag", "--list", "--sort=v:refname")
        return tuple(t for t in out.split() if fnmatch.fnmatchcase(t, pattern))

    @functools.lru_cache(maxsize=1024)
    def tags_at(self, sha: str, pattern: str = "*") -> tuple[str, ...]:
        """Tags matching a glob that point at a commit."""
        out = self._git("tag", "--points-at", self.name_of(sha))
        return tuple(sorted(t for t in out.split() if fnmatch.fnmatchcase(t, pattern)))

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """Whether ancestor is reachable from descendant (SourceError if git cannot tell)."""
        result = subprocess.run(["git", "-C", str(self.path), "merge-base", "--is-ancestor",
                                 self.name_of(ancestor), self.name_of(descendant)], capture_output=True, env=_GIT_ENV,
                                timeout=120)
        if result.returncode > 1:
            raise SourceError(f"{self.name}: git merge-base --is-ancestor {ancestor} {descendant}: "
                              f"{_last(result.stderr)}")
        return result.returncode == 0

    def log(self, revision_range: str, *, first_parent: bool = False,
            paths: tuple[str, ...] = ()) -> list[Commit]:
        """Commits in a range (newest first). Fields are NUL-separated (no text of a commit can
        hold NUL), the message re-encoded to UTF-8 from the commit's own `encoding` header and
        any invalid byte replaced."""
        args = ["log", "-z", "--encoding=UTF-8", "--format=%H%x00%an <%ae>%x00%aI%x00%s"]
        if first_parent:
            args.append("--first-parent")
        args.append(self._range(revision_range))
        if paths:
            args += ["--", *paths]
        fields = bytes(self._git(*args, binary=True)).split(b"\0")
        commits = []
        for i in range(0, len(fields) - 3, 4):
            sha, author, date, subject = (f.decode("utf-8", errors="replace") for f in fields[i:i + 4])
            if _FULL_SHA.fullmatch(sha.lstrip("\n")):
                commits.append(Commit(sha.lstrip("\n"), author, date, subject))
        return commits

    def count(self, revision_range: str) -> int:
        """Number of commits in a range."""
        return int(self._git("rev-list", "--count", self._range(revision_range)).strip())

    def merge_base(self, a: str, b: str) -> str | None:
        """The best common ancestor of two refs."""
        return self._git("merge-base", self.name_of(a), self.name_of(b), check=False).strip() or None

    def branch_head(self, name: str) -> str | None:
        """The commit a local (or remote-tracking) branch points at."""
        return self.rev_parse(f"refs/heads/{name}") or self.rev_parse(f"refs/remotes/origin/{name}")

    def patch_ids(self, revision_range: str) -> dict[str, str]:
        """{patch id: commit} for every non-merge commit in a range (stable across cherry-picks)."""
        diff = self._git("log", "--no-merges", "-p", "--format=commit %H", self._range(revision_range),
                         binary=True)
        result = subprocess.run(["git", "-C", str(self.path), "patch-id", "--stable"],
                                input=diff, capture_output=True, env=_GIT_ENV, timeout=120)
        ids = {}
        for line in result.stdout.decode("utf-8", errors="replace").splitlines():
            patch_id, _, commit = line.partition(" ")
            if patch_id and commit:
                ids[patch_id] = commit
        return ids


def _last(stderr: bytes) -> str:
    """The last line git wrote on stderr (what went wrong), decoded whatever its bytes."""
    return (stderr.decode("utf-8", errors="replace").strip().splitlines() or ["failed"])[-1]
