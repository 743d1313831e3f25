"""Boot settings classes for real, in a fresh process per class, with exactly a container's environment.

One interpreter (the suite's, or the one a settings entry names) starts once with an empty
environment and imports pydantic-settings; for every job it forks a process that sets the
container's environment, imports the settings file from a scratch folder that holds nothing else,
and forks again for each class (and for the entry's `boot` function) so that one failure never
hides the next and no state leaks between them. Every fork is bounded by the timeout.
Secret values never reach this process: callers pass placeholders for them.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
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


class BootError(Exception):
    """The boot interpreter itself could not run (missing, no pydantic-settings, timed out)."""


_RUNNER = r'''
import importlib.util, json, os, signal, sys, traceback
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

def outcome(name, call):
    try:
        call()
        return {"name": name, "ok": True}
    except BaseException as exc:
        return describe(name, exc)

def forked(timeout, work):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        signal.alarm(timeout)
        try:
            data = json.dumps(work()).encode()
        except BaseException as exc:
            data = json.dumps({"crash": one_line(exc)}).encode()
        with os.fdopen(write, "wb") as out:
            out.write(data)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as src:
        data = src.read()
    _, status = os.waitpid(pid, 0)
    if not data:
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGALRM:
            return {"timeout": True}
        return {"crash": "process ended without a result (status %d)" % status}
    return json.loads(data)

def run_job(job, timeout):
    os.environ.clear()
    os.environ.update(job["env"])
    sys.path.insert(0, job["dir"])
    name = job["module"]
    try:
        spec = importlib.util.spec_from_file_location(name, os.path.join(job["dir"], job["filename"]))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except ImportError as exc:
        return {"unavailable": one_line(exc)}
    except BaseException as exc:
        return {"import_failure": describe("import", exc)}
    results = []
    for cls_name in job["classes"]:
        cls = getattr(module, cls_name, None)
        if cls is None:
            results.append({"name": cls_name, "ok": False, "exception": "class not found after import"})
            continue
        results.append(wrap(cls_name, forked(timeout, lambda: outcome(cls_name, cls)), timeout))
    if job.get("boot"):
        fn = getattr(module, job["boot"], None)
        label = job["boot"] + "()"
        if fn is None:
            results.append({"name": label, "ok": False, "exception": "function not found in the file"})
        else:
            results.append(wrap(label, forked(timeout, lambda: outcome(label, fn)), timeout))
    return {"outcomes": results}

def wrap(name, result, timeout):
    if "timeout" in result:
        return {"name": name, "ok": False, "exception": "did not finish within %ss" % timeout}
    if "crash" in result:
        return {"name": name, "ok": False, "exception": result["crash"]}
    return result

def main():
    request = json.loads(sys.stdin.read())
    timeout = max(1, int(request["timeout"] + 0.999))
    out = {}
    for job in request["jobs"]:
        budget = timeout * (len(job["classes"]) + 2)
        result = forked(budget, lambda: run_job(job, timeout))
        if "timeout" in result:
            result = {"import_failure": {"name": "import", "ok": False,
                                         "exception": "import did not finish within %ss" % timeout}}
        elif "crash" in result:
            result = {"import_failure": {"name": "import", "ok": False, "exception": result["crash"]}}
        out[job["key"]] = result
    sys.stdout.write(json.dumps(out))

main()
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


def placeholder(annotation: str | None, default: str = "releasegate-sealed-value") -> str:
    """A stand-in for a sealed value that a field of this annotation would accept, where guessable."""
    for pattern, value in _PLACEHOLDERS:
        if annotation and pattern.search(annotation):
            return "[]" if value == "{}" and re.match(r"^(Optional\[)?(list|List)\b", annotation) else value
    return default


def run(jobs: Iterable[BootJob], python: str | None = None, timeout: float = 10.0) -> dict[str, BootResult]:
    """Run boot jobs in one fresh interpreter; returns {job key: result}.

    Raises BootError if the interpreter cannot start, lacks pydantic-settings or overruns.
    """
    jobs = list(jobs)
    if not jobs:
        return {}
    interpreter = python or sys.executable
    with tempfile.TemporaryDirectory(prefix="releasegate-boot-") as scratch:
        folders: dict[tuple[str, str], str] = {}
        request = []
        for job in jobs:
            folder = folders.get((job.filename, job.source))
            if folder is None:
                folder = os.path.join(scratch, f"src{len(folders)}")
                os.mkdir(folder)
                Path(folder, job.filename).write_text(job.source)
                folders[(job.filename, job.source)] = folder
            request.append({"key": job.key, "dir": folder, "filename": job.filename,
                            "module": Path(job.filename).stem, "env": dict(job.env),
                            "classes": list(job.classes), "boot": job.boot})
        cwd = os.path.join(scratch, "cwd")
        os.mkdir(cwd)
        per_job = timeout * (1 + max(len(j.classes) + 1 for j in jobs))
        try:
            proc = subprocess.run([interpreter, "-I", "-c", _RUNNER], cwd=cwd, env={},
                                  input=json.dumps({"jobs": request, "timeout": timeout}),
                                  capture_output=True, text=True, timeout=per_job * len(jobs) + 30)
        except FileNotFoundError:
            raise BootError(f"boot interpreter {interpreter} does not exist") from None
        except subprocess.TimeoutExpired:
            raise BootError(f"boot interpreter {interpreter} did not finish in time") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise BootError(f"boot interpreter {interpreter} failed: {last}")
    raw = json.loads(proc.stdout)
    return {key: _result(key, value) for key, value in raw.items()}


def _outcome(raw: dict) -> Outcome:
    return Outcome(raw["name"], bool(raw.get("ok")), tuple(raw.get("errors") or ()), raw.get("exception"))


def _result(key: str, raw: dict) -> BootResult:
    failure = raw.get("import_failure")
    return BootResult(key, raw.get("unavailable"), _outcome(failure) if failure else None,
                      tuple(_outcome(o) for o in raw.get("outcomes") or ()))
