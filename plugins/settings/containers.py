"""What each environment holds at a gitops commit: its containers' environments, the secrets it
holds, and which of its containers a settings entry names.

Cached by content (the chart source and secret manifests at a gitops commit), so a session renders
and reads each once, however many environments share them.
"""
from __future__ import annotations

import dataclasses
import functools
from pathlib import PurePosixPath
from typing import Any, Iterable

from releasegate.core import helm
from releasegate.core.gitrepo import Absent
from releasegate.core.helm import load_yaml_documents
from releasegate.core.manifests import workloads
from releasegate.estate import SettingsEntry
from releasegate.settings.finding import BLOCK, SKIPPED, Finding, verb
from releasegate.settings.kubelet_env import ContainerEnv, environments, objects
from releasegate.settings.sealed import SecretIndex, SecretKeys, secret_keys


def gitops_sha(host: Any, gitops_ref: str | None = None) -> str:
    """The deployment repository commit under test (or the one given)."""
    return host.git(host.gitops_source).resolve(gitops_ref or host.ref(host.gitops_source))


def secret_index(host: Any, gitops_ref: str | None = None) -> SecretIndex:
    """Secrets the environment holds: what the chart renders plus the secret manifests it lists
    (Secrets, SealedSecrets and every operator object that makes one), with `gitops.secret_keys`
    naming the keys of those whose keys come from a store outside git."""
    return _secret_index(host, gitops_sha(host, gitops_ref)).with_keys(host.spec.gitops.secret_keys)


# Per environment and commit: a bound below the estate's size turns a pass over every environment
# into all misses (quadratic at 300 environments), so it is well above it.
_PER_ENV = 4096


@functools.lru_cache(maxsize=_PER_ENV)
def _secret_index(host: Any, sha: str) -> SecretIndex:
    return _held(host.sources_at(sha), host.git(host.gitops_source), sha, tuple(host.spec.gitops.secrets))


def absent_secrets(host: Any, gitops_ref: str | None = None) -> dict[str, Absent]:
    """The secret manifests the environment lists that do not exist at a gitops commit, by path:
    the secret keys check has nothing to check there."""
    repo, sha = host.git(host.gitops_source), gitops_sha(host, gitops_ref)
    return {p: Absent(repo.name, p, sha) for p in host.spec.gitops.secrets if not repo.exists(sha, p)}


def container_envs(host: Any, gitops_ref: str | None = None) -> list[ContainerEnv]:
    """The environment of every container the chart runs for `host` at a gitops commit. While a
    source of the Application is not rendered here, what an envFrom names that no rendered source
    holds may come from it: its variables are unknown (opaque), not missing."""
    sha = gitops_sha(host, gitops_ref)
    envs = _container_envs(host, sha)
    unread = getattr(host, "unread_sources", None)
    if unread is None or not unread(sha):
        return envs
    held = _secret_index(host, sha)
    return [dataclasses.replace(e, opaque=(*e.opaque, *_elsewhere(e, held))) for e in envs]


def _elsewhere(env: ContainerEnv, held: SecretIndex) -> list[str]:
    names = [p.split(" is not rendered")[0].removeprefix("envFrom ") for p in env.problems
             if p.startswith("envFrom config map ") and " is not rendered by the chart" in p]
    names += [f"secret {n.secret}" for n in env.needs
              if n.key is None and held.find(n.secret, env.namespace) is None]
    return [f"envFrom of {name}, which only a source not rendered here may deploy" for name in names]


@functools.lru_cache(maxsize=_PER_ENV)
def _container_envs(host: Any, sha: str) -> list[ContainerEnv]:
    return _envs(host.sources_at(sha), host.git(host.gitops_source), sha, tuple(host.spec.gitops.secrets))


# By content: environments with the same sources (each a repository, commit and chart source: chart,
# values, release, namespace) and secret manifests at one gitops commit hold the same containers and
# secrets, so they are worked out once. Every source of a multi-source Application counts, wherever
# its chart lives (another estate source, the chart cache), as the host renders them.
Sources = tuple[tuple[Any, str, helm.ChartSource], ...]


def _render(sources: Sources) -> list[dict[str, Any]]:
    return [m for repo, at, source in sources for m in helm.render(repo, at, source)]


@functools.lru_cache(maxsize=_PER_ENV)
def _envs(sources: Sources, repo: Any, sha: str, secrets: tuple[str, ...]) -> list[ContainerEnv]:
    manifests = _render(sources)
    return environments(workloads(manifests), objects(manifests, _held(sources, repo, sha, secrets)))


@functools.lru_cache(maxsize=_PER_ENV)
def _held(sources: Sources, repo: Any, sha: str, secrets: tuple[str, ...]) -> SecretIndex:
    found = secret_keys(_render(sources), "chart")
    for path in secrets:
        if repo.exists(sha, path):  # a manifest added later holds nothing at this commit
            found += _secret_file(repo, sha, path)
    return SecretIndex(found)


@functools.lru_cache(maxsize=_PER_ENV)
def _secret_file(repo: Any, sha: str, path: str) -> tuple[SecretKeys, ...]:
    return tuple(secret_keys(load_yaml_documents(repo.show(sha, path), f"{repo.name}:{path}"), path))


def container_id(env: ContainerEnv, all_envs: Iterable[ContainerEnv]) -> str:
    """The item id of a container: its name, or workload.container when the name repeats."""
    same = [e for e in all_envs if e.container == env.container]
    return env.container if len(same) <= 1 else f"{env.workload}.{env.container}"


def settings_containers(host: Any, entry: SettingsEntry,
                        gitops_ref: str | None = None) -> list[tuple[str, ContainerEnv]]:
    """(item id, environment) of every container that boots the settings entry."""
    envs = container_envs(host, gitops_ref)
    return [(container_id(e, envs), e) for e in envs if e.container in entry.containers]


def built_classes(entry: SettingsEntry, container: str,
                  booted: frozenset[str] | None = None) -> frozenset[str] | None:
    """The settings classes (and the boot function, by name) a container builds: as the entry's
    `classes` lists them (a listed boot function adds what it builds, `booted`); else, for a
    container that calls the boot function, `booted` (boot_reach.inferred at the commit); None
    when neither says: it builds every one."""
    listed = entry.classes.get(container)
    if listed is not None:
        return frozenset(listed) | ((booted or frozenset()) if entry.boot in listed else frozenset())
    return booted


def chart_containers(host: Any, gitops_ref: str | None = None) -> list[str]:
    """Every container name (init containers too) of the environment's rendered chart, sorted."""
    return sorted({e.container for e in container_envs(host, gitops_ref)})


def unmatched_containers(host: Any, entry: SettingsEntry, gitops_ref: str | None = None) -> list[str]:
    """Names in the entry's `containers` that match no container of the rendered chart."""
    there = set(chart_containers(host, gitops_ref))
    return [name for name in entry.containers if name not in there]


def added_later(host: Any, names: Iterable[str]) -> bool:
    """Whether container names that match nothing at the gitops commit under check all run in the
    chart at the deployment repository's integration branch: the estate gained them since, so at
    this commit the entry has nothing to check (not a misnaming)."""
    main = host.estate.sources[host.gitops_source].main
    if gitops_sha(host) == gitops_sha(host, main):
        return False
    return set(names) <= set(chart_containers(host, main))


def containers_finding(host: Any, entry: SettingsEntry, where: str) -> Finding | None:
    """A blocker naming the entry's container names that match nothing here, and the names that exist."""
    missing = unmatched_containers(host, entry)
    if not missing:
        return None
    unread = getattr(host, "unread_sources", None)
    if unread is not None and unread():  # controller/state.go GetRepoObjs: that source may run them
        return Finding(SKIPPED, f"{where}: not checked: {', '.join(missing)} {verb(missing, 'matches', 'match')} "
                                f"no container of the sources rendered here; {'; '.join(unread())}",
                       "containers", {"unmatched": missing, "containers": chart_containers(host)})
    return Finding(BLOCK, f"{where}: {', '.join(missing)} {verb(missing, 'matches', 'match')} no container "
                          f"of {host.name}'s rendered chart, so {verb(missing, 'it is', 'they are')} not checked "
                          f"(its containers: {', '.join(chart_containers(host))}): correct the names",
                   "containers", {"unmatched": missing, "containers": chart_containers(host)})


def values_file(host: Any, gitops_ref: str | None = None) -> str:
    """The environment's most specific values file (where a missing variable should be added)."""
    source = host.chart_source(gitops_sha(host, gitops_ref))
    if not source.values:
        return f"{source.chart}/values.yaml"
    return _normal(f"{source.chart}/{source.values[-1]}")


def _normal(path: str) -> str:
    parts: list[str] = []
    for part in PurePosixPath(path).parts:
        if part == "..":
            parts = parts[:-1]
        elif part not in (".", ""):
            parts.append(part)
    return "/".join(parts)
