"""A psycopg 3 connection per environment: read-only transaction, statement timeout, DSN from a variable."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from plugins.redact import redact, register_dsn

if TYPE_CHECKING:
    import psycopg

    from plugins.host import EnvHost


def endpoint_of(dsn: str) -> str:
    """host:port/dbname of a DSN, without credentials, for messages."""
    try:
        parts = urlsplit(dsn)
        if parts.scheme.startswith("postgres"):
            return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or ''}"
    except ValueError:
        pass
    import psycopg.conninfo

    info = psycopg.conninfo.conninfo_to_dict(dsn)
    return f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"


def error_line(exc: Exception, timeout_s: float) -> str:
    """One redacted line for a database error. A cancelled statement is named as the statement
    timeout: the suite never cancels, and Postgres may word a cancel that races a tiny timeout
    as "user request"."""
    import psycopg

    text = str(exc).strip()
    line = redact(text.splitlines()[0] if text else type(exc).__name__)
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return f"exceeded the {timeout_s:g} s statement timeout ({line})"
    return line


def connect(host: EnvHost) -> psycopg.Connection:
    """Open the environment's database read-only, or skip / raise Unreachable saying why."""
    import psycopg

    from plugins.host import Unreachable

    spec = host.spec.database
    if spec is None:
        pytest.skip(f"{host.name}: no database configured (environments.{host.name}.database)")
    dsn = os.environ.get(spec.dsn_env, "")
    if not dsn:
        pytest.skip(f"{host.name}: database.dsn_env {spec.dsn_env} is not set")
    register_dsn(dsn)
    timeout = host.timeout_s
    try:
        conn = psycopg.connect(dsn, connect_timeout=max(1, int(round(timeout))), autocommit=False,
                               options=f"-c statement_timeout={int(timeout * 1000)} "
                                       "-c default_transaction_read_only=on",
                               application_name="releasegate")
    except psycopg.Error as exc:
        raise Unreachable(host.name, f"database {endpoint_of(dsn)}",
                          error_line(exc, timeout)) from None
    # Belt and braces: the session default above plus an explicit read-only transaction.
    conn.read_only = True
    return conn
