"""What a settings check found: a `Finding`, its severity, and one finding per cause.

One cause is one finding: what several containers share (a missing field, a failing value, a
missing secret key, a variable another environment sets) is reported once, naming the containers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

BLOCK, WARN = "blocker", "warning"
NOTE = "note"  # informational: listed under the run's notes, never counted as a warning
SKIPPED = "skipped"  # replay: an entry with nothing to check at a commit (one line, never a blocker)
CONTAINERS = "{containers}"  # stands for the containers a cause affects, until merge() names them


@dataclass(frozen=True)
class Finding:
    """One thing a parity check found."""

    severity: str
    message: str
    item: str | None = None
    details: dict[str, Any] = field(default_factory=dict, compare=False)


def merge(found: Iterable[tuple[str | None, Finding]]) -> list[Finding]:
    """One finding per cause: findings that differ only by container become one naming them all.

    `found` holds (container, finding) pairs whose message says `{containers}` where the containers go.
    """
    groups: dict[tuple, tuple[Finding, list[str]]] = {}
    for container, f in found:
        first, containers = groups.setdefault((f.severity, f.message, f.item), (f, []))
        if container is not None and container not in containers:
            containers.append(container)
    out = []
    for f, containers in groups.values():
        if not containers:
            out.append(f)
            continue
        details = {k: v for k, v in f.details.items() if k != "container"}
        containers.sort()
        out.append(Finding(f.severity, f.message.replace(CONTAINERS, ", ".join(containers)), f.item,
                           {**details, "containers": containers}))
    return out


def verb(names: list[str], one: str, many: str) -> str:
    """`one` for a single name, `many` for several ("matches" / "match")."""
    return one if len(names) == 1 else many
