"""The sources an estate names: created on first use when the file says how, then verified."""

from __future__ import annotations

import fcntl
import hashlib
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from releasegate.estate.loader import EnvironmentsError
from releasegate.estate.models import Estate, Source
from releasegate.estate.values import Unset
from releasegate.core.gitrepo import GitRepo


def ensure_sources(estate: Estate) -> None:
    """Create missing sources that name a ``create`` command (the demo does), once, under a lock;
    then check that each is a git repository with its integration branch (local git only); then
    expand environments declared with a pattern (`web-*`) into one per matching Application."""
    for source in estate.sources.values():
        _create(estate, source)
        _verify(estate, source)
    from releasegate.render.patterns import expand_patterns

    expand_patterns(estate)  # environments declared with a pattern, read from the verified sources


def _verify(estate: Estate, source: Source) -> None:
    path_line, main_line = source.lines
    repo = GitRepo(source.path, source.name)
    problem = repo.top_level_problem()
    if problem:
        raise EnvironmentsError(estate.path, path_line, f"sources.{source.name}.path", problem)
    if repo.rev_parse(source.main) is None:
        raise EnvironmentsError(estate.path, main_line or path_line, f"sources.{source.name}.main",
                                f"branch {source.main!r} does not exist in {source.path}"
                                + ("" if main_line else " (set sources." + source.name
                                   + ".main to the integration branch)"))


def _create(estate: Estate, source: Source) -> None:
    if not source.path.exists() and source.create:
        # One lock for every source under the same folder (one command may create them all),
        # kept outside it: the command decides what to create there.
        digest = hashlib.sha1(str(source.path.parent).encode()).hexdigest()[:16]
        lock_path = Path(tempfile.gettempdir()) / f"releasegate-create-{digest}.lock"
        with open(lock_path, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if source.path.exists():
                return
            argv = shlex.split(source.create)
            if argv and argv[0] in ("python", "python3"):
                argv[0] = sys.executable
            result = subprocess.run(argv, cwd=estate.root,
                                    capture_output=True, text=True, timeout=300)
            if result.returncode != 0 or not source.path.exists():
                tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
                raise EnvironmentsError(estate.path, None, f"sources.{source.name}.create",
                                        f"{source.create!r} did not create {source.path}: {tail[0]}")


def skip_if_unset(where: str, *values: Any) -> None:
    """Skip the calling check when a setting it needs names an unset variable, saying which."""
    import pytest

    for value in values:
        if isinstance(value, Unset):
            pytest.skip(f"{where}: {value}")
