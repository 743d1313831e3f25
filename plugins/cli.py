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
  folder of the installed ``releasegate.checks`` package otherwise;
- the rootdir is chosen, not guessed from the arguments: the checkout's root, else the directory
  the command runs in (where ``environments.yaml`` is looked for by default). Installed, the
  pytest settings and the ``conftest.py`` of the directory it runs in (an application
  repository's ``addopts`` and fixtures) are not read (``-c`` the null device, the checks named
  by their folder, ``--confcutdir`` the checks), unless the user passes ``-c`` or
  ``--confcutdir`` themselves.

Everything after the moment is passed to pytest unchanged, except replay's ``--range RANGE`` and
``--keep-going`` (spelled ``--replay RANGE`` and ``--replay-keep-going`` for pytest).
Exit codes are pytest's: 0 safe, 1 not safe, 2 interrupted, 3 internal error, 4 usage error.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

CHECKS_PACKAGE = "releasegate.checks"   # the installed name of the checkout's checks/ folder
PLUGIN = f"{__package__}.plugin"         # follows the package if it is renamed
MOMENTS = ("prerelease", "smoke", "drift", "replay")
# releasegate.options.ENVIRONMENTS_VAR, not imported: a plugin module imported before pytest starts
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


def installed_checks() -> Path:
    """The folder of the installed checks package."""
    spec = importlib.util.find_spec(CHECKS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LookupError(f"the checks package {CHECKS_PACKAGE} is not installed")
    return Path(list(spec.submodule_search_locations)[0])


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
        checks = installed_checks()
        # By its folder, not --pyargs: pytest loads the conftest.py of the directory it runs in
        # when no argument is a path; --confcutdir also keeps out one above a venv inside it.
        if not any(a.startswith("--confcutdir") for a in passed):
            where.append(f"--confcutdir={checks}")
        where.append(str(checks))
        # the entry point asks pytest to rewrite the asserts of this package, which the command
        # itself imported first: pytest's warning about that says nothing to the user
        where += ["-W", "ignore::pytest.PytestAssertRewriteWarning"]
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
    try:
        args = pytest_args(moment, rest, Path.cwd())
    except LookupError as exc:
        print(f"releasegate: {exc}; reinstall releasegate", file=sys.stderr)
        return 3
    import pytest

    return int(pytest.main(args))


if __name__ == "__main__":
    raise SystemExit(main())
