"""``-m`` names registered markers only: a typo (``-m prerelase``) is a usage error, not "0 selected"."""

from __future__ import annotations

import re

import pytest

_KEYWORDS = {"and", "or", "not"}
# pytest's -m grammar: identifiers, with optional (key=value, ...) arguments after a marker name.
_IDENT = re.compile(r"(?:\w|:|\+|-|\.|\[|\]|\\|/)+")


def marker_names(markexpr: str) -> list[str]:
    """The marker names a ``-m`` expression mentions, in order (keyword arguments left out)."""
    bare = re.sub(r"\([^)]*\)", " ", markexpr)
    return [word for word in _IDENT.findall(bare) if word not in _KEYWORDS]


def registered(config: pytest.Config) -> set[str]:
    """Every marker registered in code or ini (``name: text`` or ``name(args): text`` lines)."""
    return {re.split(r"[(:]", line, maxsplit=1)[0].strip() for line in config.getini("markers")}


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Refuse a ``-m`` that names a marker nobody registered, listing the known ones."""
    markexpr = config.option.markexpr or ""
    if not markexpr:
        return
    known = registered(config)
    unknown = [name for name in marker_names(markexpr) if name not in known]
    if unknown:
        ours = [name for name in ("prerelease", "smoke", "drift") if name in known]
        others = sorted(known - set(ours))
        raise pytest.UsageError(
            f"-m {markexpr!r}: {', '.join(repr(n) for n in unknown)} "
            f"{'is no registered marker' if len(unknown) == 1 else 'are no registered markers'} "
            f"(releasegate's moments: {', '.join(ours)}; other markers: {', '.join(others)})")
