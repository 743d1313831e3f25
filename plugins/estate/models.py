"""The environments file as typed models: one class per section, strict types, no unknown key.

The same classes validate the file (through the loader, which maps each error to its line) and
export the JSON Schema editors use (plugins/estate/schema.py). Fields set by the loader rather than
by the file (names taken from mapping keys, lines, the file's path) are ``init=False``: they are not
keys of the file and not in the schema.
"""

from __future__ import annotations

import re
from dataclasses import field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, PlainValidator
from pydantic import ValidationInfo, WithJsonSchema, model_validator
from pydantic.dataclasses import dataclass

from plugins.estate.values import (
    Address, Branch, Date, FilePath, Folder, Flag, Host, HostPort, Hosts, MaybeText, Name, Number,
    RepoPath, RepoPaths, Strings, Text, Url, Variable, Whole, kind, problem, strings, text, no,
)

MODEL = ConfigDict(extra="forbid")


def _pattern(regex: str, what: str, most: int) -> Any:
    def check(value: str) -> str:
        if len(value) > most or not re.fullmatch(regex, value):
            raise problem(f"{value!r} is not {what}")
        return value
    return Annotated[str, PlainValidator(text, json_schema_input_type=str), AfterValidator(check),
                     WithJsonSchema({"type": "string", "pattern": f"^{regex}$", "maxLength": most})]


_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
Label = _pattern(_LABEL, "a DNS label (lower-case letters, digits, '-'; up to 63)", 63)
Release = _pattern(rf"{_LABEL}(\.{_LABEL})*", "a Helm release name (lower-case DNS name, up to 53)", 53)
Platform = _pattern(r"[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?", "a platform like linux/amd64", 64)
UrlPath = _pattern(r"[^\s\x00-\x1f\x7f]*", "a URL path (no spaces or control characters)", 2048)


def _known_source(value: str, info: ValidationInfo) -> str:
    known = (info.context or {}).get("sources")
    if known is not None and value not in known:
        raise problem(f"unknown source {value!r} (known: {', '.join(known)})")
    return value


Labels = Annotated[tuple[Label, ...], BeforeValidator(strings)]
SourceRef = Annotated[Name, AfterValidator(_known_source)]


def _or(empty: Any) -> BeforeValidator:
    """An absent section (``key:`` with nothing after it) means its default."""
    return BeforeValidator(lambda v: empty() if v is None else v)


def _some(what: str) -> BeforeValidator:
    def check(value: Any) -> Any:
        if not isinstance(value, dict) or not value:
            raise problem(f"expected a mapping of at least one {what}")
        return value
    return BeforeValidator(check)


@dataclass(frozen=True, config=MODEL)
class Source:
    """A git repository the suite reads, never writes."""

    path: Annotated[Folder, Field(description="a local clone, relative to this file's folder; read "
                                            "through git objects, never written")]
    main: Annotated[Branch, Field(description="the integration branch")] = "main"
    release_tags: Annotated[Text, Field(description="glob of release tags")] = "v*.*.*"
    create: Annotated[Text | None, Field(description="a command that creates the clone when the "
                                                     "path is missing (run once, under a lock)")] = None
    name: str = field(default="", init=False)
    # Where the file sets path and main, for a usage error once the source exists (or should).
    lines: tuple[int | None, int | None] = field(default=(None, None), init=False)


@dataclass(frozen=True, config=MODEL)
class SettingsEntry:
    """A settings module the application reads at boot."""

    kind: Literal["pydantic-settings"]
    source: SourceRef
    path: Annotated[RepoPath, Field(description="the settings module; every BaseSettings class in "
                                                "it is checked")]
    containers: Annotated[Labels, Field(description="container names of the rendered chart "
                                                     "that boot this module")] = ()
    boot: Annotated[Text | None, Field(description="a function in that file the app calls at "
                                                   "start")] = None
    python: Annotated[Text | None, Field(description="interpreter for the boot check "
                                                     "(default: the suite's)")] = None


@dataclass(frozen=True, config=MODEL)
class FrontendEntry:
    """Front-end files whose environment variables the host must provide."""

    source: SourceRef
    paths: Annotated[RepoPaths, Field(description="front-end files that read variables")]
    env_file: Annotated[RepoPath | None, Field(description="the .env file the host provides")] = None


@dataclass(frozen=True, config=MODEL)
class BuildEntry:
    """A CI workflow that builds and tags images."""

    kind: Literal["github-actions"]
    source: SourceRef
    workflow: Annotated[RepoPath, Field(description="the workflow file")]


@dataclass(frozen=True, config=MODEL)
class Snapshot:
    """A schema kept as code in a source."""

    kind: Literal["directus"]
    source: SourceRef
    path: Annotated[RepoPath, Field(description="the directus-sync snapshot folder")]


@dataclass(frozen=True, config=MODEL)
class IndexRequirement:
    """An index that migrations rely on."""

    name: Text
    table: Text
    columns: Strings
    unique: Flag = False
    where: Annotated[Text | None, Field(description="the partial index's predicate")] = None


@dataclass(frozen=True, config=MODEL)
class DatabaseRequirements:
    """Raw SQL that the snapshot cannot express."""

    extensions: Strings = ()
    indexes: Annotated[tuple[IndexRequirement, ...], _or(tuple)] = ()


@dataclass(frozen=True, config=MODEL)
class FeatureFlags:
    """Which variables are feature flags, and where they must be on first."""

    prefixes: Annotated[Strings, Field(description="variable-name prefixes of feature flags")] = ()
    staging: Annotated[Name | None, Field(description="the environment where a flag must be on "
                                                      "before production")] = None


@dataclass(frozen=True, config=MODEL)
class Deploys:
    """What an environment deploys: a branch's head or release tags (exactly one)."""

    branch: Branch | None = None
    tag: Annotated[Text | None, Field(description="glob of the tags it deploys")] = None

    @model_validator(mode="after")
    def _one(self) -> Deploys:
        if bool(self.branch) == bool(self.tag):
            raise problem("give exactly one of branch or tag")
        return self


@dataclass(frozen=True, config=MODEL)
class GitopsSpec:
    """Where an environment's manifests come from in the deployment repository."""

    argocd_app: Annotated[RepoPath | None, Field(description="an Argo CD Application manifest "
                                                             "giving chart, values, release, namespace")] = None
    chart: Annotated[RepoPath | None, Field(description="the Helm chart folder")] = None
    values: Annotated[RepoPaths, Field(description="value files, in order")] = ()
    release: Annotated[Release | None, Field(description="the Helm release name")] = None
    namespace: Label | None = None
    secrets: Annotated[RepoPaths, Field(description="SealedSecret or Secret manifests")] = ()
    source: Annotated[SourceRef | None, Field(description="the deployment repository's source "
                                                          "(default: gitops)")] = None

    @model_validator(mode="after")
    def _chart(self) -> GitopsSpec:
        if not self.argocd_app and not self.chart:
            raise problem("give argocd_app or chart (with values)")
        return self


_Scalar = str | int | float | bool | None


def _expect_json(value: Any) -> Any:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise problem(f"expected a mapping of JSON key to allowed value(s), got {kind(value)}")
    out = {}
    for key, allowed in value.items():
        allowed = allowed if isinstance(allowed, list) else [allowed]
        if not isinstance(key, str) or not all(isinstance(a, _Scalar) for a in allowed):
            raise problem(f"{key!r}: expected a scalar or a list of scalars, got {kind(value[key])}")
        out[key] = tuple(allowed)
    return out


ExpectJson = Annotated[dict[str, tuple[Any, ...]], PlainValidator(_expect_json),
                       WithJsonSchema({"type": "object", "additionalProperties": {
                           "anyOf": [{"type": ["string", "number", "boolean", "null"]},
                                     {"type": "array", "items": {
                                         "type": ["string", "number", "boolean", "null"]}}]}})]


@dataclass(frozen=True, config=MODEL)
class Subdomain:
    """One endpoint an environment answers on, with what it must answer."""

    path: UrlPath = "/"
    expect_status: Whole(100, 599) = 200
    expect_body: Annotated[Text | None, Field(description="text the body must contain; "
                                                          "'re:<pattern>' searches")] = None
    expect_json: Annotated[ExpectJson, Field(description="JSON key -> allowed value(s)")] = \
        field(default_factory=dict)
    follow_redirects: Flag = True
    budget_ms: Annotated[Number(3_600_000) | None,
                         Field(description="response-time budget (default network.budget_ms)")] = None
    name: str = field(default="", init=False)


@dataclass(frozen=True, config=MODEL)
class VersionSpec:
    """Where an environment tells which build it serves."""

    subdomain: Host
    path: UrlPath = "/"
    json_key: Text | None = None
    header: Text | None = None


@dataclass(frozen=True, config=MODEL)
class DatabaseSpec:
    """The live database of an environment."""

    dsn_env: Annotated[Variable, Field(description="the environment variable holding the DSN")]


@dataclass(frozen=True, config=MODEL)
class KubeSpec:
    """The cluster and namespace an environment runs in."""

    context: Annotated[Text | None, Field(description="the kubeconfig context")] = None
    namespace: Label | None = None
    kubeconfig: Annotated[MaybeText | None, Field(description="a kubeconfig file (default: "
                                                              "$KUBECONFIG, ~/.kube/config)")] = None
    restart_threshold: Annotated[Whole(0, 1_000_000), Field(
        description="restarts within the last hour above which a container is a blocker")] = 5


@dataclass(frozen=True, config=MODEL)
class Environment:
    """One environment of the estate."""

    deploys: Deploys
    gitops: GitopsSpec
    domain: Host | None = None
    subdomains: Annotated[dict[Host, Annotated[Subdomain, _or(dict)]], _or(dict)] = \
        field(default_factory=dict)
    version: VersionSpec | None = None
    database: DatabaseSpec | None = None
    kubernetes: KubeSpec | None = None
    name: str = field(default="", init=False)


@dataclass(frozen=True, config=MODEL)
class Registries:
    """How to reach the registries that charts name."""

    platform: Annotated[Platform, Field(description="an image index must hold this platform")] = \
        "linux/amd64"
    mirrors: Annotated[dict[HostPort, Url], _or(dict),
                       Field(description="registry host -> the URL to reach it at")] = \
        field(default_factory=dict)
    ca_file: Annotated[FilePath | None, Field(description="CA bundle for the mirrors")] = None
    skip: Annotated[Hosts, Field(description="registries not checked (third-party images)")] = ()
    docker_config: Annotated[FilePath | None, Field(
        description="docker config with credentials (default: $DOCKER_CONFIG/config.json, "
                    "~/.docker/config.json)")] = None
    concurrency: Annotated[Whole(1, 256), Field(description="registry requests in flight")] = 16


@dataclass(frozen=True, config=MODEL)
class Network:
    """Bounds and overrides for every network call."""

    timeout_s: Annotated[Number(3600), Field(
        description="one bound for every connection and request")] = 10.0
    resolve: Annotated[dict[HostPort, Address], _or(dict), Field(
        description="host -> address overrides, like curl --resolve")] = field(default_factory=dict)
    ca_file: Annotated[FilePath | None, Field(description="CA bundle for the subdomain checks")] = None
    cert_warning_days: Annotated[Number(3650), Field(
        description="a certificate expiring sooner is a warning")] = 21.0
    cert_blocker_days: Annotated[Number(3650), Field(
        description="a certificate expiring sooner is a blocker")] = 7.0
    budget_ms: Annotated[Number(3_600_000), Field(
        description="default response-time budget of a subdomain (over it: a warning)")] = 2000.0
    retries: Annotated[Whole(0, 10), Field(
        description="retries of an idempotent GET that got no answer or 502/503/504")] = 2


@dataclass(frozen=True, config=MODEL)
class Waiver:
    """A known, accepted finding, with an expiry date."""

    check: Annotated[Text, Field(description="glob of check names")]
    reason: Text
    expires: Annotated[Date, Field(description="the last day it applies")]
    environment: Name | None = None
    item: Annotated[Text | None, Field(description="glob of items")] = None
    line: int | None = field(default=None, init=False)


@dataclass(frozen=True, config=MODEL)
class Estate:
    """The whole environments file, typed."""

    version: Annotated[Literal[1], BeforeValidator(
        lambda v: no(f"unsupported version {v!r} (supported: 1)") if isinstance(v, bool) else v)]
    sources: Annotated[dict[Name, Source], _some("source")]
    environments: Annotated[dict[Name, Environment], _some("environment")]
    settings: Annotated[tuple[SettingsEntry, ...], _or(tuple)] = ()
    frontend: Annotated[tuple[FrontendEntry, ...], _or(tuple)] = ()
    builds: Annotated[tuple[BuildEntry, ...], _or(tuple)] = ()
    snapshot: Snapshot | None = None
    database_requirements: Annotated[DatabaseRequirements, _or(DatabaseRequirements)] = \
        field(default_factory=DatabaseRequirements)
    feature_flags: Annotated[FeatureFlags, _or(FeatureFlags)] = field(default_factory=FeatureFlags)
    registries: Annotated[Registries, _or(Registries)] = field(default_factory=Registries)
    network: Annotated[Network, _or(Network)] = field(default_factory=Network)
    waivers: Annotated[tuple[Waiver, ...], _or(tuple)] = ()
    path: Path = field(default=Path(), init=False)
    root: Path = field(default=Path(), init=False)
    raw: Any = field(default=None, init=False, repr=False, compare=False)

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
