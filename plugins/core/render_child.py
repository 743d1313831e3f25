"""Helm's engine in a bounded child process: one chart cannot take the suite down.

The embedded engine (helm-python-sdk, Go in the same address space) aborts the whole interpreter
on a Go fatal error (a `tpl` recursion, a runtime out of memory) and runs a CPU-bound template for
as long as it likes. So every render runs in a worker process with an address-space limit
(RLIMIT_AS), a CPU limit (RLIMIT_CPU) and a wall deadline enforced from here, and its output is
capped before it is sent back. The worker is reused across renders (Helm's engine loads once) and
started again after a failure. A failure is one RenderError line: the chart, the limit that was
hit, and the template when the engine named it.

The worker speaks length-prefixed pickles on its stdin/stdout; its stderr (Go's crash report) goes
to a scratch file read back on failure.
"""

from __future__ import annotations

import atexit
import os
import pickle
import re
import resource
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from releasegate.core.gitrepo import SourceError

_HEADER = struct.Struct("!Q")


class RenderError(SourceError):
    """A render that failed or broke a bound: one line naming the chart, the limit and the template."""


@dataclass(frozen=True)
class Limits:
    """The bounds of one render (the environments file's `render` section)."""

    timeout_s: float = 60.0
    memory_mb: int = 2048
    output_mb: int = 64


LIMITS = Limits()


def configure(limits: Any) -> None:
    """Use an estate's `render` section (anything with timeout_s, memory_mb, output_mb)."""
    global LIMITS
    wanted = Limits(float(limits.timeout_s), int(limits.memory_mb), int(limits.output_mb))
    if wanted != LIMITS:
        LIMITS = wanted
        _stop_worker()  # its address-space limit was set at its start


# -- the parent's side ------------------------------------------------------------------------------

class _Worker:
    """One child process running _serve() below, with its stderr in a scratch file."""

    def __init__(self, limits: Limits) -> None:
        self.limits, self.owner = limits, os.getpid()
        self.stderr = tempfile.TemporaryFile(prefix="releasegate-render-")
        paths = [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
        self.process = subprocess.Popen(  # cwd: a crash writes nothing into a checkout
            [sys.executable, "-m", "releasegate.core.render_child", str(limits.memory_mb << 20)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, env=env,
            cwd=tempfile.gettempdir())
        self.said = self.served = 0

    def ask(self, request: tuple[Any, ...]) -> tuple[Any, ...]:
        """Send one request and wait for its answer within the wall deadline; raise _Died."""
        self.said = self.stderr.seek(0, os.SEEK_END)
        data = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            assert self.process.stdin is not None
            self.process.stdin.write(_HEADER.pack(len(data)) + data)
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise _Died("gone") from None
        deadline = time.monotonic() + self.limits.timeout_s
        most = (self.limits.output_mb << 20) * 2 + (1 << 20)
        header = self._read(_HEADER.size, deadline)
        (size,) = _HEADER.unpack(header)
        if size > most:
            raise _Died("output")
        return pickle.loads(self._read(size, deadline))

    def _read(self, size: int, deadline: float) -> bytes:
        assert self.process.stdout is not None
        fd, chunks, got = self.process.stdout.fileno(), [], 0
        while got < size:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise _Died("deadline")
            chunk = os.read(fd, min(size - got, 1 << 20))
            if not chunk:
                raise _Died("gone")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def crash_report(self) -> str:
        """What the worker wrote on stderr during the last request (its tail)."""
        self.stderr.seek(self.said)
        head = self.stderr.read(16 << 10)
        self.stderr.seek(max(self.said, self.stderr.seek(0, os.SEEK_END) - (16 << 10)))
        return (head + b"\n" + self.stderr.read()).decode("utf-8", errors="replace")

    def stop(self) -> int | None:
        """End the worker (kill it if it does not leave at once); its exit status."""
        if self.process.poll() is None:
            try:
                if self.process.stdin:
                    self.process.stdin.close()
                self.process.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        self.stderr.close()
        return self.process.returncode


class _Died(Exception):
    """The worker gave no answer: 'deadline', 'output' (an answer over the cap) or 'gone'."""


_WORKER: _Worker | None = None
_LOCK = threading.Lock()


def _stop_worker() -> None:
    global _WORKER
    if _WORKER is not None and _WORKER.owner == os.getpid():
        _WORKER.stop()
    _WORKER = None


atexit.register(_stop_worker)


def render(chart_dir: Path, values: dict[str, Any], chart: str, release: str,
           namespace: str) -> dict[str, str]:
    """Render a chart folder with Helm's engine in the bounded worker: {template: text}.
    `chart` names the chart in errors; raise RenderError when it fails or breaks a bound."""
    limits = LIMITS
    request = (str(chart_dir), values, release, namespace, limits.timeout_s, limits.output_mb << 20)
    with _LOCK:
        answer = _ask(request, chart, limits)
    kind, detail = answer
    if kind == "ok":
        return detail
    if kind == "output":
        raise RenderError(f"helm could not render {chart}: its output is {detail >> 20} MiB, over "
                          f"the {limits.output_mb} MiB limit (render.output_mb)")
    if kind == "memory":
        raise RenderError(f"helm could not render {chart}: it ran out of its {limits.memory_mb} MiB "
                          f"memory limit (render.memory_mb)")
    raise RenderError(f"helm could not render {chart}: {detail}")


def _ask(request: tuple[Any, ...], chart: str, limits: Limits) -> tuple[Any, ...]:
    """The worker's answer; a worker that died is replaced, and one that had served earlier
    renders gets the request again in a fresh worker (the heap it kept may be what ran out)."""
    global _WORKER
    while True:
        if _WORKER is None or _WORKER.owner != os.getpid() or _WORKER.process.poll() is not None:
            _WORKER = _Worker(limits)
        worker = _WORKER
        try:
            answer = worker.ask(request)
            worker.served += 1
            if answer[0] != "memory" or not worker.served > 1:
                return answer
            _stop_worker()  # a MemoryError after other renders: try once in a fresh worker
            continue
        except _Died as died:
            _WORKER = None
            reason = str(died.args[0])
            if reason != "gone":  # past the deadline, or an answer too large to read: it ends now
                worker.process.kill()
            status = worker.process.wait()
            why = _why(reason, status, worker.crash_report(), limits)
            worker.stop()
            if reason == "gone" and worker.served and "calls itself" not in why:
                continue
            raise RenderError(f"helm could not render {chart}: {why}") from None


_TEMPLATE = re.compile(r"template: ([\w.@/-]+?\.(?:ya?ml|tpl|txt|json))(?::(\d+))?")


def _why(died: str, status: int | None, report: str, limits: Limits) -> str:
    """One phrase for a worker that gave no answer: the bound it broke, from how it ended."""
    template = _TEMPLATE.search(report)
    where = f" (template {template[1]}{':' + template[2] if template[2] else ''})" if template else ""
    if died == "deadline":
        return f"no result within {limits.timeout_s:g} s (render.timeout_s){where}"
    if died == "output":
        return f"its output is over the {limits.output_mb} MiB limit (render.output_mb){where}"
    if status == -signal.SIGXCPU:
        return f"it used more than {limits.timeout_s:g} s of CPU time (render.timeout_s){where}"
    recursion = "goroutine stack exceeds" in report or "stack overflow" in report \
        or re.search(r"runtime\.(copystack|newstack|morestack)", report) is not None \
        or report.count("tplFun") > 2  # Helm's tpl function, nested in the trace of one goroutine
    if "out of memory" in report or "cannot allocate memory" in report or status == -signal.SIGKILL:
        cause = "; its stack grew without end: a template that calls itself (tpl or include)" \
            if recursion else ""
        return f"it ran out of its {limits.memory_mb} MiB memory limit (render.memory_mb){cause}{where}"
    if recursion:
        return f"a template calls itself without end (tpl or include recursion){where}"
    fatal = next((line.strip() for line in report.splitlines()
                  if line.startswith(("fatal error:", "panic:", "Fatal Python error"))), "")
    how = f"signal {signal.Signals(-status).name}" if status and status < 0 else f"exit code {status}"
    return f"the render process died ({how}{': ' + fatal if fatal else ''}){where}"


MOST_SAID = 400  # characters of Helm's message kept: the position, the call and the reason


def one_line(said: str, most: int = MOST_SAID) -> str:
    """Helm's error on one line, bounded: the engine breaks it after the template's position
    (`a/templates/x.yaml:12:74` / `executing ... at <b64enc>:` / `invalid value; expected string`),
    so the lines are joined (a first line alone drops the reason) and cut at `most` characters."""
    joined = " ".join(part.strip() for part in said.strip().splitlines() if part.strip())
    return joined if len(joined) <= most else joined[:most - 1].rstrip() + "…"


# -- the child's side -------------------------------------------------------------------------------

def _send(out: BinaryIO, answer: tuple[Any, ...]) -> None:
    data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(_HEADER.pack(len(data)) + data)
    out.flush()


def _receive(stream: BinaryIO) -> tuple[Any, ...] | None:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    return pickle.loads(stream.read(_HEADER.unpack(header)[0]))


def _serve(memory: int) -> None:
    """The worker: limits first, then Helm's engine, then one answer per request."""
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # an abort leaves no core file behind
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the suite's to handle: it ends us
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever the engine prints cannot be taken for an answer
    import helm_python

    while (request := _receive(sys.stdin.buffer)) is not None:
        chart_dir, values, release, namespace, timeout_s, most = request
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = int(usage.ru_utime + usage.ru_stime + timeout_s) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, resource.RLIM_INFINITY))
        try:
            with helm_python.Chart.load(chart_dir) as chart:
                texts = chart.render(values, name=release, namespace=namespace, is_install=True)
            size = sum(len(text) for text in texts.values())
            answer: tuple[Any, ...] = ("output", size) if size > most else ("ok", texts)
        except helm_python.HelmError as exc:
            answer = ("error", one_line(str(exc)) or type(exc).__name__)
        except MemoryError:
            texts = None
            answer = ("memory", "")
        _send(out, answer)


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
