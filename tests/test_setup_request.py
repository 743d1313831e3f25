"""releasegate.setup_request: a fixture that does not name ``request`` still gets its own request,
whatever it depends on; secrets in a fixture's exception are masked."""

from __future__ import annotations

import pytest

from releasegate import setup_request

CHECKS = '''
import pytest
from releasegate import setup_request
from releasegate.core.redact import register_secret

SECRET = "fixture-" + "secret-value"
register_secret(SECRET)


@pytest.fixture
def inner():
    return setup_request.current().fixturename


@pytest.fixture
def outer(inner):
    return (inner, setup_request.current().fixturename, setup_request.current().param)


@pytest.mark.parametrize("outer", ["p1", "p2"], indirect=True)
def test_each_fixture_sees_its_own_request(outer):
    assert outer[:2] == ("inner", "outer")
    assert outer[2] in ("p1", "p2")


@pytest.fixture
def leaky():
    raise RuntimeError("cannot connect with " + SECRET)


def test_leaky(leaky):
    pass
'''


def test_fixtures_get_their_own_request_and_masked_errors(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["releasegate.setup_request"]\n')
    pytester.makepyfile(test_checks=CHECKS)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    assert "fixture-secret-value" not in result.stdout.str()
    assert "cannot connect with ***" in result.stdout.str()


def test_outside_a_fixture_setup_there_is_no_request() -> None:
    with pytest.raises(RuntimeError, match="no fixture is being set up"):
        setup_request.current()
