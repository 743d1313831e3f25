"""Boot settings classes for real, in a fresh process with exactly a container's environment.

One interpreter (the suite's, or the one a settings entry names) starts once with an empty
environment and imports pydantic-settings. For every job (a settings file and one container's
environment) it forks a fresh process that sets that environment, imports the settings file from a
scratch folder that holds nothing else, then constructs each class on its own (and calls the
entry's `boot` function), reporting each outcome as it goes, so one failure never hides the next.
Each construction is bounded by the timeout; a process that hangs in C code or dies is replaced by
a fresh one that resumes with the next class. Jobs run in parallel, one per core (the program the
interpreter runs is plugins/settings/boot_child.py).
Secret values never reach this process: callers pass placeholders for them (plugins/settings/stand_ins.py).
"""
from __future__ import annotations

import atexit
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from plugins.settings.boot_child import RUNNER


@dataclass(frozen=True)
class BootJob:
    """Boot the classes of one settings file text with one environment."""

    key: str
    source: str
    filename: str
    env: Mapping[str, str]
    classes: tuple[str, ...]
    boot: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What constructing one class (or calling the boot function) did."""

    name: str
    ok: bool
    errors: tuple[dict, ...] = ()  # pydantic's errors: loc, msg, type, input
    exception: str | None = None  # one line, for anything that is not a ValidationError


@dataclass(frozen=True)
class BootResult:
    """The outcome of one job."""

    key: str
    unavailable: str | None = None  # the file imports a module this interpreter lacks
    import_failure: Outcome | None = None  # importing the file itself failed
    outcomes: tuple[Outcome, ...] = ()
    tried: Mapping[str, tuple[str, ...]] = field(default_factory=dict, compare=False)  # stand-ins per variable


class BootError(Exception):
    """The boot interpreter itself could not run (missing, no pydantic-settings, timed out)."""


class _Server:
    """One boot interpreter kept for the session: pydantic-settings is imported once, not per run."""

    def __init__(self, interpreter: str) -> None:
        self.interpreter = interpreter
        self.scratch = tempfile.mkdtemp(prefix="releasegate-boot-")
        os.mkdir(os.path.join(self.scratch, "cwd"))
        self.errors = open(os.path.join(self.scratch, "stderr"), "w+b")
        try:
            self.proc = subprocess.Popen([interpreter, "-I", "-c", RUNNER], cwd=os.path.join(self.scratch, "cwd"),
                                         env={}, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors)
        except (FileNotFoundError, PermissionError):
            self.close()
            raise BootError(f"boot interpreter {interpreter} does not exist") from None
        self.buffer = b""

    def ask(self, request: dict, budget: float) -> dict:
        """Send one request; wait for its answer at most `budget` seconds."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise self._failed() from None
        deadline = time.monotonic() + budget
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self.close()
                raise BootError(f"boot interpreter {self.interpreter} did not finish in {budget:.0f}s")
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise self._failed()
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return json.loads(line)

    def _failed(self) -> BootError:
        self.proc.wait(timeout=5)
        self.errors.seek(0)
        last = (self.errors.read().decode(errors="replace").strip().splitlines() or ["no output"])[-1]
        self.close()
        return BootError(f"boot interpreter {self.interpreter} failed: {last}")

    def close(self) -> None:
        """Stop the interpreter and remove its scratch folder."""
        _SERVERS.pop(self.interpreter, None)
        proc = getattr(self, "proc", None)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (getattr(proc, "stdin", None), getattr(proc, "stdout", None), self.errors):
            if stream is not None:
                try:
                    stream.close()
                except OSError:  # unflushed input to a process that is gone
                    pass
        shutil.rmtree(self.scratch, ignore_errors=True)


_SERVERS: dict[str, _Server] = {}


@atexit.register
def close_all() -> None:
    """Stop every boot interpreter this process started."""
    for server in list(_SERVERS.values()):
        server.close()


def start(python: str | None = None) -> None:
    """Start the boot interpreter for ``python`` (default: this one) now, if it is not running:
    only a head start, so that its own start overlaps other work (see plugins.scale)."""
    interpreter = python or sys.executable
    if interpreter not in _SERVERS:
        _SERVERS[interpreter] = _Server(interpreter)


def run(jobs: Iterable[BootJob], python: str | None = None, timeout: float = 10.0) -> dict[str, BootResult]:
    """Run boot jobs in the session's interpreter (started on first use); returns {job key: result}.

    Raises BootError if the interpreter cannot start, lacks pydantic-settings or overruns.
    """
    jobs = list(jobs)
    if not jobs:
        return {}
    interpreter = python or sys.executable
    with tempfile.TemporaryDirectory(prefix="releasegate-boot-src-") as scratch:
        folders: dict[tuple[str, str], str] = {}
        request = []
        for job in jobs:
            folder = folders.get((job.filename, job.source))
            if folder is None:
                folder = os.path.join(scratch, f"src{len(folders)}")
                os.mkdir(folder)
                Path(folder, job.filename).write_text(job.source)
                folders[(job.filename, job.source)] = folder
            items = [("class", name) for name in job.classes] + ([("boot", job.boot)] if job.boot else [])
            request.append({"key": job.key, "dir": folder, "filename": job.filename,
                            "module": Path(job.filename).stem, "env": dict(job.env), "items": items})
        workers = max(1, min(len(jobs), os.cpu_count() or 1))
        budget = (timeout + 2) * (2 + max(len(j.classes) + 1 for j in jobs)) * len(jobs) / workers + 30
        payload = {"jobs": request, "timeout": timeout, "workers": workers}
        server = _SERVERS.get(interpreter)
        if server is not None and server.proc.poll() is not None:
            server.close()  # a session interpreter that went away: start a fresh one
            server = None
        if server is None:
            server = _SERVERS[interpreter] = _Server(interpreter)
        raw = server.ask(payload, budget)
    return {key: _result(key, value) for key, value in raw.items()}


def _outcome(raw: dict) -> Outcome:
    return Outcome(raw["name"], bool(raw.get("ok")), tuple(raw.get("errors") or ()), raw.get("exception"))


def _result(key: str, raw: dict) -> BootResult:
    failure = raw.get("import_failure")
    return BootResult(key, raw.get("unavailable"), _outcome(failure) if failure else None,
                      tuple(_outcome(o) for o in raw.get("outcomes") or () if o is not None)
                      if not failure and not raw.get("unavailable") else ())
