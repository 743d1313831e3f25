"""An Argo CD Application read as its repo server reads it: each Helm source, its value files,
values/valuesObject, parameters, file parameters, release name, namespace and build variables.

Rules from argoproj/argo-cd: reposerver/repository/repository.go (helmTemplate, newEnv,
getResolvedValueFiles, getResolvedRefValueFile), pkg/apis/application/v1alpha1 (Env.Envsubst,
ApplicationSourceHelm.ValuesYAML, ApplicationSource.GetNamespaceOrDefault), util/git
(NormalizeGitURL) and util/helm/cmd.go (Cmd.template).
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
from typing import Any, Callable

from ruamel.yaml import YAML

from releasegate.core.gitrepo import GitRepo, NotChecked, SourceError
from releasegate.core.helm import ChartSource, load_yaml_documents

_SPECIAL = set("*#$@!?-0123456789")
_ALNUM = re.compile(r"[A-Za-z0-9_]*")


def envsubst(text: str, env: dict[str, str]) -> str:
    """Env.Envsubst: Go's os.Expand over the build variables; `$$` is a dollar, an unknown
    variable is empty, `${}` and an unclosed `${` are eaten (Go's getShellName)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] != "$" or i + 1 >= len(text):
            out.append(text[i])
            i += 1
            continue
        rest = text[i + 1:]
        if rest[0] == "{":
            if len(rest) > 2 and rest[1] in _SPECIAL and rest[2] == "}":
                name, width = rest[1], 3
            else:
                close = rest.find("}")
                name, width = (("", 2) if close == 1 else (rest[1:close], close + 1)) \
                    if close > 0 else ("", 1)
        elif rest[0] in _SPECIAL:
            name, width = rest[0], 1
        else:
            name = _ALNUM.match(rest).group(0)  # type: ignore[union-attr]
            width = len(name)
        if name == "$":
            out.append("$")
        elif name:
            out.append(env.get(name, ""))
        elif width == 0:
            out.append("$")
        i += 1 + width
    return "".join(out)


def build_env(app: dict[str, Any], source: dict[str, Any], revision: str) -> dict[str, str]:
    """newEnv: the variables Argo CD substitutes in parameters and value file paths."""
    spec = app.get("spec") or {}
    return {
        "ARGOCD_APP_NAME": str((app.get("metadata") or {}).get("name", "")),
        "ARGOCD_APP_NAMESPACE": str((spec.get("destination") or {}).get("namespace") or ""),
        "ARGOCD_APP_PROJECT_NAME": str(spec.get("project") or ""),
        "ARGOCD_APP_REVISION": revision,
        "ARGOCD_APP_REVISION_SHORT": revision[:7],
        "ARGOCD_APP_REVISION_SHORT_8": revision[:8],
        "ARGOCD_APP_SOURCE_REPO_URL": str(source.get("repoURL") or ""),
        "ARGOCD_APP_SOURCE_PATH": str(source.get("path") or ""),
        "ARGOCD_APP_SOURCE_TARGET_REVISION": str(source.get("targetRevision") or ""),
    }


def same_repo(a: str, b: str) -> bool:
    """NormalizeGitURL, leniently: case, `.git`, a trailing slash, the scheme, the user and
    scp-style `host:path` do not make two URLs different repositories."""
    def norm(url: str) -> str:
        url = url.strip().lower()
        url = re.sub(r"^[a-z+]+://", "", url)
        url = url.split("@", 1)[-1]
        url = re.sub(r"^([^/:]+):(?!\d+/)", r"\1/", url)
        return url.rstrip("/").removesuffix(".git")
    return bool(a) and bool(b) and norm(a) == norm(b)


def read_application(repo: GitRepo, ref: str, app_path: str) -> dict[str, Any]:
    """The first Application document of a file at a ref."""
    docs = load_yaml_documents(repo.show(ref, app_path), f"{repo.name}:{app_path}")
    app = next((d for d in docs if isinstance(d, dict) and d.get("kind") == "Application"), None)
    if app is None:
        raise SourceError(f"{repo.name}:{app_path} holds no Argo CD Application")
    return app


def _yaml_text(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        return value
    stream = io.StringIO()
    YAML(typ="safe", pure=True).dump(value, stream)
    return stream.getvalue()


Home = tuple[str, GitRepo, str]  # (estate source name, "" for the deployment repository; repo; sha)
Resolver = Callable[[str], "Home | None"]


def helm_sources(repo: GitRepo, ref: str, app_path: str, app: dict[str, Any] | None = None,
                 resolve: Resolver | None = None) -> list[ChartSource]:
    """Every source of the Application that Argo CD renders, in order (multi-source Applications
    render each source and concatenate the manifests; `ref:`-only sources only lend their files
    to `$ref/...` value files). resolve(url) finds another repository of the estate by URL."""
    app = app or read_application(repo, ref, app_path)
    where = f"{repo.name}:{app_path}"
    spec = app.get("spec") or {}
    multi = bool(spec.get("sources"))
    sources = spec.get("sources") or [spec.get("source") or {}]
    if not all(isinstance(s, dict) for s in sources):
        raise SourceError(f"{where}: spec.sources must be a list of mappings")
    refs = {s["ref"]: str(s.get("repoURL") or "") for s in sources if s.get("ref")}
    own_url, revision = repo.remote_url(), repo.resolve(ref)

    def home(url: str) -> Home | None:
        if not own_url or same_repo(url, own_url):
            return "", repo, revision
        return resolve(url) if resolve else None

    out: list[ChartSource] = []
    for index, source in enumerate(sources):
        key = f"spec.sources[{index}]" if multi else "spec.source"
        if not source.get("path") and not source.get("chart"):
            continue  # a ref-only source
        try:
            out.append(_one_source(app, source, refs, home, repo, revision, multi, where, key))
        except NotChecked as exc:
            if not multi:
                raise
            # controller/state.go GetRepoObjs renders each source on its own and concatenates:
            # a source the suite cannot read hides only what it deploys, not the others.
            out.append(UnreadSource(chart=str(source.get("path") or source.get("chart") or ""),
                                    reason=str(exc)))
    if not out:
        raise SourceError(f"{where}: spec.source.path is missing")
    return out


@dataclasses.dataclass(frozen=True)
class UnreadSource(ChartSource):
    """A source of a multi-source Application the suite cannot render here; reason is its one
    "not checked" line (what it deploys and what would let it check)."""

    reason: str = ""


def readable(sources: list[ChartSource]) -> tuple[list[ChartSource], list[str]]:
    """The sources to render and the "not checked" lines of the others; when no source can be
    rendered the whole Application is not checked."""
    unread = [s.reason for s in sources if isinstance(s, UnreadSource)]
    found = [s for s in sources if not isinstance(s, UnreadSource)]
    if not found:
        raise NotChecked("; ".join(unread))
    return found, unread


def _one_source(app: dict[str, Any], source: dict[str, Any], refs: dict[str, str],
                home: Callable[[str], Home | None], repo: GitRepo, revision: str, multi: bool,
                where: str, key: str) -> ChartSource:
    """One source as the repo server renders it (Helm, Kustomize or directory)."""
    chart_home = home(str(source.get("repoURL") or "")) if source.get("path") else None
    if source.get("path") and chart_home is None:
        if multi:
            url = source.get("repoURL")
            raise NotChecked(f"{where}: {key} (path {source.get('path')} of {url}): not checked: "
                             f"{url} is none of the estate's sources (by their origin URL); add "
                             f"that repository to `sources` (a clone whose origin is {url}) to "
                             "check what it deploys")
        chart_home = "", repo, revision  # one source: read from the deployment repository
    found = _chart_source(app, source, refs, home, chart_home, where, key)
    kind = _kind(chart_home[1], chart_home[2], source) if chart_home else "helm"
    if kind == "plugin":
        raise NotChecked(f"{where}: {key}.plugin: not checked: a config management plugin "
                         "runs only in Argo CD's repo server")
    if kind in ("directory", "kustomize"):
        settings = json.dumps(source.get(kind) or {}, sort_keys=True)
        namespace = (source.get("kustomize") or {}).get("namespace") if kind == "kustomize" else None
        found = dataclasses.replace(
            found, values=(), inline="", parameters=(), file_parameters=(), foreign=(),
            namespace=str(namespace or found.namespace), **{kind: settings})
    return found


def _kind(repo: GitRepo, ref: str, source: dict[str, Any]) -> str:
    """GetAppSourceType: an explicit plugin, kustomize, helm or directory block, else detected
    (util/app/discovery Discover: Chart.yaml is Helm, a kustomization Kustomize, else a directory)."""
    for explicit in ("plugin", "directory", "kustomize", "helm"):
        if source.get(explicit) is not None:
            return explicit
    base = str(source["path"]).strip("/")
    if repo.exists(ref, f"{base}/Chart.yaml".lstrip("/")):
        return "helm"
    if any(repo.exists(ref, f"{base}/{name}".lstrip("/"))
           for name in ("kustomization.yaml", "kustomization.yml", "Kustomization")):
        return "kustomize"
    return "directory"


def _chart_source(app: dict[str, Any], source: dict[str, Any], refs: dict[str, str],
                  home: Callable[[str], Home | None], chart_home: Home | None, where: str,
                  key: str) -> ChartSource:
    helm = source.get("helm") or {}
    spec = app.get("spec") or {}
    env = build_env(app, source, chart_home[2] if chart_home else
                    str(source.get("targetRevision") or ""))
    values: list[str] = []
    foreign: list[tuple[str, str]] = []
    for name in helm.get("valueFiles") or ():
        if not str(name).startswith("$"):
            values.append(envsubst(str(name), env))
            continue
        path, text = _ref_file(str(name), refs, home, chart_home, env, where, key,
                               bool(helm.get("ignoreMissingValueFiles")))
        if path is not None:
            values.append(path)
            foreign.extend([(path, text)] if text is not None else [])
    file_parameters = []
    for p in helm.get("fileParameters") or ():
        path = str(p.get("path") or "") if isinstance(p, dict) else ""
        if path.startswith("$"):
            path, text = _ref_file(path, refs, home, chart_home, env, where, key, False)
            if text is not None:
                raise NotChecked(f"{where}: {key} fileParameters {p.get('name')}: a file of "
                                 "another repository than the chart's: not checked")
        file_parameters.append((str(p.get("name")), envsubst(str(path), env)))
    # ValuesYAML: valuesObject, when set, wins over values.
    inline = _yaml_text(helm.get("valuesObject")) or _yaml_text(helm.get("values"))
    parameters = tuple((str(p.get("name")), envsubst(str(p.get("value", "")), env),
                        bool(p.get("forceString")))
                       for p in helm.get("parameters") or () if isinstance(p, dict))
    name = str((app.get("metadata") or {}).get("name") or "release").rsplit("_", 1)[-1]
    remote: tuple[str, ...] = ()
    if source.get("chart") and not source.get("path"):
        remote = (str(source.get("repoURL") or ""), str(source["chart"]),
                  str(source.get("targetRevision") or ""))
    return ChartSource(
        chart=str(source.get("path") or "").strip("/") or ("" if remote else "."),
        values=tuple(values),
        release=str(helm.get("releaseName") or name),
        namespace=str(helm.get("namespace") or (spec.get("destination") or {}).get("namespace")
                      or "default"),
        inline=inline,
        parameters=parameters,
        file_parameters=tuple(file_parameters),
        ignore_missing=bool(helm.get("ignoreMissingValueFiles")),
        skip_crds=bool(helm.get("skipCrds")),
        remote=remote,  # type: ignore[arg-type]
        repo_source=chart_home[0] if chart_home else "",
        foreign=tuple(foreign),
    )


def _ref_file(name: str, refs: dict[str, str], home: Callable[[str], Home | None],
              chart_home: Home | None, env: dict[str, str], where: str, key: str,
              ignore_missing: bool) -> tuple[str | None, str | None]:
    """getResolvedRefValueFile: `$ref/rest` is `rest` from the repository root of the source
    named ref. In the chart's repository: ("/rest", None); in another repository of the estate:
    (name, its text at that repository's ref under test); missing and ignored: (None, None)."""
    ref_name, _, rest = name.partition("/")
    if ref_name[1:] not in refs:
        return envsubst(name, env), None  # not a ref: Argo CD reads it as a path (and fails)
    found = home(refs[ref_name[1:]])
    if found is None:
        raise NotChecked(f"{where}: {key} value file {name}: source {ref_name} is "
                         f"{refs[ref_name[1:]]}, none of the estate's sources: not checked")
    path = envsubst(rest, env).lstrip("/")
    if chart_home is not None and found[1] is chart_home[1]:
        return "/" + path, None
    if not found[1].exists(found[2], path):
        if ignore_missing:
            return None, None
        raise SourceError(f"{where}: {key} value file {name}: {found[1].name} has no {path} at "
                          f"{found[2][:12]}")
    return f"{found[1].name}:{path}", found[1].show(found[2], path)
