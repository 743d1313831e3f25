"""What a session computes once: whole-environment results, and warnings said once.

The checks take a whole environment's findings, computed once per session, and keep their item's.
Results are keyed by content (commit SHAs), so a session renders and boots each (environment,
gitops commit, app commit) once.
"""
from __future__ import annotations

from typing import Any, Callable

from releasegate.estate import SettingsEntry

ANNOUNCED: set[tuple] = set()  # (session, what, file, commit): said once per session
MEMO: dict[tuple, Any] = {}  # (what, session, environment, commits...): whole-environment results


def memo(key: tuple, compute: Callable[[], Any]) -> Any:
    """A whole-environment result computed once per session; checks take their item's share of it."""
    if key not in MEMO:
        MEMO[key] = compute()
    return MEMO[key]


def first_time(key: tuple) -> bool:
    """True the first time a session asks about `key` (a warning said once per file and commit)."""
    if key in ANNOUNCED:
        return False
    ANNOUNCED.add(key)
    return True


def entry_key(entry: SettingsEntry) -> tuple:
    """A settings entry as a memo key."""
    return (entry.source, entry.path, tuple(entry.containers), entry.boot, entry.python, entry.environment,
            tuple(sorted((name, tuple(built)) for name, built in entry.classes.items())))
