"""The subdomain checks' pytest wiring: probe the selected endpoints once per session, and mark
items per environment before ``-m`` selects them."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from releasegate.params import ENV_MARKS, check_param
from releasegate.subdomains.probe import SessionProbe, Target
from releasegate.subdomains.webclient import HttpClient

_TARGETS = pytest.StashKey[list]()
_PROBE = pytest.StashKey[SessionProbe]()


def marked_where(applies: Callable[[Any], bool], *marks: Any) -> Callable[[Any], Any]:
    """Add marks to a check's items whose environment satisfies applies(environment spec)."""
    def decorate(function: Any) -> Any:
        setattr(function, ENV_MARKS, (*getattr(function, ENV_MARKS, ()), (applies, marks)))
        return function
    return decorate


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Apply marked_where() marks before -m selects items."""
    from releasegate.params import shared

    for item in items:
        rules, param = getattr(getattr(item, "function", None), ENV_MARKS, ()), check_param(item)
        if not rules or param is None:
            continue
        env = shared(config).estate.environments.get(param[0])
        for applies, marks in rules:
            if env is not None and applies(env):
                for mark in marks:
                    item.add_marker(mark)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Remember the endpoints of the selected items: the first probe fetches them all at once."""
    session.config.stash[_TARGETS] = [p[1] for p in map(check_param, session.items)
                                      if p is not None and isinstance(p[1], Target)]


def session_probe(config: pytest.Config, client: HttpClient) -> SessionProbe:
    """The session's probe (created on first use with every selected endpoint)."""
    if _PROBE not in config.stash:
        config.stash[_PROBE] = SessionProbe(client, config.stash.get(_TARGETS, []))
    return config.stash[_PROBE]
