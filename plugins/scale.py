"""What keeps pytest's own machinery linear in the number of checks on estates of hundreds of
environments (the checks' work is cached elsewhere; this is only pytest's share)."""

from __future__ import annotations

import gc
import sys
from typing import Any, Generator

import pytest

from releasegate.params import check_param, loaded


def pytest_collection(session: pytest.Session) -> None:
    """Start the settings' boot interpreter now, where the checks will run, so that its own start
    (importing pydantic-settings: a few tenths of a second) overlaps collection instead of being
    waited for by the first boot check. Starting it is all: what it boots is asked as before, and
    an interpreter that cannot start is reported by the check that needs it, as before."""
    config = session.config
    state = loaded(config)
    if state is None or not state.estate.settings or config.option.collectonly:
        return
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        return  # the xdist controller runs no check; its workers start their own
    try:
        from releasegate.settings import boot, boot_runs

        host = state.host(next(iter(state.estate.environments)))
        for entry in state.estate.settings:
            if entry.environment is None:  # else the interpreter is built per commit, when booted
                boot.start(boot_runs.interpreter(host, entry) or sys.executable)
    except Exception:  # noqa: BLE001 - only a head start: the boot check starts it otherwise
        pass


def _boot_ahead(session: pytest.Session) -> None:
    """Send the settings checks' first boots to the boot interpreter now: it boots them on another
    core while the checks before them run. What they boot, and every outcome, is as before: the
    checks ask as they did and get these answers (releasegate.settings.boot.send_ahead)."""
    config = session.config
    state = loaded(config)
    if state is None or not state.estate.settings or config.option.collectonly \
            or hasattr(config, "workerinput") or getattr(config.option, "numprocesses", None):
        return  # under xdist every worker collects every check but boots only its own
    wanted: dict[tuple, tuple[str, Any, Any]] = {}
    for item in session.items:
        param = check_param(item)
        if "booted" not in getattr(item, "fixturenames", ()) or param is None \
                or not isinstance(param[1], tuple) or len(param[1]) != 3:
            continue
        entry, target, _ = param[1]
        if target is not None:
            wanted[(param[0], id(entry), target)] = (param[0], entry, target)
    try:
        from releasegate.settings import boot_runs

        boot_runs.boot_ahead([(state.host(env), entry, target) for env, entry, target in wanted.values()])
    except Exception:  # noqa: BLE001 - only a head start: the checks boot as before otherwise
        pass


def pytest_collection_finish(session: pytest.Session) -> None:
    """Send the first boots ahead (above); move what collection built (modules, the estate, the
    items) out of the collector's reach.

    It lives until the end of the run; without this, every full collection while the checks run
    walks it again (and the two at the end of the session, pytest's own), which grows with the
    estate: thousands of items per environment.
    """
    _boot_ahead(session)
    gc.freeze()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: Any) -> Generator[None, None, None]:
    """Show pytest's FAILURES section with only the setup/teardown reports it can print.

    For each failed check pytest scans every passed setup and teardown report for that check's
    teardown output: failures x checks, minutes at 300 environments. A report without captured
    sections prints nothing there, so the section reads the same from the reports that have one.
    """
    stats = terminalreporter.stats
    every = stats.get("")
    if every:
        stats[""] = [r for r in every if getattr(r, "when", None) == "teardown" and r.sections]
    try:
        return (yield)
    finally:
        if every is not None:
            stats[""] = every


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """The same for what the checks left (their reports): pytest collects twice more on exit."""
    gc.freeze()
