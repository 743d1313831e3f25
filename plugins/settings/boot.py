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
import signal
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Mapping

from releasegate.settings import sandbox
from releasegate.settings.boot_child import RUNNER


@dataclass(frozen=True)
class BootJob:
    """Boot the classes of one settings file text with one environment."""

    key: str
    source: str
    filename: str
    env: Mapping[str, str]
    classes: tuple[str, ...]
    boot: str | None = None
    paths: tuple[str, ...] = ()  # the application's source folders, under trees() (the sandbox sees only those)
    dotted: str | None = None  # the file's module name in the application's package, when it is in one


@dataclass(frozen=True)
class Outcome:
    """What constructing one class (or calling the boot function) did."""

    name: str
    ok: bool
    errors: tuple[dict, ...] = ()  # pydantic's errors: loc, msg, type, input
    exception: str | None = None  # one line, for anything that is not a ValidationError
    limit: str | None = None  # the boot's own limit (memory, cpu, file size) stopped it: not the application's
    where: str | None = None  # file:line in the application's code, for an import failure


@dataclass(frozen=True)
class BootResult:
    """The outcome of one job."""

    key: str
    unavailable: str | None = None  # the file imports a module this interpreter lacks
    missing: str | None = None  # that module's name
    import_failure: Outcome | None = None  # importing the file itself failed
    outcomes: tuple[Outcome, ...] = ()
    tried: Mapping[str, tuple[str, ...]] = field(default_factory=dict, compare=False)  # stand-ins per variable


class BootError(Exception):
    """The boot interpreter itself could not run (missing, no pydantic-settings, timed out)."""


class _Server:
    """One boot interpreter kept for the session: pydantic-settings is imported once, not per run."""

    def __init__(self, interpreter: str) -> None:
        self.interpreter = interpreter
        self.scratch = os.path.realpath(tempfile.mkdtemp(prefix="releasegate-boot-"))
        os.mkdir(os.path.join(self.scratch, "cwd"))
        self.errors = tempfile.TemporaryFile()  # outside the scratch folder the sandbox sees
        try:  # its own session: closing it kills its whole process group
            command = sandbox.command(interpreter, self.scratch, trees())
            # Not isolated: the gate's /proc entries out of the boot's reach (sandbox.shield).
            guard = sandbox.shield() if os.path.exists(interpreter) and sandbox.isolation(interpreter) else None
            self.proc = subprocess.Popen([*command, "-I", "-c", RUNNER], preexec_fn=guard,
                                         cwd=os.path.join(self.scratch, "cwd"), env={}, start_new_session=True,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors)
        except (FileNotFoundError, PermissionError):
            self.close()
            raise BootError(f"boot interpreter {interpreter} does not exist") from None
        self.buffer = b""

    def ask(self, request: dict, budget: float) -> dict:
        """Send one request; wait for its answer at most `budget` seconds."""
        self.send(request)
        return self.receive(budget)

    def send(self, request: dict) -> None:
        """Send one request without waiting for its answer."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise self._failed() from None

    def receive(self, budget: float) -> dict:
        """The answer to the request sent last; wait for it at most `budget` seconds."""
        assert self.proc.stdout is not None
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
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
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
    sandbox.unshield()
    for _, _, scratch in _AHEAD.values():
        scratch.cleanup()
    _AHEAD.clear()
    global _TREES
    if _TREES is not None:
        shutil.rmtree(_TREES, ignore_errors=True)
        _TREES = None


def start(python: str | None = None) -> None:
    """Start the boot interpreter for ``python`` (default: this one) now, if it is not running:
    only a head start, so that its own start overlaps other work (see releasegate.scale)."""
    interpreter = python or sys.executable
    if interpreter not in _SERVERS:
        _SERVERS[interpreter] = _Server(interpreter)


def _identity(job: BootJob, timeout: float) -> tuple:
    """What a job's result depends on (its key only names it within one request)."""
    return (job.filename, job.source, tuple(sorted(job.env.items())), job.classes, job.boot, job.paths, job.dotted,
            timeout)


def trees() -> str:
    """The folder of this process's application source trees: every boot interpreter sees it, read-only."""
    global _TREES
    if _TREES is None:
        _TREES = os.path.realpath(tempfile.mkdtemp(prefix="releasegate-trees-"))
    return _TREES


_TREES: str | None = None


def _request(jobs: list[BootJob], timeout: float, scratch: str) -> tuple[dict, float]:
    """The request for jobs (their files written under scratch) and the time its answer may take."""
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
        request.append({"key": job.key, "dir": folder, "filename": job.filename, "paths": list(job.paths),
                        "dotted": job.dotted, "module": Path(job.filename).stem, "env": dict(job.env),
                        "items": items})
    workers = max(1, min(len(jobs), os.cpu_count() or 1))
    budget = (timeout + 2) * (2 + max(len(j.classes) + 1 for j in jobs)) * len(jobs) / workers + 30
    return {"jobs": request, "timeout": timeout, "workers": workers, "limits": sandbox.LIMITS}, budget


def _server(interpreter: str) -> _Server:
    """The session's interpreter, started (again) if it is not running."""
    server = _SERVERS.get(interpreter)
    if server is not None and server.proc.poll() is not None:
        server.close()  # a session interpreter that went away: start a fresh one
        server = None
    if server is None:
        server = _SERVERS[interpreter] = _Server(interpreter)
    return server


# Jobs sent ahead (send_ahead): per interpreter, the request whose answer is unread (its jobs by
# identity, the time it may take, its scratch folder), then the results read.
_AHEAD: dict[str, tuple[dict[tuple, str], float, tempfile.TemporaryDirectory[str]]] = {}
_READY: dict[str, dict[tuple, BootResult]] = {}


def send_ahead(jobs: Iterable[BootJob], python: str | None = None, timeout: float = 10.0) -> None:
    """Send jobs now and read their answers when run() asks for the same jobs: the interpreter
    boots them while this process does other work. Only a head start: a job that fails to go
    ahead is run by run() as before."""
    interpreter = python or sys.executable
    jobs = list({_identity(j, timeout): j for j in jobs}.values())
    if not jobs or interpreter in _AHEAD:
        return
    jobs = [replace(job, key=str(index)) for index, job in enumerate(jobs)]
    try:
        server = _server(interpreter)
    except BootError:
        return
    scratch = tempfile.TemporaryDirectory(prefix="src-", dir=server.scratch)
    try:
        payload, budget = _request(jobs, timeout, scratch.name)
        server.send(payload)
    except (BootError, OSError):
        scratch.cleanup()
        return
    _AHEAD[interpreter] = ({_identity(j, timeout): j.key for j in jobs}, budget, scratch)


def _settle(interpreter: str) -> None:
    """Read the answer to the jobs sent ahead, if any (a failure leaves them to run())."""
    ahead = _AHEAD.pop(interpreter, None)
    if ahead is None:
        return
    keys, budget, scratch = ahead
    try:
        server = _SERVERS.get(interpreter)
        raw = server.receive(budget) if server is not None else {}
    except BootError:
        raw = {}
    finally:
        scratch.cleanup()
    ready = _READY.setdefault(interpreter, {})
    for identity, key in keys.items():
        if key in raw:
            ready[identity] = _result(key, raw[key])


def run(jobs: Iterable[BootJob], python: str | None = None, timeout: float = 10.0) -> dict[str, BootResult]:
    """Run boot jobs in the session's interpreter (started on first use); returns {job key: result}.

    Raises BootError if the interpreter cannot start, lacks pydantic-settings or overruns.
    """
    jobs = list(jobs)
    if not jobs:
        return {}
    interpreter = python or sys.executable
    _settle(interpreter)
    ready = _READY.get(interpreter, {})
    done = {job.key: replace(ready.pop(_identity(job, timeout)), key=job.key)
            for job in jobs if _identity(job, timeout) in ready}
    todo = [job for job in jobs if job.key not in done]
    if not todo:
        return done
    server = _server(interpreter)
    with tempfile.TemporaryDirectory(prefix="src-", dir=server.scratch) as scratch:
        payload, budget = _request(todo, timeout, scratch)
        raw = server.ask(payload, budget)
    return {**done, **{key: _result(key, value) for key, value in raw.items()}}


def isolation(python: str | None = None) -> str | None:
    """Why the boots of this interpreter are not isolated (None when the sandbox holds them)."""
    interpreter = python or sys.executable
    return sandbox.isolation(interpreter) if os.path.exists(interpreter) else None


def _outcome(raw: dict) -> Outcome:
    return Outcome(raw["name"], bool(raw.get("ok")), tuple(raw.get("errors") or ()), raw.get("exception"),
                   raw.get("limit"), raw.get("where"))


def _result(key: str, raw: dict) -> BootResult:
    failure = raw.get("import_failure")
    return BootResult(key, raw.get("unavailable"), raw.get("missing"), _outcome(failure) if failure else None,
                      tuple(_outcome(o) for o in raw.get("outcomes") or () if o is not None)
                      if not failure and not raw.get("unavailable") else ())
