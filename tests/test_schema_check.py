"""checks/test_schema.py end to end: the demo estate's git repositories, one real Postgres database
per environment built from the snapshot it runs (production with the planted index pitfall),
pytester runs with the three markers."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Iterator

import psycopg
import pytest

from examples.services import postgres as pg
from releasegate.estate import load
from tests.conftest import demo_environments

REPO = Path(__file__).resolve().parents[1]
CHECK = REPO / "checks" / "test_schema.py"
ADMIN = os.environ.get("RELEASEGATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
DSN_VARS = ("DEMO_TESTING_DATABASE_URL", "DEMO_NEXT_DATABASE_URL", "DEMO_PRODUCTION_DATABASE_URL")


@pytest.fixture(scope="module")
def databases(demo_repos: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """{dsn variable: DSN} of the demo databases, built like `python -m examples.services up`."""
    try:
        psycopg.connect(ADMIN, connect_timeout=5).close()
    except psycopg.Error as exc:
        pytest.skip(f"Postgres not reachable at {ADMIN}: {exc}")
    path = tmp_path_factory.mktemp("schema") / "environments.yaml"
    path.write_text(demo_environments(demo_repos))
    prefix = f"rg_demo_{uuid.uuid4().hex[:8]}_"
    try:
        yield pg.populate(ADMIN, load(path), prefix=prefix)
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            names = [r[0] for r in conn.execute("SELECT datname FROM pg_database "
                                                "WHERE datname LIKE %s", (prefix + "%",))]
        for name in names:
            pg.drop_database(ADMIN, name)


@pytest.fixture
def env_file(demo_env_file: Path, databases: dict, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var, dsn in databases.items():
        monkeypatch.setenv(var, dsn)
    return demo_env_file


def run(pytester: pytest.Pytester, env_file: Path, *args: str) -> tuple:
    report = pytester.path / "report.json"
    result = pytester.runpytest_inprocess(str(CHECK), "-p", "no:cacheprovider", "-p", "no:kmock",
                                          f"--environments={env_file}",
                                          f"--report-json={report}", *args)
    records = json.loads(report.read_text())["records"] if report.exists() else []
    return result, records


def findings(records: list[dict]) -> dict[tuple[str, str, str], list[dict]]:
    out: dict[tuple[str, str, str], list[dict]] = {}
    for r in records:
        if r.get("severity") in ("blocker", "warning"):
            out.setdefault((r["check"], r["environment"], r["item"]), []).append(r)
    return out


def test_prerelease_production_catches_the_planted_index_pitfall(pytester: pytest.Pytester,
                                                                 env_file: Path) -> None:
    result, records = run(pytester, env_file, "-m", "prerelease", "--env=production")
    found = findings(records)
    pitfall = ("test_schema_matches_database", "production", "org_invite")
    assert [r["severity"] for r in found[pitfall]] == ["blocker"]
    message = found[pitfall][0]["message"]
    assert 'DROP INDEX "org_invite_created_at_index"' in message
    assert "idx_org_invite_recent" in message
    assert "directus/sync/snapshot/fields/org_invite/created_at.json" in message
    # The candidate (main) adds org.slug: a change the release brings warns; the pitfall still blocks.
    push = ("test_schema_candidate_push", "production", "org_invite")
    assert [r["severity"] for r in found[push]] == ["blocker"]
    slug = found[("test_schema_candidate_push", "production", "org")]
    assert [(r["severity"], r["details"].get("column")) for r in slug] == [("warning", "slug")]
    assert set(found) == {pitfall, push, ("test_schema_candidate_push", "production", "org")}
    result.stdout.fnmatch_lines(["FAILED *test_schema_matches_database?production-org_invite?*"])
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] == 2 and outcomes["passed"] >= 8 + 2 + 1 + 1


def test_smoke_on_staging_is_clean(pytester: pytest.Pytester, env_file: Path) -> None:
    result, records = run(pytester, env_file, "-m", "smoke", "--env=echo-next")
    assert findings(records) == {}
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes.get("error", 0) == 0
    assert outcomes["passed"] == 8 + 1 + 2  # collections + unlisted tables + two requirements


def test_drift_covers_every_environment(pytester: pytest.Pytester, env_file: Path) -> None:
    result, records = run(pytester, env_file, "-m", "drift", "--env=all",
                          "-k", "test_schema_matches_database")
    blocked = {(r["environment"], r["item"]) for r in records if r.get("severity") == "blocker"}
    assert blocked == {("production", "org_invite")}
    assert {r["environment"] for r in records} == {"testing", "echo-next", "production"}


def test_an_unset_dsn_variable_skips_naming_it(pytester: pytest.Pytester, env_file: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEMO_PRODUCTION_DATABASE_URL")
    result, _ = run(pytester, env_file, "-m", "smoke", "--env=production", "-rs")
    outcomes = result.parseoutcomes()
    assert outcomes["skipped"] == 8 + 1 + 2 and "failed" not in outcomes
    result.stdout.fnmatch_lines(["*DEMO_PRODUCTION_DATABASE_URL is not set*"])


def test_an_unreachable_database_is_an_error_naming_it(pytester: pytest.Pytester, env_file: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    with psycopg.connect(ADMIN) as conn:  # a port nobody listens on
        port = 1 + conn.execute("SELECT 65000").fetchone()[0]
    monkeypatch.setenv("DEMO_PRODUCTION_DATABASE_URL", f"postgresql://postgres@127.0.0.1:{port}/x")
    result, _ = run(pytester, env_file, "-m", "smoke", "--env=production",
                    "-k", "test_schema_no_unlisted_tables")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*production: database 127.0.0.1:{port}/x unreachable*"])


def test_a_malformed_snapshot_file_fails_its_collection_naming_the_file(
        pytester: pytest.Pytester, env_file: Path, estate_copy: Path) -> None:
    app = estate_copy / "app"
    broken = app / "directus" / "sync" / "snapshot" / "fields" / "org" / "name.json"
    broken.write_text('{"collection": "org",\n  "field": }')
    subprocess.run(["git", "-C", str(app), "commit", "-qam", "break a field file"], check=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"})
    result, records = run(pytester, env_file, "-m", "prerelease", "--env=production",
                          "-k", "test_schema_candidate_push")
    found = findings(records)
    (org,) = [r for r in found[("test_schema_candidate_push", "production", "org")]
              if r["severity"] == "blocker"]
    assert org["message"].startswith("production: malformed snapshot file app@main (")
    assert "directus/sync/snapshot/fields/org/name.json: invalid JSON at line 2 column 12" \
           in org["message"]
    assert {item for _, _, item in found} == {"org", "org_invite"}  # the rest still checked
    assert result.parseoutcomes()["passed"] == 8 - 2


def test_a_catalog_read_over_the_statement_timeout_is_an_error(pytester: pytest.Pytester,
                                                                env_file: Path) -> None:
    result, _ = run(pytester, env_file, "-m", "smoke", "--env=production", "--timeout-s=0.001",
                    "-k", "test_schema_matches_database and org_invite")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*production: database 127.0.0.1:5432/* failed: exceeded the "
                                 "0.001 s statement timeout (canceling statement due to *)*"])


def test_a_blocker_the_candidate_fixes_warns_in_prerelease_and_blocks_in_drift(
        pytester: pytest.Pytester, env_file: Path, estate_copy: Path) -> None:
    """The release that ships the fix is not blocked by what it fixes (issue 12, part 3)."""
    app = estate_copy / "app"
    field = app / "directus" / "sync" / "snapshot" / "fields" / "org_invite" / "created_at.json"
    doc = json.loads(field.read_text())
    doc["schema"]["is_indexed"] = True  # declare the hand-made index: the push leaves it alone
    field.write_text(json.dumps(doc, indent=2))
    subprocess.run(["git", "-C", str(app), "commit", "-qam", "declare org_invite.created_at "
                    "indexed"], check=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"})
    result, records = run(pytester, env_file, "-m", "prerelease", "--env=production",
                          "-k", "org_invite")
    found = findings(records)
    (pitfall,) = found[("test_schema_matches_database", "production", "org_invite")]
    assert pitfall["severity"] == "warning"
    assert pitfall["details"]["fixed_by"].startswith("app@main (")
    assert pitfall["message"].endswith("fixes this: its push resolves it")
    assert 'DROP INDEX "org_invite_created_at_index"' in pitfall["message"]
    assert ("test_schema_candidate_push", "production", "org_invite") not in found
    assert result.parseoutcomes().get("failed", 0) == 0
    result, records = run(pytester, env_file, "-m", "drift", "--env=production",
                          "-k", "test_schema_matches_database and org_invite")
    (still,) = findings(records)[("test_schema_matches_database", "production", "org_invite")]
    assert still["severity"] == "blocker" and "fixed_by" not in still["details"]
    result.assert_outcomes(failed=1)
