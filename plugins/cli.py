"""The `releasegate` console command: one way to run the checks, in the checkout and installed.

    releasegate prerelease --env production [--environments PATH] [any pytest option]
    releasegate smoke --env echo-next
    releasegate drift --env all --drift-report reports/
    releasegate replay --env production --range main~3..main [--keep-going]

It runs pytest in-process with what a hand-written command gets wrong:

- the plugin is named with ``-p`` (registered before pytest reads its arguments), so
  ``--environments PATH`` and ``--env NAME`` work with a space or ``=`` in every mode;
- the checks are named for the user: the checkout's ``checks/`` folder when this module runs from a
  checkout (its pyproject's pytest settings apply, node ids read ``checks/test_x.py::...``), the
  installed ``releasegate_checks`` package (``--pyargs``) otherwise;
- the rootdir is chosen, not guessed from the arguments: the checkout's root, else the directory
  the command runs in (where ``environments.yaml`` is looked for by default). Installed, the
  pytest settings of the directory it runs in (an application repository's ``addopts``) are not
  read (``-c`` the null device), unless the user passes ``-c`` themselves.

Everything after the moment is passed to pytest unchanged, except replay's ``--range RANGE`` and
``--keep-going`` (spelled ``--replay RANGE`` and ``--replay-keep-going`` for pytest).
Exit codes are pytest's: 0 safe, 1 not safe, 2 interrupted, 3 internal error, 4 usage error.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

CHECKS_PACKAGE = "releasegate_checks"   # the installed name of the checkout's checks/ folder
PLUGIN = f"{__package__}.plugin"         # follows the package if it is renamed
MOMENTS = ("prerelease", "smoke", "drift", "replay")
# plugins.options.ENVIRONMENTS_VAR, not imported: a plugin module imported before pytest starts
# escapes its assertion rewriting (PytestAssertRewriteWarning)
ENVIRONMENTS_VAR = "RELEASEGATE_ENVIRONMENTS"
USAGE = ("usage: releasegate {prerelease,smoke,drift,replay} [--env NAME] [--environments PATH] "
         "[pytest options]")


def checkout_root() -> Path | None:
    """The repository root when this module runs from a checkout (checks/ beside the package)."""
    root = Path(__file__).resolve().parent.parent
    if (root / "checks" / "__init__.py").is_file() and (root / "pyproject.toml").is_file():
        return root
    return None


def replay_args(args: list[str]) -> list[str]:
    """replay's own spelling (--range RANGE, --keep-going) as the pytest options it stands for."""
    out: list[str] = []
    rest = iter(args)
    for arg in rest:
        if arg == "--range":
            out += ["--replay", next(rest, "")]
        elif arg.startswith("--range="):
            out.append("--replay=" + arg.split("=", 1)[1])
        elif arg == "--keep-going":
            out.append("--replay-keep-going")
        else:
            out.append(arg)
    return out


def pytest_args(moment: str, args: list[str], cwd: Path) -> list[str]:
    """The full pytest command line for a moment and the user's options."""
    passed = replay_args(args) if moment == "replay" else list(args)
    marker = [] if moment == "replay" else ["-m", moment]
    root = checkout_root()
    if root is not None:
        where = [f"--rootdir={root}", str(root / "checks")]
        own = cwd / "environments.yaml"
        if cwd != root and own.is_file() and not _names_environments(passed):
            where.append(f"--environments={own}")  # the one beside the user, not the checkout's
    else:
        where = [f"--rootdir={cwd}"]
        if not any(a in ("-c", "--config-file") or a.startswith(("-c=", "--config-file="))
                   for a in passed):
            where += ["-c", os.devnull]
        where += ["--pyargs", CHECKS_PACKAGE]
    return ["-p", PLUGIN, *where, *marker, *passed]


def _names_environments(args: list[str]) -> bool:
    return bool(os.environ.get(ENVIRONMENTS_VAR)) or any(
        a == "--environments" or a.startswith("--environments=") for a in args)


def main(argv: list[str] | None = None) -> int:
    """Run one moment's checks; pytest's exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE + "\n\n" + __doc__.split("\n\n", 2)[1], file=sys.stderr if not argv else
              sys.stdout)
        return 4 if not argv else 0
    moment, rest = argv[0], argv[1:]
    if moment not in MOMENTS:
        print(f"releasegate: {moment!r} is not a moment; use one of {', '.join(MOMENTS)}\n{USAGE}",
              file=sys.stderr)
        return 4
    if checkout_root() is None and importlib.util.find_spec(CHECKS_PACKAGE) is None:
        print(f"releasegate: the checks package {CHECKS_PACKAGE} is not installed; reinstall "
              "releasegate", file=sys.stderr)
        return 3
    import pytest

    return int(pytest.main(pytest_args(moment, rest, Path.cwd())))


if __name__ == "__main__":
    raise SystemExit(main())
