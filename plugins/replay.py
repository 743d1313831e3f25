"""Replay: walk a range of deployment-repository commits and name the first one that breaks an environment.

For every commit of the range (oldest first) the env var parity gate runs as if that commit were
synced: required settings fields, boot of the settings with each container's environment, secret
keys; against the application commit the chart deploys at that commit (or --ref app=REF).
Blockers already present at the range's base are reported once and do not count as new.

    python -m plugins.replay --env production --range A..B [--environments FILE] [--ref app=REF]
    pytest --replay A..B --env production [--ref app=REF]      (the same, as a pytest option)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from plugins import parity
from plugins.environments import EnvironmentsError, ensure_sources, load
from plugins.gitrepo import SourceError
from plugins.host import EnvHost, Estatewide
from plugins.options import Settings
from plugins.redact import redact


def blockers(host: EnvHost, gitops_ref: str, app_ref: str | None) -> list[str]:
    """The gate's blocker messages for `host` as if the gitops commit were deployed."""
    return sorted({f.message for f in parity.evaluate(host, gitops_ref, app_ref) if f.severity == parity.BLOCK})


def walk(host: EnvHost, revision_range: str, app_ref: str | None = None, out=None) -> str | None:
    """Print one line per commit; return the SHA of the first commit that adds a blocker (or None)."""
    out = out or sys.stdout
    repo = host.git(host.gitops_source)
    for end in revision_range.split(".."):
        if end and repo.rev_parse(end) is None:
            raise SourceError(f"{repo.name}: {end!r} of range {revision_range} is not a commit")
    commits = list(reversed(repo.log(revision_range)))
    if not commits:
        raise SourceError(f"{repo.name}: range {revision_range} holds no commit")
    base = revision_range.split("..", 1)[0] if ".." in revision_range else None
    known = set(blockers(host, base, app_ref)) if base else set()
    if known:
        print(f"{len(known)} blocker(s) already at the base {base} (not counted):", file=out)
        for message in sorted(known):
            print(f"    {redact(message)}", file=out)
    for commit in commits:
        new = [m for m in blockers(host, commit.sha, app_ref) if m not in known]
        if new:
            print(f"FAIL {commit.short} {commit.subject} ({commit.author.split(' <')[0]}, {commit.date})",
                  file=out)
            for message in new:
                print(f"    {redact(message)}", file=out)
            print(f"first failing commit for {host.name}: {commit.sha} {commit.subject!r}", file=out)
            return commit.sha
        print(f"ok   {commit.short} {commit.subject}", file=out)
    print(f"no commit of {revision_range} breaks {host.name}", file=out)
    return None


def main(argv: list[str] | None = None) -> int:
    """Command line; exit 1 when a commit breaks the environment, 0 when none does, 2 on bad input."""
    parser = argparse.ArgumentParser(prog="python -m plugins.replay", description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True, help="environment to replay (e.g. production)")
    parser.add_argument("--range", required=True, dest="revision_range",
                        help="deployment-repository commits, git syntax: A..B (or a single ref: its history)")
    parser.add_argument("--environments", type=Path, default=Path("environments.yaml"),
                        help="environments file (default: ./environments.yaml)")
    parser.add_argument("--ref", action="append", default=[], metavar="SOURCE=REF",
                        help="pin a source, e.g. app=v1.4.0 (default: what the chart deploys at each commit)")
    args = parser.parse_args(argv)
    refs = {}
    for pair in args.ref:
        source, sep, ref = pair.partition("=")
        if not sep or not source or not ref:
            parser.error(f"--ref {pair!r}: expected SOURCE=REF")
        refs[source] = ref
    try:
        estate = load(args.environments.resolve())
        ensure_sources(estate)
    except (EnvironmentsError, FileNotFoundError, OSError) as exc:
        print(f"environments file: {exc}", file=sys.stderr)
        return 2
    if args.env not in estate.environments:
        print(f"--env: unknown environment {args.env!r} (known: {', '.join(sorted(estate.environments))})",
              file=sys.stderr)
        return 2
    unknown = sorted(set(refs) - set(estate.sources))
    if unknown:
        print(f"--ref: unknown source {unknown[0]!r} (known: {', '.join(sorted(estate.sources))})", file=sys.stderr)
        return 2
    shared = Estatewide(estate, Settings(args.environments.resolve(), (args.env,), refs=refs))
    try:
        found = walk(shared.host(args.env), args.revision_range, refs.get(estate.app_source()))
    except SourceError as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 2
    finally:
        shared.close()
    return 1 if found else 0


def pytest_addoption(parser: pytest.Parser) -> None:
    """--replay RANGE: walk deployment-repository commits instead of running the checks."""
    parser.getgroup("releasegate").addoption(
        "--replay", metavar="RANGE", default=None,
        help="walk the deployment-repository commits of RANGE (A..B) for each selected environment, "
             "name the first that breaks it, and run nothing else")


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """Run the replay walk when --replay is given; exit 1 if a commit breaks an environment."""
    revision_range = config.getoption("replay", None)
    if not revision_range:
        return None
    from plugins.params import selected, shared

    state = shared(config)
    app_ref = state.settings.refs.get(state.estate.app_source())
    broken = False
    try:
        for env in selected(config):
            print(f"== replay {revision_range} for {env}")
            broken |= walk(state.host(env), revision_range, app_ref) is not None
    except SourceError as exc:
        raise pytest.UsageError(f"--replay: {exc}") from None
    finally:
        state.close()
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
