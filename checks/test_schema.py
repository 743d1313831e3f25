"""Migration snapshot drift: the committed directus-sync snapshot against each live database, and
the push that would fail.

`test_schema_matches_database` compares the snapshot an environment runs (an explicit --ref for the
application, else the commit its chart deploys) with its database: drift there means someone
changed the database by hand, or a push was not applied. `test_schema_candidate_push` predicts the
push of the candidate's snapshot (prerelease): in an environment that deploys tags the changes the
release brings are expected and only warn, but a push that would fail (the index pitfall) blocks;
in a branch environment (staging) the push must already have been applied, so drift blocks.
In prerelease, a blocker of the running snapshot that the candidate's push resolves is a warning
naming the candidate (blocking the release would block the fix); in smoke and drift it blocks.
"""
from __future__ import annotations

import functools
import weakref
from typing import Any, Iterable

import pytest
from _pytest.mark.expression import Expression

from releasegate.schema import catalog, comparison, push_plan, requirements
from releasegate.core.deployed import require_commit
from releasegate.findings import Gate
from releasegate.core.gitrepo import GitRepo, SourceError
from releasegate.core.host import EnvHost
from releasegate.params import per_env, per_item
from releasegate.schema.snapshot import Snapshot, load_ref


def _has_database(host: EnvHost) -> bool:
    return host.spec.database is not None and host.estate.snapshot is not None


@functools.lru_cache(maxsize=32)
def _snapshot(repo: GitRepo, sha: str, path: str, label: str) -> Snapshot:
    return load_ref(repo, sha, path, label)


def _name(repo: GitRepo, sha: str, ref: str | None = None) -> str:
    """A readable ref for messages: the release tag at the commit, else the branch, else the SHA."""
    tags = repo.tags_at(sha)
    if tags:
        return tags[-1]
    return f"{ref} ({sha[:12]})" if ref and not sha.startswith(ref) else sha[:12]


def running_snapshot(host: EnvHost) -> Snapshot:
    """The snapshot at the application commit the environment runs."""
    spec = host.estate.snapshot
    repo = host.git(spec.source)
    explicit = host.settings.refs.get(spec.source)
    if explicit:
        sha = repo.resolve(explicit)
    else:
        sha = require_commit(host).sha  # a tag that names no commit: not checked (a skip)
    return _snapshot(repo, sha, spec.path, _name(repo, sha, explicit))


def candidate_snapshot(host: EnvHost) -> tuple[str, Snapshot]:
    """(sha, snapshot) of what the environment gets next: its branch head, else the candidate."""
    spec = host.estate.snapshot
    repo = host.git(spec.source)
    ref = host.spec.deploys.branch or host.shared.candidate()
    sha = repo.resolve(ref)
    return sha, _snapshot(repo, sha, spec.path, _name(repo, sha, ref))


def _items(snap: Snapshot, pending: frozenset) -> list[tuple[str, Any]]:
    return [(name, (name, snap, pending)) for name in snap.names()]


def running_items(host: EnvHost) -> Iterable[tuple[str, Any]]:
    """Every collection of the snapshot the environment runs."""
    return _items(running_snapshot(host), frozenset())


def candidate_items(host: EnvHost) -> Iterable[tuple[str, Any]]:
    """Every collection of the candidate snapshot, when it differs from what runs."""
    _, candidate = candidate_snapshot(host)
    running = running_snapshot(host)
    pending = push_plan.pending_changes(candidate, running)
    if not pending:
        return []  # same schema as what runs: test_schema_matches_database covers it
    if host.spec.deploys.branch:
        pending = set()  # staging: the push must already have been applied and tested
    return _items(candidate, frozenset(pending))


def requirement_items(host: EnvHost) -> Iterable[tuple[str, Any]]:
    """Each extension and index of database_requirements."""
    return requirements.requirement_items(host.estate.database_requirements)


# session (Estatewide) -> {database key (DSN, timeout): its live schema}
_LIVE: weakref.WeakKeyDictionary[Any, dict[Any, catalog.LiveSchema]] = weakref.WeakKeyDictionary()


@pytest.fixture
def live(host: EnvHost, db: Any) -> catalog.LiveSchema:
    """The environment's live schema, read once per database (a handful of catalog queries;
    not again for another environment on the same DSN, nor when its connection is reopened); a
    failed read (statement timeout, permissions) is an ERROR naming the environment."""
    import psycopg  # loaded by the db fixture; not at collection, where no database is needed

    from releasegate.schema import database

    schemas = _LIVE.setdefault(host.shared, {})
    if db.key not in schemas:
        try:
            schemas[db.key] = catalog.read(db)
        except psycopg.Error as exc:
            db.rollback()
            raise SourceError(f"{host.name}: reading the database schema failed: "
                              f"{database.error_line(exc, host.timeout_s)}") from None
    return schemas[db.key]


_CANDIDATE: weakref.WeakKeyDictionary[Any, tuple[str, list]] = weakref.WeakKeyDictionary()


def candidate_findings(host: EnvHost, db: Any, live: catalog.LiveSchema) -> tuple[str, Any]:
    """(label, every finding of the candidate's push against this database), once per environment;
    None for the findings when the candidate's schema is the running one (its push changes
    nothing)."""
    if host not in _CANDIDATE:
        sha, candidate = candidate_snapshot(host)
        running = running_snapshot(host)
        pending = push_plan.pending_changes(candidate, running)
        label = candidate.where.rsplit(":", 1)[0]
        _CANDIDATE[host] = (label, comparison.compare(candidate, live, pending) if pending
                            else None)
    return _CANDIDATE[host]


# session (Estatewide) -> {(id of live schema, id of snapshot, collection, pending):
#                           (live schema, snapshot, findings)}: both held, so no id is reused
_COMPARED: weakref.WeakKeyDictionary[Any, dict[tuple, tuple]] = weakref.WeakKeyDictionary()


def compared(host: EnvHost, snap: Snapshot, live: catalog.LiveSchema, name: str,
             pending: frozenset) -> list[comparison.Finding]:
    """The findings of one collection, compared once per snapshot and database: the
    environments that run the same snapshot on the same database compare the same inputs."""
    memo = _COMPARED.setdefault(host.shared, {})
    key = (id(live), id(snap), name, pending)
    if key not in memo:
        memo[key] = (live, snap, comparison.compare_collection(snap, live, name, pending))
    return list(memo[key][2])


@functools.lru_cache(maxsize=16)
def is_prerelease(markexpr: str | None) -> bool:
    """Whether `-m markexpr` selects the prerelease checks and neither smoke nor drift ones
    (evaluated with pytest's own mark-expression grammar)."""
    if not (markexpr or "").strip():
        return False
    expression = Expression.compile(markexpr)

    def selects(marker: str) -> bool:
        return expression.evaluate(lambda name, **_: name == marker)

    return selects("prerelease") and not selects("smoke") and not selects("drift")


def _report(gate: Gate, findings: Iterable[comparison.Finding]) -> None:
    for f in findings:
        (gate.block if f.severity == comparison.BLOCKER else gate.warn)(
            f.message, **{"field": f.field, **f.details})  # field: locates the snapshot field file


@pytest.mark.prerelease
@pytest.mark.smoke
@pytest.mark.drift
@per_item(running_items, applies=_has_database)
def test_schema_matches_database(host: EnvHost, item: Any, db: Any, live: Any, gate: Gate,
                                 request: pytest.FixtureRequest) -> None:
    """The snapshot the environment runs describes its database, and a re-push would succeed."""
    name, snap, pending = item
    found = compared(host, snap, live, name, pending)
    if is_prerelease(request.config.option.markexpr) and any(
            f.severity == comparison.BLOCKER for f in found):
        label, candidate = candidate_findings(host, db, live)
        if candidate is not None:
            found = push_plan.fixed_by_candidate(found, candidate, label)
    _report(gate, found)


@pytest.mark.prerelease
@per_item(candidate_items, applies=_has_database)
def test_schema_candidate_push(host: EnvHost, item: Any, live: Any, gate: Gate) -> None:
    """Pushing the candidate's snapshot to this database would succeed and leave no drift."""
    name, snap, pending = item
    _report(gate, compared(host, snap, live, name, pending))


@pytest.mark.prerelease
@pytest.mark.smoke
@pytest.mark.drift
@per_env(_has_database)
def test_schema_no_unlisted_tables(host: EnvHost, live: Any, gate: Gate) -> None:
    """Every table of the database is in the snapshot the environment runs."""
    _report(gate, comparison.unlisted_tables(running_snapshot(host), live))


@pytest.mark.prerelease
@pytest.mark.smoke
@pytest.mark.drift
@per_item(requirement_items, applies=lambda host: host.spec.database is not None)
def test_database_requirement(host: EnvHost, item: Any, db: Any, live: Any, gate: Gate) -> None:
    """Each extension is installed; each required index exists as specified."""
    if isinstance(item, str):
        _report(gate, requirements.check_extension(live, item))
        return
    import psycopg

    from releasegate.schema import database

    try:
        _report(gate, requirements.check_index(db, live, item))
    except psycopg.Error as exc:
        db.rollback()
        pytest.fail(f"{host.name}: counting duplicates for index {item.name} failed: "
                    f"{database.error_line(exc, host.timeout_s)}", pytrace=False)
