"""Nothing the run prints can command the terminal or the CI runner, except the gate's own lines.

Every text pytest's terminal writer prints (check names, failure messages, skip reasons, captured
output, our summaries) passes through one filter: control characters are escaped (colours the
writer adds itself are kept), and on GitHub Actions a line that the runner would read as a workflow
command is made inert (releasegate.core.neutral.command_line_guard).

On GitHub Actions the run's output is also wrapped as GitHub documents for untrusted output
(docs.github.com, "Workflow commands for GitHub Actions", Stopping and starting workflow commands):
``::stop-commands::<token>`` first, with a random token estate text cannot guess, and
``::<token>::`` only around the gate's own annotations, which stop commands again after them.
"""

from __future__ import annotations

import os
import secrets
from typing import Any, Callable, Iterable

import pytest

from releasegate.core.neutral import ZWSP, command_line_guard, controls, controls_but_colours

_GUARD = pytest.StashKey["Guard"]()


def on_github() -> bool:
    """True when the run's stdout is read by a GitHub Actions runner."""
    return os.environ.get("GITHUB_ACTIONS") == "true"


class Guard:
    """Wraps one terminal writer's write(): escapes every text but the gate's own commands."""

    def __init__(self, writer: Any, github: bool) -> None:
        self.writer, self.github = writer, github
        self.original: Callable[..., None] = writer.write
        self.line_blank = True  # the current output line holds only white space so far
        self.own = False
        self.token: str | None = None
        writer.write = self.write

    def write(self, msg: str, **markup: Any) -> None:
        """The writer's write(), filtered."""
        text = str(msg)
        if not self.own:
            lead = "\r" if text.startswith("\r") else ""  # pytest's own rewrite of a tty line
            body = text[len(lead):]
            body = controls_but_colours(body) if self.writer.hasmarkup else controls(body)
            text = lead + (self._inert(body) if self.github else body)
        self._track(text)
        self.original(text, **markup)

    def _inert(self, text: str) -> str:
        lines = text.split("\n")
        for i, line in enumerate(lines):
            if i == 0 and not self.line_blank:
                lines[0] = line.replace("##[", f"#{ZWSP}#[")
            else:
                lines[i] = command_line_guard(line if line.lstrip() != ":" else line + ZWSP)
        return "\n".join(lines)

    def _track(self, text: str) -> None:
        tail = text.rsplit("\n", 1)
        if len(tail) == 2:
            self.line_blank = not tail[1].strip()
        else:
            self.line_blank = self.line_blank and not text.strip()

    def commands(self, lines: Iterable[str]) -> None:
        """Print the gate's own workflow commands, resuming the runner's command processing for
        them and stopping it again with a new token."""
        self.own = True
        try:
            if not self.line_blank:
                self.original("\n")
                self.line_blank = True
            if self.token:
                self.original(f"::{self.token}::\n")
            for line in lines:
                self.original(line + "\n")
            if self.token:
                self.stop()
        finally:
            self.own = False

    def stop(self) -> None:
        """Stop the runner's command processing until our token comes back."""
        self.token = secrets.token_hex(16)
        self.original(f"::stop-commands::{self.token}\n")

    def resume(self) -> None:
        """Give the runner its commands back (the end of the run)."""
        if self.token:
            self.original(f"::{self.token}::\n")
            self.token = None


def guard(config: pytest.Config) -> Guard | None:
    """The run's guard (None without a terminal, e.g. with -p no:terminal)."""
    return config.stash.get(_GUARD, None)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Put the guard on the terminal writer before anything from the estate is printed."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or hasattr(config, "workerinput"):
        return
    config.stash[_GUARD] = found = Guard(reporter._tw, on_github())
    if found.github:
        found.stop()


@pytest.hookimpl(wrapper=True)
def pytest_unconfigure(config: pytest.Config) -> Any:
    """After the verdict (the last line), give the runner its commands back."""
    try:
        return (yield)
    finally:
        found = config.stash.get(_GUARD, None)
        if found is not None:
            found.resume()
            found.writer.write = found.original
