"""Compare a directus-sync snapshot with a live database, per collection, as a push would see it.

A push (`POST /schema/apply`) diffs the snapshot against what Directus's inspector reads from the
database (releasegate.schema.catalog) and applies every change in ONE transaction. So a column indexed
live by an index of any other name, while the snapshot says `is_indexed: false`, makes Directus run
`DROP INDEX "<table>_<column>_index"`; Postgres answers that it does not exist and everything rolls
back. That, and structural drift, are blockers; what the push merely changes, or what it ignores,
is a warning. A clean database gives no finding at all.

Beside it: index_names.py (the names Directus computes), push_plan.py (the release's pending
changes, the push predicted, the blockers its push fixes), requirements.py (extensions, indexes).
"""

from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from typing import Any, Iterable

from releasegate.schema.catalog import LiveSchema, meta_equal
from releasegate.schema.index_names import directus_index_name
from releasegate.schema.snapshot import Snapshot

BLOCKER = "blocker"
WARNING = "warning"
_TYPE_KEYS = ("data_type", "max_length", "numeric_precision", "numeric_scale")
_DEFINITION_KEYS = ("has_auto_increment", "is_generated", "generation_expression")
_META_SKIP = {"collection", "field", "id", "many_collection", "many_field"}
# Findings that make the push itself fail: blockers even when the release brings the change.
PUSH_FAILS = {"index-pitfall", "unique-pitfall", "not-null-pitfall", "snapshot-file",
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
        if severity == BLOCKER and mine and kind not in PUSH_FAILS:
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


def compare(snap: Snapshot, live: LiveSchema,
            pending: Iterable[tuple[str, str | None]] = ()) -> list[Finding]:
    """Every finding for the whole snapshot (all collections plus unlisted tables)."""
    pending = frozenset(pending)
    out = [f for name in snap.names() for f in compare_collection(snap, live, name, pending)]
    return out + unlisted_tables(snap, live)
