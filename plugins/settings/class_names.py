"""The names `settings[].classes` lists, checked against the settings file at the commit under
check: the loader can only check its keys (containers of the entry); class names exist per commit.

A name that is no class of the file (nor its boot function) at any commit the environment checks
is a mistake in the environments file: the container's classes are then unknown, so a pass would
be silent. It is an ERROR naming the entry, the container and the name (not a blocker: the
application is not broken; not a usage error at load: the name may exist at another commit). A
name missing here but defined at another checked commit (a class renamed between the running
release and the candidate, both names listed) is a note.
"""
from __future__ import annotations

from typing import Any

from releasegate.estate import SettingsEntry
from releasegate.settings.finding import NOTE, Finding
from releasegate.settings.targets import Target, model, targets


def _known(host: Any, entry: SettingsEntry, sha: str) -> set[str]:
    return {c.name for c in model(host, entry, sha)[1].classes} | ({entry.boot} if entry.boot else set())


def unknown_names(host: Any, entry: SettingsEntry, target: Target) -> tuple[str | None, list[Finding]]:
    """(the error line when a listed name is defined at none of the entry's checked commits, or None;
    notes for names defined at another checked commit but not at this one)."""
    listed = [(container, name) for container, names in entry.classes.items() for name in names]
    here = _known(host, entry, target.sha)
    missing = [(c, n) for c, n in listed if n not in here]
    if not missing:
        return None, []
    elsewhere: set[str] = set()
    for other in targets(host, entry).values():
        if other.sha != target.sha:
            try:
                elsewhere |= _known(host, entry, other.sha)
            except Exception:  # noqa: BLE001 - the file absent there: nothing known there
                continue
    index = next(i for i, e in enumerate(host.estate.settings) if e == entry)
    wrong = [(c, n) for c, n in missing if n not in elsewhere]
    notes = [Finding(NOTE, f"settings[{index}].classes.{c}: {n} is no class of {entry.path} at app {target.label} "
                           f"(it is at another commit checked here): not built there", entry.path)
             for c, n in missing if n in elsewhere]
    if not wrong:
        return None, notes
    said = "; ".join(f"settings[{index}].classes.{c}: {n}" for c, n in wrong)
    return (f"{host.name}: {said}: no class of {entry.path} at app {target.label} ({target.role}) nor its boot "
            f"function (its classes: {', '.join(sorted(here - {entry.boot}))}"
            f"{'; boot: ' + entry.boot if entry.boot else ''}): correct the name in {host.estate.path.name}"), notes
