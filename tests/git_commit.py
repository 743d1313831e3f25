"""Commit everything in a test's git folder (created on first use) with a fixed identity."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

IDENTITY = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


def commit_all(repo: Path, message: str) -> None:
    """`git add -A && git commit` in repo, after `git init -b main` when it is not a repository."""
    env = {**os.environ, **IDENTITY}
    steps = [["add", "-A"], ["commit", "-qm", message]]
    if not (repo / ".git").exists():
        steps.insert(0, ["init", "-q", "-b", "main"])
    for args in steps:
        subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, capture_output=True)


def chart_in_git(repo: Path, chart: str, template: str, files: dict[str, str] | None = None) -> None:
    """A one-template chart (templates/cm.yaml) at repo/chart, with other files, committed."""
    folder = repo / chart
    (folder / "templates").mkdir(parents=True)
    (folder / "Chart.yaml").write_text(f"apiVersion: v2\nname: {folder.name}\nversion: 0.1.0\n")
    (folder / "templates/cm.yaml").write_text(template)
    for name, text in (files or {}).items():
        (folder / name).write_text(text)
    commit_all(repo, f"chart {chart}")
