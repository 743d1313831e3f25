"""Render a Helm chart at a git ref with Helm's own engine (the helm binary, else helm-python-sdk)."""

from __future__ import annotations

import io
import re
import resource
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from releasegate.core import render_child, yaml_anchors, yaml_bounds
from releasegate.core.gitrepo import Absent, GitRepo, NotChecked, SourceError, Unreadable
from releasegate.core.render_child import RenderError

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
    # Argo CD's helm.parameters as (name, value, forceString), applied after every value file
    # (plugins/render/argocd.py reads them, build variables already substituted).
    parameters: tuple[tuple[str, str, bool], ...] = ()
    file_parameters: tuple[tuple[str, str], ...] = ()  # (name, file path as value files read it)
    ignore_missing: bool = False  # helm.ignoreMissingValueFiles
    skip_crds: bool = False  # helm.skipCrds: Argo CD otherwise passes --include-crds
    remote: tuple[str, str, str] = ()  # type: ignore[assignment]  # (repoURL, chart, version)
    kustomize: str = ""  # a Kustomize source: Argo CD's kustomize settings as JSON ("{}": none)
    directory: str = ""  # a directory of manifests: Argo CD's directory settings as JSON
    repo_source: str = ""  # the estate source holding the chart ("": the deployment repository)
    # value files of a multi-source Application read from another repository than the chart's:
    # (name as in values, text at that repository's ref under test)
    foreign: tuple[tuple[str, str], ...] = ()

    def values_key(self) -> tuple[Any, ...]:
        """What the merged values depend on besides file contents (not release or namespace)."""
        return (self.chart, self.values, self.inline, self.parameters, self.file_parameters,
                self.ignore_missing, self.foreign)


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
                try:
                    return _documents(_CLoader(text))
                except _pyyaml.YAMLError as exc:
                    if not yaml_anchors.reuses_an_anchor(exc):
                        raise
                # an anchor defined again (valid YAML: the most recent wins, as in go-yaml)
                return _documents(yaml_anchors.LastAnchorLoader(text))
            except _pyyaml.YAMLError as exc:
                raise SourceError(f"{origin}: invalid YAML: {str(exc).splitlines()[0]}") from None
        try:
            yaml = _yaml()
            with yaml_anchors.quiet_reused_anchors():
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


def _helmfile_template(where: str) -> None:
    """A value file named *.gotmpl is a Helmfile template: helmfile renders it with its environment
    before Helm reads it (helmfile docs, "Templating": "values files with the .gotmpl extension are
    rendered as templates"; pkg/state/state.go), so read as YAML it would be a false error."""
    if where.endswith(".gotmpl"):
        raise NotChecked(f"not checked: value file {where} is a Helmfile template (.gotmpl), "
                         "rendered by helmfile before Helm reads it; render it with `helmfile "
                         "template` and name the output, or name plain YAML value files instead")


def _value_file(repo: GitRepo, ref: str, source: ChartSource, name: str) -> str | None:
    """A value file's repository path; None when it is missing and ignoreMissingValueFiles;
    NotChecked when it is a Helmfile template (_helmfile_template)."""
    try:
        path = _value_file_path(repo, ref, source.chart, name)
    except SourceError:
        if source.ignore_missing:
            return None
        raise
    _helmfile_template(f"{repo.name}:{path}")
    return path


def value_file_paths(repo: GitRepo, ref: str, source: ChartSource) -> list[str]:
    """The value files Helm reads from the chart's repository, in order: a missing one fails
    unless ignoreMissingValueFiles (reposerver/repository/repository.go getResolvedValueFiles:
    skipped, and each path once)."""
    foreign = dict(source.foreign)
    found = (_value_file(repo, ref, source, n) for n in source.values if n not in foreign)
    return [p for p in dict.fromkeys(found) if p is not None]


def merged_values(repo: GitRepo, ref: str, source: ChartSource) -> dict[str, Any]:
    """The user-supplied values of a release as `helm template` merges them (pkg/cli/values
    options.go MergeValues): value files in order, inline values (Argo's extra values file, last),
    then parameters (--set, then --set-string, then --set-file), each parsed into what came before."""
    values: dict[str, Any] = {}
    foreign = dict(source.foreign)
    seen: set[str] = set()
    for name in source.values:
        path = None if name in foreign else _value_file(repo, ref, source, name)
        if (path is None and name not in foreign) or (path or name) in seen:
            continue
        seen.add(path or name)
        if path is None:
            _helmfile_template(name)
        text = foreign[name] if path is None else repo.show(ref, path)
        docs = load_yaml_documents(text, name if path is None else f"{repo.name}:{path}")
        if docs and isinstance(docs[0], dict):
            values = _deep_merge(values, docs[0])
    if source.inline:
        docs = load_yaml_documents(source.inline, "inline values")
        if docs and isinstance(docs[0], dict):
            values = _deep_merge(values, docs[0])
    if source.parameters or source.file_parameters:
        from releasegate.render.parameters import apply_parameters

        def read(name: str) -> str:
            return repo.show(ref, _value_file_path(repo, ref, source.chart, name))

        apply_parameters(values, source.parameters, source.file_parameters, read)
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
    child process (plugins/core/render_child.py): its dependencies built first, its CRDs included
    unless skip_crds, as Argo CD renders. A failure is kept too, and raised again; a value file
    missing or not YAML is a RenderError too (the chart cannot render)."""
    if source.repo_source and source.repo_source != repo.name:
        raise NotChecked(f"{repo.name}: the chart {source.chart} is in source {source.repo_source}, "
                         "and this check reads the deployment repository only: not checked")
    if source.kustomize:
        from releasegate.render.kustomize import render_kustomize

        return render_kustomize(repo, sha, source.chart, source.kustomize, source.namespace)
    if source.directory:
        from releasegate.render.directory import render_directory

        return render_directory(repo, sha, source.chart, source.directory, source.namespace)
    try:
        return _render_helm(repo, sha, source)
    except (RenderError, NotChecked, Absent, Unreadable):
        raise
    except SourceError as exc:  # a value file missing or not YAML: `helm template` fails too
        raise RenderError(f"helm could not render {source.chart}: {exc}") from None


def _render_helm(repo: GitRepo, sha: str, source: ChartSource) -> tuple[dict[str, Any], ...]:
    from releasegate.render import charts

    chart = charts.chart_key(repo, sha, source)
    value_ids = tuple(repo.object_at(sha, path) for path in value_file_paths(repo, sha, source)
                      ) + tuple(repo.object_at(sha, _value_file_path(repo, sha, source.chart, path))
                                for _, path in source.file_parameters)
    key = (repo.name, chart, value_ids, source, render_child.LIMITS)  # a failure holds for its bounds
    if key not in _RENDERS:
        if len(_RENDERS) >= _CAP:
            clear_cache()
        try:
            rendered = _render_at(repo, sha, source, chart[0], value_ids)
            crds = () if source.skip_crds else charts.crd_manifests(
                _chart_dir(repo, sha, source.chart, chart[0]), f"{repo.name}:{source.chart}")
            _RENDERS[key] = (*crds, *rendered)
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
        from releasegate.render import charts

        size = sum(repo.tree_size(part) for part in charts.key_trees(tree))
        most = render_child.LIMITS.output_mb
        if size > most << 20:
            raise RenderError(f"helm could not render {chart}: its files are {size >> 20} MiB, "
                              f"over the {most} MiB limit (render.output_mb)")
        if not _SCRATCH:
            _SCRATCH.append(tempfile.TemporaryDirectory(prefix="releasegate-chart-"))
        _CHARTS[key] = charts.chart_dir(repo, sha, chart, tree,
                                        Path(_SCRATCH[0].name) / f"{len(_CHARTS)}" / "chart")
    return _CHARTS[key]


def _render_at(repo: GitRepo, sha: str, source: ChartSource, tree: str,
               value_ids: tuple[Any, ...]) -> tuple[dict[str, Any], ...]:
    shared = (repo.name, tree, value_ids, source.values_key())
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
        for doc in load_yaml_documents("\n---\n".join(split_manifests(text)),
                                       f"{repo.name}:{source.chart} rendered {name}"):
            if isinstance(doc, dict) and doc.get("kind"):
                if doc["kind"].endswith("List") and isinstance(doc.get("items"), list):
                    manifests.extend(i for i in doc["items"] if isinstance(i, dict))
                else:
                    manifests.append(doc)
    for manifest in manifests:
        manifest.setdefault("metadata", {}).setdefault("namespace", source.namespace)
    return tuple(manifests)


# helm pkg/releaseutil/manifest.go: `var sep = regexp.MustCompile("(?:^|\\s*\n)---\\s*")`;
# Go's \s is ASCII [\t\n\f\r ], and ^ without (?m) is the start of the text only
_HELM_SEP = re.compile(r"(?:^|[\t\n\f\r ]*\n)---[\t\n\f\r ]*")


def split_manifests(text: str) -> list[str]:
    """A rendered template cut into documents as Helm cuts it before anything reads it
    (pkg/releaseutil/manifest.go SplitManifests, chart API v1/v2, via SortManifests): a `---`
    after a newline (or at the start) is a separator even with content right after it on the
    same line (`---kind: ConfigMap`, left by a trimming `{{- ... -}}`), where a YAML parser
    would read one document. Empty pieces are dropped, the others trimmed."""
    return [piece.strip(_GO_SPACE) for piece in _HELM_SEP.split(text.strip(_GO_SPACE)) if piece]


_GO_SPACE = "\t\n\v\f\r \x85\xa0"  # strings.TrimSpace: unicode.IsSpace (Latin-1 part)


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
        raise RenderError(f"helm could not render {source.chart}: {render_child.one_line(last)}")
    return {"-": text}
