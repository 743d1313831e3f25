"""The environments file as typed models: one class per section, strict types, no unknown key.

The same classes validate the file (through the loader, which maps each error to its line) and
export the JSON Schema editors use (plugins/estate/schema.py); the docstring under each field is
its description there and in the reference of docs/environments.md. Fields the loader sets
rather than the file (names taken from mapping keys, lines, the file's path) are ``init=False``
and skipped by the schema: they are not keys of the file.
"""

from __future__ import annotations

from dataclasses import field
from pathlib import Path
import types
import typing
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, model_validator
from pydantic.dataclasses import dataclass
from pydantic.json_schema import SkipJsonSchema

from releasegate.estate.database_models import DatabaseRequirements, DatabaseSpec, IndexRequirement, Snapshot
from releasegate.estate.render_bounds import Render
from releasegate.estate.values import (
    Address, AppObject, Branch, Date, EnvName, ExpectJson, FilePath, Flag, Folder, Host, HostPort, Hosts,
    ImageRepositories, KubeVersion, Label, Labels, MaybeText, Name, Number, Platform, Release, RepoPath,
    RepoPaths, SourceRef, Strings, Text, Url, UrlPath, Variable, Whole, MODEL, no, or_default, problem,
)

def _some(what: str) -> BeforeValidator:
    def check(value: Any) -> Any:
        if not isinstance(value, dict) or not value:
            raise problem(f"expected a mapping of at least one {what}")
        return value
    return BeforeValidator(check)


@dataclass(frozen=True, config=MODEL)
class Source:
    """A git repository the suite reads, never writes."""

    path: Folder
    """a local clone, relative to this file's folder; read through git objects, never written; it
    must be the repository's top level; a plain `git clone` is enough (branches other than main are
    read from `origin/<name>`); one repository may serve as both the app and the gitops source"""
    main: Branch = "main"
    """the integration branch; it must exist"""
    release_tags: Text = "v*.*.*"
    """glob of the tags that mark a release"""
    images: ImageRepositories = ()
    """image repositories (no tag) on which a release-version tag names this source's release
    (default: what its builds push, its settings containers' images, the chart's appVersion image)"""
    create: Text | None = None
    """(extension) a command that creates the clone when the path is missing; run once, under a
    lock, in this file's folder (the demo uses it)"""
    web_url: Url | None = None
    """(extension) the repository's page on its host, e.g. `https://github.com/org/app`: the drift
    report links each finding's file and line to `<web_url>/blob/<commit>/<path>#L<line>`"""
    name: SkipJsonSchema[str] = field(default="", init=False)
    # Where the file sets path and main, for a usage error once the source exists (or should).
    lines: SkipJsonSchema[tuple[int | None, int | None]] = field(default=(None, None), init=False)


@dataclass(frozen=True, config=MODEL)
class SettingsEntry:
    """A settings module the application reads at boot."""

    kind: Literal["pydantic-settings"]
    """the settings library"""
    source: SourceRef
    """the source that holds the module"""
    path: RepoPath
    """the settings module in that source, relative to the repository's root (in a monorepo,
    `server/app/settings.py`); every BaseSettings class in it is checked; one entry per service
    whose settings module differs"""
    containers: Labels = ()
    """container names of the rendered chart that boot this module: container names, not workload
    names (`api-server`, not `api`); a name that matches none is reported"""
    boot: Text | None = None
    """a function in that file the application calls at start (the boot check calls it)"""
    python: Text | None = None
    """interpreter for the boot check (default: the suite's), kept as given: a venv's bin/python stays the venv's"""
    environment: Text | None = None
    """boot with the application's own dependencies, installed with uv at each commit from this file: `uv.lock`,
    `requirements*.txt`, `pyproject.toml`, or `auto` (the first at or above the module's folder)"""
    classes: Annotated[dict[Label, Strings], or_default(dict)] = field(default_factory=dict)
    """the settings classes (and boot function) each container builds, by container name; unlisted: what the
    boot function builds (read from the file), else every class"""
    app: AppObject | None = None
    """the web application these containers serve, `module path:variable` (`server/app/main.py:app`;
    Django: `site/urls.py:urlpatterns`): their HTTP probe paths are checked against its routes"""


@dataclass(frozen=True, config=MODEL)
class FrontendEntry:
    """Front-end files whose environment variables the host must provide."""

    source: SourceRef
    """the source that holds the files"""
    paths: RepoPaths
    """front-end files that read environment variables"""
    env_file: RepoPath | None = None
    """the .env file the host provides"""


@dataclass(frozen=True, config=MODEL)
class BuildEntry:
    """A CI workflow that builds and tags images."""

    kind: Literal["github-actions"]
    """the CI system"""
    source: SourceRef
    """the source that holds the workflow"""
    workflow: RepoPath
    """the workflow file in that source"""


@dataclass(frozen=True, config=MODEL)
class FeatureFlags:
    """Which variables are feature flags, and where they must be on first."""

    prefixes: Strings = ()
    """variable-name prefixes of feature flags"""
    staging: Name | None = None
    """the environment where a flag must be on before production may turn it on"""


@dataclass(frozen=True, config=MODEL)
class Deploys:
    """What an environment deploys: a branch's head or release tags (exactly one)."""

    branch: Branch | None = None
    """the branch whose head it deploys"""
    tag: Text | None = None
    """glob of the release tags it deploys"""

    @model_validator(mode="after")
    def _one(self) -> Deploys:
        if bool(self.branch) == bool(self.tag):
            raise problem("give exactly one of branch or tag")
        return self


@dataclass(frozen=True, config=MODEL)
class GitopsSpec:
    """Where an environment's manifests come from in the deployment repository."""

    argocd_app: RepoPath | None = None
    """an Argo CD Application manifest giving chart path, value files, release and namespace"""
    chart: RepoPath | None = None
    """the Helm chart folder (instead of argocd_app)"""
    values: RepoPaths = ()
    """value files, in order (with chart)"""
    release: Release | None = None
    """the Helm release name (with chart)"""
    namespace: Label | None = None
    """the namespace (with chart)"""
    secrets: RepoPaths = ()
    """SealedSecret or Secret manifests whose keys the containers read"""
    secret_keys: Annotated[dict[Text, Strings], or_default(dict)] = field(default_factory=dict)
    """(extension) the keys of secrets that an operator makes from a store outside git (an
    ExternalSecret with dataFrom, a Vault operator's secret, a KafkaAccess), by secret name: what
    the store holds, so the containers' keys can be checked"""
    source: SourceRef | None = None
    """the deployment repository's source (default: the source named gitops)"""
    argocd_parent: RepoPath | None = None
    """an app-of-apps Application, ApplicationSet or chart folder yielding Application argocd_child"""
    argocd_child: Text | None = None
    """the name of the Application that argocd_parent generates for this environment (`{name}`
    in an environment declared by a pattern: each matching Application's name)"""
    flux_helmrelease: RepoPath | None = None
    """a Flux HelmRelease manifest (instead of argocd_app): chart, valuesFrom, values, release"""

    @model_validator(mode="after")
    def _chart(self) -> GitopsSpec:
        if not (self.argocd_app or self.chart or self.argocd_parent or self.flux_helmrelease) or \
                bool(self.argocd_parent) != bool(self.argocd_child):
            raise problem("give argocd_app, chart, flux_helmrelease, or argocd_parent with argocd_child")
        return self


@dataclass(frozen=True, config=MODEL)
class Subdomain:
    """One endpoint an environment answers on, with what it must answer."""

    path: UrlPath = "/"
    """the path to GET"""
    expect_status: Whole(100, 599) = 200
    """the HTTP status it must answer"""
    expect_body: Text | None = None
    """text the body must contain; `re:<pattern>` searches it with a regular expression"""
    expect_json: ExpectJson = field(default_factory=dict)
    """JSON key -> allowed value or list of values"""
    follow_redirects: Flag = True
    """follow redirects before judging the answer"""
    budget_ms: Number(3_600_000) | None = None
    """response time over it is a warning (default network.budget_ms)"""
    name: SkipJsonSchema[str] = field(default="", init=False)


@dataclass(frozen=True, config=MODEL)
class VersionSpec:
    """Where an environment tells which build it serves."""

    subdomain: Host
    """the subdomain that answers"""
    path: UrlPath = "/"
    """the path to GET"""
    json_key: Text | None = None
    """the JSON key holding the build (a commit or tag)"""
    header: Text | None = None
    """the response header holding the build"""


@dataclass(frozen=True, config=MODEL)
class KubeSpec:
    """The cluster and namespace an environment runs in."""

    context: Text | None = None
    """the kubeconfig context"""
    namespace: Label | None = None
    """the namespace it runs in"""
    kubeconfig: MaybeText | None = None
    """(extension) the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)"""
    restart_threshold: Whole(0, 1_000_000) = 5
    """restarts within the last hour above which a container is a blocker"""
    version: KubeVersion | None = None
    """the cluster's Kubernetes version (`"1.30"`, quoted): manifests are validated against its
    API schema (default: the newest schema the suite keeps, said in each check)"""


@dataclass(frozen=True, config=MODEL)
class Environment:
    """One environment of the estate."""

    deploys: Deploys
    """what it deploys: {branch: NAME} or {tag: GLOB}"""
    gitops: GitopsSpec
    """where its manifests come from"""
    domain: Host | None = None
    """the domain its subdomains are under"""
    subdomains: Annotated[dict[Host, Annotated[Subdomain, or_default(dict)]], or_default(dict)] = \
        field(default_factory=dict)
    """subdomain name -> what it must answer"""
    version: VersionSpec | None = None
    """where it reports the build it serves"""
    database: DatabaseSpec | None = None
    """its live database"""
    kubernetes: KubeSpec | None = None
    """its cluster"""
    name: SkipJsonSchema[str] = field(default="", init=False)


@dataclass(frozen=True, config=MODEL)
class Registries:
    """How to reach the registries that charts name."""

    platform: Platform = "linux/amd64"
    """an image index must hold this platform"""
    mirrors: Annotated[dict[HostPort, Url], or_default(dict)] = field(default_factory=dict)
    """registry host -> the http(s) URL to reach it at"""
    ca_file: FilePath | None = None
    """CA bundle for the mirrors (relative to this file)"""
    skip: Hosts = ()
    """registries not checked (third-party images)"""
    docker_config: FilePath | None = None
    """docker config with registry credentials, credential helpers included (default:
    $DOCKER_CONFIG/config.json, then ~/.docker/config.json)"""
    concurrency: Whole(1, 256) = 16
    """registry requests in flight"""


@dataclass(frozen=True, config=MODEL)
class Network:
    """Bounds and overrides for every network call."""

    timeout_s: Number(3600) = 10.0
    """one bound in seconds for every connection and request"""
    resolve: Annotated[dict[HostPort, Address], or_default(dict)] = field(default_factory=dict)
    """host (or host:port) -> address[:port] overrides, like curl --resolve"""
    ca_file: FilePath | None = None
    """CA bundle for the subdomain checks (relative to this file)"""
    cert_warning_days: Number(3650) = 21.0
    """a certificate expiring sooner is a warning"""
    cert_blocker_days: Number(3650) = 7.0
    """a certificate expiring sooner is a blocker"""
    budget_ms: Number(3_600_000) = 2000.0
    """default response-time budget of a subdomain (over it: a warning)"""
    retries: Whole(0, 10) = 2
    """retries of an idempotent GET that got no answer or 502/503/504 (backoff 0.2 s, 0.4 s,
    never past the timeout)"""


@dataclass(frozen=True, config=MODEL)
class Waiver:
    """A known, accepted finding, with an expiry date."""

    check: Text
    """glob of check names"""
    reason: Text
    """why it is accepted (printed with the finding)"""
    expires: Date
    """the last day it applies; after it the waiver fails and says so"""
    environment: Name | None = None
    """the environment it applies to (default: all)"""
    item: Text | None = None
    """glob of items (default: all)"""
    line: SkipJsonSchema[int | None] = field(default=None, init=False)


@dataclass(frozen=True, config=MODEL)
class Estate:
    """An environments file of releasegate: the estate that the suite checks, and where it looks."""

    version: Annotated[Literal[1], BeforeValidator(
        lambda v: no(f"unsupported version {v!r} (supported: 1)") if isinstance(v, bool) else v)]
    """the file format's version"""
    sources: Annotated[dict[Name, Source], _some("source")]
    """git repositories, by a name of your choice"""
    environments: Annotated[dict[EnvName, Environment], _some("environment")]
    """the environments, by name (the names --env takes); a name with `*` (`web-*`) declares one
    environment per Application its gitops.argocd_parent yields whose name matches, each with
    `{name}` in argocd_child replaced by that Application's name"""
    settings: Annotated[tuple[SettingsEntry, ...], or_default(tuple)] = ()
    """configuration the application reads at boot"""
    frontend: Annotated[tuple[FrontendEntry, ...], or_default(tuple)] = ()
    """environment variables the front end reads"""
    builds: Annotated[tuple[BuildEntry, ...], or_default(tuple)] = ()
    """what CI builds, and how it tags images"""
    snapshot: Snapshot | None = None
    """the schema kept as code"""
    database_requirements: Annotated[DatabaseRequirements, or_default(DatabaseRequirements)] = \
        field(default_factory=DatabaseRequirements)
    """raw SQL that migrations rely on"""
    feature_flags: Annotated[FeatureFlags, or_default(FeatureFlags)] = field(default_factory=FeatureFlags)
    """which variables are feature flags"""
    registries: Annotated[Registries, or_default(Registries)] = field(default_factory=Registries)
    """how to reach the registries that charts name"""
    network: Annotated[Network, or_default(Network)] = field(default_factory=Network)
    """bounds and overrides for every network call"""
    render: Annotated[Render, or_default(Render)] = field(default_factory=Render)
    """bounds of every chart render"""
    waivers: Annotated[tuple[Waiver, ...], or_default(tuple)] = ()
    """known, accepted findings; each one expires"""
    path: SkipJsonSchema[Path] = field(default=Path(), init=False)
    root: SkipJsonSchema[Path] = field(default=Path(), init=False)
    raw: SkipJsonSchema[Any] = field(default=None, init=False, repr=False, compare=False)

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


def unwrap(hint: Any) -> Any:
    """The type under Annotated and Optional: the model, dict or tuple a field holds."""
    while True:
        origin = typing.get_origin(hint)
        if origin is Annotated:
            hint = typing.get_args(hint)[0]
        elif origin in (typing.Union, types.UnionType):
            hint = next(a for a in typing.get_args(hint) if a is not type(None))
        else:
            return hint
