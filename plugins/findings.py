"""Findings: what a check says. A blocker fails the check; a warning is listed and reported.

A check gathers items, asserts, explains::

    def test_image_present(host, item, registry, gate):
        if not registry.exists(item.reference):
            gate.fail(f"{item.reference} is not in the registry: build and push it")

Waivers from the environments file turn a matching blocker into pytest's XFAIL (``x`` in the
progress line, reason ``waived: <reason>``) and take a matching warning out of the warnings; both
are listed as ``WAIVED <node id> until <date>: <reason>`` under "releasegate waivers" and counted
as waived in the verdict. An expired waiver fails and says so.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass, field
from typing import Any, NoReturn

import pytest

from releasegate import setup_request
from releasegate.estate import Waiver
from releasegate.core.redact import redact

BLOCKER, WARNING, NOTE = "blocker", "warning", "note"


@dataclass
class Finding:
    """One thing a check found: severity, a one-line message, JSON-able details."""

    severity: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    item: str | None = None  # a more precise item than the check's own (a variable name...)
    waiver: Waiver | None = None
    waiver_expired: bool = False
    location: Any = None  # releasegate.core.locations.Location: the place to change (else derived)


class Gate:
    """Collects a check's findings; the report hooks turn them into outcomes and records."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []

    def warn(self, message: str, *, item: str | None = None, location: Any = None,
             **details: Any) -> None:
        """Record a warning: listed in the summary and every report; the check still passes."""
        self.findings.append(Finding(WARNING, _one_line(message), details, item, location=location))

    def note(self, message: str, *, item: str | None = None, **details: Any) -> None:
        """Record a note: how the check read the estate (a default it applied), listed under the
        run's notes and in the JSON report's run; never a warning, it changes no count."""
        self.findings.append(Finding(NOTE, _one_line(message), details, item))

    def block(self, message: str, *, item: str | None = None, location: Any = None,
              **details: Any) -> None:
        """Record a blocker and go on: the check fails at its end with every blocker's line."""
        self.findings.append(Finding(BLOCKER, _one_line(message), details, item, location=location))

    def fail(self, message: str, *, item: str | None = None, location: Any = None,
             **details: Any) -> NoReturn:
        """Record a blocker and stop the check now."""
        self.block(message, item=item, location=location, **details)
        pytest.fail(_one_line(message), pytrace=False)

    @property
    def blockers(self) -> list[Finding]:
        """Blockers not covered by a valid waiver."""
        return [f for f in self.findings if f.severity == BLOCKER
                and (f.waiver is None or f.waiver_expired)]

    @property
    def warnings(self) -> list[Finding]:
        """Warnings not silenced by a waiver."""
        return [f for f in self.findings if f.severity == WARNING and f.waiver is None]


def _one_line(message: str) -> str:
    return redact(" ".join(str(message).split()))


GATE = pytest.StashKey[Gate]()


@pytest.fixture
def gate() -> Gate:
    """The findings of the running check."""
    found = Gate()
    setup_request.current().node.stash[GATE] = found
    return found


def matching_waiver(waivers: tuple[Waiver, ...], check: str, environment: str | None,
                    items: tuple[str | None, ...]) -> Waiver | None:
    """The first waiver whose check glob, environment and item glob match."""
    for waiver in waivers:
        if not fnmatch.fnmatchcase(check, waiver.check):
            continue
        if waiver.environment and waiver.environment != environment:
            continue
        if waiver.item and not any(i is not None and fnmatch.fnmatchcase(i, waiver.item)
                                   for i in items):
            continue
        return waiver
    return None


def apply_waivers(found: Gate, waivers: tuple[Waiver, ...], check: str, environment: str | None,
                  item: str | None, today: dt.date | None = None) -> None:
    """Attach the matching waiver to each finding, marking expired ones."""
    today = today or dt.date.today()
    for finding in found.findings:
        waiver = matching_waiver(waivers, check, environment, (finding.item, item))
        if waiver is not None:
            finding.waiver = waiver
            finding.waiver_expired = waiver.expires < today
