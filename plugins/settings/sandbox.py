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

import ctypes
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

# Per boot process (rlimits set in the child before the application's code runs).
LIMITS = {"memory_mb": 2048, "file_mb": 64, "processes": 256}
ENABLED = True  # tests turn it off to exercise the fallback
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC = ("/etc/ld.so.cache", "/etc/localtime", "/etc/ssl", "/etc/ca-certificates", "/etc/nsswitch.conf",
        "/etc/mime.types")
_PROBE = "import sys; sys.exit(0)"
# prctl(2) options (linux/prctl.h)
_PR_GET_DUMPABLE, _PR_SET_DUMPABLE, _PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS = 3, 4, 24, 38
_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
_SHIELDED: list[int] = []  # the gate's dumpable flag before the first unisolated boot


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


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    prctl = libc.prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    return lambda option, arg=0: prctl(option, arg, 0, 0, 0)


def shield() -> Callable[[], None] | None:
    """Without the sandbox, keep the gate's own environment (its DSN password, tokens) out of the
    unisolated boot's reach through /proc/<gate pid>/environ, for as long as boots run: the gate
    becomes non-dumpable (its /proc entries then need CAP_SYS_PTRACE), and the returned function,
    run in the boot interpreter before it starts (Popen's preexec_fn), forbids new privileges and,
    as root, drops every capability from its bounding set, so it comes up with none: CAP_SYS_PTRACE
    gone, and a process holding capabilities it lacks is out of its reach too. None off Linux."""
    prctl = _prctl()
    if prctl is None:
        return None
    if not _SHIELDED:
        _SHIELDED.append(prctl(_PR_GET_DUMPABLE))
        prctl(_PR_SET_DUMPABLE, 0)
    root = os.geteuid() == 0
    try:
        last = int(Path("/proc/sys/kernel/cap_last_cap").read_text()) if root else -1
    except (OSError, ValueError):
        last = 63

    def drop() -> None:  # in the child, between fork and exec: no allocation-heavy work
        prctl(_PR_SET_NO_NEW_PRIVS, 1)
        prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL)
        for cap in range(last + 1):
            prctl(_PR_CAPBSET_DROP, cap)
    return drop


def unshield() -> None:
    """The gate's dumpable flag as it was, once every boot interpreter has ended."""
    prctl = _prctl()
    if prctl is not None and _SHIELDED:
        prctl(_PR_SET_DUMPABLE, _SHIELDED.pop())

