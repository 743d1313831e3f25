"""The environments file: read with ruamel.yaml, checked key by key, turned into a typed estate.

Every error names the file, the line and the dotted key, so that a bad file stops the run with one
usage error a person can act on.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import os
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError

from plugins.gitrepo import GitRepo


class EnvironmentsError(Exception):
    """A problem in the environments file, located by file, line and key."""

    def __init__(self, path: Path, line: int | None, key: str, problem: str) -> None:
        self.path, self.line, self.key, self.problem = path, line, key, problem
        where = f"{path}:{line}" if line else f"{path}"
        super().__init__(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")


@dataclass(frozen=True)
class Unset:
    """A value that names an environment variable which is not set: the setting is not configured."""

    key: str
    variable: str

    def __str__(self) -> str:
        return f"{self.key} is not configured (${{{self.variable}}} is not set)"

    def __bool__(self) -> bool:
        return False


_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


def interpolate(value: str, key: str) -> str | Unset:
    """Expand ``${VAR}`` and ``${VAR:-default}``; an unset variable without default gives Unset."""
    missing: list[str] = []

    def expand(match: re.Match[str]) -> str:
        name, default = match["name"], match["default"]
        if name in os.environ and os.environ[name] != "":
            return os.environ[name]
        if default is not None:
            return default
        missing.append(name)
        return ""

    expanded = _VAR.sub(expand, value)
    return Unset(key, missing[0]) if missing else expanded


# ---------------------------------------------------------------------------------------------
# The typed estate


@dataclass(frozen=True)
class Source:
    """A git repository the suite reads, never writes."""

    name: str
    path: Path
    main: str = "main"
    release_tags: str = "v*.*.*"
    create: str | None = None
    # Where the file sets path and main, for a usage error once the source exists (or should).
    lines: tuple[int | None, int | None] = (None, None)


@dataclass(frozen=True)
class SettingsEntry:
    """A settings module the application reads at boot."""

    kind: str
    source: str
    path: str
    containers: tuple[str, ...] = ()
    boot: str | None = None
    python: str | None = None


@dataclass(frozen=True)
class FrontendEntry:
    """Front-end files whose environment variables the host must provide."""

    source: str
    paths: tuple[str, ...]
    env_file: str | None = None


@dataclass(frozen=True)
class BuildEntry:
    """A CI workflow that builds and tags images."""

    kind: str
    source: str
    workflow: str


@dataclass(frozen=True)
class Snapshot:
    """A schema kept as code in a source."""

    kind: str
    source: str
    path: str


@dataclass(frozen=True)
class IndexRequirement:
    """An index that migrations rely on."""

    name: str
    table: str
    columns: tuple[str, ...]
    unique: bool = False
    where: str | None = None


@dataclass(frozen=True)
class DatabaseRequirements:
    """Raw SQL that the snapshot cannot express."""

    extensions: tuple[str, ...] = ()
    indexes: tuple[IndexRequirement, ...] = ()


@dataclass(frozen=True)
class FeatureFlags:
    """Which variables are feature flags, and where they must be on first."""

    prefixes: tuple[str, ...] = ()
    staging: str | None = None


@dataclass(frozen=True)
class Deploys:
    """What an environment deploys: a branch's head or release tags."""

    branch: str | None = None
    tag: str | None = None


@dataclass(frozen=True)
class GitopsSpec:
    """Where an environment's manifests come from in the deployment repository."""

    argocd_app: str | None = None
    chart: str | None = None
    values: tuple[str, ...] = ()
    release: str | None = None
    namespace: str | None = None
    secrets: tuple[str, ...] = ()
    source: str | None = None


@dataclass(frozen=True)
class Subdomain:
    """One endpoint an environment answers on, with what it must answer."""

    name: str
    path: str = "/"
    expect_status: int = 200
    expect_body: str | None = None
    expect_json: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    follow_redirects: bool = True
    budget_ms: float | None = None


@dataclass(frozen=True)
class VersionSpec:
    """Where an environment tells which build it serves."""

    subdomain: str
    path: str = "/"
    json_key: str | None = None
    header: str | None = None


@dataclass(frozen=True)
class DatabaseSpec:
    """The live database of an environment."""

    dsn_env: str


@dataclass(frozen=True)
class KubeSpec:
    """The cluster and namespace an environment runs in."""

    context: str | None = None
    namespace: str | None = None
    kubeconfig: str | Unset | None = None
    restart_threshold: int = 5  # restarts within the last hour above which a container blocks


@dataclass(frozen=True)
class Environment:
    """One environment of the estate."""

    name: str
    deploys: Deploys
    gitops: GitopsSpec
    domain: str | None = None
    subdomains: dict[str, Subdomain] = field(default_factory=dict)
    version: VersionSpec | None = None
    database: DatabaseSpec | None = None
    kubernetes: KubeSpec | None = None


@dataclass(frozen=True)
class Registries:
    """How to reach the registries that charts name."""

    platform: str = "linux/amd64"
    mirrors: dict[str, str | Unset] = field(default_factory=dict)
    ca_file: Path | Unset | None = None
    skip: tuple[str, ...] = ()
    docker_config: Path | Unset | None = None   # default: $DOCKER_CONFIG, ~/.docker/config.json
    concurrency: int = 16                       # registry requests in flight


@dataclass(frozen=True)
class Network:
    """Bounds and overrides for every network call."""

    timeout_s: float = 10.0
    resolve: dict[str, str | Unset] = field(default_factory=dict)
    ca_file: Path | Unset | None = None
    cert_warning_days: float = 21.0  # a certificate expiring sooner is a warning
    cert_blocker_days: float = 7.0   # ... and sooner than this a blocker
    budget_ms: float = 2000.0        # default response-time budget of a subdomain (a warning)
    retries: int = 2                 # retries of an idempotent GET that got no answer or 502/503/504


@dataclass(frozen=True)
class Waiver:
    """A known, accepted finding, with an expiry date."""

    check: str
    environment: str | None
    item: str | None
    reason: str
    expires: dt.date
    line: int | None = None


@dataclass(frozen=True)
class Estate:
    """The whole environments file, typed."""

    path: Path
    root: Path
    version: int
    sources: dict[str, Source]
    settings: tuple[SettingsEntry, ...]
    frontend: tuple[FrontendEntry, ...]
    builds: tuple[BuildEntry, ...]
    snapshot: Snapshot | None
    database_requirements: DatabaseRequirements
    feature_flags: FeatureFlags
    environments: dict[str, Environment]
    registries: Registries
    network: Network
    waivers: tuple[Waiver, ...]
    raw: Any = field(default=None, repr=False, compare=False)

    def gitops_source(self, env: Environment) -> str:
        """Name the source that holds an environment's deployment repository."""
        if env.gitops.source:
            return env.gitops.source
        if "gitops" in self.sources:
            return "gitops"
        used = {e.source for e in (*self.settings, *self.builds, *self.frontend)}
        others = sorted(set(self.sources) - used)
        return others[0] if others else next(iter(self.sources))

    def app_source(self) -> str:
        """Name the source that holds the application (the one builds and settings read)."""
        for entry in (*self.builds, *self.settings):
            return entry.source
        return "app" if "app" in self.sources else next(iter(self.sources))


# ---------------------------------------------------------------------------------------------
# Validation: a small schema walked over ruamel's CommentedMap, which knows every key's line.


@dataclass(frozen=True)
class _Field:
    check: Callable[[Any, str, int | None], Any]
    required: bool = False


class _Reader:
    """Walks the raw YAML with the schema, collecting values and raising located errors."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, line: int | None, key: str, problem: str) -> EnvironmentsError:
        return EnvironmentsError(self.path, line, key, problem)

    def mapping(self, node: Any, key: str, line: int | None,
                fields: dict[str, _Field]) -> dict[str, Any]:
        if not isinstance(node, dict):
            raise self.error(line, key, f"expected a mapping, got {_kind(node)}")
        out: dict[str, Any] = {}
        for name, value in node.items():
            sub = f"{key}.{name}" if key else str(name)
            where = _key_line(node, name, line)
            if name not in fields:
                valid = ", ".join(sorted(fields))
                raise self.error(where, sub, f"unknown key (valid keys: {valid})")
            out[name] = fields[name].check(value, sub, _value_line(node, name, where))
        for name, spec in fields.items():
            if spec.required and name not in node:
                sub = f"{key}.{name}" if key else name
                raise self.error(line, sub, "required key is missing")
        return out


def _key_line(node: Any, name: Any, default: int | None) -> int | None:
    try:
        return node.lc.key(name)[0] + 1
    except (AttributeError, KeyError, TypeError):
        return default


def _value_line(node: Any, name: Any, default: int | None) -> int | None:
    try:
        return node.lc.value(name)[0] + 1
    except (AttributeError, KeyError, TypeError):
        return default


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def load(path: Path) -> Estate:
    """Read and check an environments file; raise EnvironmentsError naming file, line and key."""
    path = Path(path)
    if not path.is_file():
        raise EnvironmentsError(path, None, "", "environments file not found")
    yaml = YAML(typ="rt")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise EnvironmentsError(path, line, "", f"YAML error: {exc.problem or exc.context}") from None
    if raw is None:
        raise EnvironmentsError(path, 1, "", "the file is empty")
    return _Builder(path, raw).build()


class _Builder:
    """Turns validated raw YAML into an Estate."""

    def __init__(self, path: Path, raw: Any) -> None:
        self.path, self.raw, self.root = path, raw, path.parent
        self.r = _Reader(path)

    # scalar checkers -------------------------------------------------------------------------
    def s(self, value: Any, key: str, line: int | None) -> str | Unset:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.r.error(line, key, f"expected a string, got {_kind(value)}")
        return interpolate(str(value), key)

    def opt_s(self, value: Any, key: str, line: int | None) -> str | Unset | None:
        return None if value is None else self.s(value, key, line)

    def plain(self, value: Any, key: str, line: int | None) -> str:
        text = self.s(value, key, line)
        if isinstance(text, Unset):
            raise self.r.error(line, key, f"${{{text.variable}}} is not set and this key needs a value")
        return text

    def opt_plain(self, value: Any, key: str, line: int | None) -> str | None:
        return None if value is None else self.plain(value, key, line)

    def boolean(self, value: Any, key: str, line: int | None) -> bool:
        if not isinstance(value, bool):
            raise self.r.error(line, key, f"expected true or false, got {_kind(value)}")
        return value

    def integer(self, value: Any, key: str, line: int | None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.r.error(line, key, f"expected a whole number, got {_kind(value)}")
        return value

    def number(self, value: Any, key: str, line: int | None) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise self.r.error(line, key, f"expected a positive number, got {_kind(value)}")
        return float(value)

    def strings(self, value: Any, key: str, line: int | None) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            return (self.plain(value, key, line),)
        if not isinstance(value, list):
            raise self.r.error(line, key, f"expected a list of strings, got {_kind(value)}")
        return tuple(self.plain(v, f"{key}[{i}]", _item_line(value, i, line))
                     for i, v in enumerate(value))

    def any_value(self, value: Any, key: str, line: int | None) -> Any:
        return value

    def date(self, value: Any, key: str, line: int | None) -> dt.date:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            raise self.r.error(line, key, f"expected a date YYYY-MM-DD, got {_kind(value)}") from None

    def file_path(self, value: Any, key: str, line: int | None) -> Path | Unset | None:
        if value is None:
            return None
        text = self.s(value, key, line)
        if isinstance(text, Unset):
            return text
        resolved = (self.root / text).resolve()
        if not resolved.is_file():
            raise self.r.error(line, key, f"file {resolved} does not exist")
        return resolved

    def str_map(self, value: Any, key: str, line: int | None) -> dict[str, str | Unset]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.r.error(line, key, f"expected a mapping, got {_kind(value)}")
        return {str(k): self.s(v, f"{key}.{k}", _value_line(value, k, line))
                for k, v in value.items()}

    # sections --------------------------------------------------------------------------------
    def build(self) -> Estate:
        F = _Field
        top = self.r.mapping(self.raw, "", 1, {
            "version": F(self.integer, required=True),
            "sources": F(self.any_value, required=True),
            "settings": F(self.any_value),
            "frontend": F(self.any_value),
            "builds": F(self.any_value),
            "snapshot": F(self.any_value),
            "database_requirements": F(self.any_value),
            "feature_flags": F(self.any_value),
            "environments": F(self.any_value, required=True),
            "registries": F(self.any_value),
            "network": F(self.any_value),
            "waivers": F(self.any_value),
        })
        if top["version"] != 1:
            raise self.r.error(_value_line(self.raw, "version", 1), "version",
                               f"unsupported version {top['version']} (supported: 1)")
        sources = self.sources(self.raw["sources"], _value_line(self.raw, "sources", 1))
        envs = self.environments(self.raw["environments"],
                                 _value_line(self.raw, "environments", 1), sources)
        estate = Estate(
            path=self.path, root=self.root, version=top["version"], sources=sources,
            settings=self.entries("settings", self._settings_entry),
            frontend=self.entries("frontend", self._frontend_entry),
            builds=self.entries("builds", self._build_entry),
            snapshot=self.optional("snapshot", self._snapshot),
            database_requirements=self.optional("database_requirements", self._db_requirements)
            or DatabaseRequirements(),
            feature_flags=self.optional("feature_flags", self._feature_flags) or FeatureFlags(),
            environments=envs,
            registries=self.optional("registries", self._registries) or Registries(),
            network=self.optional("network", self._network) or Network(),
            waivers=self.entries("waivers", self._waiver),
            raw=self.raw,
        )
        self.check_references(estate)
        return estate

    def optional(self, name: str, build: Callable[[Any, str, int | None], Any]) -> Any:
        if self.raw.get(name) is None:
            return None
        return build(self.raw[name], name, _value_line(self.raw, name, 1))

    def entries(self, name: str, build: Callable[[Any, str, int | None], Any]) -> tuple[Any, ...]:
        value = self.raw.get(name)
        if value is None:
            return ()
        line = _value_line(self.raw, name, 1)
        if not isinstance(value, list):
            raise self.r.error(line, name, f"expected a list, got {_kind(value)}")
        return tuple(build(v, f"{name}[{i}]", _item_line(value, i, line))
                     for i, v in enumerate(value))

    def sources(self, value: Any, line: int | None) -> dict[str, Source]:
        if not isinstance(value, dict) or not value:
            raise self.r.error(line, "sources", "expected a mapping of at least one source")
        out = {}
        for name, spec in value.items():
            key, where = f"sources.{name}", _value_line(value, name, line)
            f = self.r.mapping(spec, key, where, {
                "path": _Field(self.plain, required=True), "main": _Field(self.plain),
                "release_tags": _Field(self.plain), "create": _Field(self.plain)})
            path = (self.root / f["path"]).resolve()
            if not path.exists() and not f.get("create"):
                raise self.r.error(_value_line(spec, "path", where), f"{key}.path",
                                   f"source path {path} does not exist")
            out[str(name)] = Source(name=str(name), path=path, main=f.get("main", "main"),
                                    release_tags=f.get("release_tags", "v*.*.*"),
                                    create=f.get("create"),
                                    lines=(_value_line(spec, "path", where),
                                           _value_line(spec, "main", where) if "main" in spec
                                           else None))
        return out

    def _source_name(self, value: Any, key: str, line: int | None) -> str:
        name = self.plain(value, key, line)
        known = self.raw.get("sources") or {}
        if name not in known:
            raise self.r.error(line, key, f"unknown source {name!r} (known: {', '.join(known)})")
        return name

    def _settings_entry(self, value: Any, key: str, line: int | None) -> SettingsEntry:
        f = self.r.mapping(value, key, line, {
            "kind": _Field(self.plain, required=True), "source": _Field(self._source_name, True),
            "path": _Field(self.plain, required=True), "containers": _Field(self.strings),
            "boot": _Field(self.opt_plain), "python": _Field(self.opt_plain)})
        if f["kind"] != "pydantic-settings":
            raise self.r.error(_value_line(value, "kind", line), f"{key}.kind",
                               f"unsupported kind {f['kind']!r} (supported: pydantic-settings)")
        return SettingsEntry(**f)

    def _frontend_entry(self, value: Any, key: str, line: int | None) -> FrontendEntry:
        f = self.r.mapping(value, key, line, {
            "source": _Field(self._source_name, True), "paths": _Field(self.strings, True),
            "env_file": _Field(self.opt_plain)})
        return FrontendEntry(**f)

    def _build_entry(self, value: Any, key: str, line: int | None) -> BuildEntry:
        f = self.r.mapping(value, key, line, {
            "kind": _Field(self.plain, required=True), "source": _Field(self._source_name, True),
            "workflow": _Field(self.plain, required=True)})
        if f["kind"] != "github-actions":
            raise self.r.error(_value_line(value, "kind", line), f"{key}.kind",
                               f"unsupported kind {f['kind']!r} (supported: github-actions)")
        return BuildEntry(**f)

    def _snapshot(self, value: Any, key: str, line: int | None) -> Snapshot:
        f = self.r.mapping(value, key, line, {
            "kind": _Field(self.plain, required=True), "source": _Field(self._source_name, True),
            "path": _Field(self.plain, required=True)})
        if f["kind"] != "directus":
            raise self.r.error(_value_line(value, "kind", line), f"{key}.kind",
                               f"unsupported kind {f['kind']!r} (supported: directus)")
        return Snapshot(**f)

    def _db_requirements(self, value: Any, key: str, line: int | None) -> DatabaseRequirements:
        f = self.r.mapping(value, key, line, {"extensions": _Field(self.strings),
                                              "indexes": _Field(self.any_value)})
        indexes = []
        raw = value.get("indexes") or []
        if not isinstance(raw, list):
            raise self.r.error(_value_line(value, "indexes", line), f"{key}.indexes",
                               f"expected a list, got {_kind(raw)}")
        for i, spec in enumerate(raw):
            sub = f"{key}.indexes[{i}]"
            g = self.r.mapping(spec, sub, _item_line(raw, i, line), {
                "name": _Field(self.plain, True), "table": _Field(self.plain, True),
                "columns": _Field(self.strings, True), "unique": _Field(self.boolean),
                "where": _Field(self.opt_plain)})
            indexes.append(IndexRequirement(**g))
        return DatabaseRequirements(extensions=f.get("extensions", ()), indexes=tuple(indexes))

    def _feature_flags(self, value: Any, key: str, line: int | None) -> FeatureFlags:
        f = self.r.mapping(value, key, line, {"prefixes": _Field(self.strings),
                                              "staging": _Field(self.opt_plain)})
        return FeatureFlags(**f)

    def _registries(self, value: Any, key: str, line: int | None) -> Registries:
        f = self.r.mapping(value, key, line, {
            "platform": _Field(self.plain), "mirrors": _Field(self.str_map),
            "ca_file": _Field(self.file_path), "skip": _Field(self.strings),
            "docker_config": _Field(self.file_path), "concurrency": _Field(self.integer)})
        return Registries(**f)

    def _network(self, value: Any, key: str, line: int | None) -> Network:
        f = self.r.mapping(value, key, line, {
            "timeout_s": _Field(self.number), "resolve": _Field(self.str_map),
            "ca_file": _Field(self.file_path), "cert_warning_days": _Field(self.number),
            "cert_blocker_days": _Field(self.number), "budget_ms": _Field(self.number),
            "retries": _Field(self.integer)})
        return Network(**f)

    def _waiver(self, value: Any, key: str, line: int | None) -> Waiver:
        f = self.r.mapping(value, key, line, {
            "check": _Field(self.plain, True), "environment": _Field(self.opt_plain),
            "item": _Field(self.opt_plain), "reason": _Field(self.plain, True),
            "expires": _Field(self.date, True)})
        return Waiver(line=line, **f)

    def environments(self, value: Any, line: int | None,
                     sources: dict[str, Source]) -> dict[str, Environment]:
        if not isinstance(value, dict) or not value:
            raise self.r.error(line, "environments", "expected a mapping of at least one environment")
        out = {}
        for name, spec in value.items():
            key, where = f"environments.{name}", _value_line(value, name, line)
            f = self.r.mapping(spec, key, where, {
                "deploys": _Field(self.any_value, True), "gitops": _Field(self.any_value, True),
                "domain": _Field(self.opt_plain), "subdomains": _Field(self.any_value),
                "version": _Field(self.any_value), "database": _Field(self.any_value),
                "kubernetes": _Field(self.any_value)})
            sub = lambda k: (spec[k], f"{key}.{k}", _value_line(spec, k, where))  # noqa: E731
            deploys = Deploys(**self.r.mapping(*sub("deploys"), {
                "branch": _Field(self.plain), "tag": _Field(self.plain)}))
            if bool(deploys.branch) == bool(deploys.tag):
                raise self.r.error(_value_line(spec, "deploys", where), f"{key}.deploys",
                                   "give exactly one of branch or tag")
            gitops = self._gitops(*sub("gitops"))
            subdomains = self._subdomains(*sub("subdomains")) if spec.get("subdomains") else {}
            version = None
            if spec.get("version") is not None:
                version = VersionSpec(**self.r.mapping(*sub("version"), {
                    "subdomain": _Field(self.plain, True), "path": _Field(self.plain),
                    "json_key": _Field(self.opt_plain), "header": _Field(self.opt_plain)}))
            database = None
            if spec.get("database") is not None:
                database = DatabaseSpec(**self.r.mapping(*sub("database"), {
                    "dsn_env": _Field(self.plain, True)}))
            kube = None
            if spec.get("kubernetes") is not None:
                kube = KubeSpec(**self.r.mapping(*sub("kubernetes"), {
                    "context": _Field(self.opt_plain), "namespace": _Field(self.opt_plain),
                    "kubeconfig": _Field(self.opt_s),
                    "restart_threshold": _Field(self.integer)}))
            out[str(name)] = Environment(name=str(name), deploys=deploys, gitops=gitops,
                                         domain=f.get("domain"), subdomains=subdomains,
                                         version=version, database=database, kubernetes=kube)
        return out

    def _gitops(self, value: Any, key: str, line: int | None) -> GitopsSpec:
        f = self.r.mapping(value, key, line, {
            "argocd_app": _Field(self.opt_plain), "chart": _Field(self.opt_plain),
            "values": _Field(self.strings), "release": _Field(self.opt_plain),
            "namespace": _Field(self.opt_plain), "secrets": _Field(self.strings),
            "source": _Field(self._source_name)})
        if not f.get("argocd_app") and not f.get("chart"):
            raise self.r.error(line, key, "give argocd_app or chart (with values)")
        return GitopsSpec(**f)

    def _subdomains(self, value: Any, key: str, line: int | None) -> dict[str, Subdomain]:
        if not isinstance(value, dict):
            raise self.r.error(line, key, f"expected a mapping, got {_kind(value)}")
        out = {}
        for name, spec in value.items():
            sub, where = f"{key}.{name}", _value_line(value, name, line)
            f = self.r.mapping(spec if spec is not None else {}, sub, where, {
                "path": _Field(self.plain), "expect_status": _Field(self.integer),
                "expect_body": _Field(self.opt_plain), "expect_json": _Field(self.any_value),
                "follow_redirects": _Field(self.boolean), "budget_ms": _Field(self.number)})
            expect_json = {}
            for k, allowed in (f.pop("expect_json", None) or {}).items():
                allowed = list(allowed) if isinstance(allowed, list) else [allowed]
                expect_json[str(k)] = tuple(allowed)
            out[str(name)] = Subdomain(name=str(name), expect_json=expect_json, **f)
        return out

    def check_references(self, estate: Estate) -> None:
        """Names that point at other parts of the file must exist there."""
        names = ", ".join(estate.environments)
        for waiver in estate.waivers:
            if waiver.environment and waiver.environment not in estate.environments:
                raise self.r.error(waiver.line, "waivers.environment",
                                   f"unknown environment {waiver.environment!r} (known: {names})")
        staging = estate.feature_flags.staging
        if staging and staging not in estate.environments:
            line = _value_line(self.raw.get("feature_flags") or {}, "staging", None)
            raise self.r.error(line, "feature_flags.staging",
                               f"unknown environment {staging!r} (known: {names})")


def _item_line(seq: Any, index: int, default: int | None) -> int | None:
    try:
        return seq.lc.item(index)[0] + 1
    except (AttributeError, KeyError, TypeError, IndexError):
        return default


def ensure_sources(estate: Estate) -> None:
    """Create missing sources that name a ``create`` command (the demo does), once, under a lock;
    then check that each is a git repository with its integration branch (local git only)."""
    for source in estate.sources.values():
        _create(estate, source)
        _verify(estate, source)


def _verify(estate: Estate, source: Source) -> None:
    path_line, main_line = source.lines
    repo = GitRepo(source.path, source.name)
    problem = repo.top_level_problem()
    if problem:
        raise EnvironmentsError(estate.path, path_line, f"sources.{source.name}.path", problem)
    if repo.rev_parse(source.main) is None:
        raise EnvironmentsError(estate.path, main_line or path_line, f"sources.{source.name}.main",
                                f"branch {source.main!r} does not exist in {source.path}"
                                + ("" if main_line else " (set sources." + source.name
                                   + ".main to the integration branch)"))


def _create(estate: Estate, source: Source) -> None:
    if not source.path.exists() and source.create:
        # One lock for every source under the same folder (one command may create them all),
        # kept outside it: the command decides what to create there.
        digest = hashlib.sha1(str(source.path.parent).encode()).hexdigest()[:16]
        lock_path = Path(tempfile.gettempdir()) / f"releasegate-create-{digest}.lock"
        with open(lock_path, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if source.path.exists():
                return
            argv = shlex.split(source.create)
            if argv and argv[0] in ("python", "python3"):
                argv[0] = sys.executable
            result = subprocess.run(argv, cwd=estate.root,
                                    capture_output=True, text=True, timeout=300)
            if result.returncode != 0 or not source.path.exists():
                tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
                raise EnvironmentsError(estate.path, None, f"sources.{source.name}.create",
                                        f"{source.create!r} did not create {source.path}: {tail[0]}")


def skip_if_unset(where: str, *values: Any) -> None:
    """Skip the calling check when a setting it needs names an unset variable, saying which."""
    import pytest

    for value in values:
        if isinstance(value, Unset):
            pytest.skip(f"{where}: {value}")


__all__ = [
    "Estate", "Environment", "EnvironmentsError", "Unset",
    "ensure_sources", "interpolate", "load", "skip_if_unset",
]
