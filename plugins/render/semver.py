"""Version constraints of chart dependencies and chart sources, as Masterminds/semver reads them
(the library Helm uses: `1.2.3`, `1.2.x`, `*`, `^1.2`, `~1.2.3`, `>=1.0 <2.0`, `a || b`)."""

from __future__ import annotations

import re

_VERSION = re.compile(r"v?(\d+)(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(-[0-9A-Za-z.-]+)?(\+\S+)?$")
_TERM = re.compile(r"(\^|~>?|>=|<=|!=|=>|=<|>|<|=)?\s*([^\s<>=!~^,|]+)")


def _parse(text: str) -> tuple[list[int | None], str] | None:
    match = _VERSION.match(text.strip())
    if not match:
        return None
    parts = [None if p is None or p in "xX*" else int(p) for p in match.groups()[:3]]
    return parts, match.group(4) or ""


def _key(parts: list[int | None]) -> tuple[int, int, int]:
    return tuple(p or 0 for p in parts)  # type: ignore[return-value]


def _term(version: tuple[int, int, int], pre: str, op: str, bound: str) -> bool:
    if bound in ("*", "x", "X"):
        return not pre
    parsed = _parse(bound)
    if parsed is None:
        return False
    parts, bound_pre = parsed
    low = _key(parts)
    given = sum(p is not None for p in parts)
    if op in ("", "="):
        if given == 3:
            return version == low and pre == bound_pre
        return version[:given] == low[:given] and not pre
    if pre and not bound_pre:
        return False  # prereleases satisfy only constraints that name one
    if op == "^":
        first = next((i for i, p in enumerate(parts) if p), min(given, 3) - 1)
        high = list(low[:first + 1])
        high[first] += 1
        return low <= version and version[:first + 1] < tuple(high)
    if op in ("~", "~>"):
        keep = 1 if given == 1 else 2
        return low <= version and version[:keep] == low[:keep]
    ops = {">": version > low, "<": version < low, ">=": version >= low, "=>": version >= low,
           "<=": version <= low, "=<": version <= low, "!=": version != low}
    return ops.get(op, False)


def satisfies(version: str, constraint: str) -> bool:
    """Whether a chart version satisfies a constraint (empty: any released version)."""
    parsed = _parse(version)
    if parsed is None or None in parsed[0]:
        return False
    numbers, pre = _key(parsed[0]), parsed[1]
    constraint = constraint.strip()
    if not constraint:
        return not pre
    for alternative in constraint.split("||"):
        hyphen = re.fullmatch(r"\s*(\S+)\s+-\s+(\S+)\s*", alternative)
        terms = [(">=", hyphen[1]), ("<=", hyphen[2])] if hyphen else \
            _TERM.findall(alternative.replace(",", " "))
        if terms and all(_term(numbers, pre, op, bound) for op, bound in terms):
            return True
    return False
