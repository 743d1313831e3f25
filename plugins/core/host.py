"""The per-environment handle: like testinfra's host, every part is built on first use and cached."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pytest

from releasegate.core import helm, render_child
from releasegate.estate import Environment, Estate
from releasegate.core.gitrepo import GitRepo, NotChecked, SourceError
from releasegate.core.handle import Unreachable
from releasegate.core.manifests import Workload, workloads
from releasegate.core.redact import register_names, register_urls

if TYPE_CHECKING:
    from releasegate.options import Settings


def part(build: Callable[[EnvHost], Any]) -> property:
    """A live part built on first use and cached per session, failures included.

    Like cached_property, but a skip or an unreachable service is cached too: the next check of the
    same environment gets the same outcome at once instead of waiting for another timeout.
    """
    name = build.__name__

    @functools.wraps(build)
    def getter(self: EnvHost) -> Any:
        if name not in self._parts:
            try:
                self._parts[name] = (True, build(self))
            except (Unreachable, SourceError, pytest.skip.Exception) as exc:
                self._parts[name] = (False, exc)
        ok, value = self._parts[name]
        if ok:
            return value
        raise value.with_traceback(None)

    return property(getter)


class Estatewide:
    """What every environment shares in one session: the estate, the settings, the git repos."""

    def __init__(self, estate: Estate, settings: Settings) -> None:
        self.estate, self.settings = estate, settings
        # Names first: a password equal to one is masked where it stands, not as every name.
        register_names([*estate.environments, *estate.sources,
                        Path(str(getattr(estate, "path", "") or "")).name])
        register_urls(getattr(estate, "raw", None))  # user info in any URL of the file
        render_child.configure(estate.render)
        self._hosts: dict[str, EnvHost] = {}
        self._clients: dict[Any, Any] = {}
        self.repos = {name: GitRepo(src.path, name) for name, src in estate.sources.items()}

    def host(self, name: str) -> EnvHost:
        """The handle of one environment (created once per session)."""
        if name not in self._hosts:
            self._hosts[name] = EnvHost(self, self.estate.environments[name])
        return self._hosts[name]

    def ref(self, source: str) -> str:
        """The ref under test for a source: an explicit --ref, else its integration branch."""
        return self.settings.refs.get(source) or self.estate.sources[source].main

    def candidate(self) -> str:
        """The application commit about to be released (--candidate, else the app's main).

        Never --ref app=REF: that says which commit runs, not which is released next."""
        app = self.estate.app_source()
        return self.settings.candidate or self.estate.sources[app].main

    def client(self, key: Any, build: Callable[[], Any]) -> Any:
        """The one client for key (its settings, all of them) that every environment of the
        session shares: answers of a registry or cluster do not depend on who asks. Built on
        first use (a failure is not kept: each environment's part keeps its own) and closed with
        the session, not by one environment's close."""
        if key not in self._clients:
            self._clients[key] = build()
        return self._clients[key]

    def shares(self, value: Any) -> bool:
        """Whether value is one of the session's shared clients."""
        return any(value is c for c in self._clients.values())

    def close(self) -> None:
        """Close every part every host opened, then the shared clients."""
        for host in self._hosts.values():
            host.close()
        for client in self._clients.values():
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing must never hide the run's outcome
                pass
        self._clients.clear()


class EnvHost:
    """One environment: its spec, its sources at the refs under test and its live services."""

    def __init__(self, shared: Estatewide, spec: Environment) -> None:
        self.shared, self.spec, self.name = shared, spec, spec.name
        self.estate, self.settings = shared.estate, shared.settings
        self._parts: dict[str, tuple[bool, Any]] = {}
        self._by_commit: dict[str, Any] = {}  # gitops commit: (rendered sources, unread lines)

    def __repr__(self) -> str:
        return f"<EnvHost {self.name}>"

    @property
    def timeout_s(self) -> float:
        """The one bound for every connection and request of this run."""
        return self.settings.timeout_s or self.estate.network.timeout_s

    # git -------------------------------------------------------------------------------------
    def git(self, source: str) -> GitRepo:
        """Read-only access to a source repository."""
        if source not in self.shared.repos:
            raise SourceError(f"unknown source {source!r}")
        return self.shared.repos[source]

    def ref(self, source: str) -> str:
        """The ref under test for a source."""
        return self.shared.ref(source)

    @property
    def app_source(self) -> str:
        """The name of the application source."""
        return self.estate.app_source()

    @property
    def gitops_source(self) -> str:
        """The name of the deployment repository's source for this environment."""
        return self.estate.gitops_source(self.spec)

    # helm ------------------------------------------------------------------------------------
    def chart_source(self, gitops_ref: str | None = None) -> helm.ChartSource:
        """What to render for this environment, read at a gitops ref (the first source of a
        multi-source Application that can be rendered here)."""
        return self.chart_sources(gitops_ref)[0]

    def chart_sources(self, gitops_ref: str | None = None) -> tuple[helm.ChartSource, ...]:
        """Every source to render for this environment, read at a gitops ref (those the suite
        cannot read are left out: unread_sources says so; none readable is NotChecked)."""
        from releasegate.render.argocd import readable

        return tuple(readable(self._sources(gitops_ref))[0])

    def unread_sources(self, gitops_ref: str | None = None) -> tuple[str, ...]:
        """The "not checked" line of each source of the environment's multi-source Application
        that is not rendered here (a repository outside the estate, a plugin, a chart that cannot
        be fetched): what only it deploys is not checked; the other sources are."""
        return self._rendered_sources(gitops_ref)[1]

    def _sources(self, gitops_ref: str | None = None) -> list[helm.ChartSource]:
        repo = self.git(self.gitops_source)
        ref = gitops_ref or self.ref(self.gitops_source)
        spec = self.spec.gitops
        if spec.flux_helmrelease:
            from releasegate.render.flux import helmrelease_source

            return [helmrelease_source(repo, ref, spec.flux_helmrelease)]
        if spec.argocd_app or spec.argocd_parent:
            from releasegate.render.argocd import UnreadSource, helm_sources
            from releasegate.render.children import child_application

            if spec.argocd_parent:
                app = child_application(repo, ref, spec.argocd_parent, spec.argocd_child or "")
                found = helm_sources(repo, ref, f"{spec.argocd_parent}#{spec.argocd_child}", app,
                                     self._estate_repo)
            else:
                found = helm_sources(repo, ref, spec.argocd_app, resolve=self._estate_repo)
            if spec.namespace or spec.release:
                found = [s if isinstance(s, UnreadSource) else
                         dataclasses.replace(s, release=spec.release or s.release,
                                             namespace=spec.namespace or s.namespace)
                         for s in found]
            return found
        namespace = spec.namespace or (self.spec.kubernetes.namespace
                                       if self.spec.kubernetes else None) or self.name
        return [helm.ChartSource(chart=spec.chart or "", values=spec.values,
                                 release=spec.release or self.name, namespace=namespace)]

    def _estate_repo(self, url: str) -> tuple[str, GitRepo, str] | None:
        """The estate source (other than the deployment repository) whose origin is url, with
        its repository and the commit under test."""
        from releasegate.render.argocd import same_repo

        for name in self.estate.sources:
            repo = self.git(name)
            if name != self.gitops_source and same_repo(url, repo.remote_url()):
                return name, repo, repo.resolve(self.ref(name))
        return None

    def sources_at(self, gitops_ref: str | None = None
                   ) -> tuple[tuple[GitRepo, str, helm.ChartSource], ...]:
        """(repository, commit, source) of every source rendered for this environment at a gitops
        ref: a chart in another estate source is read at that source's ref under test."""
        return self._rendered_sources(gitops_ref)[0]

    def _rendered_sources(self, gitops_ref: str | None = None) -> tuple[Any, tuple[str, ...]]:
        # controller/state.go GetRepoObjs: each source is rendered on its own and its manifests
        # appended, so one the suite cannot render hides only what it deploys.
        from releasegate.render.argocd import readable

        repo = self.git(self.gitops_source)
        sha = repo.resolve(gitops_ref or self.ref(self.gitops_source))
        if sha in self._by_commit:
            return self._by_commit[sha]
        sources = self._sources(sha)
        found, unread = readable(sources)
        out = []
        for source in found:
            home = self.git(source.repo_source) if source.repo_source else repo
            at = home.resolve(self.ref(source.repo_source)) if source.repo_source else sha
            try:
                helm.render(home, at, source)  # kept by content: render() reads it again
            except NotChecked as exc:
                if len(sources) == 1:
                    raise
                unread.append(str(exc))
                continue
            out.append((home, at, source))
        if not out:
            raise NotChecked("; ".join(unread))
        self._by_commit[sha] = (tuple(out), tuple(unread))
        return self._by_commit[sha]

    def render(self, gitops_ref: str | None = None) -> tuple[dict[str, Any], ...]:
        """The chart rendered for this environment at a gitops ref (default: the ref under test);
        the sources of a multi-source Application concatenated, as Argo CD combines them."""
        return tuple(m for home, at, source in self.sources_at(gitops_ref)
                     for m in helm.render(home, at, source))

    @part
    def manifests(self) -> tuple[dict[str, Any], ...]:
        """The rendered chart at the gitops ref under test."""
        return self.render()

    @part
    def workloads(self) -> list[Workload]:
        """Every workload the rendered chart declares."""
        return workloads(self.manifests)

    @property
    def namespace(self) -> str:
        """The namespace this environment runs in."""
        if self.spec.kubernetes and self.spec.kubernetes.namespace:
            return self.spec.kubernetes.namespace
        return self.chart_source().namespace

    # live parts (each module owns its client; a missing setting skips, a dead service errors) --
    @property
    def db(self) -> Any:
        """A read-only psycopg connection with a statement timeout, shared by the environments
        on the same DSN (reopened when the bound on open connections closed it since:
        plugins/schema/database.py)."""
        from releasegate.schema.configured import skip_unless_configured

        skip_unless_configured(self)  # before psycopg's import, which a skip does not need
        from releasegate.schema import database

        conn = self._db
        if database.reopen_needed(conn):
            del self._parts["_db"]
            conn = self._db
        database.used(conn, self.name)
        return conn

    @part
    def _db(self) -> Any:
        """The environment's connection, opened on first use."""
        from releasegate.schema import database

        return database.connect(self)

    @part
    def k8s(self) -> Any:
        """A kubernetes API client for this environment's context and namespace."""
        from releasegate.kubernetes import api

        return api.connect(self)

    @part
    def registry(self) -> Any:
        """A Registry HTTP API v2 client with credentials from the docker config."""
        from releasegate.images import host_registry

        return host_registry.connect(self)

    @part
    def http(self) -> Any:
        """An HTTP client honouring network.resolve and network.ca_file."""
        from releasegate.subdomains import webclient

        return webclient.connect(self)

    def close(self) -> None:
        """Close every live part this host opened."""
        for ok, value in self._parts.values():
            close = getattr(value, "close", None) if ok and not self.shared.shares(value) else None
            if callable(close):
                try:
                    close()
                except Exception:  # noqa: BLE001 - closing must never hide the run's outcome
                    pass
        self._parts.clear()
