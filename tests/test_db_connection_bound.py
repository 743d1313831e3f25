"""The bound on open database connections, against a real Postgres: many databases on one
server never hold more than MAX_OPEN connections, a closed one reopens on its next check, the
environments on one DSN share one connection (and its failure, each naming itself), and a
server that refuses is an ERROR naming the environment and the endpoint."""

from __future__ import annotations

import os
import uuid
from types import SimpleNamespace
from typing import Iterator

import psycopg
import pytest

from examples.services import postgres as pg
from releasegate.core.handle import Unreachable
from releasegate.core.host import EnvHost
from releasegate.schema import database

ADMIN = os.environ.get("RELEASEGATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def dsn() -> Iterator[str]:
    try:
        psycopg.connect(ADMIN, connect_timeout=5).close()
    except psycopg.Error as exc:
        pytest.skip(f"Postgres not reachable at {ADMIN}: {exc}")
    name = f"rg_bound_{uuid.uuid4().hex[:12]}"
    url = pg.create_database(ADMIN, name)
    try:
        yield url
    finally:
        pg.drop_database(ADMIN, name)


def hosts(count: int, dsn_env: str) -> list[EnvHost]:
    """Environments that all use the database named by dsn_env."""
    shared = SimpleNamespace(estate=None, settings=SimpleNamespace(timeout_s=2.0),
                             shares=lambda value: False)  # a session sharing no client
    return [EnvHost(shared, SimpleNamespace(name=f"env{i}", database=SimpleNamespace(dsn_env=dsn_env)))
            for i in range(count)]


def server_connections(dsn: str) -> int:
    """The suite's connections the server counts on the database of dsn."""
    dbname = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
    with psycopg.connect(ADMIN) as admin:
        return admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                             "AND application_name = 'releasegate'", (dbname,)).fetchone()[0]


def test_many_databases_hold_at_most_the_bound_and_reopen_on_demand(
        dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database, "MAX_OPEN", 3)
    envs = []
    for i in range(10):  # ten DSNs (the same database, told apart by a parameter)
        monkeypatch.setenv(f"RG_TEST_BOUND_DSN_{i}", f"{dsn}?fallback_application_name=b{i}")
        envs += hosts(1, f"RG_TEST_BOUND_DSN_{i}")
    try:
        for _ in range(2):  # every environment twice: each check after the first reopens
            for host in envs:
                assert host.db.execute("SELECT 1").fetchone() == (1,)
                assert server_connections(dsn) <= 3
        assert database.open_count() <= 3
        first = envs[0].db  # closed by the bound since, reopened here
        assert not first.closed
        assert first.execute("SHOW transaction_read_only").fetchone() == ("on",)
        assert first.execute("SHOW statement_timeout").fetchone() == ("2s",)
    finally:
        for host in envs:
            host.close()
    assert database.open_count() == 0
    assert server_connections(dsn) == 0


def test_environments_on_one_dsn_share_one_connection_and_its_failure(
        dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RG_TEST_BOUND_DSN", dsn)
    envs = hosts(5, "RG_TEST_BOUND_DSN")
    try:
        conns = [host.db for host in envs]
        assert all(conn is conns[0] for conn in conns)
        assert conns[0].execute("SELECT 1").fetchone() == (1,)
        assert server_connections(dsn) == 1 and database.open_count() == 1
        with pytest.raises(Unreachable) as first:  # env1 meets the statement timeout
            envs[1].db.execute("SELECT pg_sleep(5)")
        assert str(first.value).startswith("env1: database ")
        assert "exceeded the 2 s statement timeout" in str(first.value)
        with pytest.raises(Unreachable) as later:  # the same database: env3 fails at once
            envs[3].db.check()
        assert later.value.args[0] == str(first.value).replace("env1: ", "env3: ", 1)
    finally:
        for host in envs:
            host.close()
    assert database.open_count() == 0
    assert server_connections(dsn) == 0


def test_a_server_that_refuses_is_an_error_naming_environment_and_endpoint(
        dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    dbname = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS false')
    try:
        monkeypatch.setenv("RG_TEST_BOUND_DSN", dsn)
        (host,) = hosts(1, "RG_TEST_BOUND_DSN")
        with pytest.raises(Unreachable) as refused:
            host.db
        assert str(refused.value).startswith(f"env0: database 127.0.0.1:5432/{dbname} unreachable: ")
        assert "not currently accepting connections" in str(refused.value)
        with pytest.raises(Unreachable) as again:  # the same outcome at once, not retried
            host.db
        assert again.value.args == refused.value.args
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true')
