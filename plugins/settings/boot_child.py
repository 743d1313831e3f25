"""The program the boot interpreter runs (`python -I -c RUNNER`), as text: it never runs in the suite.

It reads one request per line on stdin: jobs (a settings file's folder, the application's source
folders, one container's environment, the classes and boot function to construct), a timeout, a
number of workers and the limits. For each job it forks a fresh process that sets exactly that
environment and the limits, imports the file and constructs each item on its own, writing each
outcome as it goes; a child that overruns or dies is replaced by a fresh one that resumes with the
next item, within one deadline per job that nothing the child writes extends. It is the reaper of
everything its children fork: whatever outlives a child is killed when the child ends. It speaks
to pydantic v1 and v2 (pydantic-settings is imported ahead only where pydantic is v2). One answer
per line on stdout.
"""
from __future__ import annotations

RUNNER = r'''
import ctypes, importlib, importlib.util, json, os, resource, select, signal, sys, time, traceback
try:
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans come to us
except (OSError, AttributeError):
    pass
try:
    import pydantic
    if pydantic.VERSION.startswith("1."):
        pass  # BaseSettings is pydantic v1's own
    else:
        import pydantic_settings
except ImportError:
    pydantic = None


def one_line(exc):
    text = " ".join(str(exc).split())
    return (type(exc).__name__ + ": " + text)[:500]


def safe(value):
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)[:200]


def where(exc, roots):
    """file:line of the innermost frame in the application's own files."""
    found = None
    roots = sorted(roots, key=len, reverse=True)  # the outermost root last: paths from the repository's root
    for frame in traceback.extract_tb(exc.__traceback__):
        for root in roots:
            if frame.filename.startswith(root + os.sep):
                found = "%s:%s" % (os.path.relpath(frame.filename, root), frame.lineno)
    if found is None and isinstance(exc, SyntaxError) and exc.filename:
        for root in roots:
            if str(exc.filename).startswith(root + os.sep):
                found = "%s:%s" % (os.path.relpath(exc.filename, root), exc.lineno)
    return found


def aliases(field):
    """The input names a v2 field accepts: validation_alias (a string, AliasChoices, AliasPath) or alias."""
    alias = getattr(field, "validation_alias", None) or getattr(field, "alias", None)
    if alias is None:
        return []
    if isinstance(alias, str):
        return [alias]
    choices = getattr(alias, "choices", None) or [alias]
    out = []
    for choice in choices:
        path = getattr(choice, "path", None)
        out.append(choice if isinstance(choice, str) else str(path[0]) if path else None)
    return [a for a in out if a]


def variables(cls, loc):
    """The variables a settings class reads for an error location, deepest first: through
    env_prefix, aliases (v2 AliasChoices, v1 env=), env_nested_delimiter; for models wherever they live."""
    if cls is None or not loc or not isinstance(loc[0], str):
        return []
    fields = getattr(cls, "model_fields", None)
    if fields is not None:  # v2 (pydantic-settings)
        config = getattr(cls, "model_config", {}) or {}
        prefix, delim = config.get("env_prefix") or "", config.get("env_nested_delimiter")
        name = next((n for n, f in fields.items() if n == loc[0] or loc[0] in aliases(f)), None)
        if name is None:
            return []
        tops = aliases(fields[name]) or [prefix + name]
        sensitive = config.get("case_sensitive", False)
    else:  # v1: BaseSettings keeps each field's variables in env_names
        field = getattr(cls, "__fields__", {}).get(loc[0])
        if field is None:
            return []
        tops = sorted(field.field_info.extra.get("env_names") or [loc[0]])
        delim = getattr(getattr(cls, "__config__", None), "env_nested_delimiter", None)
        sensitive = getattr(getattr(cls, "__config__", None), "case_sensitive", False)
    rest = [str(p) for p in loc[1:] if isinstance(p, str)]
    deep = [top + delim + delim.join(rest) for top in tops] if delim and rest else []
    return [n if sensitive else n.upper() for n in deep + list(tops)]


def errors_of(exc):
    pd = sys.modules.get("pydantic")
    if pd is None or not isinstance(exc, pd.ValidationError):
        return None
    if hasattr(exc, "title"):  # v2
        raw, title = exc.errors(include_url=False), exc.title
    else:  # v1: the model is on the error, a missing field is value_error.missing
        raw, title = exc.errors(), getattr(getattr(exc, "model", None), "__name__", "")
    out = []
    for e in raw:
        kind = "missing" if e.get("type") == "value_error.missing" else e.get("type", "")
        out.append({"loc": [p if isinstance(p, (str, int)) else str(p) for p in e.get("loc", ())],
                    "msg": e.get("msg", ""), "type": kind,
                    "input": None if kind == "missing" else safe(e.get("input")), "title": title})
    return out


def describe(name, exc, limits, module=None):
    if isinstance(exc, MemoryError):
        return {"name": name, "ok": False, "limit": "memory",
                "exception": "reached the boot's memory limit (%d MiB)" % limits["memory_mb"]}
    errors = errors_of(exc)
    if errors is not None:
        model = getattr(exc, "model", None)  # v1; v2 names the model by its title only
        for error in errors:
            cls = model or getattr(module, error["title"], None) or getattr(module, name, None)
            if cls is None:  # a model of a library or of the application's other modules
                cls = next((getattr(m, error["title"]) for m in list(sys.modules.values())
                            if isinstance(getattr(m, error["title"], None), type)), None)
            try:
                error["variables"] = variables(cls, error["loc"])
            except Exception:
                error["variables"] = []
        return {"name": name, "ok": False, "errors": errors}
    return {"name": name, "ok": False, "exception": one_line(exc)}


class Overrun(BaseException):
    pass


def on_alarm(signum, frame):
    raise Overrun()


def limit(limits, timeout, items):
    mb = 1 << 20
    for which, value in ((resource.RLIMIT_AS, limits["memory_mb"] * mb),
                         (resource.RLIMIT_FSIZE, limits["file_mb"] * mb),
                         (resource.RLIMIT_NPROC, limits["processes"]),
                         (resource.RLIMIT_CPU, timeout * (items + 1) + 1)):
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass


def own(name, roots):
    """Whether a module name is the application's own (its top package is in its source folders)."""
    top = name.split(".")[0]
    return any(os.path.isdir(os.path.join(r, top)) or os.path.isfile(os.path.join(r, top + ".py")) for r in roots)


def load(job):
    if job.get("dotted"):
        return importlib.import_module(job["dotted"])
    name = job["module"]
    spec = importlib.util.spec_from_file_location(name, os.path.join(job["dir"], job["filename"]))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def child(job, start, timeout, limits, out):
    # One process per (job, resume point): the container's environment, the file, then each item.
    # Whatever the settings code prints must not reach the protocol on stdout.
    quiet = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(quiet, fd)
    os.environ.clear()
    os.environ.update(job["env"])
    roots = [job["dir"]] + list(job.get("paths") or ())
    sys.path[:0] = roots
    limit(limits, timeout, len(job["items"]) - start)
    signal.signal(signal.SIGALRM, on_alarm)
    me = os.getpid()

    def emit(record):
        if os.getpid() != me:  # a copy the settings code forked came back here: it reports nothing
            os._exit(0)
        os.write(out, (json.dumps(record) + "\n").encode())
    signal.alarm(timeout)
    try:
        module = load(job)
    except ImportError as exc:
        missing = getattr(exc, "name", None)
        if type(exc).__name__ == "PydanticImportError":  # written for pydantic v1, booted with v2
            emit({"unavailable": one_line(exc), "missing": "pydantic<2"})
        elif isinstance(exc, ModuleNotFoundError) and missing and not own(missing, roots):
            emit({"unavailable": one_line(exc), "missing": missing})
        else:
            failure = describe("import", exc, limits)
            failure["where"] = where(exc, roots)
            emit({"import_failure": failure})
        return
    except Overrun:
        emit({"import_failure": {"name": "import", "ok": False,
                                 "exception": "import did not finish within %ss" % timeout}})
        return
    except BaseException as exc:
        failure = describe("import", exc, limits)
        failure["where"] = where(exc, roots)
        emit({"import_failure": failure})
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
                result = describe(label, exc, limits, module)
            finally:
                signal.alarm(0)
        emit({"i": index, "result": result})


def spawn(job, start, timeout, limits, deadline):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            child(job, start, timeout, limits, write)
        finally:
            os._exit(0)
    os.close(write)
    return {"pid": pid, "fd": read, "job": job, "next": start, "buffer": b"", "end": deadline,
            "deadline": min(deadline, time.monotonic() + timeout + 2), "why": None}


def reap_orphans(running):
    """Kill what the children forked and left behind (they came to us as the subreaper)."""
    mine, ours = str(os.getpid()), {p["pid"] for p in running.values()}
    for _ in range(20):
        strays = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in ours:
                continue
            try:
                with open("/proc/%s/stat" % entry) as stat:
                    ppid = stat.read().rsplit(")", 1)[1].split()[1]
            except (OSError, IndexError):
                continue
            if ppid == mine:
                strays.append(int(entry))
        if not strays:
            return
        for pid in strays:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (OSError, ChildProcessError):
                pass


def ended(status, timeout, limits, why):
    if why:
        return {"exception": why}
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGKILL:
            return {"exception": "did not finish within %ss" % timeout}
        if sig == signal.SIGXCPU:
            return {"exception": "reached the boot's CPU time limit", "limit": "cpu"}
        if sig == signal.SIGXFSZ:
            return {"exception": "wrote past the boot's file size limit (%d MiB)" % limits["file_mb"],
                    "limit": "file size"}
    return {"exception": "the process ended while constructing it (status %d)" % status}


def take(proc, outcome, line):
    """Record one line of a child; False when it breaks the protocol (the settings code wrote it)."""
    try:
        record = json.loads(line)
        index = record.get("i")
    except (ValueError, AttributeError):
        return False
    if index is None:
        if not (set(record) <= {"unavailable", "missing", "import_failure"}) or proc["next"] != proc["start"]:
            return False
        outcome.update(record)
        return True
    if index != proc["next"] or not isinstance(record.get("result"), dict):
        return False
    outcome["outcomes"][index] = record["result"]
    proc["next"] = index + 1
    proc["deadline"] = min(proc["end"], time.monotonic() + proc["timeout"] + 2)
    return True


def budget(job, timeout):
    return (timeout + 2) * (len(job["items"]) + 1)


def serve(request):
    timeout = max(1, int(request["timeout"] + 0.999))
    limits = request["limits"]
    results = {job["key"]: {"outcomes": [None] * len(job["items"])} for job in request["jobs"]}
    queue = [(job, 0) for job in request["jobs"]]
    ends = {}
    running = {}
    while queue or running:
        while queue and len(running) < request["workers"]:
            job, start = queue.pop(0)
            # one deadline per job, from its first start: nothing a child writes moves it
            end = ends.setdefault(job["key"], time.monotonic() + budget(job, timeout))
            proc = spawn(job, start, timeout, limits, end)
            proc.update(start=start, timeout=timeout)
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
                        if not take(proc, outcome, line):
                            proc["why"] = "the settings code wrote to the boot's own channel"
                            if proc["next"] > proc["start"]:
                                proc["next"] -= 1  # the item it claimed is the one that broke it
                            os.kill(proc["pid"], signal.SIGKILL)
                            done = True
                            break
                    if not done and (proc["next"] >= len(job["items"]) or "unavailable" in outcome
                                     or "import_failure" in outcome):
                        os.kill(proc["pid"], signal.SIGKILL)  # all said: what it forked ends with it now
                        done = True
                    if len(proc["buffer"]) > 1 << 20:
                        proc["why"] = "the settings code wrote to the boot's own channel"
                        os.kill(proc["pid"], signal.SIGKILL)
                        done = True
                    if not done:
                        continue
                done = True
            elif time.monotonic() >= proc["deadline"]:
                os.kill(proc["pid"], signal.SIGKILL)
                if proc["deadline"] >= proc["end"]:
                    proc["why"] = "the boot did not finish within its deadline of %ds" % budget(job, timeout)
                done = True
            if not done:
                continue
            os.close(fd)
            del running[fd]
            _, status = os.waitpid(proc["pid"], 0)
            reap_orphans(running)
            if "unavailable" in outcome or "import_failure" in outcome:
                continue
            if proc["next"] < len(job["items"]):
                kind, attr = job["items"][proc["next"]]
                label = attr + "()" if kind == "boot" else attr
                outcome["outcomes"][proc["next"]] = dict(ended(status, timeout, limits, proc["why"]),
                                                         name=label, ok=False)
                late = time.monotonic() >= proc["end"]
                for rest in range(proc["next"] + 1, len(job["items"])):
                    if not late:
                        queue.append((job, rest))
                        break
                    kind, attr = job["items"][rest]
                    outcome["outcomes"][rest] = {"name": attr + "()" if kind == "boot" else attr, "ok": False,
                                                 "exception": "not reached within the boot's deadline"}
    return results


for line in sys.stdin:  # one request per line, one answer per line, until the suite closes stdin
    sys.stdout.write(json.dumps(serve(json.loads(line))) + "\n")
    sys.stdout.flush()
'''
