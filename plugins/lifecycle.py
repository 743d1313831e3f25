"""One run: its id (carried by every report it writes) and how it ends when it is told to stop.

SIGTERM is what Kubernetes and CI runners send on cancel. It is turned into the KeyboardInterrupt
pytest already handles for Ctrl-C (SIGINT): the run stops where it is, session finish still runs,
so every report is written, marked incomplete, with the verdict "interrupted". A second SIGTERM
while the reports are being written is ignored: the reports are what the first one asked for.
"""

from __future__ import annotations

import datetime as dt
import secrets
import signal
import threading
from typing import Any

import pytest

_RUN_ID = pytest.StashKey[str]()
_SIGNAL = pytest.StashKey[str]()
_PREVIOUS = pytest.StashKey[Any]()


def new_run_id() -> str:
    """A run id that sorts by time and does not repeat: 20261208T030501Z-5f2a9c1e."""
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{now}-{secrets.token_hex(4)}"


def run_id(config: pytest.Config) -> str:
    """This run's id (the same in every report file of the run)."""
    if _RUN_ID not in config.stash:
        config.stash[_RUN_ID] = new_run_id()
    return config.stash[_RUN_ID]


def stopped_by(session: pytest.Session) -> str | None:
    """What interrupted the run: "SIGTERM", "SIGINT" (Ctrl-C), or None for a run not interrupted."""
    if int(session.exitstatus) != pytest.ExitCode.INTERRUPTED:
        return None
    return session.config.stash.get(_SIGNAL, "SIGINT")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Name the run; on the controller's main thread, make SIGTERM interrupt it as Ctrl-C does."""
    run_id(config)
    if hasattr(config, "workerinput") or threading.current_thread() is not threading.main_thread():
        return

    def interrupt(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        config.stash[_SIGNAL] = signal.Signals(signum).name
        raise KeyboardInterrupt(f"{signal.Signals(signum).name} received")

    config.stash[_PREVIOUS] = signal.signal(signal.SIGTERM, interrupt)


def pytest_sessionstart(session: pytest.Session) -> None:
    """--junitxml (pytest's own writer) names the run too, as a test suite property."""
    try:
        from _pytest.junitxml import xml_key
    except ImportError:  # pytest moved it: the JUnit file then goes without the run id
        return
    xml = session.config.stash.get(xml_key, None)
    if xml is not None:
        xml.add_global_property("releasegate_run_id", run_id(session.config))


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """From here on the reports are written: a late SIGTERM must not tear them."""
    if _PREVIOUS in session.config.stash:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Give SIGTERM back its previous handler (pytester runs several sessions in one process)."""
    if _PREVIOUS in config.stash:
        previous = config.stash[_PREVIOUS]
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
