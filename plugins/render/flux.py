"""A Flux HelmRelease read as helm-controller reads it: its chart from a GitRepository path, a
HelmRepository or an OCIRepository, its values from `valuesFrom` ConfigMaps and Secrets found in
the deployment repository and `spec.values`, its release name and namespace.

Rules from fluxcd/helm-controller api/v2/helmrelease_types.go (GetReleaseName,
GetReleaseNamespace, GetValues) and fluxcd/pkg chartutil/values.go (ChartValuesFromReferences,
ReplacePathValue); the resulting values are Helm's user-supplied values.
"""

from __future__ import annotations

import base64
import io
from typing import Any

from ruamel.yaml import YAML

from releasegate.core.gitrepo import GitRepo, NotChecked, SourceError
from releasegate.core.helm import ChartSource, _deep_merge, load_yaml_documents
from releasegate.render.argocd import same_repo
from releasegate.render.strvals import StrvalsError, parse_into

_OBJECTS: dict[tuple[str, str], list[dict[str, Any]]] = {}


def repo_objects(repo: GitRepo, sha: str) -> list[dict[str, Any]]:
    """Every YAML object of the repository at a commit (read once per commit)."""
    key = (str(repo.path), sha)
    if key not in _OBJECTS:
        found: list[dict[str, Any]] = []
        for path, data in sorted(repo.read_tree(sha, "").items()):
            if path.endswith((".yaml", ".yml")) and len(data) < 1_000_000:
                try:
                    docs = load_yaml_documents(data.decode("utf-8", "replace"), path)
                except SourceError:
                    continue  # a template or other non-manifest YAML: not an object Flux reads
                found.extend(d for d in docs if isinstance(d, dict) and d.get("kind"))
        _OBJECTS.clear()
        _OBJECTS[key] = found
    return _OBJECTS[key]


def find_object(objects: list[dict[str, Any]], kind: str, name: str,
                namespace: str) -> dict[str, Any] | None:
    """The object of that kind and name (in that namespace, or without one in its file)."""
    for obj in objects:
        meta = obj.get("metadata") or {}
        if obj.get("kind") == kind and meta.get("name") == name and \
                meta.get("namespace") in (None, "", namespace):
            return obj
    return None


def _data(obj: dict[str, Any], key: str) -> str | None:
    if obj.get("kind") == "Secret":
        if key in (obj.get("stringData") or {}):
            return str(obj["stringData"][key])
        raw = (obj.get("data") or {}).get(key)
        return None if raw is None else base64.b64decode(str(raw)).decode("utf-8", "replace")
    value = (obj.get("data") or {}).get(key)
    return None if value is None else str(value)


def release_values(objects: list[dict[str, Any]], release: dict[str, Any], where: str) -> dict[str, Any]:
    """ChartValuesFromReferences: each valuesFrom in order (a targetPath set like --set, a
    quoted value like --set-string), then spec.values over all of it."""
    spec = release.get("spec") or {}
    namespace = str((release.get("metadata") or {}).get("namespace") or "default")
    values = spec.get("values") or {}
    result: dict[str, Any] = {}
    for ref in spec.get("valuesFrom") or ():
        kind, name = str(ref.get("kind")), str(ref.get("name"))
        key = str(ref.get("valuesKey") or "values.yaml")
        if kind not in ("ConfigMap", "Secret"):
            raise SourceError(f"{where}: valuesFrom {kind}/{name}: unsupported kind")
        obj = find_object(objects, kind, name, namespace)
        data = None if obj is None else _data(obj, key)
        if data is None:
            if ref.get("optional"):
                continue
            raise NotChecked(f"{where}: not checked: valuesFrom {kind} {namespace}/{name} "
                             f"(key {key}) is not in the repository (created in the cluster?); "
                             "commit it, or mark the reference optional")
        if ref.get("targetPath"):
            result = _deep_merge(result, values)
            quoted = data[:1] in "'\"" and data[-1:] == data[:1] and len(data) > 1
            try:
                parse_into(f"{ref['targetPath']}={data.strip(chr(39) + chr(34)) if quoted else data}",
                           result, as_string=quoted)
            except StrvalsError as exc:
                raise SourceError(f"{where}: valuesFrom {kind}/{name} targetPath: {exc}") from None
            continue
        docs = load_yaml_documents(data, f"{where} valuesFrom {kind}/{name}")
        if docs and isinstance(docs[0], dict):
            result = _deep_merge(result, docs[0])
    return _deep_merge(result, values)


def helmrelease_source(repo: GitRepo, ref: str, path: str) -> ChartSource:
    """What to render for a HelmRelease file at a ref."""
    where = f"{repo.name}:{path}"
    sha = repo.resolve(ref)
    docs = load_yaml_documents(repo.show(sha, path), where)
    release = next((d for d in docs if isinstance(d, dict) and d.get("kind") == "HelmRelease"), None)
    if release is None:
        raise SourceError(f"{where} holds no HelmRelease")
    meta, spec = release.get("metadata") or {}, release.get("spec") or {}
    namespace = str(spec.get("targetNamespace") or meta.get("namespace") or "default")
    name = str(spec.get("releaseName") or (f"{spec['targetNamespace']}-{meta.get('name')}"
                                           if spec.get("targetNamespace") else meta.get("name")))
    objects = repo_objects(repo, sha)
    chart, remote, value_files = _chart(repo, objects, release, where)
    stream = io.StringIO()
    YAML(typ="safe", pure=True).dump(release_values(objects, release, where), stream)
    return ChartSource(chart=chart, values=value_files, release=name, namespace=namespace,
                       inline=stream.getvalue(), remote=remote)  # type: ignore[arg-type]


def _chart(repo: GitRepo, objects: list[dict[str, Any]], release: dict[str, Any],
           where: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """(chart folder, remote chart, value files) of spec.chart.spec or spec.chartRef."""
    spec = release.get("spec") or {}
    own_ns = str((release.get("metadata") or {}).get("namespace") or "default")
    template = (spec.get("chart") or {}).get("spec") or {}
    source_ref = template.get("sourceRef") or spec.get("chartRef") or {}
    kind, name = str(source_ref.get("kind")), str(source_ref.get("name"))
    source = find_object(objects, kind, name, str(source_ref.get("namespace") or own_ns))
    url = str(((source or {}).get("spec") or {}).get("url") or "")
    own = repo.remote_url()
    files = tuple("/" + str(f).lstrip("./") for f in template.get("valuesFiles") or ())
    if kind in ("GitRepository", "Bucket") and template.get("chart"):
        if kind == "Bucket" or (source is not None and own and not same_repo(url, own)):
            raise NotChecked(f"{where}: not checked: the chart comes from {kind} {name} "
                             f"({url or 'not in this repository'}), not from {repo.name}")
        return str(template["chart"]).strip("./").strip("/") or ".", (), files
    if kind == "HelmRepository" and template.get("chart"):
        return "", (url or f"HelmRepository {name}", str(template["chart"]),
                    str(template.get("version") or "")), files
    if kind == "OCIRepository" and source is not None:
        ref = (source.get("spec") or {}).get("ref") or {}
        return "", (url, url.rstrip("/").rsplit("/", 1)[-1],
                    str(ref.get("tag") or ref.get("semver") or "")), ()
    raise NotChecked(f"{where}: not checked: chart source {kind} {name} is not found in "
                     f"{repo.name} or not rendered here")
