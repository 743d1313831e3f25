"""Parametrization: every check runs once per selected environment and item, in sorted order.

Modelled on pytest-testinfra: pytest_generate_tests emits sorted (environment, item) pairs with ids
``env-item``, so that every xdist worker collects the same list. Items come from git and helm only;
nothing here touches the network or a database.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import pytest

from releasegate.estate import Estate, EnvironmentsError, ensure_sources, load
from releasegate.core.gitrepo import Absent, GitRepo, NotChecked, SourceError
from releasegate.core.host import EnvHost, Estatewide
from releasegate.options import ENVIRONMENTS_VAR, Settings, settings
from releasegate.shards import shard_names

ItemGenerator = Callable[[EnvHost], Iterable[tuple[str, Any]]]
_ITEMS = "_releasegate_items"
_APPLIES = "_releasegate_applies"
_FIRST = "_releasegate_first"
ENV_MARKS = "_releasegate_env_marks"  # marks a check's items get per environment (marked_where)
_SHARED = pytest.StashKey[Estatewide]()


@dataclass(frozen=True)
class Unavailable:
    """Stands in for the items of an environment whose sources could not be read (an ERROR), or of
    an entry that has nothing to check at the commit under check (``skip``: a SKIP)."""

    reason: str
    skip: bool = False


def nothing_to_check(host: EnvHost, exc: Absent, entry: str | None = None) -> Unavailable:
    """What a check gets for a file an entry names that does not exist at the commit under check.

    Estates evolve: a settings module, workflow, snapshot or secret manifest added later (or gone
    since) has nothing to check at that commit, so its checks skip with one line naming the entry
    and the commit. A path that does not exist on the source's integration branch either is a
    misconfigured environments file, not history: that stays an ERROR.
    """
    what = f"{entry}: " if entry else ""
    source = host.estate.sources.get(exc.source)
    if source is not None and not host.git(exc.source).exists(source.main, exc.path):
        return Unavailable(f"{what}{exc}, nor on {source.main}: fix the environments file")
    return Unavailable(f"{what}{exc}: nothing to check there", skip=True)


NOT_APPLICABLE = Unavailable("the check applies to none of the selected environments")


def per_item(generator: ItemGenerator,
             applies: Callable[[EnvHost], bool] | None = None) -> Callable[[Any], Any]:
    """Run the decorated check once per (environment, item) that generator(host) yields."""

    def mark(function: Any) -> Any:
        setattr(function, _ITEMS, generator)
        if applies is not None:
            setattr(function, _APPLIES, applies)
        return function

    return mark


def per_env(applies: Callable[[EnvHost], bool]) -> Callable[[Any], Any]:
    """Run the decorated check only for environments where applies(host) holds."""

    def mark(function: Any) -> Any:
        setattr(function, _APPLIES, applies)
        return function

    return mark


def first(function: Any) -> Any:
    """Run the decorated check before all others (a misconfiguration is said at the start of the run)."""
    setattr(function, _FIRST, True)
    return function


def _alias_refs(opts: Settings, estate: Estate) -> Settings:
    """--app-ref and --gitops-ref name roles: map them to the sources that play those roles."""
    roles = {"app": estate.app_source(),
             "gitops": estate.gitops_source(next(iter(estate.environments.values())))}
    refs = {}
    for source, ref in opts.refs.items():
        refs[roles[source] if source in roles and source not in estate.sources else source] = ref
    return dataclasses.replace(opts, refs=refs)


def _check_refs(opts: Settings, estate: Estate) -> None:
    """A ref given on the command line must exist (local git, no network): a typo is one usage
    error, not an ERROR for every check that reads that source."""
    given = [(f"{source}={ref} (--ref, --app-ref or --gitops-ref)", source, ref)
             for source, ref in opts.refs.items()]
    if opts.candidate:
        given.append(("--candidate", estate.app_source(), opts.candidate))
    for flag, source, ref in given:
        path = estate.sources[source].path
        try:
            found = GitRepo(path, source).rev_parse(ref)
        except SourceError as exc:
            raise pytest.UsageError(f"{flag}: {exc}") from None
        if not found:
            raise pytest.UsageError(f"{flag}: no branch, tag or commit {ref!r} in source "
                                    f"{source} ({path})")


def shared(config: pytest.Config) -> Estatewide:
    """The session's estate and hosts, loaded once (a bad file is a usage error)."""
    if _SHARED not in config.stash:
        opts = settings(config)
        try:
            estate = load(opts.environments_path, opts.max_environments)
            ensure_sources(estate)
        except EnvironmentsError as exc:
            raise pytest.UsageError(f"environments file: {exc}") from None
        known = sorted(estate.environments)
        for name in opts.env_names or ():
            if name not in estate.environments:
                raise pytest.UsageError(f"--env: unknown environment {name!r} "
                                        f"(known: {', '.join(known)}, or all)")
        opts = _alias_refs(opts, estate)
        for source in opts.refs:
            if source not in estate.sources:
                raise pytest.UsageError(f"--ref: unknown source {source!r} "
                                        f"(known: {', '.join(sorted(estate.sources))})")
        _check_refs(opts, estate)
        if opts.shard is not None:  # --env and --shard compose: the shard's share of the selection
            opts = dataclasses.replace(opts, env_names=tuple(
                shard_names(opts.env_names or estate.environments, opts.shard)))
        config.stash[_SHARED] = Estatewide(estate, opts)
    return config.stash[_SHARED]


def loaded(config: pytest.Config) -> Estatewide | None:
    """The session's estate if it has been read (shared() reads it), else None."""
    return config.stash.get(_SHARED, None)


def selected(config: pytest.Config) -> list[str]:
    """The selected environment names, sorted (none for a shard that got none)."""
    state = shared(config)
    names = state.settings.env_names
    return sorted(state.estate.environments if names is None else names)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Read the environments file up front when there is one, so a bad file stops the run (exit 4)."""
    opts = settings(config)
    explicit = (config.option.environments or os.environ.get(ENVIRONMENTS_VAR)
                or config.getini("releasegate_environments"))
    if opts.environments_path.exists() or explicit or opts.env_names:
        shared(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Close every connection the hosts opened."""
    if _SHARED in config.stash:
        config.stash[_SHARED].close()


def check_param(item: pytest.Item) -> tuple[str, Any, str | None] | None:
    """The (environment, item, item id) a releasegate check was parametrized with (below), None
    for any other test."""
    callspec = getattr(item, "callspec", None)
    param = callspec.params.get("host") if callspec else None
    return param if isinstance(param, tuple) and len(param) == 3 else None


def _item_id(pair: tuple[str, Any]) -> str:
    return str(pair[0])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the placeholder of checks that apply to none of the selected environments; move the
    checks marked `first` to the front."""
    items.sort(key=lambda item: not getattr(getattr(item, "function", None), _FIRST, False))
    keep, drop = [], []
    for item in items:
        param = check_param(item)
        (drop if param is not None and param[1] is NOT_APPLICABLE else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _left_out_by_marks(metafunc: pytest.Metafunc) -> bool:
    """Whether -m deselects the check whatever its items (its markers are its function's, module's
    and class's; a check whose items get more marks later is always worked out). Its items are
    then not worked out: for a check of another moment that would be renders of the whole estate,
    for nothing."""
    expr = metafunc.config.option.markexpr
    if not expr or getattr(metafunc.function, ENV_MARKS, None):
        return False  # no -m, or marks that some items get later (marked_where)
    try:
        from _pytest.mark import MarkMatcher
        from _pytest.mark.expression import Expression

        matcher = MarkMatcher.from_markers(metafunc.definition.iter_markers())
        return not Expression.compile(expr).evaluate(matcher)
    except Exception:  # noqa: BLE001 - pytest's internals moved: work the items out as before
        return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize every check that takes ``host`` over environments and items, sorted."""
    if "host" not in metafunc.fixturenames:
        return
    state = shared(metafunc.config)
    generator = getattr(metafunc.function, _ITEMS, None)
    applies = getattr(metafunc.function, _APPLIES, None)
    names = selected(metafunc.config)
    if _left_out_by_marks(metafunc):
        # one placeholder, deselected like a check that applies nowhere
        metafunc.parametrize("host", [pytest.param((names[0] if names else "", NOT_APPLICABLE, None),
                                                   id="none")], indirect=True)
        return
    params = []
    for env in names:
        host = state.host(env)
        if applies is not None:
            try:
                if not applies(host):
                    continue
            except SourceError as exc:
                params.append(pytest.param((env, Unavailable(str(exc), isinstance(exc, NotChecked)),
                                            "unavailable"),
                                           id=f"{env}-unavailable"))
                continue
        if generator is None:
            params.append(pytest.param((env, None, None), id=env))
            continue
        try:
            items = sorted(generator(host), key=_item_id)
        except Absent as exc:
            items = [("absent", nothing_to_check(host, exc))]
        except NotChecked as exc:
            items = [("not-checked", Unavailable(str(exc).removeprefix(f"{env}: "), skip=True))]
        except SourceError as exc:
            items = [("unavailable", Unavailable(str(exc), isinstance(exc, NotChecked)))]
        params.extend(pytest.param((env, value, str(item_id)), id=f"{env}-{item_id}")
                      for item_id, value in items)
    if not params:
        # The check applies to none of the selected environments: deselected, not skipped.
        params = [pytest.param((names[0] if names else "", NOT_APPLICABLE, None), id="none")]
    # One indirect parameter carries (environment, item, item id): the host fixture builds the handle and
    # the item fixture unpacks the item, so checks that take no item need not name it.
    metafunc.parametrize("host", params, indirect=True)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """A shard that got no environment (more shards than its share of the estate) ran nothing and
    found nothing: exit 0 with its (empty) reports, not pytest's "no tests collected"."""
    state = loaded(session.config)
    if state is not None and state.settings.shard is not None and not selected(session.config) \
            and session.exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.OK
