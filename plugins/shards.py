"""Shards: ``--shard K/N`` checks the environments of shard K of N, so that N processes (an Indexed
Job's pods, a CI matrix's jobs) share an estate; ``python -m releasegate.drift.merge`` joins their reports.

An environment's shard is a function of its name alone (sha256 of the name, mod N): the same on
every machine and in every run, whatever else the environments file holds, so that an environment
stays in its shard as the estate grows (its logs and caches stay where they were). Every report a
shard writes names its shard, the N and the run token all shards share (``--shard-run``): the merge
refuses reports of different runs.

Also here: the one line that says ``-n`` (pytest-xdist) makes a run slower, and why.
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterable

import pytest

from releasegate.options import settings

XDIST_NOTE = ("-n (pytest-xdist) makes this suite slower, not faster: every worker reads the "
              "estate and renders every chart to collect its items (docs/scale.md); to use more "
              "cores or machines run separate processes with --shard K/N and merge their reports "
              "(python -m releasegate.drift.merge)")


def shard_of(name: str, total: int) -> int:
    """The 1-based shard of an environment among total shards (stable across runs and machines)."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % total + 1


def shard_names(names: Iterable[str], shard: tuple[int, int]) -> list[str]:
    """The names, sorted, that fall into shard (K, N)."""
    index, total = shard
    return sorted(name for name in names if shard_of(name, total) == index)


def stamp(config: pytest.Config) -> dict[str, Any] | None:
    """What a report of a shard says about it: {index, total, run}; None for an unsharded run."""
    opts = settings(config)
    if opts.shard is None:
        return None
    return {"index": opts.shard[0], "total": opts.shard[1], "run": opts.shard_run}


def xdist_slower(config: pytest.Config) -> bool:
    """Whether this is the controller of an xdist run (-n), which the suite makes slower."""
    return bool(getattr(config.option, "numprocesses", None)) and not hasattr(config, "workerinput")


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Say which shard this was, and once that -n is slower (on the controller)."""
    mark = stamp(config)
    if mark is not None:
        terminalreporter.section("releasegate shard", sep="-")
        run = mark["run"] or ("none: give every shard the same --shard-run ID (or "
                              "$RELEASEGATE_SHARD_RUN) so that their reports can be merged")
        terminalreporter.line(f"shard {mark['index']}/{mark['total']}, run {run}")
