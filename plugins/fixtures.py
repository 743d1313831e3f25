"""Fixtures every check uses: the environment handle, its item, and its live parts.

Parts are built on first use and cached per session by the host; asking for them through these
fixtures makes a dead service an ERROR (setup) and a missing setting a SKIP, never a FAILED check.
"""

from __future__ import annotations

from typing import Any

import pytest

from releasegate import setup_request
from releasegate.estate import Estate
from releasegate.core import resolver_once
from releasegate.core.gitrepo import Absent, NotChecked, SourceError
from releasegate.core.resolver_once import ResolverSilent
from releasegate.core.host import EnvHost
from releasegate.params import Unavailable, nothing_to_check, shared


class ItemUnavailable(Exception):
    """The items of an environment could not be read from its sources."""


@pytest.fixture(scope="session")
def estate(pytestconfig: pytest.Config) -> Estate:
    """The typed environments file."""
    return shared(pytestconfig).estate


@pytest.fixture
def host() -> EnvHost:
    """The environment under check (parametrized by releasegate with its item)."""
    request = setup_request.current()
    env, value, _ = request.param
    if isinstance(value, Unavailable):
        if value.skip:
            pytest.skip(f"{env}: {value.reason}")
        raise ItemUnavailable(f"{env}: {value.reason}")
    return shared(request.config).host(env)


@pytest.fixture
def item(host: EnvHost) -> Any:  # noqa: ARG001
    """The item under check (container, image, subdomain, collection...).

    Depends on ``host`` so that an environment whose items could not be read errors first.
    """
    return setup_request.current().node.callspec.params["host"][1]


STATIC_SKIP = "--static: live services (database, cluster, registry, HTTP) are not contacted"


# Set on a check whose live part (database, cluster, registry, HTTP) was built: its record says
# "live", so the drift verdict says "drifted from git" only where live state was compared.
READ_LIVE = pytest.StashKey[bool]()


def _live(host: EnvHost) -> EnvHost:
    """The host, unless this is a static-only run: then the check needing a live part skips."""
    if host.shared.settings.static:
        pytest.skip(STATIC_SKIP)
    return host


def _read(part: Any) -> Any:
    """A live part the check got: mark the check as one that compared live state."""
    setup_request.current().node.stash[READ_LIVE] = True
    return part


@pytest.fixture
def db(host: EnvHost) -> Any:
    """The environment's database: read-only transaction with a statement timeout. Once it has
    failed in this session (lost, locked, too slow), every check that needs it errors at once."""
    conn = _live(host).db
    conn.check()
    return _read(conn)


@pytest.fixture
def k8s(host: EnvHost) -> Any:
    """The environment's kubernetes API client (get, list, watch only)."""
    return _read(_live(host).k8s)


@pytest.fixture
def registry(host: EnvHost) -> Any:
    """The registry client for the images the environment's chart names."""
    return _read(_live(host).registry)


@pytest.fixture
def http(host: EnvHost) -> Any:
    """The HTTP client for the environment's subdomains."""
    return _read(_live(host).http)


@pytest.fixture
def manifests(host: EnvHost) -> tuple[dict[str, Any], ...]:
    """The environment's rendered chart (an unrenderable chart is an ERROR, one the suite cannot
    render here a SKIP)."""
    try:
        return host.manifests
    except NotChecked as exc:
        pytest.skip(f"{host.name}: {exc}")


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Any:
    """A file an entry names that does not exist at the commit a check reads: the check has nothing
    to check there and skips with one line (an ERROR if it is not on the integration branch either)."""
    try:
        return (yield)
    except NotChecked as exc:
        host = pyfuncitem.funcargs.get("host")
        named = not isinstance(host, EnvHost) or str(exc).startswith(f"{host.name}: ")
        pytest.skip(str(exc) if named else f"{host.name}: {exc}")
    except ResolverSilent as exc:
        resolver_once.once(pyfuncitem.config, pyfuncitem.nodeid, exc)
    except Absent as exc:
        host = pyfuncitem.funcargs.get("host")
        if not isinstance(host, EnvHost):
            raise
        absent = nothing_to_check(host, exc)
        if not absent.skip:
            raise SourceError(f"{host.name}: {absent.reason}") from None
        pytest.skip(f"{host.name}: {absent.reason}")


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: Any, request: pytest.FixtureRequest) -> Any:  # noqa: ARG001 (fixturedef)
    """What a fixture needs cannot be known from the sources (NotChecked): the check skips with its line.
    A resolver that answers nothing is one ERROR per run (resolver_once)."""
    try:
        return (yield)
    except NotChecked as exc:
        pytest.skip(str(exc))
    except ResolverSilent as exc:
        resolver_once.once(request.config, request.node.nodeid, exc)


ONE_LINE_ERRORS: tuple[type[BaseException], ...] = (ItemUnavailable, SourceError)
