"""The tiny estate the hostile tests run the gate on (tests/test_hostile_*.py): one real git
repository, an environments file and a checks file, in a folder of their own."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_estate(folder: Path, environments: str, checks: str, message: str = "init") -> Path:
    """folder with app/ (one commit with message, tagged v1.0.0), environments.yaml, the checks
    as test_checks.py, and a conftest loading the plugin."""
    app = folder / "app"
    app.mkdir()
    git = ["git", "-C", str(app), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    (app / "README").write_text("app\n")
    subprocess.run([*git, "add", "README"], check=True)
    subprocess.run([*git, "commit", "-q", "--cleanup=verbatim", "-m", message], check=True)
    subprocess.run([*git, "tag", "v1.0.0"], check=True)
    (folder / "environments.yaml").write_text(environments)
    (folder / "pytest.ini").write_text("[pytest]\naddopts = --strict-markers\n")
    (folder / "conftest.py").write_text('pytest_plugins = ["releasegate.plugin"]\n')
    (folder / "test_checks.py").write_text(checks)
    return folder


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without CI or pytest settings, importing this worktree's
    plugins, plus extra."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "PYTEST_", "RELEASEGATE"))}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def gate_command(*args: str) -> list[str]:
    """The gate run as a subprocess on the estate's environments file."""
    import sys

    # -p no:asyncio: the suite's test tools are not the gate's (pytest-asyncio warns on stderr
    # about its own settings before the gate's one line)
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:asyncio",
            "--color=no", "--environments=environments.yaml", *args]
