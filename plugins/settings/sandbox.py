"""The sandbox the boot interpreter runs in: the application's settings code is code from outside
the gate (a contributor's branch, a shared testing branch), so it runs without the gate's
environment, files, network or processes.

With bubblewrap (`bwrap`, where user namespaces work): every namespace unshared (no network, its
own PID namespace and /proc, so the gate's process is out of sight), all capabilities dropped,
read-only views of the interpreter's own folders and the boot's scratch folder (the settings files
and source trees the gate wrote there) and a private writable /tmp; nothing else of the machine
(no home folder, no kubeconfig, no checkouts, no reports). Where bubblewrap is missing or cannot
start, `isolation()` says why (the run says it once) and the boot still runs with an empty
environment, the limits below, one deadline per job and the group kill (plugins/settings/boot_child.py).
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

# Per boot process (rlimits set in the child before the application's code runs).
LIMITS = {"memory_mb": 2048, "file_mb": 64, "processes": 256}
ENABLED = True  # tests turn it off to exercise the fallback
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC = ("/etc/ld.so.cache", "/etc/localtime", "/etc/ssl", "/etc/ca-certificates", "/etc/nsswitch.conf",
        "/etc/mime.types")
_PROBE = "import sys; sys.exit(0)"


@functools.lru_cache(maxsize=32)
def interpreter_folders(interpreter: str) -> tuple[str, ...]:
    """The folders an interpreter reads (its prefixes and import path), outermost only."""
    script = ("import json, sys; print(json.dumps([sys.prefix, sys.base_prefix, sys.exec_prefix, "
              "sys.base_exec_prefix] + sys.path))")
    try:
        done = subprocess.run([interpreter, "-I", "-c", script], env={}, capture_output=True, timeout=60, text=True)
        found = json.loads(done.stdout) if done.returncode == 0 else []
    except (OSError, ValueError, subprocess.TimeoutExpired):
        found = []
    found += [os.path.dirname(os.path.abspath(interpreter)), os.path.dirname(os.path.realpath(interpreter))]
    folders = sorted({os.path.realpath(p) for p in found if p and os.path.isdir(p)}
                     | {os.path.abspath(p) for p in found if p and os.path.isdir(p)})
    return tuple(p for p in folders if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in folders))


def _binds(interpreter: str, scratch: str, *shared: str) -> list[str]:
    args = ["--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--clearenv",
            "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for path in _SYSTEM:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in _ETC:
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    for folder in interpreter_folders(interpreter):
        if not any(folder == s or folder.startswith(s + "/") for s in _SYSTEM if os.path.isdir(s)):
            args += ["--ro-bind", folder, folder]
    for folder in (scratch, *shared):
        args += ["--ro-bind", folder, folder]
    return args + ["--chdir", os.path.join(scratch, "cwd")]


@functools.lru_cache(maxsize=32)
def _probe(interpreter: str) -> str | None:
    """Why bubblewrap cannot run this interpreter here (None when it can)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed"
    probe = Path(tempfile.mkdtemp(prefix="releasegate-probe-"))
    (probe / "cwd").mkdir()
    try:
        done = subprocess.run([bwrap, *_binds(interpreter, str(probe)), interpreter, "-I", "-c", _PROBE],
                              env={}, capture_output=True, timeout=60, text=True)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap cannot start: {exc}"
    finally:
        shutil.rmtree(probe, ignore_errors=True)
    if done.returncode != 0:
        bare = subprocess.run([interpreter, "-I", "-c", _PROBE], env={}, capture_output=True, timeout=60)
        if bare.returncode != 0:
            return None  # the interpreter itself fails: its boot says so, not the sandbox
        last = (done.stderr.strip().splitlines() or [f"status {done.returncode}"])[-1]
        return f"bubblewrap cannot start here: {last}"
    return None


def isolation(interpreter: str) -> str | None:
    """Why boots with this interpreter are not isolated (None when bubblewrap runs them)."""
    return _probe(interpreter) if ENABLED else "the sandbox is turned off"



def command(interpreter: str, scratch: str, *shared: str) -> list[str]:
    """The command that runs `interpreter` in the sandbox (or bare, where there is none), seeing
    `scratch` (its working folder in it) and the `shared` folders read-only; the program's own
    arguments follow."""
    if isolation(interpreter) is not None:
        return [interpreter]
    return [str(shutil.which("bwrap")), *_binds(interpreter, scratch, *shared), interpreter]
