"""The real-Directus tier (opt in with RELEASEGATE_DIRECTUS_TIER=1; `.ci/run` does): the schema
check's prediction against the thing it predicts. For each drift case, a copy of a
database that Directus 11 itself built from the snapshot (directus-sync push), one change (by
hand, before Directus starts: a running Directus plans from its cached schema), then

- the suite's prediction (releasegate.schema.push_plan.predicted_push: push fails / push changes X /
  nothing), read through a read-only connection as the check reads it;
- `directus-sync diff`: the diff Directus plans (the (collection, field) items it touches);
- `directus-sync push`: its exit code and what it really changed in the database (or, when it
  fails, that nothing changed: Directus applies the whole diff in one transaction).

All three must agree, and each case must give the outcome written beside it."""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import psycopg
import pytest

from examples.services import postgres as pg
from releasegate.schema import catalog as live_schema
from releasegate.schema import comparison as schema_diff
from releasegate.schema.push_plan import pending_changes, predicted_push
from releasegate.schema.snapshot import Snapshot, load_dir
from tests.directus.peer import (ADMIN, Directus, Unavailable, dump_of, install,
                                 pushed_template)

REPORT = Path(__file__).resolve().parents[2] / "reports" / "directus-agreement.md"
LONG = "project_report_notification_participants"  # + email_opt_out_token: 66-char index name


@dataclass(frozen=True)
class Case:
    """One drift: `setup` edits pushed first (Directus makes the change), `sql` run by hand,
    `candidate` edits to the snapshot that is then checked and pushed; the expected outcome."""

    id: str
    expect: str  # fails / changes / nothing
    items: frozenset = frozenset()  # (collection, field) the outcome names
    sql: str = ""
    setup: dict[str, dict] = field(default_factory=dict)
    candidate: dict[str, dict] = field(default_factory=dict)
    error: str = ""  # a fragment of Directus's answer when the push fails
    template: str = "shared"


def _items(*pairs: tuple[str, str | None]) -> frozenset:
    return frozenset(pairs)


REGION = {"copy": "fields/org/name.json", "field": "region", "is_nullable": True}
CASES = [
    Case("clean database", "nothing"),
    Case("index pitfall: a hand-named index", "fails", _items(("org_invite", "created_at")),
         sql="CREATE INDEX idx_org_invite_recent ON org_invite (created_at)",
         error='drop index "org_invite_created_at_index" - index "org_invite_created_at_index" '
               'does not exist'),
    Case("index under Directus's own name", "changes", _items(("org_invite", "created_at")),
         sql="CREATE INDEX org_invite_created_at_index ON org_invite (created_at)"),
    Case("unique pitfall: a hand-named unique constraint", "fails", _items(("org", "name")),
         sql="ALTER TABLE org ADD CONSTRAINT org_name_key UNIQUE (name)",
         error='"org_name_unique" of relation "org" does not exist'),
    Case("long name: Directus's own index (hashed name)", "changes",
         _items((LONG, "email_opt_out_token")),
         setup={f"fields/{LONG}/email_opt_out_token.json": {"is_indexed": True}}),
    Case("long name: Directus's own unique constraint (hashed name)", "changes",
         _items((LONG, "email_opt_out_token")),
         setup={f"fields/{LONG}/email_opt_out_token.json": {"is_unique": True}}),
    Case("long name: index truncated by Postgres (knex's name)", "fails",
         _items((LONG, "email_opt_out_token")),
         sql=f"CREATE INDEX {LONG}_email_opt_out_token_index ON {LONG} (email_opt_out_token)",
         error="does not exist"),
    Case("type changed by hand", "changes", _items(("org_membership", "role")),
         sql="ALTER TABLE org_membership ALTER COLUMN role TYPE text"),
    Case("nullability changed by hand", "changes", _items(("org_membership", "role")),
         sql="ALTER TABLE org_membership ALTER COLUMN role DROP NOT NULL"),
    Case("default changed by hand", "changes", _items(("org_membership", "role")),
         sql="ALTER TABLE org_membership ALTER COLUMN role SET DEFAULT 'member'"),
    Case("foreign-key action changed by hand", "changes", _items(("org_membership", "org_id")),
         sql="ALTER TABLE org_membership DROP CONSTRAINT org_membership_org_id_foreign, "
             "ADD CONSTRAINT org_membership_org_id_foreign FOREIGN KEY (org_id) "
             "REFERENCES org (id) ON DELETE SET NULL"),
    Case("new field in the candidate", "changes", _items(("org", "region")),
         candidate={"fields/org/region.json": REGION}),
    Case("new NOT NULL field without default on a table with rows", "fails",
         _items(("org", "region")),
         sql="INSERT INTO org (id, name) VALUES (gen_random_uuid(), 'Acme'); ANALYZE org",
         candidate={"fields/org/region.json": {**REGION, "is_nullable": False}},
         error='column "region" of relation "org" contains null values'),
    Case("column dropped by hand, directus_fields row kept", "fails",
         _items(("org", "description")), sql="ALTER TABLE org DROP COLUMN description",
         error='Field "description" already exists in collection "org"'),
    Case("column dropped by hand with its directus_fields row", "changes",
         _items(("org", "description")),
         sql="ALTER TABLE org DROP COLUMN description; DELETE FROM directus_fields "
             "WHERE collection = 'org' AND field = 'description'"),
    Case("untracked column", "nothing", sql="ALTER TABLE org ADD COLUMN legacy_code text"),
    Case("untracked table", "nothing", sql="CREATE TABLE legacy_import (id int)"),
    Case("a failing statement after earlier ones: rollback", "fails",
         _items(("org_invite", "created_at")),
         sql="CREATE INDEX idx_org_invite_recent ON org_invite (created_at)",
         candidate={"fields/org/region.json": REGION},
         error='index "org_invite_created_at_index" does not exist'),
    Case("demo snapshot, clean", "nothing", template="demo"),
    Case("demo snapshot, the planted index pitfall", "fails",
         _items(("org_invite", "created_at")), template="demo",
         sql="CREATE INDEX idx_org_invite_recent ON org_invite (created_at)",
         error='index "org_invite_created_at_index" does not exist'),
]


@pytest.fixture(scope="session")
def directus_home() -> Path:
    """The cached install; skips (one line) where the tier is not asked for or npm is
    unreachable, except in CI, where it must run."""
    if os.environ.get("RELEASEGATE_DIRECTUS_TIER") != "1":
        pytest.skip("the real-Directus tier runs with RELEASEGATE_DIRECTUS_TIER=1 (installs "
                    "Directus 11 from npm on first use)")
    try:
        psycopg.connect(ADMIN, connect_timeout=5).close()
    except psycopg.Error as exc:
        pytest.fail(f"Postgres not reachable at {ADMIN}: {exc}")
    try:
        return install()
    except Unavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Directus tier: {exc}")
        pytest.skip(f"Directus tier: {exc}")


@pytest.fixture(scope="session")
def shared_template(directus_home: Path, shared_snapshot: Path,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The shared 880-file snapshot, pushed by directus-sync into a fresh Directus database."""
    name = pushed_template(directus_home, shared_snapshot, tmp_path_factory.mktemp("dx-shared"))
    yield name
    pg.drop_database(ADMIN, name)


@pytest.fixture(scope="session")
def agreement_rows() -> Iterator[list[tuple[str, ...]]]:
    """The comparison table's rows; written to reports/directus-agreement.md at the end."""
    rows: list[tuple[str, ...]] = []
    yield rows
    if rows:
        lines = ["| case | the suite's prediction | Directus's diff | the real push | agree |",
                 "| --- | --- | --- | --- | --- |"]
        lines += ["| " + " | ".join(row) + " |" for row in sorted(rows)]
        REPORT.parent.mkdir(exist_ok=True)
        REPORT.write_text("\n".join(lines) + "\n")


def edited(snapshot: Path, edits: dict[str, dict], dest: Path) -> Path:
    """A dump folder with a copy of the snapshot, each edit applied to a field's schema (a
    "copy" edit makes a new field from another field's file)."""
    dump = dump_of(snapshot, dest)
    for rel, change in edits.items():
        change = dict(change)
        source = dump / "snapshot" / change.pop("copy", rel)
        doc = json.loads(source.read_text())
        if "field" in change:
            doc["field"] = doc["meta"]["field"] = doc["schema"]["name"] = change.pop("field")
            doc["meta"].pop("id", None)
        doc["schema"].update(change)
        (dump / "snapshot" / rel).write_text(json.dumps(doc, indent=2))
    return dump


def read(dsn: str) -> live_schema.LiveSchema:
    """The live schema through a read-only transaction, as the check reads it."""
    with psycopg.connect(dsn, options="-c statement_timeout=10000") as conn:
        conn.read_only = True
        return live_schema.read(conn)


def fingerprint(live: live_schema.LiveSchema) -> dict[tuple[str, str | None], Any]:
    """Per (collection, field): the column as Directus sees it, its foreign key's actions, the
    indexes and constraints on it alone, and its directus_fields row."""
    out: dict[tuple[str, str | None], Any] = {}
    for table, columns in live.tables.items():
        out[(table, None)] = sorted(columns)
        for column in columns:
            fk = live.foreign_key(table, column)
            named = sorted(ix.name for ix in live.indexes.get(table, ())
                           if ix.columns == (column,))
            out[(table, column)] = [live.directus_column(table, column),
                                    fk and (fk.on_delete, fk.on_update), named]
    for key, meta in (live.directus.fields.items() if live.directus else ()):
        out.setdefault(key, [None]).append(json.dumps(meta, sort_keys=True, default=str))
    return out


def changed(before: dict, after: dict) -> set[tuple[str, str | None]]:
    """The items whose fingerprint differs (a table's column list counts only when the table
    itself appears or disappears)."""
    keys = set(before) | set(after)
    return {k for k in keys if before.get(k) != after.get(k)
            and (k[1] is not None or k not in before or k not in after)}


def text(kind: str, items: set) -> str:
    """A table cell: the outcome and the items it names."""
    names = ", ".join(sorted(f"{c}.{f}" if f else c for c, f in items))
    return f"{kind} ({names})" if names else kind


@pytest.fixture(scope="session")
def demo_template(directus_home: Path, demo_repos: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo's snapshot (the app's main), pushed by directus-sync into a fresh database."""
    snapshot = demo_repos / "app" / "directus" / "sync" / "snapshot"
    name = pushed_template(directus_home, snapshot, tmp_path_factory.mktemp("dx-demo"))
    yield name
    pg.drop_database(ADMIN, name)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_prediction_agrees_with_directus(case: Case, request: pytest.FixtureRequest,
                                         directus_home: Path, shared_snapshot: Path,
                                         demo_repos: Path, tmp_path: Path,
                                         agreement_rows: list) -> None:
    if case.template == "demo":
        template = request.getfixturevalue("demo_template")
        base_dir = demo_repos / "app" / "directus" / "sync" / "snapshot"
    else:
        template = request.getfixturevalue("shared_template")
        base_dir = shared_snapshot
    name = f"rg_dx_case_{uuid.uuid4().hex[:10]}"
    dsn = pg.create_database(ADMIN, name, template=template)
    directus = Directus(directus_home, name, tmp_path / "directus")
    try:
        if case.setup:
            directus.start()
            pushed = directus.sync("push", edited(base_dir, case.setup, tmp_path / "setup"))
            assert pushed.returncode == 0, pushed.error()
            directus.stop()  # the checked snapshot below is the unedited one
        if case.sql:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(case.sql)
        dump = edited(base_dir, case.candidate, tmp_path / "checked")
        checked: Snapshot = load_dir(dump / "snapshot", where="snapshot")
        base = load_dir(base_dir, where="snapshot")
        before_live = read(dsn)
        findings = schema_diff.compare(checked, before_live,
                                       pending_changes(checked, base))
        predicted, predicted_items = predicted_push(findings)

        directus.start()  # after the change by hand: a fresh process, no stale schema cache
        diff = directus.sync("diff", dump)
        assert diff.returncode == 0 and diff.diff is not None, diff.output[-2000:]
        push = directus.sync("push", dump)
        after_live = read(dsn)
        really = changed(fingerprint(before_live), fingerprint(after_live))
    finally:
        directus.stop()
        pg.drop_database(ADMIN, name)

    pushed_kind = "fails" if push.returncode else ("changes" if really else "nothing")
    if predicted == "fails":
        agree = (pushed_kind == "fails" and not really and predicted_items <= diff.items())
    else:
        agree = predicted == pushed_kind and predicted_items == diff.items() == really
    diff_kind = "plans changes" if diff.items() else "nothing"
    push_cell = (f"fails: {push.error()}; rolled back" if push.returncode and not really
                 else text(pushed_kind, really))
    agreement_rows.append((case.id, text(predicted, predicted_items),
                           text(diff_kind, diff.items()), push_cell.replace("|", "\\|"),
                           "yes" if agree else "NO"))
    assert agree, (f"prediction {predicted} {sorted(predicted_items)}; Directus plans "
                   f"{sorted(diff.items())}; the push {pushed_kind} {sorted(really)}: "
                   f"{push.error() if push.returncode else ''}")
    assert (predicted, predicted_items) == (case.expect, set(case.items))
    if case.error:
        assert case.error in push.output
    if not push.returncode:  # after a successful push the suite finds nothing the push acts on
        assert predicted_push(schema_diff.compare(checked, after_live))[0] == \
            "nothing"
