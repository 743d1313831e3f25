"""Render a Helm chart at a git ref with Helm's own engine (the helm binary, else helm-python-sdk)."""

from __future__ import annotations

import io
import resource
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from plugins.core import render_child, yaml_bounds
from plugins.core.gitrepo import GitRepo, SourceError
from plugins.core.render_child import RenderError

try:
    import yaml as _pyyaml

    _CLoader = getattr(_pyyaml, "CSafeLoader", None)
except ImportError:  # pragma: no cover - PyYAML comes with the kubernetes client
    _pyyaml, _CLoader = None, None


@dataclass(frozen=True)
class ChartSource:
    """What to render: chart folder, value files (in order), inline values, release and namespace."""

    chart: str
    values: tuple[str, ...] = ()
    release: str = "release"
    namespace: str = "default"
    inline: str = ""  # YAML text of inline values (an Argo CD Application's helm.values)


def _yaml() -> YAML:
    yaml = YAML(typ="safe", pure=False)
    return yaml


def load_yaml_documents(text: str, origin: str) -> list[Any]:
    """Parse a multi-document YAML text, naming its origin on error; aliases are bounded
    (plugins/core/yaml_bounds.py): an alias bomb or a recursive alias is an error with its line."""
    try:
        if _CLoader is not None:  # libyaml: ~10x faster on large rendered charts (YAML 1.1, as Kubernetes)
            try:
                if not yaml_bounds.may_alias(text):
                    return [doc for doc in _pyyaml.load_all(text, Loader=_CLoader) if doc is not None]
                return _documents(_CLoader(text))
            except _pyyaml.YAMLError as exc:
                raise SourceError(f"{origin}: invalid YAML: {str(exc).splitlines()[0]}") from None
        try:
            yaml = _yaml()
            if yaml_bounds.may_alias(text):
                for node in yaml.compose_all(io.StringIO(text)):
                    yaml_bounds.check(node)
            return [doc for doc in yaml.load_all(io.StringIO(text)) if doc is not None]
        except YAMLError as exc:
            raise SourceError(f"{origin}: invalid YAML: {str(exc).splitlines()[0]}") from None
    except yaml_bounds.AliasBomb as exc:
        where = f"{origin}:{exc.line}" if exc.line else origin
        raise SourceError(f"{where}: {exc.problem}") from None


def _documents(loader: Any) -> list[Any]:
    """Every non-empty document, each checked for alias bombs before it is built."""
    try:
        documents = []
        while loader.check_node():
            node = loader.get_node()
            yaml_bounds.check(node)
            document = loader.construct_document(node)
            if document is not None:
                documents.append(document)
        return documents
    finally:
        loader.dispose()


def argocd_source(repo: GitRepo, ref: str, app_path: str) -> ChartSource:
    """Read an Argo CD Application at a ref: chart path, value files, release name, namespace."""
    docs = load_yaml_documents(repo.show(ref, app_path), f"{repo.name}:{app_path}")
    app = next((d for d in docs if isinstance(d, dict) and d.get("kind") == "Application"), None)
    if app is None:
        raise SourceError(f"{repo.name}:{app_path} holds no Argo CD Application")
    spec = app.get("spec") or {}
    sources = spec.get("sources") or [spec.get("source") or {}]
    source = next((s for s in sources if s.get("path")), None)
    if source is None:
        raise SourceError(f"{repo.name}:{app_path}: spec.source.path is missing")
    helm = source.get("helm") or {}
    inline = helm.get("values") or ""
    if helm.get("valuesObject"):
        stream = io.StringIO()
        _yaml().dump(helm["valuesObject"], stream)
        inline = stream.getvalue()
    return ChartSource(
        chart=source["path"],
        values=tuple(helm.get("valueFiles") or ()),
        release=helm.get("releaseName") or (app.get("metadata") or {}).get("name", "release"),
        namespace=(spec.get("destination") or {}).get("namespace") or "default",
        inline=inline,
    )


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge value files the way `helm -f a -f b` does: later files win, maps merge deeply."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _value_file_path(repo: GitRepo, ref: str, chart: str, name: str) -> str:
    """Argo CD resolves value files against the chart folder; accept repository paths too."""
    candidate = str(PurePosixPath(chart) / name)
    normalized = str(PurePosixPath(*[p for p in PurePosixPath(candidate).parts]))
    if repo.exists(ref, _normalize(candidate)):
        return _normalize(candidate)
    if repo.exists(ref, name.lstrip("/")):
        return name.lstrip("/")
    raise SourceError(f"{repo.name}: value file {name} not found at {ref} "
                      f"(looked in {normalized} and at the repository root)")


def _normalize(path: str) -> str:
    parts: list[str] = []
    for part in PurePosixPath(path).parts:
        if part == "..":
            if parts:
                parts.pop()
        elif part not in (".", ""):
            parts.append(part)
    return "/".join(parts)


def merged_values(repo: GitRepo, ref: str, source: ChartSource) -> dict[str, Any]:
    """The user-supplied values of a release: value files in order, then inline values."""
    values: dict[str, Any] = {}
    for name in source.values:
        path = _value_file_path(repo, ref, source.chart, name)
        docs = load_yaml_documents(repo.show(ref, path), f"{repo.name}:{path}")
        if docs and isinstance(docs[0], dict):
            values = _deep_merge(values, docs[0])
    if source.inline:
        docs = load_yaml_documents(source.inline, "inline values")
        if docs and isinstance(docs[0], dict):
            values = _deep_merge(values, docs[0])
    return values


# One cache, by content: (repository, chart tree id, value file blob ids, source). Environments
# that deploy the same chart and values (at any commit) render and parse it once per session; the
# key is a few cached git lookups away from (repo, sha, source).
_RENDERS: dict[tuple[Any, ...], tuple[dict[str, Any], ...] | RenderError] = {}
_CAP = 4096  # above the estate size: one entry per environment and distinct chart content
# What renders of the same chart content share whatever the release: the chart exported once
# (into a folder removed at exit) and the merged values.
_CHARTS: dict[tuple[str, str], Path] = {}
_VALUES: dict[tuple[Any, ...], dict[str, Any]] = {}
_SCRATCH: list[tempfile.TemporaryDirectory[str]] = []


def render(repo: GitRepo, sha: str, source: ChartSource) -> tuple[dict[str, Any], ...]:
    """Render a chart at a commit into its manifests (dicts), with Helm's engine in a bounded
    child process (plugins/core/render_child.py); a failure is kept too, and raised again."""
    chart = repo.object_at(sha, source.chart)
    if chart is None:
        raise SourceError(f"{repo.name}: chart folder {source.chart} not found at {sha[:12]}")
    value_ids = tuple(repo.object_at(sha, _value_file_path(repo, sha, source.chart, name))
                      for name in source.values)
    key = (repo.name, chart, value_ids, source, render_child.LIMITS)  # a failure holds for its bounds
    if key not in _RENDERS:
        if len(_RENDERS) >= _CAP:
            clear_cache()
        try:
            _RENDERS[key] = _render_at(repo, sha, source, chart[0], value_ids)
        except RenderError as exc:  # one bound broken is one wait, not one per check
            _RENDERS[key] = exc
    found = _RENDERS[key]
    if isinstance(found, RenderError):
        raise found
    return found


def clear_cache() -> None:
    """Forget every render (benchmarks time renders from scratch)."""
    _RENDERS.clear()
    _VALUES.clear()
    _CHARTS.clear()
    for scratch in _SCRATCH:
        scratch.cleanup()
    _SCRATCH.clear()


def _chart_dir(repo: GitRepo, sha: str, chart: str, tree: str) -> Path:
    """The chart's folder on disk, exported once per chart tree (refused when its files alone are
    over the output bound: they are read into memory and written out before any render)."""
    key = (str(repo.path), tree)
    if key not in _CHARTS:
        size, most = repo.tree_size(tree), render_child.LIMITS.output_mb
        if size > most << 20:
            raise RenderError(f"helm could not render {chart}: its files are {size >> 20} MiB, "
                              f"over the {most} MiB limit (render.output_mb)")
        if not _SCRATCH:
            _SCRATCH.append(tempfile.TemporaryDirectory(prefix="releasegate-chart-"))
        _CHARTS[key] = repo.export(sha, chart, Path(_SCRATCH[0].name) / f"{len(_CHARTS)}" / "chart")
    return _CHARTS[key]


def _render_at(repo: GitRepo, sha: str, source: ChartSource, tree: str,
               value_ids: tuple[Any, ...]) -> tuple[dict[str, Any], ...]:
    shared = (repo.name, tree, value_ids, source.chart, source.values, source.inline)
    if shared not in _VALUES:
        _VALUES[shared] = merged_values(repo, sha, source)
    values = _VALUES[shared]  # read only: both engines serialise it
    chart_dir = _chart_dir(repo, sha, source.chart, tree)
    helm = shutil.which("helm")
    if helm:
        with tempfile.TemporaryDirectory(prefix="releasegate-values-") as scratch:
            texts = _render_with_binary(helm, chart_dir, values, source, Path(scratch))
    else:
        texts = _render_with_sdk(chart_dir, values, source)
    manifests: list[dict[str, Any]] = []
    for name, text in sorted(texts.items()):
        if not name.endswith((".yaml", ".yml")) and name != "-":
            continue
        for doc in load_yaml_documents(text, f"{repo.name}:{source.chart} rendered {name}"):
            if isinstance(doc, dict) and doc.get("kind"):
                if doc["kind"].endswith("List") and isinstance(doc.get("items"), list):
                    manifests.extend(i for i in doc["items"] if isinstance(i, dict))
                else:
                    manifests.append(doc)
    for manifest in manifests:
        manifest.setdefault("metadata", {}).setdefault("namespace", source.namespace)
    return tuple(manifests)


def _render_with_sdk(chart_dir: Path, values: dict[str, Any],
                     source: ChartSource) -> dict[str, str]:
    return render_child.render(chart_dir, values, source.chart, source.release, source.namespace)


def _render_with_binary(helm: str, chart_dir: Path, values: dict[str, Any],
                        source: ChartSource, scratch: Path) -> dict[str, str]:
    """`helm template` under the same bounds as the embedded engine's worker."""
    limits = render_child.LIMITS
    values_file = scratch / "releasegate-values.yaml"
    with open(values_file, "w") as handle:
        _yaml().dump(values, handle)
    memory = limits.memory_mb << 20

    def bounded() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_CPU, (int(limits.timeout_s) + 1, resource.RLIM_INFINITY))

    with open(scratch / "out", "w+b") as out, open(scratch / "err", "w+b") as err:
        try:
            result = subprocess.run([helm, "template", source.release, str(chart_dir),
                                     "--namespace", source.namespace, "-f", str(values_file)],
                                    stdout=out, stderr=err, timeout=limits.timeout_s,
                                    preexec_fn=bounded)
        except subprocess.TimeoutExpired:
            raise RenderError(f"helm could not render {source.chart}: no result within "
                              f"{limits.timeout_s:g} s (render.timeout_s)") from None
        size = out.seek(0, 2)
        if size > limits.output_mb << 20:
            raise RenderError(f"helm could not render {source.chart}: its output is {size >> 20} "
                              f"MiB, over the {limits.output_mb} MiB limit (render.output_mb)")
        err.seek(0)
        said = err.read(64 << 10).decode("utf-8", errors="replace")
        out.seek(0)
        text = out.read().decode("utf-8", errors="replace")
    if result.returncode != 0:
        last = (said.strip().splitlines() or ["failed"])[-1]
        raise RenderError(f"helm could not render {source.chart}: {last}")
    return {"-": text}
