"""Boot settings classes for real, in a fresh process with exactly a container's environment.

One interpreter (the suite's, or the one a settings entry names) starts once with an empty
environment and imports pydantic-settings. For every job (a settings file and one container's
environment) it forks a fresh process that sets that environment, imports the settings file from a
scratch folder that holds nothing else, then constructs each class on its own (and calls the
entry's `boot` function), reporting each outcome as it goes, so one failure never hides the next.
Each construction is bounded by the timeout; a process that hangs in C code or dies is replaced by
a fresh one that resumes with the next class. Jobs run in parallel, one per core.
Secret values never reach this process: callers pass placeholders for them.
"""
from __future__ import annotations

import ast
import atexit
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping


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


_RUNNER = r'''
import importlib.util, json, os, select, signal, sys, time
import pydantic, pydantic_settings


def one_line(exc):
    text = " ".join(str(exc).split())
    return (type(exc).__name__ + ": " + text)[:500]


def safe(value):
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)[:200]


def describe(name, exc):
    if isinstance(exc, pydantic.ValidationError):
        errors = [{"loc": [p if isinstance(p, (str, int)) else str(p) for p in e.get("loc", ())],
                   "msg": e.get("msg", ""), "type": e.get("type", ""),
                   "input": None if e.get("type") == "missing" else safe(e.get("input")),
                   "title": exc.title} for e in exc.errors(include_url=False)]
        return {"name": name, "ok": False, "errors": errors}
    return {"name": name, "ok": False, "exception": one_line(exc)}


class Overrun(BaseException):
    pass


def on_alarm(signum, frame):
    raise Overrun()


def child(job, start, timeout, out):
    # One process per (job, resume point): the container's environment, the file, then each item.
    # Whatever the settings code prints must not reach the protocol on stdout.
    quiet = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(quiet, fd)
    os.environ.clear()
    os.environ.update(job["env"])
    sys.path.insert(0, job["dir"])
    signal.signal(signal.SIGALRM, on_alarm)
    emit = lambda record: os.write(out, (json.dumps(record) + "\n").encode())
    name = job["module"]
    signal.alarm(timeout)
    try:
        spec = importlib.util.spec_from_file_location(name, os.path.join(job["dir"], job["filename"]))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except ImportError as exc:
        emit({"unavailable": one_line(exc)})
        return
    except Overrun:
        emit({"import_failure": {"name": "import", "ok": False,
                                 "exception": "import did not finish within %ss" % timeout}})
        return
    except BaseException as exc:
        emit({"import_failure": describe("import", exc)})
        return
    finally:
        signal.alarm(0)
    for index in range(start, len(job["items"])):
        kind, attr = job["items"][index]
        label = attr + "()" if kind == "boot" else attr
        target = getattr(module, attr, None)
        if target is None:
            result = {"name": label, "ok": False,
                      "exception": "function not found in the file" if kind == "boot" else "class not found"}
        else:
            signal.alarm(timeout)
            try:
                target()
                result = {"name": label, "ok": True}
            except Overrun:
                result = {"name": label, "ok": False, "exception": "did not finish within %ss" % timeout}
            except BaseException as exc:
                result = describe(label, exc)
            finally:
                signal.alarm(0)
        emit({"i": index, "result": result})


def spawn(job, start, timeout):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            child(job, start, timeout, write)
        finally:
            os._exit(0)
    os.close(write)
    return {"pid": pid, "fd": read, "job": job, "next": start, "buffer": b"",
            "deadline": time.monotonic() + timeout + 2}


def serve(request):
    timeout = max(1, int(request["timeout"] + 0.999))
    results = {job["key"]: {"outcomes": [None] * len(job["items"])} for job in request["jobs"]}
    queue = [(job, 0) for job in request["jobs"]]
    running = {}
    while queue or running:
        while queue and len(running) < request["workers"]:
            job, start = queue.pop(0)
            proc = spawn(job, start, timeout)
            running[proc["fd"]] = proc
        now = time.monotonic()
        wait = max(0.0, min(p["deadline"] for p in running.values()) - now)
        ready, _, _ = select.select(list(running), [], [], wait)
        for fd in list(running):
            proc = running[fd]
            job, outcome = proc["job"], results[proc["job"]["key"]]
            done = False
            if fd in ready:
                chunk = os.read(fd, 1 << 16)
                if chunk:
                    proc["buffer"] += chunk
                    *lines, proc["buffer"] = proc["buffer"].split(b"\n")
                    for line in lines:
                        record = json.loads(line)
                        if "i" in record:
                            outcome["outcomes"][record["i"]] = record["result"]
                            proc["next"] = record["i"] + 1
                            proc["deadline"] = time.monotonic() + timeout + 2
                        else:
                            outcome.update(record)
                    continue
                done = True
            elif time.monotonic() >= proc["deadline"]:
                os.kill(proc["pid"], signal.SIGKILL)
                done = True
            if not done:
                continue
            os.close(fd)
            del running[fd]
            _, status = os.waitpid(proc["pid"], 0)
            if "unavailable" in outcome or "import_failure" in outcome:
                continue
            if proc["next"] < len(job["items"]):
                kind, attr = job["items"][proc["next"]]
                label = attr + "()" if kind == "boot" else attr
                if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
                    reason = "did not finish within %ss" % timeout
                else:
                    reason = "the process ended while constructing it (status %d)" % status
                outcome["outcomes"][proc["next"]] = {"name": label, "ok": False, "exception": reason}
                if proc["next"] + 1 < len(job["items"]):
                    queue.append((job, proc["next"] + 1))
    return results


for line in sys.stdin:  # one request per line, one answer per line, until the suite closes stdin
    sys.stdout.write(json.dumps(serve(json.loads(line))) + "\n")
    sys.stdout.flush()
'''

_PLACEHOLDERS = (
    (re.compile(r"PostgresDsn|PostgreSQL|postgres", re.I), "postgresql://user:placeholder@db.invalid:5432/db"),
    (re.compile(r"RedisDsn", re.I), "redis://:placeholder@redis.invalid:6379/0"),
    (re.compile(r"AmqpDsn", re.I), "amqp://user:placeholder@amqp.invalid:5672/"),
    (re.compile(r"MongoDsn", re.I), "mongodb://user:placeholder@mongo.invalid:27017/db"),
    (re.compile(r"Url|Dsn", re.I), "https://placeholder.invalid/"),
    (re.compile(r"^(Optional\[)?(bool|StrictBool)\b"), "false"),
    (re.compile(r"^(Optional\[)?(int|PositiveInt|conint)\b"), "1"),
    (re.compile(r"^(Optional\[)?float\b"), "1.0"),
    (re.compile(r"^(Optional\[)?(dict|list|Dict|List)\b"), "{}"),
)
# By the variable's name (whole words of it): what such a setting usually holds, specific services first.
_BY_NAME = (
    (re.compile(r"REDIS|CACHE|BROKER"), "redis://:placeholder@redis.invalid:6379/0"),
    (re.compile(r"AMQP|RABBIT\w*"), "amqp://user:placeholder@amqp.invalid:5672/"),
    (re.compile(r"MONGO\w*"), "mongodb://user:placeholder@mongo.invalid:27017/db"),
    (re.compile(r"POSTGRES|PG|DATABASE|DB|DSN|SQL"), "postgresql://user:placeholder@db.invalid:5432/db"),
    (re.compile(r"URL|URI|DSN|ENDPOINT|WEBHOOK"), "https://placeholder.invalid/"),
    (re.compile(r"JSON|CONFIG"), "{}"),
    (re.compile(r"JSON|LIST"), "[]"),
    (re.compile(r"PORT"), "8080"),
    (re.compile(r"EMAIL|MAIL|FROM"), "placeholder@example.com"),
    (re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASS|PWD|SALT"), "releasegateStandIn0123456789abcdefghijklmnop"),
    (re.compile(r"KEY|TOKEN|SECRET|SALT|HASH"), "0123456789abcdef" * 4),
)
_SCHEME = re.compile(r"\b([A-Za-z][A-Za-z0-9+.\-]*)://")
_QUOTED = re.compile(r"'([^'\s]{1,80})'|\"([^\"\s]{1,80})\"|`([^`\s]{1,80})`")
_PREFIX = re.compile(r"(?:start|starts|begin|begins|prefixed) with ([^\s,;'\"`]+)|prefix ([^\s,;'\"`]+)", re.I)
_LENGTH = re.compile(r"at least (\d{1,4}) (?:characters|chars)", re.I)


def placeholder(annotation: str | None, default: str = "releasegate-sealed-value") -> str:
    """A stand-in for a sealed value that a field of this annotation would accept, where guessable."""
    for pattern, value in _PLACEHOLDERS:
        if annotation and pattern.search(annotation):
            return "[]" if value == "{}" and re.match(r"^(Optional\[)?(list|List)\b", annotation) else value
    return default


def stand_ins(annotation: str | None, name: str, current: str | None = None) -> list[str]:
    """Plausible stand-ins for a value only the cluster knows, most likely first: the value the cluster
    would plausibly give (`current`), then by the field's annotation, then by the variable's name,
    then the generic stand-in."""
    out = [current] if current else []
    out += _literals(annotation or "")
    if annotation and placeholder(annotation, "") != "":
        out.append(placeholder(annotation))
    words = set(re.split(r"[^A-Z0-9]+", name.upper())) | {name.upper()}
    for pattern, value in _BY_NAME:
        if any(pattern.fullmatch(w) for w in words):
            out.append(value)
    out.append(placeholder(None))
    return list(dict.fromkeys(out))


def _literals(annotation: str) -> list[str]:
    """The choices of a `Literal[...]` annotation, as strings."""
    match = re.search(r"Literal\[([^\]]*)\]", annotation)
    try:
        choices = ast.literal_eval(f"({match.group(1)},)") if match else ()
    except (ValueError, SyntaxError):
        return []
    return [str(c).lower() if isinstance(c, bool) else str(c) for c in choices]


def stand_ins_from_message(message: str) -> list[str]:
    """Stand-ins a validator's own error message suggests: its URL schemes, prefixes, quoted literals
    and minimum length."""
    text = message.replace("\\", "")
    out = []
    for scheme in _SCHEME.findall(text):
        if "sqlite" in scheme.lower() or scheme.lower() == "file":
            out.append(f"{scheme}:///releasegate.db")
        else:
            out.append(f"{scheme}://user:placeholder@placeholder.invalid:5432/db")
    out += [a + "releasegate" for m in _PREFIX.findall(text) for a in m if a and "://" not in a]
    out += [a or b or c for a, b, c in _QUOTED.findall(text) if "://" not in (a or b or c)]
    out += [("releasegate-stand-in" * 100)[:int(n)] for n in _LENGTH.findall(text)]
    return list(dict.fromkeys(v.lstrip("^").rstrip("$") for v in out))


class _Server:
    """One boot interpreter kept for the session: pydantic-settings is imported once, not per run."""

    def __init__(self, interpreter: str) -> None:
        self.interpreter = interpreter
        self.scratch = tempfile.mkdtemp(prefix="releasegate-boot-")
        os.mkdir(os.path.join(self.scratch, "cwd"))
        self.errors = open(os.path.join(self.scratch, "stderr"), "w+b")
        try:
            self.proc = subprocess.Popen([interpreter, "-I", "-c", _RUNNER], cwd=os.path.join(self.scratch, "cwd"),
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
