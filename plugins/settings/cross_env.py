"""Across environments: variables the same containers get in another environment but not here, and
feature flags on here that the staging environment does not have on.

Every environment's container environments are read once per session (`estate_envs`), and who
sets what is indexed once for the whole estate (`setters`): each environment's comparison costs its
own containers' variables (and the environments a finding names), not a pass over every other
environment, so drift over the estate grows with the estate, not with its square.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from releasegate.core.gitrepo import SourceError
from releasegate.settings.containers import container_envs, container_id, gitops_sha
from releasegate.settings.finding import WARN, Finding, verb
from releasegate.settings.kubelet_env import ContainerEnv
from releasegate.settings.memo import memo

# {container id: {variable: [(environment, set to a value), ...]}}, environments sorted by name
Setters = dict[str, dict[str, list[tuple[str, bool]]]]

_TRUE = {"1", "on", "t", "true", "y", "yes"}


def setters(envs_by_name: Mapping[str, list[ContainerEnv]]) -> Setters:
    """Who sets each variable of each container, over the environments given.

    A container is matched across environments by its item id (`container_id`); where an id
    repeats within one environment, its first container counts.
    """
    out: Setters = {}
    for name, envs in sorted(envs_by_name.items()):
        first: dict[str, ContainerEnv] = {}
        for e in envs:
            first.setdefault(container_id(e, envs), e)
        for env_id, e in first.items():
            per = out.setdefault(env_id, {})
            for variable, var in e.declared().items():
                per.setdefault(variable, []).append((name, var.value != ""))
    return out


def estate_envs(host: Any) -> tuple[dict[str, list[ContainerEnv]], dict[str, SourceError]]:
    """Container environments of every environment of the estate (computed once per session), and
    why those whose chart did not render failed (the error: NotChecked where the suite cannot
    render it here)."""
    def compute() -> tuple[dict[str, list[ContainerEnv]], dict[str, SourceError]]:
        envs: dict[str, list[ContainerEnv]] = {}
        broken: dict[str, SourceError] = {}
        for name in sorted(host.estate.environments):
            try:
                envs[name] = container_envs(host.shared.host(name))
            except SourceError as exc:
                broken[name] = exc
        return envs, broken

    return memo(("estate-envs", host.shared), compute)


def _estate_setters(host: Any) -> Setters:
    return memo(("estate-setters", host.shared), lambda: setters(estate_envs(host)[0]))


def other_envs(host: Any) -> tuple[dict[str, list[ContainerEnv]], dict[str, SourceError]]:
    """Container environments of every other environment, and why those whose chart did not render failed."""
    envs, broken = estate_envs(host)
    return ({n: e for n, e in envs.items() if n != host.name},
            {n: reason for n, reason in broken.items() if n != host.name})


def cross_variables(mine: list[ContainerEnv], others: dict[str, list[ContainerEnv]]) -> list[str]:
    """Every variable the chart sets for a container here or for the same container elsewhere, sorted."""
    return _variables(mine, setters(others))


def compared_variables(host: Any) -> tuple[list[str], dict[str, SourceError]]:
    """`cross_variables` of the environment against every other one (from the estate's index), and
    why the environments whose chart did not render cannot be compared."""
    return _variables(container_envs(host), _estate_setters(host)), other_envs(host)[1]


def _variables(mine: list[ContainerEnv], index: Setters) -> list[str]:
    # The estate's index also holds this environment's own containers: their variables are mine anyway.
    names = {n for e in mine for n in e.declared()}
    for e in mine:
        names.update(index.get(container_id(e, mine), {}))
    return sorted(names)


def cross_findings(host: Any, variable: str) -> list[Finding]:
    """`cross_parity` of the environment against every other one, for one variable (computed once)."""
    def compute() -> dict[str, list[Finding]]:
        by_name: dict[str, list[Finding]] = {}
        for f in _gaps(host, container_envs(host), _estate_setters(host), None, skip=host.name):
            by_name.setdefault(str(f.item), []).append(f)
        return by_name

    return memo(("cross", host.shared, host.name, gitops_sha(host)), compute).get(variable, [])


def cross_parity(host: Any, mine: list[ContainerEnv], others: dict[str, list[ContainerEnv]],
                 variable: str | None = None) -> list[Finding]:
    """Variables the same containers get elsewhere but not here (or only empty here): one warning each.

    `variable` keeps one variable.
    """
    return _gaps(host, mine, setters(others), variable, skip=None)


# {variable: {(how, environments): containers}}: how is "lack" (not set here) or "empty" (empty here)
Gaps = dict[str, dict[tuple[str, tuple[str, ...]], list[str]]]


def _gaps(host: Any, mine: list[ContainerEnv], index: Setters, variable: str | None,
          skip: str | None) -> list[Finding]:
    """cross_parity against the environments `index` holds, leaving out the one named `skip`."""
    gaps: Gaps = {}
    for here in mine:
        env_id = container_id(here, mine)
        declared = here.declared()
        for name, where in index.get(env_id, {}).items():
            if variable is not None and name != variable:
                continue
            if name not in declared:
                how, envs = "lack", tuple(n for n, _ in where if n != skip)
            elif declared[name].known and declared[name].value == "":
                how, envs = "empty", tuple(n for n, valued in where if valued and n != skip)
            else:
                continue
            if envs:
                gaps.setdefault(name, {}).setdefault((how, envs), []).append(env_id)
    return gap_findings(host, gaps)


def gap_findings(host: Any, gaps: Gaps) -> list[Finding]:
    """One warning per variable, naming the containers that lack it (or get it empty) and the
    environments that set it."""
    out = []
    for name, groups in sorted(gaps.items()):
        said = []
        for (how, envs), cs in groups.items():
            cs = sorted(cs)
            if how == "lack":
                said.append(f"{', '.join(cs)} {verb(cs, 'lacks', 'lack')} {name}, which {', '.join(envs)} set")
            else:
                said.append(f"{', '.join(cs)} {verb(cs, 'gets', 'get')} {name} empty, which {', '.join(envs)} "
                            "set to a value")
        empty = sorted({c for (how, _), cs in groups.items() if how == "empty" for c in cs})
        out.append(Finding(WARN, f"{host.name}: {'; '.join(said)}", name,
                           {"containers": sorted({c for cs in groups.values() for c in cs}),
                            "set_in": sorted({e for _, envs in groups for e in envs}), "empty_here": empty}))
    return out


def flag_values(envs: Iterable[ContainerEnv], prefixes: Iterable[str]) -> dict[str, dict[str, str]]:
    """{flag: {container: value}} for every plain variable under a feature-flag prefix."""
    out: dict[str, dict[str, str]] = {}
    prefixes = tuple(prefixes)
    for env in envs:
        for name, var in env.declared().items():
            if prefixes and name.startswith(prefixes) and var.known:
                out.setdefault(name, {})[env.container] = var.value
    return out


def flag_findings(host: Any, staging: str, mine: dict[str, dict[str, str]],
                  theirs: dict[str, dict[str, str]]) -> list[Finding]:
    """Flags on here that the staging environment does not have on: warnings."""
    out = []
    for flag, values in sorted(mine.items()):
        on_here = sorted(c for c, v in values.items() if v.strip().lower() in _TRUE)
        if not on_here:
            continue
        on_there = any(v.strip().lower() in _TRUE for v in theirs.get(flag, {}).values())
        if not on_there:
            state = "off" if flag in theirs else "not set"
            out.append(Finding(WARN, f"{host.name}: feature flag {flag} is on ({', '.join(on_here)}) but {state} "
                                     f"in {staging}: turn it on in {staging} first", flag,
                               {"containers": on_here, "staging": staging}))
    return out
