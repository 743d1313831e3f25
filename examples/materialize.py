"""Materialise the demo estate as real git repositories with history, branches and release tags.

Each step applies an overlay folder of examples/estate/<repo>/ on a branch and commits it with a
fixed author and date, so every run produces the same commit SHAs. Image tags in the deployment
repository are written as placeholders (``@@sha:REF@@``, ``@@short:REF@@``) and filled in with the
application repository's commits.

    python examples/materialize.py [--dest examples/.estate] [--force]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
ESTATE = HERE / "estate"
DEFAULT_DEST = HERE / ".estate"
EPOCH = 1_790_000_000  # 2026-09-21: commit dates count from here, one hour per step

RELEASE = ("Release Bot", "release-bot@demo.test")
DEV = ("Sam Rivera", "sam@demo.test")
OPS = ("Alex Ops", "alex@demo.test")
WIP = ("Riley Chen", "riley@demo.test")


@dataclass(frozen=True)
class Step:
    """One commit: an overlay applied on a branch (created from `start` when new)."""

    branch: str
    overlay: str
    message: str
    author: tuple[str, str] = DEV
    tag: str | None = None
    start: str | None = None


APP_STEPS = (
    Step("main", "1-v1.3.0", "Initial import of the server, workers and front ends", RELEASE,
         tag="v1.3.0"),
    Step("main", "2-v1.4.0", "feat(agent): agent service with nested limits", DEV, tag="v1.4.0"),
    Step("hotfix/1.4.1", "3-hotfix-1.4.1", "fix(auth): retry token refresh on clock skew", DEV,
         tag="v1.4.1", start="v1.4.0"),
    Step("main", "4-main", "feat!: audit log always on; search service (requires SEARCH_URL)", DEV),
    Step("testing", "5-testing", "wip: ranking experiment", WIP, start="main"),
    # -- issue 23: the boot in the application's own environment (examples/boot-env.yaml) --------
    # last, on its own branch from v1.4.1: no commit above changes
    Step("demo/workers-v1", "6-workers-v1", "feat(workers): queue settings on the workers' pydantic v1", DEV,
         start="v1.4.1"),
)

GITOPS_STEPS = (
    Step("main", "1-initial", "Chart, values, Argo CD apps and sealed secrets", OPS),
    Step("main", "2-next", "echo-next: point the search service at staging", OPS),
    Step("main", "3-drop-audit", "chore(prod): drop ENABLE_AUDIT_LOG from production values", OPS),
    Step("main", "4-bump", "prod: scale api to 4 replicas", OPS),
    # --- issue 27: what the cluster would refuse, on a side branch (main's history is unchanged) ---
    Step("cluster-breaks", "5-cluster-breaks",
         "prod: merge the stale legacy branch (ingress, probes, back to v1.3.0)", WIP, start="main"),
)

_PLACEHOLDER = re.compile(r"@@(?P<kind>sha|short):(?P<ref>[^@]+)@@")


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run git in a repository and return its output."""
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                            env={**os.environ, **(env or {})})
    if result.returncode != 0:
        sys.exit(f"git {' '.join(args)} failed in {repo}: {result.stderr.strip()}")
    return result.stdout.strip()


def _apply_overlay(repo: Path, overlay: Path, substitute: dict[str, str] | None) -> None:
    for source in sorted(overlay.rglob("*")):
        if source.is_dir():
            continue
        target = repo / source.relative_to(overlay)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = source.read_bytes()
        if substitute is not None:
            text = _PLACEHOLDER.sub(lambda m: substitute[f"{m['kind']}:{m['ref']}"],
                                    data.decode("utf-8"))
            data = text.encode("utf-8")
        target.write_bytes(data)


def build(repo: Path, name: str, steps: tuple[Step, ...],
          substitute: dict[str, str] | None = None) -> None:
    """Create one repository from its steps."""
    repo.mkdir(parents=True)
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "config", "user.name", "demo")
    git(repo, "config", "user.email", "demo@demo.test")
    git(repo, "config", "commit.gpgsign", "false")
    git(repo, "config", "tag.gpgsign", "false")
    for index, step in enumerate(steps):
        branches = git(repo, "branch", "--list", "--format=%(refname:short)").split()
        if step.branch not in branches and branches:
            git(repo, "checkout", "--quiet", "-b", step.branch, step.start or "main")
        elif branches:
            git(repo, "checkout", "--quiet", step.branch)
        _apply_overlay(repo, ESTATE / name / step.overlay, substitute)
        date = f"@{EPOCH + index * 3600} +0000"
        env = {"GIT_AUTHOR_NAME": step.author[0], "GIT_AUTHOR_EMAIL": step.author[1],
               "GIT_COMMITTER_NAME": step.author[0], "GIT_COMMITTER_EMAIL": step.author[1],
               "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
        git(repo, "add", "--all")
        git(repo, "commit", "--quiet", "-m", step.message, env=env)
        if step.tag:
            git(repo, "tag", "-a", step.tag, "-m", f"Release {step.tag}", env=env)
    git(repo, "checkout", "--quiet", "main")


def placeholders(app: Path, repo: str = "gitops") -> dict[str, str]:
    """Values for every @@kind:ref@@ placeholder a deployment repository uses."""
    values = {}
    for overlay in (ESTATE / repo).rglob("*"):
        if overlay.is_file():
            for match in _PLACEHOLDER.finditer(overlay.read_text(encoding="utf-8")):
                sha = git(app, "rev-parse", f"{match['ref']}^{{commit}}")
                values[f"{match['kind']}:{match['ref']}"] = sha if match["kind"] == "sha" else sha[:7]
    return values


def materialize(dest: Path, force: bool = False) -> None:
    """Build both demo repositories under dest (atomically: a half-built estate never shows)."""
    def both(scratch: Path) -> None:
        build(scratch / "app", "app", APP_STEPS)
        build(scratch / "gitops", "gitops", GITOPS_STEPS, placeholders(scratch / "app"))

    _atomically(dest, force, both)


def _atomically(dest: Path, force: bool, fill: Callable[[Path], None]) -> None:
    """Fill a scratch folder next to dest, then rename it to dest (unless dest exists)."""
    if dest.exists() and not force:
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{dest.name.lstrip('.')}-", dir=dest.parent))
    try:
        fill(scratch)
        if dest.exists():
            shutil.rmtree(dest)
        scratch.rename(dest)
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)


# -- issue 22: the rendering demo (examples/render/environments.yaml) -------------------------------
# A separate estate, so the main demo's planted blockers and SHAs stay as they are: one deployment
# repository whose environments are generated by an ApplicationSet or use chart dependencies.

RENDER_DEST = HERE / ".render-estate"
PLATFORM_STEPS = (
    Step("main", "1-initial", "ApplicationSet for web, shop with a local dependency, edge", OPS),
)


def materialize_render(dest: Path, force: bool = False, app: Path = DEFAULT_DEST / "app") -> None:
    """Build the rendering demo's repository (platform) under dest, atomically; its image tags
    are commits of the main demo's application repository (built first when missing)."""
    if dest.exists() and not force:
        return
    materialize(app.parent)
    _atomically(dest, force, lambda scratch: build(scratch / "platform", "platform", PLATFORM_STEPS,
                                                   placeholders(app, "platform")))


def main(argv: list[str] | None = None) -> int:
    """Command line: build the demo estate unless it exists."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=None)
    parser.add_argument("--force", action="store_true", help="rebuild even if it exists")
    parser.add_argument("--render", action="store_true",
                        help="build the rendering demo (examples/render/) instead")
    args = parser.parse_args(argv)
    if args.render:
        materialize_render((args.dest or RENDER_DEST).resolve(), args.force)
        print(f"rendering demo ready in {args.dest or RENDER_DEST}")
        return 0
    args.dest = args.dest or DEFAULT_DEST
    materialize(args.dest.resolve(), args.force)
    print(f"demo estate ready in {args.dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
