"""``--parity-index PATH``: the estate-wide index cross-environment parity compares against, written
once and read by every shard.

Cross-environment parity (plugins/settings/cross_env.py) compares an environment's containers
with who sets each variable in every other environment: a shard of 10 environments of 300 would
otherwise render all 300 charts for it. With ``--parity-index PATH`` a run reads the index from
PATH when the file exists, else computes it (rendering every chart, as an unsharded run does) and
writes it there: a first step (or shard) writes it, the others read it. The index names the
environments file (sha256) and the commit of every source it was computed at; a run at other
commits refuses it with one usage error instead of comparing against another estate.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from releasegate.core.atomic import write_file
from releasegate.core.host import Estatewide
from releasegate.options import settings
from releasegate.params import loaded

VERSION = 1
MAX_BYTES = 256 << 20  # an index of 3,000 environments is a few MiB


def key(state: Estatewide) -> dict[str, Any]:
    """What the index depends on: the environments file's content and each source's commit."""
    digest = hashlib.sha256(Path(state.estate.path).read_bytes()).hexdigest()
    commits = {name: repo.rev_parse(state.ref(name)) for name, repo in sorted(state.repos.items())}
    return {"environments_sha256": digest, "commits": commits}


def compute(state: Estatewide) -> dict[str, Any]:
    """The index of the whole estate: {container: {variable: [[environment, valued], ...]}}, and
    why the environments whose chart did not render failed."""
    from releasegate.settings import cross_env

    host = state.host(next(iter(sorted(state.estate.environments))))
    envs, broken = cross_env.estate_envs(host)
    setters = cross_env.setters(envs)
    return {"version": VERSION, "key": key(state), "broken": dict(sorted(broken.items())),
            "setters": {c: {v: [list(pair) for pair in where] for v, where in sorted(per.items())}
                        for c, per in sorted(setters.items())}}


def _problem(doc: Any) -> str | None:
    if not isinstance(doc, dict) or doc.get("version") != VERSION:
        return f"not a parity index of version {VERSION}"
    if not isinstance(doc.get("key"), dict) or not isinstance(doc.get("broken"), dict) \
            or not isinstance(doc.get("setters"), dict):
        return "lacks key, broken or setters"
    for per in doc["setters"].values():
        if not isinstance(per, dict) or not all(
                isinstance(where, list) and all(isinstance(p, list) and len(p) == 2 for p in where)
                for where in per.values()):
            return "setters is not {container: {variable: [[environment, valued], ...]}}"
    return None


def read(path: Path, state: Estatewide) -> dict[str, Any]:
    """The index at path, checked against this run's file and commits (UsageError otherwise)."""
    flag = "--parity-index"
    try:
        if path.stat().st_size > MAX_BYTES:
            raise pytest.UsageError(f"{flag}: {path} is more than {MAX_BYTES} bytes")
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise pytest.UsageError(f"{flag}: cannot read {path}: {exc}") from None
    problem = _problem(doc)
    if problem:
        raise pytest.UsageError(f"{flag}: {path}: {problem}")
    mine = key(state)
    if doc["key"] != mine:
        theirs = doc["key"]
        what = [name for name in sorted(set(mine["commits"]) | set(theirs.get("commits") or {}))
                if mine["commits"].get(name) != (theirs.get("commits") or {}).get(name)]
        said = (f"source {', '.join(what)} at other commits" if what
                else "another environments file")
        raise pytest.UsageError(f"{flag}: {path} was written for {said} than this run checks: "
                                "write it again for this run (remove it first)")
    return doc


def seed(state: Estatewide, doc: dict[str, Any]) -> None:
    """Give cross_env the estate-wide index instead of rendering every chart for it."""
    from releasegate.settings import memo

    setters = {c: {v: [(str(e), bool(valued)) for e, valued in where] for v, where in per.items()}
               for c, per in doc["setters"].items()}
    memo.MEMO[("estate-setters", state)] = setters
    # Only the failures are read from here by parity; the container environments themselves are
    # in the index (setters), so no chart outside this run's selection is rendered.
    memo.MEMO[("estate-envs", state)] = ({}, dict(doc["broken"]))


@pytest.hookimpl(tryfirst=True)
def pytest_collection(session: pytest.Session) -> None:
    """Read (or compute and write) the index before the checks' items are worked out."""
    config = session.config
    path = settings(config).parity_index
    state = loaded(config)
    if path is None or state is None or not state.estate.environments:
        return
    if path.is_file():
        seed(state, read(path, state))
        return
    doc = compute(state)
    try:
        write_file(path, json.dumps(doc, sort_keys=True) + "\n")
    except OSError as exc:
        raise pytest.UsageError(f"--parity-index: cannot write {path}: {exc.strerror}") from None


def main(argv: list[str] | None = None) -> int:
    """``python -m releasegate.parity_index OUT --environments FILE [--ref SOURCE=REF]...``: write
    the index for a run at those refs (the first step of a sharded run), nothing else."""
    import argparse
    import sys

    from releasegate.estate import EnvironmentsError, ensure_sources, load
    from releasegate.options import Settings

    parser = argparse.ArgumentParser(prog="python -m releasegate.parity_index",
                                     description=main.__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--environments", type=Path, default=Path("environments.yaml"))
    parser.add_argument("--ref", action="append", default=[], metavar="SOURCE=REF")
    parser.add_argument("--max-environments", type=int, default=None)
    args = parser.parse_args(argv)
    refs = dict(pair.split("=", 1) for pair in args.ref if "=" in pair)
    try:
        estate = load(args.environments.resolve(), *([args.max_environments]
                                                     if args.max_environments else []))
        ensure_sources(estate)
    except EnvironmentsError as exc:
        print(f"environments file: {exc}", file=sys.stderr)
        return 4
    unknown = sorted(set(refs) - set(estate.sources))
    if unknown:
        print(f"--ref: unknown source {', '.join(unknown)}", file=sys.stderr)
        return 4
    state = Estatewide(estate, Settings(environments_path=args.environments.resolve(),
                                        env_names=None, refs=refs))
    try:
        doc = compute(state)
        write_file(args.out, json.dumps(doc, sort_keys=True) + "\n")
    finally:
        state.close()
    print(f"{args.out}: parity index of {len(estate.environments)} environments "
          f"({len(doc['broken'])} whose chart did not render)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
