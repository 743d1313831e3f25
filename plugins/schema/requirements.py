"""Database requirements: the extensions and indexes (raw SQL the snapshot cannot express) that
database_requirements asks for, checked against the live catalog."""
from __future__ import annotations

from typing import Any

from releasegate.schema.catalog import LiveSchema, count_duplicate_groups, normalise_predicate
from releasegate.schema.comparison import BLOCKER, WARNING, Finding


def requirement_items(requirements: Any) -> list[tuple[str, Any]]:
    """(item id, requirement) for each extension and index in database_requirements."""
    if requirements is None:
        return []
    items = [(f"extension-{name}", name) for name in requirements.extensions]
    items += [(f"index-{req.name}", req) for req in requirements.indexes]
    return sorted(items, key=lambda pair: pair[0])


def check_extension(live: LiveSchema, name: str) -> list[Finding]:
    """A blocker if a required extension is not installed (and whether the server offers it)."""
    if name in live.extensions:
        return []
    if name in live.available_extensions:
        hint = f"run CREATE EXTENSION {name} (the server has it available)"
    else:
        hint = (f"the server does not even offer it (not in pg_available_extensions): install the "
                f"package for extension {name}, then CREATE EXTENSION {name}")
    return [Finding(BLOCKER, "extension", f"extension-{name}", None,
                    f"extension {name} is not installed; migrations that need it fail: {hint}",
                    {"extension": name, "available": name in live.available_extensions})]


def _index_matches(ix: Any, req: Any) -> bool:
    return (tuple(ix.key_columns) == tuple(req.columns) and bool(ix.unique) == bool(req.unique)
            and normalise_predicate(ix.predicate) == normalise_predicate(req.where))


def _req_text(req: Any) -> str:
    text = f"{'UNIQUE ' if req.unique else ''}({', '.join(req.columns)}) on {req.table}"
    return text + (f" WHERE {req.where}" if req.where else "")


def check_index(conn: Any, live: LiveSchema, req: Any) -> list[Finding]:
    """A blocker if a required index is missing or differs; for a unique one, count duplicates."""
    item = f"index-{req.name}"
    indexes = live.indexes.get(req.table, [])
    if req.table not in live.tables:
        return [Finding(BLOCKER, "index-requirement", item, None,
                        f"required index {req.name}: table {req.table} does not exist",
                        {"table": req.table})]
    match = next((ix for ix in indexes if _index_matches(ix, req)), None)
    if match is not None:
        if match.name == req.name:
            return []
        return [Finding(WARNING, "index-requirement", item, None,
                        f"required index {req.name} exists under the name {match.name}; rename it "
                        f"or update database_requirements", {"live": match.definition})]
    same_name = next((ix for ix in indexes if ix.name == req.name), None)
    details: dict[str, Any] = {"required": _req_text(req)}
    if same_name is not None:
        details["live"] = same_name.definition
        problem = f"differs: the database has {same_name.definition}"
    else:
        problem = "is missing"
    message = f"required index {req.name} {_req_text(req)} {problem}"
    if req.unique:
        groups = count_duplicate_groups(conn, req.table, tuple(req.columns), req.where,
                                        live.namespace)
        details["duplicate_groups"] = groups
        cols = ", ".join(req.columns)
        listing = (f"SELECT {cols}, count(*) FROM {req.table}"
                   f"{' WHERE ' + req.where if req.where else ''} GROUP BY {cols} "
                   f"HAVING count(*) > 1")
        details["dedupe_query"] = listing
        if groups:
            message += (f"; {groups} duplicate group(s) would make CREATE UNIQUE INDEX fail: list "
                        f"them with `{listing}` and keep one row per ({cols}) before migrating")
        else:
            message += "; no duplicates block it: create it before the release"
    return [Finding(BLOCKER, "index-requirement", item, None, message, details)]
