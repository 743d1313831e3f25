"""The snapshot against a real Postgres: build the shared snapshot, alter one thing, expect exactly
that finding. Every read goes through a read-only transaction, as in the suite."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator

import psycopg
import pytest

from examples.services import postgres as pg
from releasegate.schema import database
from releasegate.schema import catalog as live_schema
from releasegate.schema import comparison as schema_diff
from releasegate.schema.index_names import directus_index_name
from releasegate.schema.push_plan import fixed_by_candidate, pending_changes
from releasegate.schema.requirements import check_extension, check_index, requirement_items
from releasegate.estate import DatabaseRequirements, IndexRequirement
from releasegate.core.handle import Unreachable
from releasegate.schema.snapshot import Snapshot, load_dir

ADMIN = os.environ.get("RELEASEGATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
ACTIVE_MEMBERSHIP = IndexRequirement("org_membership_active_org_user_uniq", "org_membership",
                                     ("org_id", "user_id"), True, "deleted_at IS NULL")
REQUIREMENTS = DatabaseRequirements(extensions=("pg_trgm",), indexes=(ACTIVE_MEMBERSHIP,))


@pytest.fixture(scope="module")
def admin() -> str:
    try:
        psycopg.connect(ADMIN, connect_timeout=5).close()
    except psycopg.Error as exc:
        pytest.skip(f"Postgres not reachable at {ADMIN}: {exc}")
    return ADMIN


@pytest.fixture(scope="module")
def snap(shared_snapshot: Path) -> Snapshot:
    return load_dir(shared_snapshot, where="snapshot")


@pytest.fixture(scope="module")
def template(admin: str, snap: Snapshot) -> Iterator[str]:
    """A database built from the shared snapshot once per module; cases copy it."""
    name = f"rg_tpl_{uuid.uuid4().hex[:12]}"
    dsn = pg.create_database(admin, name)
    try:
        with psycopg.connect(dsn) as conn:
            pg.build(conn, snap, REQUIREMENTS)
        yield name
    finally:
        pg.drop_database(admin, name)


@pytest.fixture
def dsn(admin: str, template: str) -> Iterator[str]:
    name = f"rg_case_{uuid.uuid4().hex[:12]}"
    url = pg.create_database(admin, name, template=template)
    try:
        yield url
    finally:
        pg.drop_database(admin, name)


def alter(dsn: str, statement: str) -> None:
    """The one change a case makes (as an operator would, outside the suite)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(statement)


def read_only(dsn: str) -> psycopg.Connection:
    conn = psycopg.connect(dsn, options="-c statement_timeout=5000")
    conn.read_only = True
    return conn


def findings(dsn: str, snap: Snapshot, requirements: DatabaseRequirements = REQUIREMENTS,
             pending: set | frozenset = frozenset()) -> list[schema_diff.Finding]:
    with read_only(dsn) as conn:
        live = live_schema.read(conn)
        out = schema_diff.compare(snap, live, pending)
        for _, req in requirement_items(requirements):
            out += (check_extension(live, req) if isinstance(req, str)
                    else check_index(conn, live, req))
    return out


def summary(found: list[schema_diff.Finding]) -> list[tuple[str, str, str, str | None]]:
    return [(f.severity, f.kind, f.collection, f.field) for f in found]


def test_the_clean_build_gives_no_finding_at_all(dsn: str, snap: Snapshot) -> None:
    assert findings(dsn, snap) == []


CASES = [
    pytest.param("CREATE INDEX idx_org_invite_recent ON org_invite (created_at)",
                 ("blocker", "index-pitfall", "org_invite", "created_at"),
                 ['push would run DROP INDEX "org_invite_created_at_index", which does not exist',
                  "indexed by idx_org_invite_recent", "whole push rolls back",
                  'set "is_indexed": true in snapshot/fields/org_invite/created_at.json'],
                 id="index-pitfall"),
    pytest.param("ALTER TABLE org DROP COLUMN description",
                 ("blocker", "orphan-field-meta", "org", "description"),
                 ["push fails: org.description was dropped from the database but "
                  "directus_fields still has its row", 'Invalid payload. Field "description" '
                  'already exists in collection "org".', "whole apply rolls back",
                  "restore the column as snapshot/fields/org/description.json describes",
                  "DELETE FROM directus_fields WHERE collection = 'org' AND field = "
                  "'description'", "clear its system cache (POST /utils/cache/clear?system=true)"],
                 id="dropped-column-with-metadata"),
    pytest.param("ALTER TABLE org DROP COLUMN description; "
                 "DELETE FROM directus_fields WHERE collection = 'org' AND field = 'description'",
                 ("blocker", "missing-field", "org", "description"),
                 ["org.description does not exist in the database",
                  "snapshot/fields/org/description.json"], id="dropped-column-and-metadata"),
    pytest.param("CREATE INDEX project_report_notification_participants_email___595367c4_index "
                 "ON project_report_notification_participants (email_opt_out_token)",
                 ("warning", "index-drop", "project_report_notification_participants",
                  "email_opt_out_token"),
                 ["(project_report_notification_participants_email___595367c4_index)",
                  "the push drops that index"], id="long-name-directus-index"),
    pytest.param("ALTER TABLE project_report_notification_participants ADD CONSTRAINT "
                 "project_report_notification_participants_email__436309a7_unique "
                 "UNIQUE (email_opt_out_token)",
                 ("warning", "unique-drop", "project_report_notification_participants",
                  "email_opt_out_token"),
                 ["drops constraint project_report_notification_participants_email__436309a7_"
                  "unique"], id="long-name-directus-unique"),
    pytest.param("CREATE INDEX project_report_notification_participants_email_opt_out_token_"
                 "index ON project_report_notification_participants (email_opt_out_token)",
                 ("blocker", "index-pitfall", "project_report_notification_participants",
                  "email_opt_out_token"),
                 ['push would run DROP INDEX "project_report_notification_participants_email__'
                  '_595367c4_index"', "indexed by project_report_notification_participants"
                  "_email_opt_out_token_in"], id="long-name-truncated-by-postgres"),
    pytest.param("ALTER TABLE org_membership ALTER COLUMN role TYPE text",
                 ("blocker", "type", "org_membership", "role"),
                 ["org_membership.role is text in the database, the snapshot says "
                  "character varying(255)"], id="changed-type"),
    pytest.param("ALTER TABLE org_membership ALTER COLUMN role DROP NOT NULL",
                 ("blocker", "nullable", "org_membership", "role"),
                 ["org_membership.role is NULL in the database, the snapshot says NOT NULL"],
                 id="flipped-nullable"),
    pytest.param("ALTER TABLE org ADD COLUMN legacy_code text",
                 ("warning", "extra-column", "org", "legacy_code"),
                 ["org.legacy_code exists in the database but not in the snapshot"],
                 id="extra-column"),
    pytest.param("ALTER TABLE org_membership DROP CONSTRAINT org_membership_org_id_foreign, "
                 "ADD CONSTRAINT org_membership_org_id_foreign FOREIGN KEY (org_id) "
                 "REFERENCES org (id) ON DELETE SET NULL",
                 ("blocker", "foreign-key-action", "org_membership", "org_id"),
                 ["ON DELETE is SET NULL in the database, CASCADE in the snapshot"],
                 id="changed-fk-action"),
    pytest.param("DROP EXTENSION pg_trgm",
                 ("blocker", "extension", "extension-pg_trgm", None),
                 ["extension pg_trgm is not installed", "CREATE EXTENSION pg_trgm"],
                 id="missing-extension"),
    pytest.param("DROP INDEX org_membership_active_org_user_uniq; "
                 "SET session_replication_role = replica; "
                 "INSERT INTO org_membership (id, org_id, user_id, role) SELECT gen_random_uuid(), "
                 "'00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-00000000000b', "
                 "'member' FROM generate_series(1, 3); "
                 "INSERT INTO org_membership (id, org_id, user_id, role, deleted_at) SELECT "
                 "gen_random_uuid(), '00000000-0000-0000-0000-00000000000c', "
                 "'00000000-0000-0000-0000-00000000000b', 'member', now() "
                 "FROM generate_series(1, 2)",
                 ("blocker", "index-requirement", "index-org_membership_active_org_user_uniq", None),
                 ["required index org_membership_active_org_user_uniq UNIQUE (org_id, user_id) on "
                  "org_membership WHERE deleted_at IS NULL is missing",
                  "1 duplicate group(s) would make CREATE UNIQUE INDEX fail",
                  "SELECT org_id, user_id, count(*) FROM org_membership WHERE deleted_at IS NULL "
                  "GROUP BY org_id, user_id HAVING count(*) > 1"],
                 id="missing-partial-unique-index-with-duplicates"),
    pytest.param("DROP TABLE access_request",
                 ("blocker", "missing-collection", "access_request", None),
                 ["table access_request does not exist in the database"], id="dropped-table"),
    pytest.param("ALTER TABLE org ADD CONSTRAINT org_name_key UNIQUE (name)",
                 ("blocker", "unique-pitfall", "org", "name"),
                 ['ALTER TABLE "org" DROP CONSTRAINT "org_name_unique"', "org_name_key",
                  'set "is_unique": true'], id="unique-pitfall"),
    pytest.param("CREATE TABLE legacy_import (id int)",
                 ("warning", "extra-table", "legacy_import", None),
                 ["table legacy_import exists in the database but not in the snapshot"],
                 id="extra-table"),
    pytest.param("ALTER TABLE org_membership ALTER COLUMN role SET DEFAULT 'member'",
                 ("warning", "default", "org_membership", "role"),
                 ["defaults to 'member' in the database, the snapshot says None"],
                 id="changed-default"),
    pytest.param("UPDATE directus_fields SET interface = 'input-multiline' "
                 "WHERE collection = 'org' AND field = 'name'",
                 ("warning", "meta", "org", "name"),
                 ["field org.name: interface in directus_fields differs from the snapshot"],
                 id="changed-meta"),
    pytest.param("CREATE INDEX org_invite_created_at_index ON org_invite (created_at)",
                 ("warning", "index-drop", "org_invite", "created_at"),
                 ["the push drops that index"], id="conventional-index-is-only-a-warning"),
]


@pytest.mark.parametrize(("statement", "expected", "fragments"), CASES)
def test_one_alteration_gives_exactly_its_finding(dsn: str, snap: Snapshot, statement: str,
                                                  expected: tuple, fragments: list[str]) -> None:
    alter(dsn, statement)
    found = findings(dsn, snap)
    assert summary(found) == [expected]
    for fragment in fragments:
        assert fragment in found[0].message
    assert "\n" not in found[0].message


def test_the_pitfall_details_name_the_statement_index_and_file(dsn: str, snap: Snapshot) -> None:
    alter(dsn, "CREATE INDEX idx_org_invite_recent ON org_invite (created_at) "
               "WHERE deleted_at IS NULL")
    (finding,) = findings(dsn, snap)
    assert finding.details["statement"] == 'DROP INDEX "org_invite_created_at_index"'
    assert finding.details["live_indexes"] == ["idx_org_invite_recent"]
    assert finding.details["file"] == "snapshot/fields/org_invite/created_at.json"


def test_a_required_extension_the_server_lacks_says_so(dsn: str, snap: Snapshot) -> None:
    with psycopg.connect(dsn) as conn:
        offered = conn.execute("SELECT count(*) FROM pg_available_extensions "
                               "WHERE name = 'vector'").fetchone()[0] == 1
    wanted = DatabaseRequirements(extensions=("pg_trgm", "vector"), indexes=())
    (finding,) = findings(dsn, snap, wanted)
    assert (finding.kind, finding.collection) == ("extension", "extension-vector")
    expected = ("server has it available" if offered
                else "the server does not even offer it (not in pg_available_extensions)")
    assert expected in finding.message and finding.details["available"] is offered


def test_a_required_index_with_another_predicate_differs(dsn: str, snap: Snapshot) -> None:
    alter(dsn, "DROP INDEX org_membership_active_org_user_uniq; CREATE UNIQUE INDEX "
               "org_membership_active_org_user_uniq ON org_membership (org_id, user_id)")
    (finding,) = findings(dsn, snap)
    assert finding.kind == "index-requirement"
    assert "differs: the database has CREATE UNIQUE INDEX org_membership_active_org_user_uniq" \
           in finding.message
    assert "no duplicates block it" in finding.message


def _edit(copy: Path, rel: str, **schema: object) -> None:
    path = copy / rel
    doc = json.loads(path.read_text())
    doc["schema"].update(schema)
    path.write_text(json.dumps(doc))


def test_snapshot_side_changes_and_what_the_release_brings(dsn: str, snap: Snapshot,
                                                           shared_snapshot: Path,
                                                           tmp_path: Path) -> None:
    copy = Path(shutil.copytree(shared_snapshot, tmp_path / "snapshot"))
    _edit(copy, "fields/org/description.json", data_type="character varying", max_length=500)
    _edit(copy, "fields/org/name.json", is_indexed=True)
    shutil.copy(copy / "collections" / "org.json", copy / "collections" / "org_archive.json")
    (copy / "collections" / "org_archive.json").write_text(
        (copy / "collections" / "org_archive.json").read_text().replace('"org"', '"org_archive"'))
    candidate = load_dir(copy, where="snapshot")
    found = findings(dsn, candidate)
    assert summary(found) == [("blocker", "type", "org", "description"),
                              ("warning", "index-create", "org", "name"),
                              ("blocker", "missing-collection", "org_archive", None)]
    assert 'creates index org_name_index' in found[1].message
    # Against the deployed snapshot, these are what the release brings: not blockers.
    pending = pending_changes(candidate, snap)
    assert pending == {("org", "description"), ("org", "name"), ("org_archive", None),
                       ("org_archive", "*")}
    found = findings(dsn, candidate, pending=pending)
    assert summary(found) == [("warning", "type", "org", "description"),
                              ("warning", "index-create", "org", "name"),
                              ("warning", "missing-collection", "org_archive", None)]
    assert found[0].message.endswith("the snapshot says character varying(500) "
                                     "(snapshot/fields/org/description.json): a change this "
                                     "release brings, the push applies it")


def test_a_malformed_file_fails_only_its_collection(dsn: str, shared_snapshot: Path,
                                                    tmp_path: Path) -> None:
    copy = Path(shutil.copytree(shared_snapshot, tmp_path / "snapshot"))
    (copy / "fields" / "org" / "description.json").write_text("{not json")
    broken = load_dir(copy, where="snapshot")
    found = findings(dsn, broken)
    assert summary(found) == [("blocker", "snapshot-file", "org", None)]
    assert found[0].message.startswith("malformed snapshot file snapshot/fields/org/"
                                       "description.json: invalid JSON at line 1 column 2")


def test_live_schema_is_read_in_a_handful_of_set_based_queries(dsn: str, snap: Snapshot) -> None:
    with read_only(dsn) as conn:
        live = live_schema.read(conn)
    assert live.queries <= 8
    assert len(live.tables) >= len(snap.collections)
    assert live.directus is not None and len(live.directus.fields) > 600


def test_a_write_through_the_read_only_database_fixture_fails(dsn: str,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    monkeypatch.setenv("RG_TEST_SCHEMA_DSN", dsn)
    host = SimpleNamespace(name="production", timeout_s=1.0,
                           spec=SimpleNamespace(database=SimpleNamespace(
                               dsn_env="RG_TEST_SCHEMA_DSN")))
    conn = database.connect(host)
    try:
        assert conn.execute("SHOW statement_timeout").fetchone()[0] == "1s"
        assert live_schema.read(conn).tables  # reading works
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE INDEX idx_sneaky ON org (name)")
        conn.rollback()
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("UPDATE org SET name = name")
        conn.rollback()
        with pytest.raises(Unreachable, match="exceeded the 1 s statement timeout"):
            conn.execute("SELECT pg_sleep(10)")
    finally:
        conn.close()
    with psycopg.connect(dsn) as check:
        assert check.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 'idx_sneaky'"
                             ).fetchone()[0] == 0


def test_a_throwaway_cluster_serves_a_built_schema_and_leaves_nothing(snap: Snapshot) -> None:
    if not (pg.BIN / "initdb").exists():
        pytest.skip(f"no initdb in {pg.BIN} (set RELEASEGATE_PG_BIN)")
    cluster = pg.start()
    try:
        dsn = pg.create_database(cluster.dsn(), "built")
        assert dsn == f"postgresql://postgres@127.0.0.1:{cluster.port}/built"
        with psycopg.connect(dsn) as conn:
            pg.build(conn, snap, REQUIREMENTS)
        assert findings(dsn, snap) == []
    finally:
        cluster.stop()
    assert not cluster.directory.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(cluster.dsn(), connect_timeout=2)


def test_a_new_not_null_column_without_default_blocks_when_rows_exist(
        dsn: str, snap: Snapshot, shared_snapshot: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(shared_snapshot, tmp_path / "snapshot"))
    doc = json.loads((copy / "fields" / "org" / "name.json").read_text())
    doc["field"] = doc["meta"]["field"] = doc["schema"]["name"] = "region"
    (copy / "fields" / "org" / "region.json").write_text(json.dumps(doc))
    candidate = load_dir(copy, where="snapshot")
    pending = pending_changes(candidate, snap)
    # An empty table takes the column: the release's own change, a warning.
    assert summary(findings(dsn, candidate, pending=pending)) == [
        ("warning", "missing-field", "org", "region")]
    alter(dsn, "INSERT INTO org (id, name) VALUES (gen_random_uuid(), 'Acme'); ANALYZE org")
    (finding,) = findings(dsn, candidate, pending=pending)
    assert (finding.severity, finding.kind, finding.field) == ("blocker", "not-null-pitfall",
                                                               "region")
    assert finding.message.startswith("push would add org.region NOT NULL without a default to "
                                      "a table with about 1 rows")
    assert finding.message.endswith("make it nullable in snapshot/fields/org/region.json")


def test_directus_index_names_follow_its_helper_exactly() -> None:
    """@directus/api getDefaultIndexName(type, collection, field, {maxLength: 63}) (postgres):
    values computed by Directus 11.13.4's own function under Node."""
    name = directus_index_name
    assert name("index", "org_invite", "created_at") == "org_invite_created_at_index"
    assert name("index", "a.b-c", "X") == "a_b_c_x_index"
    assert (name("unique", "workspace_membership_notification_preference",
                 "notification_channel_override")
            == "workspace_membership_notification_preference_n__54641b3d_unique")
    assert (name("foreign", "organisation_subscription_billing_history",
                 "billing_account_identifier")
            == "organisation_subscription_billing_history_bil__422189a0_foreign")
    assert name("index", "x" * 70, "\u00e9" * 5) == "x" * 47 + "__1a535503_index"


def test_a_dropped_column_with_metadata_fails_the_push_even_when_the_release_changes_it(
        dsn: str, snap: Snapshot, shared_snapshot: Path, tmp_path: Path) -> None:
    alter(dsn, "ALTER TABLE org DROP COLUMN description")
    copy = Path(shutil.copytree(shared_snapshot, tmp_path / "snapshot"))
    _edit(copy, "fields/org/description.json", max_length=500, data_type="character varying")
    candidate = load_dir(copy, where="snapshot")
    pending = pending_changes(candidate, snap)
    assert ("org", "description") in pending
    (finding,) = findings(dsn, candidate, pending=pending)
    assert (finding.severity, finding.kind) == ("blocker", "orphan-field-meta")
    assert finding.message.startswith("push fails: org.description was dropped")


def test_cache_advice_only_where_a_hand_change_is_involved(dsn: str, snap: Snapshot,
                                                           shared_snapshot: Path,
                                                           tmp_path: Path) -> None:
    alter(dsn, "CREATE INDEX idx_org_invite_recent ON org_invite (created_at)")
    (pitfall,) = findings(dsn, snap)
    assert pitfall.message.endswith(schema_diff.CACHE_ADVICE)
    assert "restart Directus or clear its system cache (POST /utils/cache/clear?system=true)" \
        in pitfall.message
    copy = Path(shutil.copytree(shared_snapshot, tmp_path / "snapshot"))
    _edit(copy, "fields/org/name.json", is_indexed=True)
    candidate = load_dir(copy, where="snapshot")
    by_field = {f.field: f for f in findings(dsn, candidate)}
    assert by_field["name"].kind == "index-create"
    assert "cache" not in by_field["name"].message  # the snapshot's change, not a hand change


def test_a_blocker_the_candidates_push_resolves_is_a_warning_naming_it(
        dsn: str, snap: Snapshot, shared_snapshot: Path, tmp_path: Path) -> None:
    alter(dsn, "CREATE INDEX idx_org_invite_recent ON org_invite (created_at)")
    running = findings(dsn, snap)
    assert summary(running) == [("blocker", "index-pitfall", "org_invite", "created_at")]
    fixing = Path(shutil.copytree(shared_snapshot, tmp_path / "fixing"))
    _edit(fixing, "fields/org_invite/created_at.json", is_indexed=True)
    fix = load_dir(fixing, where="snapshot")
    candidate = findings(dsn, fix, pending=pending_changes(fix, snap))
    assert [f for f in candidate if f.severity == "blocker"] == []
    (fixed,) = fixed_by_candidate(running, candidate, "app@main (0123456789ab)")
    assert (fixed.severity, fixed.kind, fixed.details["fixed_by"]) == (
        "warning", "index-pitfall", "app@main (0123456789ab)")
    assert fixed.message.endswith("the release about to be tagged (app@main (0123456789ab)) "
                                  "fixes this: its push resolves it")
    # A candidate that leaves the pitfall, or whose push fails elsewhere, fixes nothing.
    other = Path(shutil.copytree(shared_snapshot, tmp_path / "other"))
    _edit(other, "fields/org/name.json", is_indexed=True)
    unfixed = load_dir(other, where="snapshot")
    left = findings(dsn, unfixed, pending=pending_changes(unfixed, snap))
    assert fixed_by_candidate(running, left, "main") == running
    alter(dsn, "ALTER TABLE org DROP COLUMN description")
    failing = findings(dsn, fix, pending=pending_changes(fix, snap))
    assert "orphan-field-meta" in {f.kind for f in failing}
    running = [f for f in findings(dsn, snap) if f.collection == "org_invite"]
    assert fixed_by_candidate(running, failing, "main") == running


@pytest.mark.parametrize(("markexpr", "expected"), [
    ("prerelease", True), ("prerelease and not slow", True), ("smoke", False), ("drift", False),
    ("prerelease or drift", False), ("not prerelease", False), ("", False), (None, False)])
def test_the_prerelease_moment_is_read_from_the_mark_expression(markexpr: str | None,
                                                                expected: bool) -> None:
    from checks.test_schema import is_prerelease
    assert is_prerelease(markexpr) is expected
