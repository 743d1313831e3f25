"""Compare a directus-sync snapshot with a live database, per collection, as a push would see it.

A push (`POST /schema/apply`) diffs the snapshot against what Directus's inspector reads from the
database (plugins.schema.catalog) and applies every change in ONE transaction. So a column indexed
live by an index of any other name, while the snapshot says `is_indexed: false`, makes Directus run
`DROP INDEX "<table>_<column>_index"`; Postgres answers that it does not exist and everything rolls
back. That, and structural drift, are blockers; what the push merely changes, or what it ignores,
is a warning. A clean database gives no finding at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field as dc_field, replace
from typing import Any, Iterable

from plugins.schema.catalog import LiveSchema, count_duplicate_groups, meta_equal, normalise_predicate
from plugins.schema.snapshot import Snapshot

BLOCKER = "blocker"
WARNING = "warning"
_MAX_IDENT = 63  # Postgres: NAMEDATALEN - 1 bytes; Directus's postgres helper passes maxLength 63
_TYPE_KEYS = ("data_type", "max_length", "numeric_precision", "numeric_scale")
_DEFINITION_KEYS = ("has_auto_increment", "is_generated", "generation_expression")
_META_SKIP = {"collection", "field", "id", "many_collection", "many_field"}
# Findings that make the push itself fail: blockers even when the release brings the change.
_PUSH_FAILS = {"index-pitfall", "unique-pitfall", "not-null-pitfall", "snapshot-file",
               "orphan-field-meta"}
# Findings about a change made by hand: a running Directus plans from its cached schema, so it does
# not see the change (nor its repair) until it restarts or its system cache is cleared.
_HAND_MADE = {"index-pitfall", "unique-pitfall", "orphan-field-meta", "missing-field",
              "missing-collection", "type", "nullable", "primary-key", "definition", "foreign-key",
              "foreign-key-action", "default", "extra-column", "extra-table", "index-drop",
              "unique-drop", "meta", "meta-missing"}
CACHE_ADVICE = ("after any change by hand restart Directus or clear its system cache (POST "
                "/utils/cache/clear?system=true) before pushing: until then it plans from its "
                "cached schema")


@dataclass(frozen=True)
class Finding:
    """One difference: severity, a one-line message, and JSON-able details for reports."""

    severity: str
    kind: str
    collection: str
    field: str | None
    message: str
    details: dict[str, Any] = dc_field(default_factory=dict)


def _simple_hash(units: list[int]) -> str:
    """@directus/utils getSimpleHash: `hash = 31 * hash + charCode` kept a signed 32-bit integer,
    then Math.abs(hash) in hex."""
    value = 0
    for unit in units:
        value = (31 * value + unit) & 0xFFFFFFFF
        value -= (value & 0x80000000) << 1  # ToInt32, what `hash &= hash` does
    return format(abs(value), "x")


def directus_index_name(kind: str, collection: str, fields: str | Iterable[str],
                        max_length: int = _MAX_IDENT) -> str:
    """The name Directus gives an index, unique or foreign constraint it creates or drops.

    @directus/api getDefaultIndexName(type, collection, fields, {maxLength: 63}) (the postgres
    schema helper): `<collection>_<fields>_<type>` lower-cased, `.` and `-` of the collection made
    `_`; longer than maxLength, a prefix, `__`, getSimpleHash of the full name and `_<type>`.
    Lengths count UTF-16 code units, as JavaScript does; Postgres then keeps at most 63 bytes.
    """
    fields = [fields] if isinstance(fields, str) else list(fields)
    table = re.sub(r"[.-]", "_", collection)
    name = (table + "_" + "_".join(fields) + "_" + kind).lower()
    units = _utf16(name)
    if len(units) > max_length:
        suffix = _utf16(f"__{_simple_hash(units)}_{kind}")
        units = units[:max(max_length - len(suffix), 0)] + suffix
        name = b"".join(u.to_bytes(2, "little") for u in units).decode("utf-16-le",
                                                                       errors="ignore")
    return name.encode()[:_MAX_IDENT].decode(errors="ignore")


def _utf16(text: str) -> list[int]:
    data = text.encode("utf-16-le")
    return [int.from_bytes(data[i:i + 2], "little") for i in range(0, len(data), 2)]


def _type_text(schema: dict[str, Any]) -> str:
    text = str(schema.get("data_type"))
    if schema.get("max_length") is not None:
        return f"{text}({schema['max_length']})"
    if text == "numeric" and schema.get("numeric_precision") is not None:
        return f"{text}({schema['numeric_precision']},{schema.get('numeric_scale') or 0})"
    return text


def _null_text(nullable: bool) -> str:
    return "NULL" if nullable else "NOT NULL"


class _Collector:
    def __init__(self, snap: Snapshot, collection: str, pending: frozenset) -> None:
        self.snap, self.collection, self.pending = snap, collection, pending
        self.out: list[Finding] = []

    def add(self, severity: str, kind: str, fld: str | None, message: str, **details: Any) -> None:
        # A change the release itself brings (candidate differs from the deployed snapshot) is
        # what the push is for: reported, not blocking, unless the push would fail on it.
        mine = (self.collection, fld) in self.pending or (self.collection, "*") in self.pending
        if severity == BLOCKER and mine and kind not in _PUSH_FAILS:
            severity = WARNING
            message = message.split("; ")[0] + ": a change this release brings, the push applies it"
        elif kind in _HAND_MADE:
            message = f"{message}; {CACHE_ADVICE}"
        self.out.append(Finding(severity, kind, self.collection, fld, message, details))


def compare_collection(snap: Snapshot, live: LiveSchema, name: str,
                       pending: Iterable[tuple[str, str | None]] = ()) -> list[Finding]:
    """Every finding for one collection (an item of the check), blockers first."""
    c = _Collector(snap, name, frozenset(pending))
    for error in snap.errors.get(name, ()):
        c.add(BLOCKER, "snapshot-file", None,
              f"malformed snapshot file {error}; directus-sync cannot push it: fix the file")
    coll = snap.collections.get(name)
    fields = snap.fields.get(name, {})
    table = (coll.schema or {}).get("name", name) if coll and coll.schema else name
    has_table = (coll is not None and not coll.is_folder) or (
        coll is None and any(not f.is_alias for f in fields.values()))
    if has_table and table not in live.tables:
        where = snap.path_of(coll.file) if coll else f"{snap.where}/fields/{name}/"
        c.add(BLOCKER, "missing-collection", None,
              f"table {table} does not exist in the database but the snapshot has it ({where}); "
              f"create it by pushing the snapshot, or restore it", table=table)
        return _sorted(c.out)
    if coll is not None and live.directus is not None and coll.meta is not None:
        _compare_meta(c, None, f"collection {name}", coll.meta,
                      live.directus.collections.get(name), "directus_collections",
                      snap.path_of(coll.file))
    for fld in fields.values():
        _compare_field(c, live, table, fld)
    for rel in snap.relations.get(name, {}).values():
        _compare_relation(c, live, table, rel, fields)
    if has_table and not name.startswith("directus_"):
        known = {(f.schema or {}).get("name", f.name) for f in fields.values() if not f.is_alias}
        for column in live.tables[table]:
            if column not in known and f"fields/{name}/{column}.json" not in snap.broken:
                c.add(WARNING, "extra-column", column,
                      f"{table}.{column} exists in the database but not in the snapshot: add "
                      f"fields/{name}/{column}.json (directus-sync pull) or drop the column "
                      f"deliberately", table=table, column=column)
    return _sorted(c.out)


def _sorted(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (f.severity != BLOCKER, f.field or "", f.kind))


def _compare_field(c: _Collector, live: LiveSchema, table: str, fld: Any) -> None:
    file = c.snap.path_of(fld.file)
    want = fld.schema or {}
    column = want.get("name") or fld.name
    have = None if fld.is_alias else live.directus_column(table, column)
    if live.directus is not None and fld.meta is not None and (fld.is_alias or have is not None):
        _compare_meta(c, fld.name, f"field {c.collection}.{fld.name}", fld.meta,
                      live.directus.fields.get((c.collection, fld.name)), "directus_fields", file)
    if fld.is_alias:
        return
    where = f"{table}.{column}"
    if have is None and live.directus is not None and (c.collection, fld.name) in \
            live.directus.fields:
        # FieldsService.createField refuses a field that has a directus_fields row even without
        # its column, and a meta row without a column is not in Directus's own snapshot: so the
        # apply plans to create it, fails, and rolls back.
        c.add(BLOCKER, "orphan-field-meta", fld.name,
              f'push fails: {where} was dropped from the database but directus_fields still has '
              f'its row, so Directus plans to create the field and refuses (Invalid payload. '
              f'Field "{fld.name}" already exists in collection "{c.collection}".) and the whole '
              f"apply rolls back; restore the column as {file} describes, or delete the metadata "
              f"row (DELETE FROM directus_fields WHERE collection = '{c.collection}' AND field = "
              f"'{fld.name}') so that the push creates it", table=table, column=column, file=file)
        return
    if have is None:
        rows = live.rows.get(table, 0)
        if (not want.get("is_nullable", True) and want.get("default_value") is None
                and not want.get("has_auto_increment") and not want.get("is_generated")
                and rows > 0):
            c.add(BLOCKER, "not-null-pitfall", fld.name,
                  f"push would add {where} NOT NULL without a default to a table with about "
                  f"{rows} rows: ALTER TABLE fails and the whole push rolls back; give it a "
                  f"default_value or make it nullable in {file}", table=table, column=column,
                  rows=rows, file=file)
            return
        c.add(BLOCKER, "missing-field", fld.name,
              f"{where} does not exist in the database but the snapshot has it ({file}); push the "
              f"snapshot or restore the column", table=table, column=column, file=file)
        return
    if any(want.get(k) != have[k] for k in _TYPE_KEYS):
        c.add(BLOCKER, "type", fld.name,
              f"{where} is {_type_text(have)} in the database, the snapshot says "
              f"{_type_text(want)} ({file}); the push would ALTER the column type: make them agree",
              snapshot={k: want.get(k) for k in _TYPE_KEYS}, live={k: have[k] for k in _TYPE_KEYS})
    if want.get("is_nullable") != have["is_nullable"]:
        c.add(BLOCKER, "nullable", fld.name,
              f"{where} is {_null_text(have['is_nullable'])} in the database, the snapshot says "
              f"{_null_text(bool(want.get('is_nullable')))} ({file}); the push would flip it "
              f"(SET NOT NULL fails on existing NULLs)", snapshot=want.get("is_nullable"),
              live=have["is_nullable"])
    if bool(want.get("is_primary_key")) != have["is_primary_key"]:
        c.add(BLOCKER, "primary-key", fld.name,
              f"{where} is {'' if have['is_primary_key'] else 'not '}the primary key in the "
              f"database, the snapshot says the opposite ({file})",
              snapshot=want.get("is_primary_key"), live=have["is_primary_key"])
    changed = [k for k in _DEFINITION_KEYS if bool(want.get(k)) != bool(have[k])
               or (k == "generation_expression" and want.get(k) != have[k])]
    if changed:
        c.add(BLOCKER, "definition", fld.name,
              f"{where} differs in {', '.join(changed)} from the snapshot ({file})",
              snapshot={k: want.get(k) for k in changed}, live={k: have[k] for k in changed})
    rel = c.snap.relations.get(c.collection, {}).get(fld.name)
    if (rel is None or rel.schema is None) and (
            want.get("foreign_key_table"), want.get("foreign_key_column")) != (
            have["foreign_key_table"], have["foreign_key_column"]):
        c.add(BLOCKER, "foreign-key", fld.name,
              f"{where} references {_target(have)} in the database, the snapshot says "
              f"{_target(want)} ({file})", snapshot=_target(want), live=_target(have))
    if not want.get("is_primary_key") and not have["is_primary_key"]:
        _compare_unique(c, live, table, column, fld.name, want, have, file)
        _compare_indexed(c, live, table, column, fld.name, want, have, file)
    if want.get("default_value") != have["default_value"]:
        c.add(WARNING, "default", fld.name,
              f"{where} defaults to {have['default_value']!r} in the database, the snapshot says "
              f"{want.get('default_value')!r} ({file}); the push will change the default",
              snapshot=want.get("default_value"), live=have["default_value"])


def _target(schema: dict[str, Any]) -> str:
    if not schema.get("foreign_key_table"):
        return "nothing"
    return f"{schema['foreign_key_table']}.{schema.get('foreign_key_column')}"


def _compare_unique(c: _Collector, live: LiveSchema, table: str, column: str, name: str,
                    want: dict, have: dict, file: str) -> None:
    if bool(want.get("is_unique")) == have["is_unique"]:
        return
    expected = directus_index_name("unique", c.collection, name)
    if want.get("is_unique"):
        c.add(WARNING, "unique-create", name,
              f"{table}.{column} is unique in the snapshot but not in the database ({file}); the "
              f"push adds constraint {expected} and fails if duplicate values exist",
              constraint=expected)
        return
    live_names = [k.name for k in live.constraints.get(table, ())
                  if k.type == "u" and k.columns == (column,)]
    if expected in live_names:
        c.add(WARNING, "unique-drop", name,
              f"{table}.{column} is unique in the database, not in the snapshot ({file}); the push "
              f"drops constraint {expected}", constraint=expected)
        return
    statement = f'ALTER TABLE "{table}" DROP CONSTRAINT "{expected}"'
    c.add(BLOCKER, "unique-pitfall", name,
          f"push would run {statement}, which does not exist (live unique constraint "
          f"{', '.join(live_names)}), and roll back entirely: set \"is_unique\": true in {file}",
          statement=statement, live_constraints=live_names, file=file)


def _compare_indexed(c: _Collector, live: LiveSchema, table: str, column: str, name: str,
                     want: dict, have: dict, file: str) -> None:
    expected = directus_index_name("index", c.collection, name)
    if want.get("is_indexed") and not have["is_indexed"]:
        covering = [ix.name for ix in live.covering(table, column)]
        c.add(WARNING, "index-create", name,
              f"{table}.{column} is indexed in the snapshot but not in the database ({file}); the "
              f"push creates index {expected} (CREATE INDEX locks writes on the table while it "
              f"builds)", index=expected, live_covering=covering)
    elif not want.get("is_indexed") and have["is_indexed"]:
        indexing = [ix.name for ix in live.indexing(table, column)]
        if expected in indexing:
            c.add(WARNING, "index-drop", name,
                  f"{table}.{column} is indexed in the database ({expected}), not in the snapshot "
                  f"({file}); the push drops that index", index=expected)
            return
        statement = f'DROP INDEX "{expected}"'
        c.add(BLOCKER, "index-pitfall", name,
              f"push would run {statement}, which does not exist (the column is indexed by "
              f"{', '.join(indexing)}), and the whole push rolls back: set \"is_indexed\": true "
              f"in {file}", statement=statement, live_indexes=indexing, file=file,
              definitions=[ix.definition for ix in live.indexing(table, column)])


def _compare_relation(c: _Collector, live: LiveSchema, table: str, rel: Any,
                      fields: dict) -> None:
    file = c.snap.path_of(rel.file)
    if live.directus is not None and rel.meta is not None:
        _compare_meta(c, rel.field, f"relation {c.collection}.{rel.field}", rel.meta,
                      live.directus.relations.get((c.collection, rel.field)), "directus_relations",
                      file)
    want = rel.schema
    if want is None:
        return
    column = want.get("column") or rel.field
    if column not in live.tables.get(table, {}):
        return  # reported as a missing field
    have = live.foreign_key(table, column)
    where = f"{table}.{column}"
    target = f"{want['foreign_key_table']}.{want['foreign_key_column']}"
    if have is None:
        c.add(BLOCKER, "foreign-key", rel.field,
              f"{where} has no foreign key in the database, the snapshot says it references "
              f"{target} ({file}); the push adds it and fails on orphaned rows",
              snapshot=target, live=None)
        return
    live_target = f"{have.fk_table}.{have.fk_columns[0] if have.fk_columns else None}"
    if live_target != target:
        c.add(BLOCKER, "foreign-key", rel.field,
              f"{where} references {live_target} in the database, the snapshot says {target} "
              f"({file})", snapshot=target, live=live_target)
    actions = [(k, want.get(k), getattr(have, k)) for k in ("on_delete", "on_update")
               if (want.get(k) or "NO ACTION") != getattr(have, k)]
    if actions:
        text = "; ".join(f"{k.replace('_', ' ').upper()} is {h} in the database, {w} in the "
                         f"snapshot" for k, w, h in actions)
        c.add(BLOCKER, "foreign-key-action", rel.field,
              f"{where} -> {target}: {text} ({file}); deletes would behave differently than "
              f"tested", constraint=have.name, **{k: {"snapshot": w, "live": h}
                                                  for k, w, h in actions})
    if want.get("constraint_name") and want["constraint_name"] != have.name:
        c.add(WARNING, "foreign-key-name", rel.field,
              f"{where}: foreign key is named {have.name} in the database, "
              f"{want['constraint_name']} in the snapshot ({file})",
              snapshot=want["constraint_name"], live=have.name)


def _compare_meta(c: _Collector, fld: str | None, what: str, want: dict, have: dict | None,
                  table: str, file: str) -> None:
    if have is None:
        c.add(WARNING, "meta-missing", fld,
              f"{what} has no row in {table} ({file}); Directus does not manage it there: push "
              f"the snapshot", table=table)
        return
    differ = sorted(k for k, v in want.items()
                    if k in have and v != have[k] and k not in _META_SKIP
                    and not meta_equal(v, have[k]))
    if differ:
        c.add(WARNING, "meta", fld,
              f"{what}: {', '.join(differ)} in {table} differs from the snapshot ({file})",
              **{k: {"snapshot": want[k], "live": have[k]} for k in differ})


def unlisted_tables(snap: Snapshot, live: LiveSchema) -> list[Finding]:
    """Live tables the snapshot does not know (Directus's own directus_* tables excepted)."""
    known = {(coll.schema or {}).get("name", name) for name, coll in snap.collections.items()}
    known |= set(snap.fields)
    return [Finding(WARNING, "extra-table", table, None,
                    f"table {table} exists in the database but not in the snapshot "
                    f"({snap.where}): add it with directus-sync pull or drop it deliberately; "
                    f"{CACHE_ADVICE}",
                    {"table": table})
            for table in sorted(live.tables)
            if table not in known and not table.startswith("directus_")]


# What a push leaves alone: Directus's own snapshot excludes columns and tables without metadata.
IGNORED_BY_PUSH = {"extra-column", "extra-table"}


def predicted_push(findings: Iterable[Finding]) -> tuple[str, set[tuple[str, str | None]]]:
    """The push the findings predict: ("fails", the items that fail it), ("changes", the
    (collection, field) items it changes) or ("nothing", set())."""
    findings = list(findings)
    failing = {(f.collection, f.field) for f in findings
               if f.severity == BLOCKER and f.kind in _PUSH_FAILS}
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
    if any(f.severity == BLOCKER and f.kind in _PUSH_FAILS for f in candidate):
        return found
    remaining = {(f.collection, f.field) for f in candidate if f.severity == BLOCKER}
    return [replace(f, severity=WARNING, details={**f.details, "fixed_by": label},
                    message=f"{f.message.split('; ')[0]}: the release about to be tagged "
                            f"({label}) fixes this: its push resolves it")
            if f.severity == BLOCKER and (f.collection, f.field) not in remaining else f
            for f in found]


def compare(snap: Snapshot, live: LiveSchema,
            pending: Iterable[tuple[str, str | None]] = ()) -> list[Finding]:
    """Every finding for the whole snapshot (all collections plus unlisted tables)."""
    pending = frozenset(pending)
    out = [f for name in snap.names() for f in compare_collection(snap, live, name, pending)]
    return out + unlisted_tables(snap, live)


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


# -- database requirements (raw SQL the snapshot cannot express) -------------------------------

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
