"""The live schema of one Postgres database, read the way Directus's schema inspector reads it.

A handful of set-based catalog queries (tables, columns, constraints, indexes, extensions, and
Directus's own directus_collections/fields/relations rows when those tables exist), never one
query per table or field. Only SELECTs: it runs inside the caller's read-only transaction, whose
statement_timeout bounds every query.

Directus's inspector (@directus/schema, postgres dialect) decides: data_type is
`atttypid::regtype`; is_indexed means a NON-unique index whose keys are all this column;
is_unique means a single-column primary-key or unique CONSTRAINT (a unique index alone does not
count); has_auto_increment means a primary key backed by an owned sequence (serial/identity);
default_value is pg_get_expr cut at the first '::' with quotes stripped, then cast by type.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field as dc_field
from typing import Any

_FK_ACTIONS = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL",
               "d": "SET DEFAULT"}
DIRECTUS_TABLES = ("directus_collections", "directus_fields", "directus_relations")
_NUMBER_TYPES = {"smallint", "integer", "bigint", "numeric", "real", "double precision"}

_Q_TABLES = """
SELECT rel.relname AS table,
       greatest(rel.reltuples, coalesce(pg_stat_get_live_tuples(rel.oid), 0))::bigint AS rows
FROM pg_class rel
WHERE rel.relnamespace = %(ns)s::regnamespace AND rel.relkind IN ('r', 'p')
  AND NOT rel.relispartition
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = rel.oid AND d.deptype = 'e')
"""

_Q_COLUMNS = """
SELECT rel.relname AS table, att.attname AS name, att.attnum AS position,
       att.atttypid::regtype::text AS data_type,
       NOT att.attnotnull AS is_nullable,
       CASE WHEN att.attgenerated = '' THEN pg_get_expr(ad.adbin, ad.adrelid) END AS default_raw,
       att.attgenerated = 's' AS is_generated,
       CASE WHEN att.attgenerated = 's' THEN pg_get_expr(ad.adbin, ad.adrelid) END
         AS generation_expression,
       att.attidentity <> '' AS is_identity,
       EXISTS (SELECT 1 FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
               WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = att.attrelid
                 AND d.refobjsubid = att.attnum AND d.deptype IN ('a', 'i')) AS owns_sequence,
       CASE WHEN att.atttypid IN (1042, 1043) THEN att.atttypmod - 4
            WHEN att.atttypid IN (1560, 1562) THEN att.atttypmod END AS max_length,
       CASE att.atttypid WHEN 21 THEN 16 WHEN 23 THEN 32 WHEN 20 THEN 64
            WHEN 1700 THEN CASE WHEN att.atttypmod = -1 THEN NULL
                                ELSE ((att.atttypmod - 4) >> 16) & 65535 END
            WHEN 700 THEN 24 WHEN 701 THEN 53 END AS numeric_precision,
       CASE WHEN att.atttypid IN (21, 23, 20) THEN 0
            WHEN att.atttypid = 1700 THEN CASE WHEN att.atttypmod = -1 THEN NULL
                                               ELSE (att.atttypmod - 4) & 65535 END
       END AS numeric_scale
FROM pg_attribute att
JOIN pg_class rel ON rel.oid = att.attrelid
LEFT JOIN pg_attrdef ad ON (ad.adrelid, ad.adnum) = (att.attrelid, att.attnum)
WHERE rel.relnamespace = %(ns)s::regnamespace AND rel.relkind IN ('r', 'p')
  AND att.attnum > 0 AND NOT att.attisdropped
ORDER BY rel.relname, att.attnum
"""

_Q_CONSTRAINTS = """
SELECT con.conname AS name, con.contype AS type, rel.relname AS table,
       con.conkey::int[] AS keys, frel.relname AS fk_table, con.confkey::int[] AS fk_keys,
       CASE WHEN frel.relnamespace <> con.connamespace THEN
         ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(num, ord)
               JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num
               ORDER BY k.ord)::text[] END AS fk_columns,
       con.confupdtype AS on_update, con.confdeltype AS on_delete
FROM pg_constraint con
JOIN pg_class rel ON rel.oid = con.conrelid
LEFT JOIN pg_class frel ON frel.oid = con.confrelid
WHERE con.connamespace = %(ns)s::regnamespace AND con.contype IN ('p', 'u', 'f')
"""

_Q_INDEXES = """
SELECT i.relname AS name, t.relname AS table, ix.indisunique AS unique,
       ix.indisprimary AS primary, ix.indnkeyatts AS key_count, ix.indkey::int2[]::int[] AS keys,
       pg_get_expr(ix.indpred, ix.indrelid) AS predicate,
       pg_get_indexdef(ix.indexrelid) AS definition,
       con.conname AS constraint
FROM pg_index ix
JOIN pg_class i ON i.oid = ix.indexrelid
JOIN pg_class t ON t.oid = ix.indrelid
LEFT JOIN pg_constraint con ON con.conindid = ix.indexrelid AND con.contype IN ('p', 'u', 'x')
WHERE t.relnamespace = %(ns)s::regnamespace AND t.relkind IN ('r', 'p')
"""

_Q_EXTENSIONS = """
SELECT a.name, e.extversion AS installed
FROM pg_available_extensions a FULL JOIN pg_extension e ON e.extname = a.name
"""


@dataclass(frozen=True)
class Column:
    """A live column, as the catalog describes it."""

    table: str
    name: str
    position: int
    data_type: str
    is_nullable: bool
    default_raw: str | None
    is_generated: bool
    generation_expression: str | None
    is_identity: bool
    owns_sequence: bool
    max_length: int | None
    numeric_precision: int | None
    numeric_scale: int | None


@dataclass(frozen=True)
class Constraint:
    """A primary-key, unique or foreign-key constraint."""

    name: str
    type: str  # 'p', 'u', 'f'
    table: str
    columns: tuple[str, ...]
    fk_table: str | None
    fk_columns: tuple[str, ...]
    on_update: str | None
    on_delete: str | None


@dataclass(frozen=True)
class Index:
    """An index; columns holds None for an expression key; predicate is pg_get_expr(indpred)."""

    name: str
    table: str
    unique: bool
    primary: bool
    columns: tuple[str | None, ...]      # every indkey entry, INCLUDE columns too
    key_columns: tuple[str | None, ...]  # the key part only
    predicate: str | None
    definition: str
    constraint: str | None


@dataclass
class LiveSchema:
    """Everything read from one database, keyed by table."""

    namespace: str
    tables: dict[str, dict[str, Column]] = dc_field(default_factory=dict)
    rows: dict[str, int] = dc_field(default_factory=dict)  # estimated rows per table (statistics)
    constraints: dict[str, list[Constraint]] = dc_field(default_factory=dict)
    indexes: dict[str, list[Index]] = dc_field(default_factory=dict)
    extensions: dict[str, str] = dc_field(default_factory=dict)        # installed: version
    available_extensions: set[str] = dc_field(default_factory=set)
    directus: DirectusRows | None = None
    queries: int = 0
    _single: dict[tuple[str, str], list[Constraint]] | None = dc_field(default=None, repr=False)
    _indexing: dict[tuple[str, str], list[Index]] | None = dc_field(default=None, repr=False)

    def directus_column(self, table: str, column: str) -> dict[str, Any] | None:
        """The column as Directus's inspector reports it (the keys of a snapshot field's schema)."""
        col = self.tables.get(table, {}).get(column)
        if col is None:
            return None
        single = self._by_column().get((table, column), ())
        fk = next((c for c in single if c.type == "f"), None)
        primary = any(c.type == "p" for c in single)
        return {
            "name": column, "table": table, "data_type": col.data_type,
            "default_value": directus_default(col),
            "max_length": col.max_length, "numeric_precision": col.numeric_precision,
            "numeric_scale": col.numeric_scale, "is_nullable": col.is_nullable,
            "is_unique": any(c.type in ("p", "u") for c in single),
            "is_indexed": bool(self.indexing(table, column)),
            "is_primary_key": primary, "is_generated": col.is_generated,
            "generation_expression": col.generation_expression,
            "has_auto_increment": primary and col.owns_sequence,
            "foreign_key_table": fk.fk_table if fk else None,
            "foreign_key_column": fk.fk_columns[0] if fk and fk.fk_columns else None,
        }

    def _by_column(self) -> dict[tuple[str, str], list[Constraint]]:
        if self._single is None:
            self._single = {}
            for table, constraints in self.constraints.items():
                for con in constraints:
                    if len(con.columns) == 1:
                        self._single.setdefault((table, con.columns[0]), []).append(con)
        return self._single

    def indexing(self, table: str, column: str) -> list[Index]:
        """The indexes that make Directus call a column indexed: non-unique, all keys this column."""
        if self._indexing is None:
            self._indexing = {}
            for name, indexes in self.indexes.items():
                for ix in indexes:
                    if not ix.unique and ix.columns and len(set(ix.columns)) == 1:
                        self._indexing.setdefault((name, ix.columns[0]), []).append(ix)
        return self._indexing.get((table, column), [])

    def covering(self, table: str, column: str) -> list[Index]:
        """Every index that has the column among its keys (what really serves lookups on it)."""
        return [ix for ix in self.indexes.get(table, ()) if column in ix.key_columns]

    def foreign_key(self, table: str, column: str) -> Constraint | None:
        """The single-column foreign key on a column, if any."""
        return next((c for c in self.constraints.get(table, ())
                     if c.type == "f" and c.columns == (column,)), None)


@dataclass
class DirectusRows:
    """Directus's own metadata rows, normalised to the shape of the snapshot's `meta`."""

    collections: dict[str, dict[str, Any]]
    fields: dict[tuple[str, str], dict[str, Any]]
    relations: dict[tuple[str, str], dict[str, Any]]


def parse_default(raw: str | None) -> str | None:
    """Directus's parseDefaultValue: keep nextval(...), cut at '::', 'null' -> None, strip quotes."""
    if raw is None:
        return None
    if raw.startswith("nextval("):
        return raw
    value = raw.split("::")[0]
    if value.strip().lower() == "null":
        return None
    trimmed = value.strip()
    if len(trimmed) >= 2 and trimmed[0] == trimmed[-1] and trimmed[0] in "'\"":
        return trimmed[1:-1]
    return value


def directus_default(col: Column) -> Any:
    """The default as a Directus snapshot holds it (api getDefaultValue: cast by local type)."""
    value = parse_default(col.default_raw)
    if value is None or value in ("null", "NULL"):
        return None
    base = col.data_type
    if base in _NUMBER_TYPES:
        try:
            number = float(value)
        except ValueError:
            return value
        return int(number) if number.is_integer() else number
    if base == "boolean":
        return {"0": False, "1": True, "false": False, "true": True}.get(value, bool(value))
    if base in ("json", "jsonb"):
        try:
            return json.loads(value)
        except ValueError:
            return {}
    return value


def read(conn: Any, namespace: str | None = None) -> LiveSchema:
    """Read the live schema of the connection's database (one schema; default current_schema())."""
    from psycopg.rows import dict_row  # psycopg only where a database is read (~0.1 s to import)

    with conn.cursor(row_factory=dict_row) as cur:
        if namespace is None:
            cur.execute("SELECT current_schema() AS ns")
            namespace = cur.fetchone()["ns"] or "public"
        live = LiveSchema(namespace=namespace)
        params = {"ns": namespace}

        def rows(query: str) -> list[dict[str, Any]]:
            cur.execute(query, params)
            live.queries += 1
            return cur.fetchall()

        for r in rows(_Q_TABLES):
            live.tables[r["table"]] = {}
            live.rows[r["table"]] = max(int(r["rows"]), 0)
        names: dict[str, dict[int, str]] = {}  # table -> attnum -> column, to name keys below
        for r in rows(_Q_COLUMNS):
            names.setdefault(r["table"], {})[r["position"]] = r["name"]
            if r["table"] in live.tables:
                live.tables[r["table"]][r["name"]] = Column(**r)

        def named(table: str, keys: list[int] | None) -> tuple[str | None, ...]:
            attnames = names.get(table, {})
            return tuple(attnames.get(k) for k in keys or ())

        for r in rows(_Q_CONSTRAINTS):
            fk_columns = r["fk_columns"] or (named(r["fk_table"], r["fk_keys"])
                                             if r["fk_table"] else ())
            live.constraints.setdefault(r["table"], []).append(Constraint(
                name=r["name"], type=r["type"], table=r["table"],
                columns=named(r["table"], r["keys"]), fk_table=r["fk_table"],
                fk_columns=tuple(fk_columns),
                on_update=_FK_ACTIONS.get(r["on_update"]) if r["type"] == "f" else None,
                on_delete=_FK_ACTIONS.get(r["on_delete"]) if r["type"] == "f" else None))
        for r in rows(_Q_INDEXES):
            cols = named(r["table"], r["keys"])  # attnum 0 (an expression) names None
            live.indexes.setdefault(r["table"], []).append(Index(
                name=r["name"], table=r["table"], unique=r["unique"], primary=r["primary"],
                columns=cols, key_columns=cols[:r["key_count"]], predicate=r["predicate"],
                definition=r["definition"], constraint=r["constraint"]))
        for r in rows(_Q_EXTENSIONS):
            if r["name"]:
                live.available_extensions.add(r["name"])
            if r["installed"]:
                live.extensions[r["name"]] = r["installed"]
        if all(t in live.tables for t in DIRECTUS_TABLES):
            live.directus = _directus_rows(cur, namespace, live)
    return live


_CSV_KEYS = {"special", "one_allowed_collections"}
_CAST = re.compile(r"::(?:character varying|double precision|time(?:stamp)? with(?:out)? time zone"
                   r"|\"?[a-z_][a-z0-9_]*\"?)(?:\(\d+(?:,\s*\d+)?\))?(?:\[\])?", re.I)


def _meta(row: dict[str, Any], drop: tuple[str, ...]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        if key in drop:
            continue
        if key in _CSV_KEYS and isinstance(value, str):
            value = value.split(",") if value else None
        out[key] = value
    return out


def _directus_rows(cur: Any, namespace: str, live: LiveSchema) -> DirectusRows:
    from psycopg import sql

    def select(table: str) -> list[dict[str, Any]]:
        cur.execute(sql.SQL("SELECT * FROM {}.{}").format(sql.Identifier(namespace),
                                                           sql.Identifier(table)))
        live.queries += 1
        return cur.fetchall()

    collections = {r["collection"]: _meta(r, ()) for r in select("directus_collections")}
    fields = {(r["collection"], r["field"]): _meta(r, ("id",)) for r in select("directus_fields")}
    relations = {(r["many_collection"], r["many_field"]): _meta(r, ("id",))
                 for r in select("directus_relations")}
    return DirectusRows(collections, fields, relations)


def meta_equal(expected: Any, actual: Any) -> bool:
    """Compare a snapshot meta value with a stored one (json kept as text, csv lists, '' vs None)."""
    if isinstance(actual, str) and isinstance(expected, (dict, list)):
        try:
            actual = json.loads(actual)
        except ValueError:
            return False
    if actual == "" and expected is None or expected == "" and actual is None:
        return True
    return expected == actual


def count_duplicate_groups(conn: Any, table: str, columns: tuple[str, ...],
                           where: str | None, namespace: str) -> int:
    """How many groups of rows share the columns (within the predicate): each blocks a unique index.

    A SELECT in the caller's read-only transaction; the predicate is the environments file's SQL.
    """
    from psycopg import sql

    cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    query = sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {}.{} {} GROUP BY {} "
                    "HAVING count(*) > 1) AS dup").format(
        sql.Identifier(namespace), sql.Identifier(table),
        sql.SQL("WHERE " + where) if where else sql.SQL(""), cols)
    with conn.cursor() as cur:
        cur.execute(query)
        return int(cur.fetchone()[0])


def normalise_predicate(text: str | None) -> str | None:
    """A predicate in a comparable form: casts, parentheses, spacing and keyword case dropped."""
    if text is None or not text.strip():
        return None
    out = _CAST.sub("", text)
    out = re.sub(r"[()\s\"]+", "", out)
    parts = re.split(r"('(?:[^']|'')*')", out)  # keep quoted literals as they are
    return "".join(p if p.startswith("'") else p.lower() for p in parts)
