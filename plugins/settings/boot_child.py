"""The program the boot interpreter runs (`python -I -c RUNNER`), as text: it never runs in the suite.

It reads one request per line on stdin: jobs (a settings file's folder, one container's
environment, the classes and boot function to construct), a timeout and a number of workers. For
each job it forks a fresh process that sets exactly that environment, imports the file and
constructs each item on its own, writing each outcome as it goes; a child that overruns or dies
is replaced by a fresh one that resumes with the next item. One answer per line on stdout.
"""
from __future__ import annotations

RUNNER = r'''
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
