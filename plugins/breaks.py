"""The history sweep's bookkeeping: what makes two blockers at two commits the same break, and the
table of every break a walk found (introduced at, fixed at, time to fix, which check).

A break's identity is (environment, check, item, cause kind): the message with what changes from
commit to commit without changing the cause normalised out (commit SHAs, release labels of the
running commit, file line numbers and template line:col, lists of containers or workloads, the
optional keys left unset beside it). Keyed on the raw message, every commit that bumps an image
tag would be a "new" break of the same cause.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Blocker:
    """One blocker of one check at one commit."""

    check: str
    item: str | None
    message: str
    subject: str = ""  # what must exist for the break to be fixed (a settings class), not identity


_RULES = (
    # the running commit, as "at app v1.4.1 (0123456789ab)" or "at app 0123456789ab"
    (re.compile(r" at app (?:\S+ \()?[0-9a-f]{7,40}\)?"), " at app <commit>"),
    (re.compile(r"\b(?:app|gitops) v?[0-9]+\.[0-9]+\.[0-9]+\S*"), "<release>"),
    (re.compile(r"\b[0-9a-f]{7,40}\b"), "<sha>"),
    (re.compile(r" \(optional (?:secret|config map) [^()]*\)"), ""),
    # template line:col and file:line
    (re.compile(r"(\.(?:ya?ml|tpl|py|json|txt|toml|ts|js)):[0-9]+(?::[0-9]+)?"), r"\1:<line>"),
    (re.compile(r"\b(line|lines|col|column) [0-9]+(?:[-:][0-9]+)?"), r"\1 <n>"),
    # lists of containers or workloads: "agent, api, migrate" and "for api, worker"
    (re.compile(r"\b[a-z0-9][a-z0-9-]*(?:, [a-z0-9][a-z0-9-]*)+\b"), "<names>"),
    (re.compile(r"^([^:]+: )[a-z0-9][a-z0-9-]* at app "), r"\1<names> at app "),
    (re.compile(r"\(([A-Z][A-Z0-9_]*) for <names>\)|\(([A-Z][A-Z0-9_]*) for [a-z0-9-]+\)"), r"(\1\2 for <names>)"),
)


def cause(message: str) -> str:
    """The cause kind of a blocker message: the message with per-commit noise normalised out."""
    for pattern, replacement in _RULES:
        message = pattern.sub(replacement, message)
    return message


def identity(environment: str, blocker: Blocker) -> tuple[str, str, str, str]:
    """(environment, check, item, cause kind): what stays the same while a break lasts."""
    return (environment, blocker.check, blocker.item or "", cause(blocker.message))


@dataclass
class Row:
    """One break of the walk: where it began, where it ended (None: still failing)."""

    check: str
    item: str
    message: str
    introduced: tuple[str, str]  # (short sha, ISO date)
    fixed: tuple[str, str] | None = None
    dates: list[str] = field(default_factory=list)


class Ledger:
    """Every break of one environment's walk, in the order they were introduced."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str, str], Row] = {}

    def opened(self, key: tuple[str, str, str, str], blocker: Blocker, sha: str, date: str) -> None:
        """A break starts at this commit (a later start of the same identity is a new row)."""
        if key in self.rows and self.rows[key].fixed is None:
            return
        if key in self.rows:  # it came back: keep the first row, open a new one after it
            self.rows[(*key[:3], f"{key[3]} #{sha}")] = self.rows.pop(key)
        self.rows[key] = Row(blocker.check, blocker.item or "", blocker.message, (sha, date))

    def closed(self, key: tuple[str, str, str, str], sha: str, date: str) -> None:
        """The break's identity stops failing at this commit while its subject still exists."""
        row = self.rows.get(key)
        if row is not None and row.fixed is None:
            row.fixed = (sha, date)

    def table(self) -> list[str]:
        """One line per break: introduced at, fixed at, time to fix, check, item, message."""
        if not self.rows:
            return []
        lines = [f"{'introduced':<14} {'fixed':<14} {'time to fix':<12} check"]
        for row in sorted(self.rows.values(), key=lambda r: r.introduced[1]):
            fixed = row.fixed[0] if row.fixed else "still failing"
            took = duration(row.introduced[1], row.fixed[1]) if row.fixed else "-"
            what = f"{row.check}[{row.item}]" if row.item else row.check
            lines.append(f"{row.introduced[0]:<14} {fixed:<14} {took:<12} {what}: {row.message[:140]}")
        return lines


def duration(start: str, end: str) -> str:
    """'3d 4h', '2h 5m', '12m' between two ISO dates (git's %aI); '-' when the start is unknown."""
    if not start:
        return "-"
    try:
        seconds = (dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return "?"
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {minutes}m" if hours else f"{minutes}m"
