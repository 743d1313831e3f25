"""Run pytest the way a user's installation does: only the pytest plugins requirements.txt brings.

The development venv also holds requirements-test.txt (kmock, pytest-asyncio, aiohttp, ...), whose
pytest plugins would load in every timed run although no user has them. Rather than build a second
venv (minutes, and the registry), the benchmarks turn plugin autoloading off and name, with ``-p``,
exactly the plugins of the distributions requirements.txt pulls in (its requirements and theirs,
transitively: pytest-xdist, allure-pytest, anyio via httpx), read from the installed metadata. The
releasegate plugin itself comes from the checkout's conftest.py, as in a checkout.
"""

from __future__ import annotations

import functools
import importlib.metadata as metadata
import os
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def _requirements(lines: list[str]) -> list[Requirement]:
    out = []
    for line in lines:
        text = line.split("#", 1)[0].strip()
        if not text or text.startswith("-"):
            continue
        try:
            out.append(Requirement(text))
        except InvalidRequirement:
            continue
    return out


@functools.lru_cache(maxsize=1)
def runtime_plugins(requirements: Path = ROOT / "requirements.txt") -> tuple[str, ...]:
    """The pytest11 entry-point modules of requirements.txt's distributions and their dependencies."""
    todo = _requirements(requirements.read_text().splitlines())
    seen: set[str] = set()
    plugins: list[str] = []
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen or (req.marker is not None and not req.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            continue
        plugins += sorted(ep.value.split(":")[0] for ep in dist.entry_points if ep.group == "pytest11")
        for extra in req.extras or {""}:
            for sub in _requirements(dist.requires or []):
                if sub.marker is None or sub.marker.evaluate({"extra": extra}):
                    todo.append(Requirement(str(sub).split(";")[0]))
    return tuple(sorted(set(plugins)))


def pytest_args() -> list[str]:
    """``-p module`` for each runtime plugin (to put before the run's own arguments)."""
    return [arg for plugin in runtime_plugins() for arg in ("-p", plugin)]


def child_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a timed pytest run: plugin autoloading off (pytest_args names the
    plugins), bytecode caches on as a user's checkout keeps them (these sessions export
    PYTHONDONTWRITEBYTECODE=1, which would recompile every module on every run)."""
    env = dict(os.environ if base is None else base)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def pytest_alone(checks: int, scratch: Path, runs: int = 1) -> float:
    """Median wall seconds of pytest by itself running ``checks`` checks that do nothing, as the
    timed runs run it (runtime plugins only, -q, bytecode caches on, its own rootdir so that no
    conftest or ini of the checkout loads), minus an empty interpreter's start: pytest's own
    share of a run of that many checks, the floor of the pytest layer."""
    import subprocess
    import sys
    import time

    scratch.mkdir(parents=True, exist_ok=True)
    (scratch / "pytest.ini").write_text("[pytest]\n")
    (scratch / "test_alone.py").write_text(
        "import pytest\n\n\n@pytest.mark.parametrize('i', range(%d))\ndef test_nothing(i):\n    pass\n"
        % max(checks, 1))
    env = child_env()

    def timed(cmd: list[str]) -> float:
        started = time.perf_counter()
        subprocess.run(cmd, cwd=scratch, env=env, capture_output=True, check=False)
        return time.perf_counter() - started

    pytest_cmd = [sys.executable, "-m", "pytest", *pytest_args(), "-q", "-p", "no:cacheprovider",
                  "test_alone.py"]
    timed(pytest_cmd)  # untimed: writes the bytecode caches
    samples = sorted(timed(pytest_cmd) - timed([sys.executable, "-c", "pass"]) for _ in range(runs))
    return samples[len(samples) // 2]
