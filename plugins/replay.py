"""Replay: walk a range of deployment-repository commits and name the first one that breaks an environment.

For every commit of the range (oldest first) the env var parity gate runs as if that commit were
synced: required settings fields, boot of the settings with each container's environment, secret
keys; against the application commit the chart deploys at that commit (or --ref app=REF); and
what the cluster would refuse (plugins/kubernetes/sweep.py: schema, duplicates, immutable fields
against the commit before, probe ports). Blockers already present at the range's base are
reported once and do not count as new. A break is the same break while its identity
(plugins/breaks.py) stays; `--keep-going` ends with a table of every break.

    python -m releasegate.replay --env production --range A..B [--environments FILE] [--ref app=REF] [--keep-going]
    pytest --replay A..B --env production [--ref app=REF] [--replay-keep-going]   (the same, as a pytest option)

Estates evolve: an entry with nothing to check at a commit (a settings module, secret manifest or
container added later; an environment whose Argo CD Application came later) is named once, on a
`skip:` line, and the walk goes on.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from releasegate import breaks
from releasegate.breaks import Blocker
from releasegate.settings import finding, parity, targets
from releasegate.estate import EnvironmentsError, ensure_sources, load
from releasegate.core import gitrepo
from releasegate.core.gitrepo import Absent, SourceError, short
from releasegate.kubernetes import conflicts, openapi, sweep
from releasegate.core.host import EnvHost, Estatewide
from releasegate.options import Settings
from releasegate.core.redact import redact


def blockers(host: EnvHost, gitops_ref: str, app_ref: str | None) -> list[str]:
    """The gate's blocker messages for `host` as if the gitops commit were deployed."""
    return sorted({b.message for b in step(host, gitops_ref, app_ref)[0]})


class Unrendered(list):
    """The blockers of a commit whose chart did not render: nothing else could be checked there."""


_SETTINGS_CHECKS = ("test_settings", "test_secret_keys")
# what the renderer cannot do here (a chart it cannot fetch...) where the renderer says so
_NOT_CHECKED = getattr(gitrepo, "NotChecked", ())


def step(host: EnvHost, gitops_ref: str, app_ref: str | None,
         previous: tuple[dict, ...] | None = None) -> tuple[list[Blocker], dict[str, str], tuple | None]:
    """(blockers, {entry: why it is skipped}, the render) for `host` as if the gitops commit were
    deployed after the one whose render is `previous`.

    `skipped` names each entry that has nothing to check at that commit (a settings module, secret
    manifest or container added later), one line each. When the environment's own Argo CD
    Application does not exist at that commit the environment did not exist yet: nothing is checked
    (the render is None). A chart that does not render is a blocker: Argo CD could not sync it either.
    """
    try:
        found = parity.evaluate(host, gitops_ref, app_ref)
        manifests = host.render(gitops_ref)
    except Absent as exc:
        if exc.source == host.gitops_source and exc.path == host.spec.gitops.argocd_app:
            key = f"environments.{host.name}.gitops.argocd_app"
            return [], {key: f"{key}: {exc}: the environment does not exist there"}, None
        raise
    except SourceError as exc:
        text = str(exc) if str(exc).startswith(f"{host.name}:") else f"{host.name}: {exc}"
        if isinstance(exc, _NOT_CHECKED):  # the suite cannot render it here: no break, not checked
            return Unrendered(), {"render": f"{text} (not checked)"}, None
        return Unrendered([Blocker("render", None, text)]), {}, None
    out = {(f.details.get("check", "test_settings"), f.item, f.message): _subject(f)
           for f in found if f.severity == finding.BLOCK}
    version = openapi.pick_version(host.spec.kubernetes.version if host.spec.kubernetes else None)[0]
    out.update(((b.check, b.item, b.message), None)
               for b in sweep.cluster_blockers(version, manifests, previous))
    skipped = {str(f.item): f.message for f in found if f.severity == finding.SKIPPED}
    unread = host.unread_sources(gitops_ref)  # sources not rendered here: what they deploy is not checked
    if unread:
        skipped["render"] = f"{host.name}: {'; '.join(unread)} (not checked)"
    return [Blocker(*key, subject=out[key]) for key in sorted(out, key=str)], skipped, manifests


def _subject(found: finding.Finding) -> str:
    """The settings class a settings finding is about ('' when none): while the running code has
    no such class, its break is not present there, neither failing nor fixed."""
    name = str(found.details.get("class") or found.details.get("field") or "").split(".")[0]
    return name if name[:1].isupper() else ""


def classes(host: EnvHost, gitops_ref: str, app_ref: str | None) -> set[str]:
    """The settings classes of the code each settings entry runs at that gitops commit."""
    out: set[str] = set()
    for entry in host.estate.settings:
        try:
            sha = host.git(host.app_source).resolve(app_ref) if app_ref else \
                targets.running(host, gitops_ref, entry).sha
            if sha:
                out |= {c.name for c in targets.model(host, entry, sha)[1].classes}
        except SourceError:
            continue
    return out


def walk(host: EnvHost, revision_range: str, app_ref: str | None = None, out=None,
         keep_going: bool = False) -> str | None:
    """Print one line per commit; return the SHA of the first commit that adds a blocker (or None).

    A blocker is the same break from commit to commit while its identity (environment, check, item,
    cause kind: plugins/breaks.py) stays. An entry with nothing to check at a commit is said once,
    when that starts (and when it ends), and its breaks are "not present" there, neither failing
    nor fixed. With `keep_going`, the walk names every commit that adds a break and every commit
    where one stops while its subject still exists (a fix), and ends with a table of the breaks.
    """
    out = out or sys.stdout
    repo = host.git(host.gitops_source)
    for end in revision_range.split(".."):
        if end and repo.rev_parse(end) is None:
            raise SourceError(f"{repo.name}: {end!r} of range {revision_range} is not a commit")
    # First parents only: the states the deployment branch really had (what Argo CD synced), not the
    # commits of a branch before its merge.
    commits = list(reversed(repo.log(revision_range, first_parent=True)))
    if not commits:
        raise SourceError(f"{repo.name}: range {revision_range} holds no commit")
    base = revision_range.split("..", 1)[0] if ".." in revision_range else None
    known, skipped, rendered = step(host, base, app_ref) if base else ([], {}, None)
    ledger = breaks.Ledger()
    open_ = {breaks.identity(host.name, b): b for b in known}
    for key, blocker in open_.items():
        ledger.opened(key, blocker, f"<{short(base)}", "")
    if known:
        print(f"{len(known)} blocker(s) already at the base {base} (not counted):", file=out)
        for blocker in known:
            print(f"    {redact(blocker.message)}", file=out)
    for message in skipped.values():
        print(f"    skip: {redact(message)} (at the base)", file=out)
    known_ids = set(open_)
    said, first, count, unchecked = skipped, None, 0, 0
    for commit in commits:
        now, keys, manifests = step(host, commit.sha, app_ref, rendered)
        now_ids = {breaks.identity(host.name, b): b for b in now}
        new = [b for k, b in now_ids.items() if k not in (open_ if keep_going else known_ids)]
        # not present: the environment does not exist, or an entry is newly skipped; its breaks wait
        absent = manifests is None and not isinstance(now, Unrendered)
        waiting = set(keys) - set(said)
        gone = [] if not keep_going or isinstance(now, Unrendered) or absent else [
            k for k in open_ if k not in now_ids
            and not (waiting and k[1].startswith(_SETTINGS_CHECKS))]
        if gone and any(open_[k].subject for k in gone):  # a class the running code no longer has
            present = classes(host, commit.sha, app_ref)
            gone = [k for k in gone if not open_[k].subject or open_[k].subject in present]
        who = f"({commit.author.split(' <')[0]}, {commit.date})"
        if new:
            print(f"FAIL {commit.short} {commit.subject} {who}", file=out)
            for blocker in new:
                print(f"    {redact(blocker.message)}", file=out)
        elif gone:
            print(f"FIX  {commit.short} {commit.subject} {who}", file=out)
        elif isinstance(now, Unrendered):  # nothing could be checked at this commit
            unchecked += 1
            print(f"n/c  {commit.short} {commit.subject}: the chart does not render here", file=out)
        else:
            print(f"ok   {commit.short} {commit.subject}", file=out)
        for key in gone:
            print(f"    cleared: {redact(open_[key].message)}", file=out)
            ledger.closed(key, commit.short, commit.date)
        for key, message in keys.items():
            if key not in said:
                print(f"    skip: {redact(message)}", file=out)
        for key in said:
            if key not in keys:
                print(f"    checked again: {key}", file=out)
        said = keys
        if new:
            count += 1
            first = first or commit
            for blocker in new:
                ledger.opened(breaks.identity(host.name, blocker), blocker, commit.short, commit.date)
            if not keep_going:
                break
        if keep_going:  # what a chart that does not render (or an absent entry) hid is still there
            open_ = {**{k: b for k, b in open_.items() if k not in gone}, **now_ids}
        if manifests is not None:  # an update the API server refuses leaves the old object running
            rendered = conflicts.applied(rendered, manifests) if rendered is not None else manifests
    if keep_going and ledger.rows:
        print(f"breaks of {host.name} ({revision_range}):", file=out)
        for line in ledger.table():
            print(f"    {redact(line)}", file=out)
    if unchecked:
        print(f"{unchecked} commit(s) of {len(commits)} not checked: the chart does not render there",
              file=out)
    if first is None:
        print(f"no commit of {revision_range} breaks {host.name}", file=out)
        return None
    if keep_going:
        print(f"{count} commit(s) of {len(commits)} add a blocker for {host.name}", file=out)
    print(f"first failing commit for {host.name}: {first.sha} {first.subject!r}", file=out)
    return first.sha


def main(argv: list[str] | None = None) -> int:
    """Command line; exit 1 when a commit breaks the environment, 0 when none does, 2 on bad input."""
    parser = argparse.ArgumentParser(prog="python -m releasegate.replay", description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True, help="environment to replay (e.g. production)")
    parser.add_argument("--range", required=True, dest="revision_range",
                        help="deployment-repository commits, git syntax: A..B (or a single ref: its history)")
    parser.add_argument("--environments", type=Path, default=Path("environments.yaml"),
                        help="environments file (default: ./environments.yaml)")
    parser.add_argument("--keep-going", action="store_true",
                        help="walk the whole range: name every commit that adds a blocker or clears one")
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
        found = walk(shared.host(args.env), args.revision_range, refs.get(estate.app_source()),
                     keep_going=args.keep_going)
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
    parser.getgroup("releasegate").addoption(
        "--replay-keep-going", action="store_true", default=False,
        help="with --replay: walk the whole range, naming every commit that adds or clears a blocker")


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """Run the replay walk when --replay is given; exit 1 if a commit breaks an environment."""
    revision_range = config.getoption("replay", None)
    if not revision_range:
        return None
    from releasegate.params import selected, shared

    state = shared(config)
    app_ref = state.settings.refs.get(state.estate.app_source())
    broken = False
    try:
        for env in selected(config):
            print(f"== replay {revision_range} for {env}")
            broken |= walk(state.host(env), revision_range, app_ref,
                           keep_going=config.getoption("replay_keep_going", False)) is not None
    except SourceError as exc:
        raise pytest.UsageError(f"--replay: {exc}") from None
    finally:
        state.close()
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
