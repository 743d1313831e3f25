"""Throwaway local services for the demo: Postgres, a registry, HTTPS endpoints, a Kubernetes API.

    python -m examples.services up        # start everything, print the exports, run until Ctrl-C
    python -m examples.services up -d     # the same in the background; prints the exports
    python -m examples.services env       # the exports of the running services
    python -m examples.services down      # stop the background services

The exports (written to examples/.services/env.sh) set the variables the demo's environments.yaml
names, so that every check has its service: `eval "$(python -m examples.services up -d)"`.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / "examples" / ".services"
ENV_FILE = STATE / "env.sh"
PID_FILE = STATE / "pid"
LOG_FILE = STATE / "services.log"


def _starters(estate_path: Path) -> list[tuple[str, Callable[[], Any]]]:
    from examples.services import https, kube, postgres, registry

    return [
        ("postgres", lambda: postgres.demo(estate_path)),
        ("registry", lambda: registry.demo(estate_path)),
        ("https", lambda: https.demo(estate_path, workdir=STATE / "https")),
        ("kubernetes", lambda: kube.start(STATE / "kube", environments=estate_path)),
    ]


def _exports(env: dict[str, str]) -> str:
    return "".join(f"export {key}={shlex.quote(str(value))}\n" for key, value in sorted(env.items()))


def up(estate_path: Path) -> int:
    """Start every service, write env.sh, and serve until interrupted."""
    STATE.mkdir(parents=True, exist_ok=True)
    ENV_FILE.unlink(missing_ok=True)
    running: list[tuple[str, Any]] = []
    env: dict[str, str] = {}
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        for name, start in _starters(estate_path):
            service = start()
            running.append((name, service))
            env.update({k: str(v) for k, v in service.env.items()})
            os.environ.update(env)  # later services may read what earlier ones export
            print(f"# {name} ready", file=sys.stderr, flush=True)
        ENV_FILE.write_text(_exports(env))
        PID_FILE.write_text(str(os.getpid()))
        sys.stdout.write(_exports(env))
        sys.stdout.flush()
        print("# services ready; Ctrl-C (or `python -m examples.services down`) stops them",
              file=sys.stderr, flush=True)
        while not stop.is_set():
            stop.wait(1)
    except KeyboardInterrupt:
        pass
    finally:
        for name, service in reversed(running):
            try:
                service.stop()
            except Exception as exc:  # noqa: BLE001 - stop the others anyway
                print(f"# {name}: stop failed: {exc}", file=sys.stderr)
        ENV_FILE.unlink(missing_ok=True)
        PID_FILE.unlink(missing_ok=True)
    return 0


def up_detached(estate_path: Path, wait_s: float = 180) -> int:
    """Start the services in a background process; print the exports once they are ready."""
    if PID_FILE.exists() and ENV_FILE.exists():
        sys.stdout.write(ENV_FILE.read_text())
        return 0
    STATE.mkdir(parents=True, exist_ok=True)
    ENV_FILE.unlink(missing_ok=True)
    with open(LOG_FILE, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "examples.services", "up", "--environments", str(estate_path)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if ENV_FILE.exists() and PID_FILE.exists():
            sys.stdout.write(ENV_FILE.read_text())
            return 0
        if process.poll() is not None:
            sys.stderr.write(LOG_FILE.read_text())
            print(f"services failed to start (see {LOG_FILE})", file=sys.stderr)
            return 1
        time.sleep(0.2)
    process.terminate()
    print(f"services not ready within {wait_s:.0f} s (see {LOG_FILE})", file=sys.stderr)
    return 1


def down() -> int:
    """Stop background services started with `up -d`."""
    if not PID_FILE.exists():
        print("no services running", file=sys.stderr)
        return 0
    pid = int(PID_FILE.read_text())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        PID_FILE.unlink(missing_ok=True)
        ENV_FILE.unlink(missing_ok=True)
        return 0
    for _ in range(150):
        if not PID_FILE.exists():
            return 0
        time.sleep(0.2)
    print(f"services (pid {pid}) did not stop in 30 s", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(prog="python -m examples.services",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "env", "down"])
    parser.add_argument("-d", "--detach", action="store_true", help="with up: run in background")
    parser.add_argument("--environments", type=Path, default=ROOT / "environments.yaml")
    args = parser.parse_args(argv)
    if args.command == "up":
        return up_detached(args.environments) if args.detach else up(args.environments)
    if args.command == "env":
        if not ENV_FILE.exists():
            print("no services running: python -m examples.services up -d", file=sys.stderr)
            return 1
        sys.stdout.write(ENV_FILE.read_text())
        return 0
    return down()


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
