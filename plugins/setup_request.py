"""The request of the fixture being set up, for fixtures that do not name ``request``; and secrets
masked in every fixture's exception.

pytest builds a fresh FixtureDef each time a fixture names ``request`` (twice per fixture and
once per check that has one in its closure): an inspect.signature per build, a few microseconds
each, three fixtures in every check. The wrapper below sees every fixture's request anyway.
"""

from __future__ import annotations

from typing import Any

import pytest

from releasegate.core.redact import redact_exception

_CURRENT: list[Any] = [None]  # the SubRequest whose fixture function runs now (one per process)


def current() -> pytest.FixtureRequest:
    """The request of the fixture whose function is running (call it in a fixture's body only)."""
    request = _CURRENT[0]
    if request is None:
        raise RuntimeError("no fixture is being set up")
    return request


# trylast: innermost, so that allure's wrapper, which writes fixture errors into its
# *-container.json (befores[].statusDetails), sees the exception already masked; and so that the
# request set is the one whose function pytest's own setup calls next (a fixture's dependencies
# are set up inside it, each restoring the outer request when done).
@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_fixture_setup(fixturedef: Any, request: Any) -> Any:
    """Mask secrets in a fixture's exception before any other plugin reads it."""
    outer = _CURRENT[0]
    _CURRENT[0] = request
    try:
        return (yield)
    except BaseException as exc:
        redact_exception(exc)
        raise
    finally:
        _CURRENT[0] = outer
