"""A throwaway Postgres cluster, and a live schema built from a directus-sync snapshot.

`start(port)` runs initdb + pg_ctl (the installed binaries) in a temp dir on 127.0.0.1, trust
auth, user postgres; `.stop()` removes it. `build(conn, snapshot)` creates in a database what a
Directus push of that snapshot would have created (tables, columns, defaults, sequences, primary
keys, unique constraints, `<table>_<column>_index` indexes, foreign keys with their actions, and
Directus's own directus_collections/fields/relations rows), plus the database_requirements.
Used by the tests, the benchmark and the demo (`demo()`: three databases, the production one with
the planted index pitfall).
"""

from __future__ import annotations

import json
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.types.json import Json

from examples.services import free_port
from releasegate.schema.snapshot import Snapshot


def _pg_bin() -> Path:
    """Where initdb and pg_ctl live: $RELEASEGATE_PG_BIN, PATH, else Debian's newest version."""
    if os.environ.get("RELEASEGATE_PG_BIN"):
        return Path(os.environ["RELEASEGATE_PG_BIN"])
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    return versions[-1].parent if versions else Path("/usr/local/bin")


BIN = _pg_bin()
DEMO_PORT = 55432
# The planted pitfall: a hand-made index on a column the snapshot says is not indexed.
DEMO_PITFALL = ("org_invite", "created_at", "idx_org_invite_recent")
_TIME_DEFAULTS = {"CURRENT_TIMESTAMP", "CURRENT_DATE", "CURRENT_TIME", "LOCALTIMESTAMP", "now()"}


@dataclass
class Cluster:
    """A running throwaway cluster; `dsn(db)` to connect, `stop()` to remove it."""

    host: str
    port: int
    directory: Path
    _owner: tuple[int, int] | None

    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq URL for a database of this cluster."""
        return f"postgresql://postgres@{self.host}:{self.port}/{dbname}"

    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        """Exports that point the demo's environments at this cluster's databases (see demo())."""
        return dict(self.extra_env)

    def stop(self) -> None:
        """Stop the server and delete its files."""
        _run([str(BIN / "pg_ctl"), "-D", str(self.directory / "data"), "-m", "immediate",
              "-w", "stop"], self._owner, check=False)
        shutil.rmtree(self.directory, ignore_errors=True)


def _run(cmd: list[str], owner: tuple[int, int] | None, check: bool = True) -> None:
    kwargs: dict[str, Any] = {}
    if owner:  # initdb refuses to run as root
        kwargs = {"user": owner[0], "group": owner[1]}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kwargs)
    if check and result.returncode != 0:
        raise RuntimeError(f"{Path(cmd[0]).name} failed: {result.stderr.strip()[-500:]}")


def start(port: int = 0, host: str = "127.0.0.1") -> Cluster:
    """initdb a cluster in a temp dir and start it on host:port (0: a free port)."""
    directory = Path(tempfile.mkdtemp(prefix="releasegate-pg-"))
    owner = None
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        owner = (user.pw_uid, user.pw_gid)
        os.chown(directory, *owner)
    port = port or free_port(host)
    data = directory / "data"
    _run([str(BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
          "--no-sync", "-E", "UTF8", "--locale=C"], owner)
    options = (f"-c listen_addresses={host} -c port={port} -c unix_socket_directories={directory}"
               " -c fsync=off -c full_page_writes=off -c synchronous_commit=off")
    try:
        _run([str(BIN / "pg_ctl"), "-D", str(data), "-l", str(directory / "log"), "-o", options,
              "-w", "-t", "60", "start"], owner)
    except RuntimeError as exc:
        log = (directory / "log").read_text(errors="replace")[-500:] if (
            directory / "log").exists() else ""
        shutil.rmtree(directory, ignore_errors=True)
        raise RuntimeError(f"{exc}; log: {log}") from None
    return Cluster(host, port, directory, owner)


# -- databases ----------------------------------------------------------------------------------

def create_database(admin_dsn: str, name: str, template: str | None = None) -> str:
    """Create a database (optionally from a template); returns its DSN."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            query += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        conn.execute(query)
    return _with_db(admin_dsn, name)


def drop_database(admin_dsn: str, name: str) -> None:
    """Drop a database, disconnecting anyone still in it."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


def _with_db(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    if parts.scheme in ("postgres", "postgresql"):
        return urlunsplit(parts._replace(path="/" + name))
    return psycopg.conninfo.make_conninfo(dsn, dbname=name)


# -- schema from a snapshot ---------------------------------------------------------------------

def _ident(*names: str) -> sql.Composable:
    return sql.Identifier(*names)


def _column_type(schema: dict[str, Any]) -> sql.Composable:
    data_type = schema["data_type"]
    if schema.get("max_length") is not None and data_type in ("character varying", "character"):
        return sql.SQL(f"{data_type}({int(schema['max_length'])})")
    if data_type == "numeric" and schema.get("numeric_precision") is not None:
        return sql.SQL(f"numeric({int(schema['numeric_precision'])},"
                       f"{int(schema.get('numeric_scale') or 0)})")
    return sql.SQL(data_type)


def _default(schema: dict[str, Any]) -> sql.Composable | None:
    value = schema.get("default_value")
    data_type = schema["data_type"]
    if value is None:
        return None
    if isinstance(value, bool):
        return sql.SQL("true" if value else "false")
    if isinstance(value, (int, float)):
        return sql.SQL(repr(value))
    if isinstance(value, (dict, list)):
        return sql.SQL("{}::{}").format(sql.Literal(json.dumps(value)), sql.SQL(data_type))
    if value.startswith("nextval(") or (value in _TIME_DEFAULTS and ("time" in data_type
                                                                     or "date" in data_type)):
        return sql.SQL(value)
    if value.endswith("()") and value[:-2].replace("_", "").isalnum():
        return sql.SQL(value)  # a function default such as gen_random_uuid()
    return sql.SQL("{}::{}").format(sql.Literal(value), sql.SQL(data_type))


def _sequence_of(schema: dict[str, Any]) -> str | None:
    value = schema.get("default_value")
    if isinstance(value, str) and value.startswith("nextval('"):
        return value[len("nextval('"):].split("'")[0]
    return None


def schema_statements(snap: Snapshot, requirements: Any = None,
                      available_extensions: Iterable[str] | None = None) -> list[sql.Composable]:
    """The DDL a push of this snapshot leaves behind, in dependency order."""
    from releasegate.schema.index_names import directus_index_name

    stmts: list[sql.Composable] = []
    tables: dict[str, list[Any]] = {}
    for name in snap.names():
        coll = snap.collections.get(name)
        if coll is not None and coll.is_folder:
            continue
        table = (coll.schema or {}).get("name", name) if coll else name
        columns = [f for f in snap.fields.get(name, {}).values() if not f.is_alias]
        if coll is not None or columns:
            tables[table] = columns
    # Tables that foreign keys point at but the snapshot does not define (Directus system tables).
    for rels in snap.relations.values():
        for rel in rels.values():
            target = (rel.schema or {}).get("foreign_key_table")
            if target and target not in tables:
                tables[target] = []
    for columns in tables.values():
        for f in columns:
            seq = _sequence_of(f.schema)
            if seq:
                stmts.append(sql.SQL("CREATE SEQUENCE {}").format(_ident(seq)))
    later: list[sql.Composable] = []
    for table, columns in sorted(tables.items()):
        defs = []
        has_pk = any(f.schema.get("is_primary_key") for f in columns)
        if not columns or (table.startswith("directus_") and not has_pk):
            defs.append(sql.SQL("id uuid PRIMARY KEY"))  # system table stub
        for f in columns:
            s = f.schema
            parts = [_ident(s.get("name") or f.name), _column_type(s)]
            if s.get("is_generated") and s.get("generation_expression"):
                parts.append(sql.SQL("GENERATED ALWAYS AS ({}) STORED").format(
                    sql.SQL(s["generation_expression"])))
            else:
                default = _default(s)
                if default is not None:
                    parts.append(sql.SQL("DEFAULT {}").format(default))
            if not s.get("is_nullable", True):
                parts.append(sql.SQL("NOT NULL"))
            if s.get("is_primary_key"):
                parts.append(sql.SQL("CONSTRAINT {} PRIMARY KEY").format(_ident(f"{table}_pkey")))
            elif s.get("is_unique"):
                parts.append(sql.SQL("CONSTRAINT {} UNIQUE").format(
                    _ident(directus_index_name("unique", table, f.name))))
            defs.append(sql.SQL(" ").join(parts))
            column = s.get("name") or f.name
            seq = _sequence_of(s)
            if seq:
                later.append(sql.SQL("ALTER SEQUENCE {} OWNED BY {}.{}").format(
                    _ident(seq), _ident(table), _ident(column)))
            if s.get("is_indexed") and not s.get("is_primary_key"):
                later.append(sql.SQL("CREATE INDEX {} ON {} ({})").format(
                    _ident(directus_index_name("index", table, f.name)), _ident(table), _ident(column)))
        stmts.append(sql.SQL("CREATE TABLE {} ({})").format(_ident(table),
                                                             sql.SQL(", ").join(defs)))
    stmts += later
    stmts += _foreign_keys(snap, tables)
    stmts += _requirements(requirements, available_extensions)
    return stmts


def _foreign_keys(snap: Snapshot, tables: dict[str, list[Any]]) -> list[sql.Composable]:
    out = []
    for name, fields in snap.fields.items():
        for fname, f in fields.items():
            s = f.schema
            if not s or not s.get("foreign_key_table"):
                continue
            rel = snap.relations.get(name, {}).get(fname)
            rs = (rel.schema if rel else None) or {}
            table = s.get("table") or name
            column = s.get("name") or fname
            cname = rs.get("constraint_name") or f"{table}_{column}_foreign"
            out.append(sql.SQL(
                "ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) "
                "ON UPDATE {} ON DELETE {}").format(
                _ident(table), _ident(cname), _ident(column), _ident(s["foreign_key_table"]),
                _ident(s.get("foreign_key_column") or "id"),
                sql.SQL(rs.get("on_update") or "NO ACTION"),
                sql.SQL(rs.get("on_delete") or "NO ACTION")))
    return out


def _requirements(requirements: Any, available: Iterable[str] | None) -> list[sql.Composable]:
    if requirements is None:
        return []
    offered = None if available is None else set(available)
    out: list[sql.Composable] = []
    for ext in requirements.extensions:
        if offered is None or ext in offered:
            out.insert(0, sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(_ident(ext)))
    for req in requirements.indexes:
        query = sql.SQL("CREATE {}INDEX {} ON {} ({})").format(
            sql.SQL("UNIQUE " if req.unique else ""), _ident(req.name), _ident(req.table),
            sql.SQL(", ").join(_ident(c) for c in req.columns))
        if req.where:
            query += sql.SQL(" WHERE " + req.where)
        out.append(query)
    return out


_DIRECTUS_DDL = """
CREATE TABLE directus_collections (
  collection varchar(64) PRIMARY KEY, icon varchar(64), note text,
  display_template varchar(255), hidden boolean NOT NULL DEFAULT false,
  singleton boolean NOT NULL DEFAULT false, translations json, archive_field varchar(64),
  archive_app_filter boolean NOT NULL DEFAULT true, archive_value varchar(255),
  unarchive_value varchar(255), sort_field varchar(64), accountability varchar(255) DEFAULT 'all',
  color varchar(255), item_duplication_fields json, sort integer, "group" varchar(64),
  collapse varchar(255) NOT NULL DEFAULT 'open', preview_url varchar(255),
  versioning boolean NOT NULL DEFAULT false);
CREATE TABLE directus_fields (
  id serial PRIMARY KEY, collection varchar(64) NOT NULL, field varchar(64) NOT NULL,
  special varchar(64), interface varchar(64), options json, display varchar(64),
  display_options json, readonly boolean NOT NULL DEFAULT false,
  hidden boolean NOT NULL DEFAULT false, sort integer, width varchar(30) DEFAULT 'full',
  translations json, note text, conditions json, required boolean DEFAULT false,
  "group" varchar(64), validation json, validation_message text,
  searchable boolean NOT NULL DEFAULT true);
CREATE TABLE directus_relations (
  id serial PRIMARY KEY, many_collection varchar(64) NOT NULL, many_field varchar(64) NOT NULL,
  one_collection varchar(64), one_field varchar(64), one_collection_field varchar(64),
  one_allowed_collections text, junction_field varchar(64), sort_field varchar(64),
  one_deselect_action varchar(255) NOT NULL DEFAULT 'nullify');
"""
_JSON_META = {"translations", "item_duplication_fields", "options", "display_options",
              "conditions", "validation"}
_CSV_META = {"special", "one_allowed_collections"}


def _meta_row(meta: dict[str, Any], columns: list[str]) -> list[Any]:
    row = []
    for col in columns:
        value = meta.get(col)
        if col in _CSV_META and isinstance(value, list):
            value = ",".join(value)
        elif col in _JSON_META and value is not None:
            value = Json(value)
        row.append(value)
    return row


def _insert_meta(cur: Any, table: str, metas: list[dict[str, Any]], default: dict) -> None:
    if not metas:
        return
    columns = [c for c in metas[0] if c != "id"]
    for meta in metas:
        for key, value in default.items():
            if meta.get(key) is None:
                meta[key] = value
    cur.executemany(sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        _ident(table), sql.SQL(", ").join(_ident(c) for c in columns),
        sql.SQL(", ").join(sql.Placeholder() * len(columns))),
        [_meta_row(m, columns) for m in metas])


def build(conn: psycopg.Connection, snap: Snapshot, requirements: Any = None,
          directus_rows: bool = True) -> None:
    """Create in conn's database what a push of the snapshot leaves there, and commit."""
    with conn.cursor() as cur:
        cur.execute("SELECT name FROM pg_available_extensions")
        available = [r[0] for r in cur.fetchall()]
        script = sql.SQL(";\n").join(schema_statements(snap, requirements, available))
        cur.execute(script)
        if directus_rows:
            cur.execute(_DIRECTUS_DDL)
            _insert_meta(cur, "directus_collections",
                         [dict(c.meta) for c in snap.collections.values() if c.meta], {})
            keys = ["collection", "field", "special", "interface", "options", "display",
                    "display_options", "readonly", "hidden", "sort", "width", "translations",
                    "note", "conditions", "required", "group", "validation",
                    "validation_message", "searchable"]
            _insert_meta(cur, "directus_fields",
                         [{k: f.meta.get(k) for k in keys} | {"collection": f.collection,
                                                              "field": f.name}
                          for fields in snap.fields.values() for f in fields.values() if f.meta],
                         {"readonly": False, "hidden": False, "searchable": True})
            rkeys = ["many_collection", "many_field", "one_collection", "one_field",
                     "one_collection_field", "one_allowed_collections", "junction_field",
                     "sort_field", "one_deselect_action"]
            _insert_meta(cur, "directus_relations",
                         [{k: r.meta.get(k) for k in rkeys} for rels in snap.relations.values()
                          for r in rels.values() if r.meta],
                         {"one_deselect_action": "nullify"})
    conn.commit()


def plant_index_pitfall(conn: psycopg.Connection, table: str, column: str, index: str) -> None:
    """Index a column by hand under a name Directus would not use (the production-only pitfall)."""
    conn.execute(sql.SQL("CREATE INDEX {} ON {} ({})").format(_ident(index), _ident(table),
                                                              _ident(column)))
    conn.commit()


# -- the demo -----------------------------------------------------------------------------------

def demo_ref(estate: Any, env: Any) -> str:
    """The application ref an environment runs in the demo: its branch, or the newest release tag."""
    from releasegate.core.gitrepo import GitRepo

    source = estate.sources[estate.snapshot.source]
    if env.deploys.branch:
        return env.deploys.branch
    tags = GitRepo(source.path, source.name).tags(source.release_tags)
    return tags[-1] if tags else source.main


def populate(admin_dsn: str, estate: Any, prefix: str = "demo_",
             plant: tuple[str, str, str, str] | None = ("production", *DEMO_PITFALL)
             ) -> dict[str, str]:
    """Create one database per environment that has one, built from the snapshot that environment
    runs (its push was applied) plus the database requirements; `plant` = (environment, table,
    column, index name) adds the hand-named index there. Returns {dsn_env variable: DSN}."""
    from releasegate.core.gitrepo import GitRepo
    from releasegate.schema.snapshot import load_ref

    if estate.snapshot is None:
        raise RuntimeError(f"{estate.path}: no snapshot section: nothing to build")
    source = estate.sources[estate.snapshot.source]
    repo = GitRepo(source.path, source.name)
    out = {}
    for name, env in sorted(estate.environments.items()):
        if env.database is None:
            continue
        dsn = create_database(admin_dsn, prefix + name.replace("-", "_"))
        snap = load_ref(repo, demo_ref(estate, env), estate.snapshot.path)
        with psycopg.connect(dsn) as conn:
            build(conn, snap, estate.database_requirements)
            if plant and name == plant[0]:
                plant_index_pitfall(conn, *plant[1:])
        out[env.database.dsn_env] = dsn
    return out


def demo(estate_path: str | Path = "environments.yaml", port: int = DEMO_PORT) -> Cluster:
    """The demo's databases in a throwaway cluster on 127.0.0.1:port (see populate): the
    production one carries the planted index pitfall."""
    from releasegate.estate import ensure_sources, load

    estate = load(Path(estate_path))
    ensure_sources(estate)
    cluster = start(port)
    try:
        cluster.extra_env = populate(cluster.dsn(), estate)
    except Exception:
        cluster.stop()
        raise
    return cluster


if __name__ == "__main__":
    running = demo()
    print("\n".join(f"export {k}={shlex.quote(v)}" for k, v in running.env.items()), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        running.stop()
