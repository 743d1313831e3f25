"""Command-line options, ini keys and markers of releasegate, resolved in one typed place."""

from __future__ import annotations

import math
import os
import re
from typing import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

MARKERS = {
    "prerelease": "run before tagging a release (pytest -m prerelease --env=production)",
    "smoke": "run right after a deploy (pytest -m smoke --env=STAGING)",
    "drift": "run nightly over every environment (pytest -m drift --env=all)",
}

ENVIRONMENTS_VAR = "RELEASEGATE_ENVIRONMENTS"
_TAG = re.compile(r"v?[0-9]+\.[0-9]+\.[0-9]+")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")  # as the environments file's names
_SOURCE_REF = re.compile(r"(?P<source>[A-Za-z0-9_.-]+)=(?P<ref>.*)", re.DOTALL)
_RANGE = re.compile(r"\.\.|^\^|\^[@!-]")  # a..b, a...b, ^a, a^@, a^!, a^-: git's range notations
MAX_TIMEOUT_S = 3600.0  # as network.timeout_s
DEFAULT_MAX_ENVIRONMENTS = 1000  # see docs/scale.md: what one machine checks nightly in minutes
MAX_SHARDS = 10_000
SHARD_RUN_VAR = "RELEASEGATE_SHARD_RUN"
SHARDS_VAR = "RELEASEGATE_SHARDS"  # the total of `--shard auto` (an Indexed Job's completions)
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def _env_list(value: str) -> tuple[str, ...]:
    """Parse ``--env``: ``all`` or a comma-separated list of names (checked against the file later)."""
    names = tuple(sorted({part.strip() for part in value.split(",") if part.strip()}))
    if not names:
        raise pytest.UsageError(f"--env: {value!r} names no environment; use NAME[,NAME...] or all")
    for name in names:
        if not _NAME.fullmatch(name):
            raise pytest.UsageError(f"--env: {name!r} is not an environment name "
                                    "(letters, digits, '.', '_', '-')")
    if "all" in names and len(names) > 1:
        raise pytest.UsageError(f"--env: {value!r} mixes all with names; give one or the other")
    return names


def one_commit(flag: str, ref: str) -> str:
    """Check that a ref names one commit (a branch, tag, SHA or rev such as HEAD~2): not a range,
    not an option to git, no whitespace. Whether it exists is checked once the file is read."""
    if not ref or ref.startswith("-") or any(c.isspace() or not c.isprintable() for c in ref):
        raise pytest.UsageError(f"{flag}: {ref!r} is not a branch, tag or commit")
    if _RANGE.search(ref):
        raise pytest.UsageError(f"{flag}: {ref!r} is a range of commits; name one branch, tag or "
                                "commit")
    return ref


def _source_ref(value: str) -> tuple[str, str]:
    """Parse ``--ref SOURCE=REF``."""
    match = _SOURCE_REF.fullmatch(value)
    if not match or not match["ref"]:
        raise pytest.UsageError(f"--ref: {value!r} is not SOURCE=REF (for example app=v1.4.0)")
    return match["source"], one_commit("--ref", match["ref"])


def _ref_of(flag: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        return one_commit(flag, value)
    parse.__name__ = flag.lstrip("-").replace("-", "_")
    return parse


def _release_tag(value: str) -> str:
    """Parse ``--tag``: a semantic version tag such as v1.5.0 (ASCII digits)."""
    if not _TAG.fullmatch(value):
        raise pytest.UsageError(f"--tag: {value!r} is not a release tag like v1.5.0")
    return value


def _share(value: str) -> float:
    """Parse a share of checks between 0 and 1 (``0.8``), for --require-checked."""
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not 0 <= number <= 1:  # false for nan
        raise pytest.UsageError(f"--require-checked: {value!r} is not a share between 0 and 1 (e.g. 0.8)")
    return number


def _positive_float(value: str) -> float:
    """Parse a finite number of seconds > 0 and <= MAX_TIMEOUT_S (nan, inf, 1e308 are not)."""
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not 0 < number <= MAX_TIMEOUT_S:  # false for nan
        raise pytest.UsageError(f"--timeout-s: {value!r} is not a number of seconds > 0 and "
                                f"<= {MAX_TIMEOUT_S:g}")
    return number


def _count(value: str) -> int:
    """Parse a whole number of zero or more (ASCII digits)."""
    if not re.fullmatch(r"[0-9]{1,9}", value.strip()):
        raise pytest.UsageError(f"--max-commits-behind: {value!r} is not a whole number >= 0")
    return int(value)


def _max_environments(value: str) -> int:
    """Parse ``--max-environments``: a whole number of at least 1."""
    if not re.fullmatch(r"[0-9]{1,7}", value.strip()) or int(value) < 1:
        raise pytest.UsageError(f"--max-environments: {value!r} is not a whole number >= 1")
    return int(value)


def _shard_numbers(value: str, index: str, total: str) -> tuple[int, int]:
    if not re.fullmatch(r"[0-9]{1,5}", index) or not re.fullmatch(r"[0-9]{1,5}", total):
        raise pytest.UsageError(f"--shard: {value!r} is not K/N (1 <= K <= N), auto or auto/N")
    k, n = int(index), int(total)
    if not 1 <= k <= n <= MAX_SHARDS:
        raise pytest.UsageError(f"--shard: {value!r}: K must be 1..N and N at most {MAX_SHARDS}")
    return k, n


def _shard(value: str) -> tuple[int, int]:
    """Parse ``--shard K/N`` (1-based), or ``auto``/``auto/N``: K from an Indexed Job's
    JOB_COMPLETION_INDEX (0-based), N given or from $RELEASEGATE_SHARDS."""
    text = value.strip()
    head, _, tail = text.partition("/")
    if head != "auto":
        return _shard_numbers(value, head, tail)
    index = os.environ.get("JOB_COMPLETION_INDEX", "").strip()
    total = tail or os.environ.get(SHARDS_VAR, "").strip()
    if not re.fullmatch(r"[0-9]{1,5}", index):
        raise pytest.UsageError(f"--shard {value}: JOB_COMPLETION_INDEX is {index or 'not set'!r}; "
                                "auto runs in a Kubernetes Indexed Job (else give K/N)")
    if not total:
        raise pytest.UsageError(f"--shard {value}: no total: give auto/N or set ${SHARDS_VAR}")
    return _shard_numbers(value, str(int(index) + 1), total)


def _shard_run(value: str) -> str:
    """Parse ``--shard-run``: the token every shard of one run shares (letters, digits, . _ -)."""
    if not _TOKEN.fullmatch(value):
        raise pytest.UsageError(f"--shard-run: {value!r} is not a run token (letters, digits, '.', "
                                "'_', '-'; at most 128)")
    return value


def default_shard_run() -> str | None:
    """The shard run token the environment gives: $RELEASEGATE_SHARD_RUN, else GitHub Actions'
    run id and attempt (the same in every job of a matrix), else None."""
    token = os.environ.get(SHARD_RUN_VAR, "").strip()
    if not token and os.environ.get("GITHUB_RUN_ID"):
        token = f"gh-{os.environ['GITHUB_RUN_ID']}-{os.environ.get('GITHUB_RUN_ATTEMPT', '1')}"
    if not token:
        return None
    if not _TOKEN.fullmatch(token):
        raise pytest.UsageError(f"${SHARD_RUN_VAR}: {token!r} is not a run token")
    return token


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the releasegate option group and its ini keys."""
    group = parser.getgroup("releasegate", "releasegate: release and deploy checks")
    group.addoption("--environments", metavar="PATH", default=None,
                    help=f"environments file (default: ${ENVIRONMENTS_VAR} or environments.yaml "
                         "at the rootdir)")
    group.addoption("--env", metavar="NAME[,NAME...]|all", type=_env_list, default=None,
                    help="environments to check (default: ini releasegate_env, else all)")
    group.addoption("--ref", metavar="SOURCE=REF", type=_source_ref, action="append", default=[],
                    help="evaluate SOURCE at REF instead of its integration branch (repeatable)")
    group.addoption("--app-ref", metavar="REF", type=_ref_of("--app-ref"), default=None,
                    help="evaluate the application source at REF")
    group.addoption("--gitops-ref", metavar="REF", type=_ref_of("--gitops-ref"), default=None,
                    help="evaluate the deployment-repository source at REF")
    group.addoption("--candidate", metavar="REF", type=_ref_of("--candidate"), default=None,
                    help="the commit about to be released (default: the app's integration branch)")
    group.addoption("--tag", metavar="vX.Y.Z", type=_release_tag, default=None,
                    help="the release tag about to be cut (default: next patch)")
    group.addoption("--hotfix", action="store_true", default=None,
                    help="the candidate is a hotfix of the release production runs")
    group.addoption("--after-reset", action="store_true", default=None,
                    help="smoke: the shared branch was just reset, so it must equal main")
    group.addoption("--max-commits-behind", metavar="N", type=_count, default=None,
                    help="warn when a branch environment deploys more than N commits behind "
                         "its branch (default: ini releasegate_max_commits_behind, else 10)")
    group.addoption("--strict-warnings", action="store_true", default=None,
                    help="fail checks that only produced warnings")
    group.addoption("--require-checked", metavar="SHARE", type=_share, default=None,
                    help="exit 1 when nothing blocks but fewer than SHARE (0-1) of the checks ran "
                         "(the verdict says NOT VERIFIED below 0.5 without this option)")
    group.addoption("--report-json", metavar="PATH", default=None,
                    help="write one JSON record per outcome to PATH")
    group.addoption("--static", action="store_true", default=None,
                    help="static-only run: read git and helm only; every check that needs a live "
                         "service (database, cluster, registry, HTTP) skips with one line")
    group.addoption("--sarif", metavar="PATH", default=None,
                    help="write every blocker and warning as SARIF 2.1.0 to PATH (code scanning)")
    group.addoption("--timeout-s", metavar="SECONDS", type=_positive_float, default=None,
                    help="override network.timeout_s of the environments file")
    group.addoption("--max-environments", metavar="N", type=_max_environments, default=None,
                    help="refuse an environments file of more than N environments; its size "
                         f"limits scale with N (default: ini releasegate_max_environments, else "
                         f"{DEFAULT_MAX_ENVIRONMENTS})")
    group.addoption("--shard", metavar="K/N|auto[/N]", type=_shard, default=None,
                    help="check only the environments of shard K of N (stable by name); auto: K "
                         f"from JOB_COMPLETION_INDEX, N given or ${SHARDS_VAR}")
    group.addoption("--shard-run", metavar="ID", type=_shard_run, default=None,
                    help="token every shard of one run shares, checked by the merge (default: "
                         f"${SHARD_RUN_VAR}, else GitHub Actions' run id and attempt)")
    group.addoption("--parity-index", metavar="PATH", default=None,
                    help="cross-environment parity index: read PATH when it exists (written "
                         "for the same commits), else compute it and write it there")
    parser.addini("releasegate_max_environments", "see --max-environments",
                  default=str(DEFAULT_MAX_ENVIRONMENTS))
    parser.addini("releasegate_environments", "environments file", default="")
    parser.addini("releasegate_env", "default environments for --env", default="")
    parser.addini("releasegate_strict_warnings", "warnings fail checks", type="bool", default=False)
    parser.addini("releasegate_require_checked", "see --require-checked", default="")
    parser.addini("releasegate_max_commits_behind", "see --max-commits-behind", default="10")
    parser.addini("releasegate_report_json", "default path of the JSON report", default="")
    parser.addini("releasegate_static", "see --static", type="bool", default=False)


@dataclass(frozen=True)
class Settings:
    """Every releasegate setting, resolved once from CLI flags, ini keys and the environment."""

    environments_path: Path
    env_names: tuple[str, ...] | None  # None: all
    refs: dict[str, str] = field(default_factory=dict)
    candidate: str | None = None
    tag: str | None = None
    hotfix: bool = False
    strict_warnings: bool = False
    report_json: Path | None = None
    timeout_s: float | None = None
    after_reset: bool = False
    max_commits_behind: int = 10
    static: bool = False
    sarif: Path | None = None
    require_checked: float | None = None  # None: the verdict's default share, exit code unchanged
    max_environments: int = DEFAULT_MAX_ENVIRONMENTS
    shard: tuple[int, int] | None = None  # (K, N), 1-based
    shard_run: str | None = None
    parity_index: Path | None = None


_SETTINGS = pytest.StashKey[Settings]()


def _resolved(path: Path) -> Path:
    """The path with symlinks resolved; a symlink loop stays as typed, for the loader to name."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


def settings(config: pytest.Config) -> Settings:
    """Return the resolved settings of this run (computed on first call, then cached)."""
    if _SETTINGS in config.stash:
        return config.stash[_SETTINGS]
    opt = config.option
    # A path typed by the user is relative to where they typed it; a configured one to the rootdir.
    typed = getattr(opt, "environments", None) or os.environ.get(ENVIRONMENTS_VAR)
    base = Path(config.invocation_params.dir) if typed else Path(config.rootpath)
    path = typed or config.getini("releasegate_environments") or "environments.yaml"
    env_names = getattr(opt, "env", None)
    if env_names is None and config.getini("releasegate_env"):
        env_names = _env_list(config.getini("releasegate_env"))
    if env_names == ("all",):
        env_names = None
    refs = dict(getattr(opt, "ref", None) or [])
    if getattr(opt, "app_ref", None):
        refs.setdefault("app", opt.app_ref)
    if getattr(opt, "gitops_ref", None):
        refs.setdefault("gitops", opt.gitops_ref)
    report = getattr(opt, "report_json", None) or config.getini("releasegate_report_json") or None
    strict = getattr(opt, "strict_warnings", None)
    static = getattr(opt, "static", None)
    sarif = getattr(opt, "sarif", None)
    cap = getattr(opt, "max_environments", None)
    index = getattr(opt, "parity_index", None)
    shard = getattr(opt, "shard", None)
    resolved = Settings(
        environments_path=_resolved(base / path),
        env_names=env_names,
        refs=refs,
        candidate=getattr(opt, "candidate", None),
        tag=getattr(opt, "tag", None),
        hotfix=bool(getattr(opt, "hotfix", None)),
        strict_warnings=bool(strict if strict is not None
                             else config.getini("releasegate_strict_warnings")),
        report_json=(Path(config.invocation_params.dir) / report).resolve() if report else None,
        timeout_s=getattr(opt, "timeout_s", None),
        after_reset=bool(getattr(opt, "after_reset", None)),
        max_commits_behind=(opt.max_commits_behind if getattr(opt, "max_commits_behind", None)
                            is not None else _count(config.getini("releasegate_max_commits_behind"))),
        static=bool(static if static is not None else config.getini("releasegate_static")),
        sarif=(Path(config.invocation_params.dir) / sarif).resolve() if sarif else None,
        require_checked=(opt.require_checked if getattr(opt, "require_checked", None) is not None
                         else _share(config.getini("releasegate_require_checked"))
                         if config.getini("releasegate_require_checked") else None),
        max_environments=cap if cap is not None else _max_environments(
            config.getini("releasegate_max_environments")),
        shard=shard,
        shard_run=(getattr(opt, "shard_run", None) or default_shard_run()) if shard else None,
        parity_index=(Path(config.invocation_params.dir) / index).resolve() if index else None,
    )
    config.stash[_SETTINGS] = resolved
    return resolved


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers in code so that --strict-markers stays clean."""
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
