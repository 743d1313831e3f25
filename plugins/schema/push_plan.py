"""The release's push: what it brings (pending changes), what it would do, what it fixes.

A push applies every change in one transaction: one finding that makes it fail (PUSH_FAILS) means
it changes nothing at all.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Iterable

from releasegate.schema.comparison import BLOCKER, PUSH_FAILS, WARNING, Finding
from releasegate.schema.snapshot import Snapshot


# What a push leaves alone: Directus's own snapshot excludes columns and tables without metadata.
IGNORED_BY_PUSH = {"extra-column", "extra-table"}


def predicted_push(findings: Iterable[Finding]) -> tuple[str, set[tuple[str, str | None]]]:
    """The push the findings predict: ("fails", the items that fail it), ("changes", the
    (collection, field) items it changes) or ("nothing", set())."""
    findings = list(findings)
    failing = {(f.collection, f.field) for f in findings
               if f.severity == BLOCKER and f.kind in PUSH_FAILS}
    if failing:
        return "fails", failing
    changed = {(f.collection, f.field) for f in findings if f.kind not in IGNORED_BY_PUSH}
    return ("changes", changed) if changed else ("nothing", set())


def fixed_by_candidate(found: list[Finding], candidate: list[Finding],
                       label: str) -> list[Finding]:
    """The running snapshot's blockers that the candidate's push resolves, made warnings naming it.

    candidate holds every finding of the candidate snapshot (all collections) against the same
    database, with the release's own changes pending. Its push runs in one transaction: if it
    would fail anywhere, it fixes nothing. Otherwise a blocker is resolved when the candidate has
    no blocker left on the same collection and field (the database then matches the candidate).
    """
    if any(f.severity == BLOCKER and f.kind in PUSH_FAILS for f in candidate):
        return found
    remaining = {(f.collection, f.field) for f in candidate if f.severity == BLOCKER}
    return [replace(f, severity=WARNING, details={**f.details, "fixed_by": label},
                    message=f"{f.message.split('; ')[0]}: the release about to be tagged "
                            f"({label}) fixes this: its push resolves it")
            if f.severity == BLOCKER and (f.collection, f.field) not in remaining else f
            for f in found]


def pending_changes(candidate: Snapshot, deployed: Snapshot) -> set[tuple[str, str | None]]:
    """(collection, field) pairs whose files differ between two snapshots: what a release brings.

    (collection, None) means the collection file differs; (collection, "*") that the collection
    is new or removed altogether (everything about it is the release's change).
    """
    out: set[tuple[str, str | None]] = set()
    before, after = set(deployed.names()), set(candidate.names())
    for name in after | before:
        if name not in before or name not in after:
            out.add((name, "*"))
        a, b = candidate.collections.get(name), deployed.collections.get(name)
        if (a and (a.meta, a.schema)) != (b and (b.meta, b.schema)):
            out.add((name, None))
        fa, fb = candidate.fields.get(name, {}), deployed.fields.get(name, {})
        for fname in set(fa) | set(fb):
            x, y = fa.get(fname), fb.get(fname)
            if (x and (x.type, x.meta, x.schema)) != (y and (y.type, y.meta, y.schema)):
                out.add((name, fname))
        ra, rb = candidate.relations.get(name, {}), deployed.relations.get(name, {})
        for fname in set(ra) | set(rb):
            x, y = ra.get(fname), rb.get(fname)
            if (x and (x.meta, x.schema)) != (y and (y.meta, y.schema)):
                out.add((name, fname))
    return out
