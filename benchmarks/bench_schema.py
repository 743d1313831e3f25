"""Snapshot drift check: the 880-file shared snapshot against a matching live database (file reading,
catalog reads and comparison included), against `pg_dump --schema-only` of the same database (what
one would otherwise run to look at the live schema, before even comparing anything); then
synthetic snapshots up to 10,000 fields to show the cost grows linearly.

    python benchmarks/bench_schema.py [--runs 7] [--dsn postgresql://postgres@127.0.0.1:5432/postgres]

Uses the Postgres at --dsn (creates and drops throwaway databases there); loopback only.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg  # noqa: E402

from examples.services import postgres as pg  # noqa: E402
from releasegate.schema import catalog as live_schema
from releasegate.schema import comparison as schema_diff  # noqa: E402
from releasegate.core.gitrepo import GitRepo  # noqa: E402
from releasegate.schema.snapshot import load_dir, load_ref  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "directus-snapshot"
PG_DUMP = Path("/usr/lib/postgresql/15/bin/pg_dump")


def _median(fn, runs: int) -> tuple[float, float]:
    """Median wall time and median CPU time of this process over `runs` calls."""
    wall, cpu = [], []
    for _ in range(runs):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def _check(conn: psycopg.Connection, load) -> int:
    """One full check as the suite runs it on its session connection: read the files, read the
    catalog in a read-only transaction, compare."""
    snap = load()
    live = live_schema.read(conn)
    conn.rollback()
    found = schema_diff.compare(snap, live)
    if found:
        raise SystemExit(f"expected a clean comparison, got: {found[0].message}")
    return sum(len(f) for f in snap.fields.values())


def _session(dsn: str) -> psycopg.Connection:
    conn = psycopg.connect(dsn, options="-c statement_timeout=10000")
    conn.read_only = True
    return conn


def _field(table: str, name: str, kind: int) -> dict:
    types = [("uuid", None, "uuid"), ("string", 255, "character varying"),
             ("integer", None, "integer"), ("boolean", None, "boolean"),
             ("timestamp", None, "timestamp with time zone"), ("text", None, "text")]
    typ, length, data_type = types[kind % len(types)]
    default = {"boolean": False, "timestamp": "CURRENT_TIMESTAMP"}.get(typ)
    return {"collection": table, "field": name, "type": typ,
            "meta": {"collection": table, "field": name, "interface": "input", "hidden": False,
                     "readonly": False, "required": False, "searchable": True, "sort": kind,
                     "special": None, "width": "full", "options": None, "note": None},
            "schema": {"name": name, "table": table, "data_type": data_type,
                       "default_value": default, "max_length": length,
                       "numeric_precision": 32 if typ == "integer" else None,
                       "numeric_scale": 0 if typ == "integer" else None,
                       "is_nullable": True, "is_unique": False, "is_indexed": kind % 10 == 7,
                       "is_primary_key": False, "is_generated": False,
                       "generation_expression": None, "has_auto_increment": False,
                       "foreign_key_table": None, "foreign_key_column": None}}


def synthetic(root: Path, fields: int, per_table: int = 50) -> Path:
    """A snapshot folder with `fields` fields in tables of `per_table` (id + columns)."""
    (root / "collections").mkdir(parents=True)
    (root / "info.json").write_text(json.dumps({"version": 1, "directus": "11.13.4",
                                                "vendor": "postgres"}))
    for t in range(fields // per_table):
        table = f"t{t:05d}"
        (root / "collections" / f"{table}.json").write_text(json.dumps(
            {"collection": table, "meta": {"collection": table, "hidden": False},
             "schema": {"name": table}}))
        folder = root / "fields" / table
        folder.mkdir(parents=True)
        pk = _field(table, "id", 0)
        pk["schema"].update(is_nullable=False, is_unique=True, is_primary_key=True,
                            is_indexed=False)
        (folder / "id.json").write_text(json.dumps(pk))
        for c in range(1, per_table):
            (folder / f"c{c:03d}.json").write_text(json.dumps(_field(table, f"c{c:03d}", c)))
    return root


def _with_db(admin: str, snapshot_dir: Path, fn):
    name = f"rg_bench_{uuid.uuid4().hex[:10]}"
    dsn = pg.create_database(admin, name)
    try:
        with psycopg.connect(dsn) as conn:
            pg.build(conn, load_dir(snapshot_dir))
        return fn(dsn)
    finally:
        pg.drop_database(admin, name)


def main() -> None:
    """Time snapshot-vs-live on the shared snapshot and at growing field counts, next to pg_dump."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    if not (SHARED / "info.json").is_file():
        raise SystemExit(f"shared snapshot not found at {SHARED}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "app"
        shutil.copytree(SHARED, repo / "snapshot")
        env = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "b",
               "GIT_COMMITTER_EMAIL": "b@x", "HOME": tmp}
        for cmd in (["init", "-q"], ["add", "."], ["commit", "-qm", "s"]):
            subprocess.run(["git", "-C", str(repo), *cmd], check=True, env=env)
        git = GitRepo(repo, "app")

        def shared(dsn: str) -> None:
            files = len(list(SHARED.rglob("*.json")))
            with _session(dsn) as conn:
                t_dir = _median(lambda: _check(conn, lambda: load_dir(SHARED)), args.runs)
                t_git = _median(lambda: _check(conn, lambda: load_ref(git, "HEAD", "snapshot")),
                                args.runs)
            t_dump = None
            if PG_DUMP.exists():
                t_dump = _median(lambda: subprocess.run(
                    [str(PG_DUMP), "--schema-only", "-d", dsn], check=True,
                    stdout=subprocess.DEVNULL), args.runs)[0]
            rows.append((f"shared snapshot, {files} files, from a folder", *t_dir, t_dump))
            rows.append((f"shared snapshot, {files} files, at a git ref", *t_git, t_dump))

        _with_db(args.dsn, SHARED, shared)
        scaling = []
        for count in (1000, 2500, 5000, 10000):
            folder = synthetic(Path(tmp) / f"syn{count}", count)

            def measure(dsn: str, f: Path = folder) -> tuple[float, float]:
                with _session(dsn) as conn:
                    return _median(lambda: _check(conn, lambda: load_dir(f)),
                                   max(3, args.runs // 2))

            scaling.append((count, *_with_db(args.dsn, folder, measure)))
    print(f"{'case':46} {'wall':>7} {'cpu':>6} {'pg_dump -s':>11} {'ratio':>6}")
    for label, ours, cpu, dump in rows:
        ratio = f"{dump / ours:5.1f}x" if dump else "   n/a"
        dump_text = f"{dump * 1000:9.0f}ms" if dump else "        n/a"
        print(f"{label:46} {ours * 1000:5.0f}ms {cpu * 1000:4.0f}ms {dump_text} {ratio}")
    print(f"\n{'fields':>8} {'wall':>8} {'cpu':>7} {'wall per 1000 fields':>21}")
    for count, t, cpu in scaling:
        print(f"{count:8d} {t * 1000:6.0f}ms {cpu * 1000:5.0f}ms {t * 1000 / (count / 1000):19.1f}ms")
    limit_ok = all(ours < 0.5 for _, ours, _, _ in rows)
    print(f"\n880-file snapshot under 0.5 s: {'yes' if limit_ok else 'NO'} "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
