"""A psycopg 3 connection per database: read-only transaction, statement timeout, DSN from a
variable, and the first failure of the database kept for the session.

Environments whose variables hold the same DSN share one connection (estates point several
environments at one database, the benchmark's hundreds at one per environment kind): opening it
once, not once per environment and check function. Whoever uses it names the environment in
its messages; a failure of that database is the failure of every environment on it.

A database that is down, too slow, locked (statement timeout) or lost mid-run fails the first
query that meets it; every later query of any check raises the same Unreachable at once, naming
the environment, the endpoint (as libpq reads the DSN) and the cause, instead of waiting out one
more timeout per check or raising raw psycopg tracebacks.

At most MAX_OPEN connections are open at once in one process: a run over hundreds of
databases on one shared server would otherwise hold one connection slot per database for the
whole session and exhaust the server's max_connections (every later environment an ERROR "too
many clients"). Opening one more closes the least recently used connection; its environments
reopen it on their next check (plugins/core/host.py). A failed connection keeps its failure, so
its environments are not retried.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import psycopg

from releasegate.core.redact import redact, register_dsn
from releasegate.schema.configured import skip_unless_configured

if TYPE_CHECKING:
    from releasegate.core.handle import Handle

# Errors that say the database itself cannot serve this session (not one check's bad query).
LOST = (psycopg.OperationalError, psycopg.InterfaceError)

# Checks run one at a time in a process (each xdist worker has its own bound): one open
# connection would do; a few spare keep an environment whose checks interleave with another's
# from reconnecting at every switch.
MAX_OPEN = 8
# (DSN, statement timeout) -> its open connection, least recently used first
_OPEN: OrderedDict[tuple[str, float], GuardedConnection] = OrderedDict()


def endpoint_of(dsn: str) -> str:
    """host:port/dbname of a DSN as libpq reads it (PQconninfoParse through psycopg), without
    credentials, for messages. libpq ends a URI's user info at its first '@', so a password with
    an unencoded '@' leaves its tail in the host name: only what follows the last '@' is named
    (the host the DSN means; connect() refuses such a DSN, saying why)."""
    import psycopg.conninfo

    try:
        info = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "database (DSN unreadable)"
    host = str(info.get("host") or info.get("hostaddr") or "localhost")
    host = host.rpartition("@")[2]
    return f"{host}:{info.get('port') or 5432}/{info.get('dbname') or ''}"


def unencoded_at(dsn: str) -> bool:
    """A URI DSN whose user info holds more than one '@': libpq would read part of the password
    as the host name."""
    scheme, sep, rest = dsn.partition("://")
    if not sep or not scheme.startswith("postgres"):
        return False
    return rest.split("/", 1)[0].count("@") > 1


def error_line(exc: Exception, timeout_s: float) -> str:
    """One redacted line for a database error. A cancelled statement is named as the statement
    timeout: the suite never cancels, and Postgres may word a cancel that races a tiny timeout
    as "user request"."""
    text = str(exc).strip()
    line = redact(text.splitlines()[0] if text else type(exc).__name__)
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return f"exceeded the {timeout_s:g} s statement timeout ({line})"
    if isinstance(exc, LOST) and not text:
        return "the connection is lost"
    return line


class GuardedCursor(psycopg.Cursor):
    """A cursor whose queries fail at once, with the session's first failure, once the
    database has failed."""

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        conn: GuardedConnection = self.connection  # type: ignore[assignment]
        conn.check()
        try:
            return super().execute(*args, **kwargs)
        except LOST as exc:
            raise conn.failed(exc) from None


class GuardedConnection(psycopg.Connection):
    """A read-only connection that remembers the first failure of its database."""

    env = endpoint = ""  # env: the environment using it now (connect() and used() set it)
    timeout_s = 0.0
    key: tuple[str, float] = ("", 0.0)
    failure: Exception | None = None
    evicted = False  # closed by the suite (the bound, a host's close), to be reopened on demand

    def check(self) -> None:
        """Raise the remembered failure, if the database has failed in this session."""
        if self.failure is not None:
            raise self._named(self.failure)

    def _named(self, failure: Exception) -> Exception:
        """The database's failure as the environment using it now sees it."""
        from releasegate.core.handle import Unreachable

        if isinstance(failure, Unreachable) and failure.env != self.env:
            return Unreachable(self.env, failure.endpoint, failure.reason, failure.state)
        return failure.with_traceback(None)

    def failed(self, exc: Exception) -> Exception:
        """Remember exc as the database's failure (the first one wins) and return it."""
        from releasegate.core.handle import Unreachable

        if self.failure is None:
            # A statement timeout (a lock held, a catalog too slow): the server answers, but not
            # within the bound; anything else here means the connection is gone.
            state = "failed" if isinstance(exc, psycopg.errors.QueryCanceled) else "unreachable"
            self.failure = Unreachable(self.env, self.endpoint, error_line(exc, self.timeout_s),
                                       state)
        return self._named(self.failure)

    def close(self) -> None:
        """Close, and stop counting against the bound on open connections."""
        if _OPEN.get(self.key) is self:
            del _OPEN[self.key]
        self.evicted = True
        super().close()

    def rollback(self) -> None:
        """Roll back; on a lost connection keep its failure rather than raise another."""
        try:
            super().rollback()
        except LOST as exc:
            self.failed(exc)


def _host_of(dsn: str) -> str | None:
    """The first host name a DSN connects to, as libpq reads it (None for a socket or an address)."""
    try:
        name = psycopg.conninfo.conninfo_to_dict(dsn).get("host") or ""
    except psycopg.Error:
        return None
    first = str(name).split(",", 1)[0]
    return first if first and not first.startswith("/") else None


def connect(host: Handle) -> GuardedConnection:
    """The environment's database, read-only: the connection open to its DSN, else a new one;
    or skip / raise Unreachable saying why."""
    from releasegate.core.handle import Unreachable
    from releasegate.core.resolver_once import blame

    skip_unless_configured(host)
    spec = host.spec.database
    dsn = os.environ[spec.dsn_env]
    register_dsn(dsn)
    endpoint = f"database {endpoint_of(dsn)}"
    if unencoded_at(dsn):
        raise Unreachable(host.name, endpoint, f"the DSN in {spec.dsn_env} has an unencoded '@' "
                          "in its user info, so libpq would take part of the password for the "
                          "host name: percent-encode it as %40")
    timeout = host.timeout_s
    key = (dsn, float(timeout))
    shared = _OPEN.get(key)
    if shared is not None:
        used(shared, host.name)
        return shared
    _make_room()
    try:
        conn = GuardedConnection.connect(
            dsn, connect_timeout=max(1, int(round(timeout))), autocommit=False,
            options=f"-c statement_timeout={int(timeout * 1000)} "
                    "-c default_transaction_read_only=on",
            application_name="releasegate", cursor_factory=GuardedCursor)
    except psycopg.Error as exc:  # a name no resolver answers: one ERROR for the run (resolver_once)
        raise blame(host.name, endpoint, error_line(exc, timeout), host=_host_of(dsn)) from None
    conn.env, conn.endpoint, conn.timeout_s, conn.key = host.name, endpoint, timeout, key
    # Belt and braces: the session default above plus an explicit read-only transaction.
    conn.read_only = True
    _OPEN[key] = conn
    return conn


def reopen_needed(conn: GuardedConnection) -> bool:
    """Whether the suite closed this healthy connection since (the bound, or another
    environment's close), so its environment must reopen it."""
    return conn.evicted and conn.failure is None


def used(conn: GuardedConnection, env: str) -> None:
    """Mark conn as the most recently used open connection, used by environment env."""
    conn.env = env
    if _OPEN.get(conn.key) is conn:
        _OPEN.move_to_end(conn.key)


def open_count() -> int:
    """Connections this process holds open."""
    return len(_OPEN)


def _make_room() -> None:
    """Close least recently used connections until one more fits within MAX_OPEN."""
    while len(_OPEN) >= MAX_OPEN:
        _, oldest = _OPEN.popitem(last=False)
        try:
            oldest.close()
        except Exception:  # noqa: BLE001 - a broken connection is as closed as it gets
            pass
