"""Charts a chart needs besides its own folder: its dependencies and charts from Helm repositories.

Argo CD runs `helm dependency build` when `helm template` reports a missing dependency
(reposerver/repository/repository.go helmTemplate, runHelmBuild); Helm's CLI refuses to template
a chart whose dependency is missing from charts/ (pkg/action/dependency.go CheckDependencies,
which matches by name). The embedded engine renders without it in silence, so the missing one is
found here first: a `file://` dependency is built from the repository at the same commit (what
`helm dependency build` copies), a remote one is taken from charts/ (vendored) or the chart cache,
and otherwise the render is not checked. No network: the chart cache is filled by `helm pull`.
"""

from __future__ import annotations

import functools
import os
import posixpath
import tarfile
from pathlib import Path
from typing import Any

from releasegate.core.gitrepo import GitRepo, NotChecked, SourceError
from releasegate.render.semver import satisfies

CACHE_VARIABLE = "RELEASEGATE_CHART_CACHE"


def _normalize(chart_path: str, repository: str) -> str:
    """The repository path of a file:// dependency, relative to its chart's folder."""
    return posixpath.normpath(posixpath.join(chart_path, repository[len("file://"):])).lstrip("/")


def cache_dir() -> Path:
    """Where packaged charts (`helm pull --destination DIR`) are looked up."""
    configured = os.environ.get(CACHE_VARIABLE)
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "releasegate" / "charts"


def _load(text: str | bytes, origin: str) -> dict[str, Any]:
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SourceError(f"{origin}: invalid YAML: {str(exc).splitlines()[0]}") from None
    return doc if isinstance(doc, dict) else {}


@functools.lru_cache(maxsize=1024)
def _archive_meta(path: Path, mtime: float) -> tuple[str, str]:  # noqa: ARG001 - cache key
    with tarfile.open(path) as tar:
        for member in tar.getmembers():
            if member.name.count("/") == 1 and member.name.endswith("/Chart.yaml"):
                handle = tar.extractfile(member)
                meta = _load(handle.read() if handle else b"", str(path))
                return str(meta.get("name", "")), str(meta.get("version", ""))
    return "", ""


def archive_meta(path: Path) -> tuple[str, str]:
    """(name, version) of a packaged chart, from its Chart.yaml."""
    try:
        return _archive_meta(path, path.stat().st_mtime)
    except (OSError, tarfile.TarError):
        return "", ""


def find_cached(name: str, version: str) -> Path | None:
    """The highest cached package of chart `name` whose version satisfies `version`."""
    root = cache_dir()
    if not root.is_dir():
        return None
    found = [(meta[1], path) for path in root.rglob("*.tgz")
             if (meta := archive_meta(path))[0] == name and satisfies(meta[1], version)]
    return max(found, key=lambda f: _sortable(f[0]))[1] if found else None


def _sortable(version: str) -> tuple[Any, ...]:
    core = version.lstrip("v").split("-", 1)[0].split("+", 1)[0]
    return tuple(int(p) if p.isdigit() else 0 for p in core.split("."))


def remote_chart(repo_url: str, chart: str, version: str, where: str) -> Path:
    """A chart of an Argo CD source from a Helm repository or OCI registry, from the cache."""
    found = find_cached(chart.rsplit("/", 1)[-1], version)
    if found is None:
        raise NotChecked(f"{where}: not checked: cannot fetch {chart}@{version or 'latest'} from "
                         f"{repo_url} here (no network); put it in the chart cache: helm pull "
                         f"{chart} --repo {repo_url} --version {version or '<version>'} "
                         f"--destination {cache_dir()} (or set ${CACHE_VARIABLE})")
    return found


def dependencies(chart_dir: Path) -> list[dict[str, Any]]:
    """The dependencies a chart declares: Chart.yaml (apiVersion v2) or requirements.yaml (v1)."""
    meta = _load((chart_dir / "Chart.yaml").read_bytes(), "Chart.yaml") \
        if (chart_dir / "Chart.yaml").is_file() else {}
    deps = meta.get("dependencies")
    if deps is None and (chart_dir / "requirements.yaml").is_file():
        deps = _load((chart_dir / "requirements.yaml").read_bytes(), "requirements.yaml").get(
            "dependencies")
    return [d for d in deps or () if isinstance(d, dict) and d.get("name")]


def _present(chart_dir: Path) -> set[str]:
    """Names of the subcharts already in charts/ (folders and packages), as Helm's loader sees them."""
    names: set[str] = set()
    charts = chart_dir / "charts"
    if not charts.is_dir():
        return names
    for entry in charts.iterdir():
        if entry.is_dir() and (entry / "Chart.yaml").is_file():
            names.add(str(_load((entry / "Chart.yaml").read_bytes(), str(entry)).get("name", "")))
        elif entry.suffix == ".tgz":
            names.add(archive_meta(entry)[0])
    return names


def build_dependencies(repo: GitRepo, sha: str, chart_path: str, chart_dir: Path,
                       depth: int = 0) -> None:
    """Put each missing dependency into chart_dir/charts as `helm dependency build` would, or
    raise NotChecked naming the one that cannot be had here."""
    present = _present(chart_dir)
    for dep in dependencies(chart_dir):
        name, repository = str(dep["name"]), str(dep.get("repository") or "")
        if name in present:
            continue
        where = f"{repo.name}:{chart_path}/Chart.yaml"
        if repository.startswith("file://"):
            sub = _normalize(chart_path, repository)
            found = repo.object_at(sha, sub)
            if found is None or found[1] != "tree" or depth > 10:
                raise SourceError(f"{where}: dependency {name}: {repository} is not a chart folder "
                                  f"at {sha[:12]} (helm dependency build fails the same way)")
            target = repo.export(sha, sub, chart_dir / "charts" / name)
            build_dependencies(repo, sha, sub, target, depth + 1)
            continue
        cached = find_cached(name, str(dep.get("version") or ""))
        if cached is None:
            raise NotChecked(
                f"{where}: not checked: chart {chart_path} depends on {name} "
                f"{dep.get('version') or ''} from {repository or '(no repository)'}, which cannot "
                "be fetched here; vendor it (helm dependency build, commit charts/) or put the "
                f"package in the chart cache {cache_dir()} (${CACHE_VARIABLE})")
        (chart_dir / "charts").mkdir(parents=True, exist_ok=True)
        (chart_dir / "charts" / cached.name).write_bytes(cached.read_bytes())


def crd_documents(chart_dir: Path) -> list[tuple[str, str]]:
    """(file, text) of the chart's crds/ files and its subcharts', which `helm template
    --include-crds` prints first (Argo CD passes it unless skipCrds: util/helm/cmd.go)."""
    found: list[tuple[str, str]] = []
    for path in sorted(chart_dir.rglob("crds/*")):
        rel = path.relative_to(chart_dir).parts
        # crds/ of the chart or of charts/<sub>/ (any depth), not a folder of that name elsewhere
        if path.is_file() and path.suffix in (".yaml", ".yml", ".json") and len(rel) % 2 == 0 \
                and all(rel[i] == "charts" for i in range(0, len(rel) - 2, 2)):
            found.append(("/".join(rel), path.read_text(errors="replace")))
    return found


def chart_key(repo: GitRepo, sha: str, source: Any) -> tuple[str, str]:
    """(key, "tree") of what a render reads besides values: the chart folder's tree with the
    trees of its file:// dependencies, or a cached package for a chart from a Helm repository."""
    if source.remote:
        repo_url, name, version = source.remote
        package = remote_chart(repo_url, name, version, f"{repo.name}: chart {name}")
        return f"cache:{package}:{package.stat().st_mtime_ns}", "tree"
    chart = repo.object_at(sha, source.chart)
    if chart is None:
        raise SourceError(f"{repo.name}: chart folder {source.chart} not found at {sha[:12]}")
    return "+".join((chart[0], *_local_trees(repo, sha, source.chart, 0))), chart[1]


def key_trees(key: str) -> list[str]:
    """The git trees a chart key (chart_key) names: the chart's and its file:// dependencies';
    none for a cached package, which is no git tree."""
    return [] if key.startswith("cache:") else key.split("+")


def _local_trees(repo: GitRepo, sha: str, chart_path: str, depth: int) -> list[str]:
    """Tree ids of the file:// dependencies (recursively) that a chart's Chart.yaml names."""
    out: list[str] = []
    for name in ("Chart.yaml", "requirements.yaml"):
        path = f"{chart_path}/{name}".lstrip("/")
        if depth > 10 or not repo.exists(sha, path):
            continue
        for dep in _load(repo.show(sha, path), f"{repo.name}:{path}").get("dependencies") or ():
            where = str(dep.get("repository") or "") if isinstance(dep, dict) else ""
            if where.startswith("file://"):
                sub = _normalize(chart_path, where)
                found = repo.object_at(sha, sub)
                out.append(found[0] if found else f"missing:{sub}")
                if found:
                    out.extend(_local_trees(repo, sha, sub, depth + 1))
    return out


def chart_dir(repo: GitRepo, sha: str, chart_path: str, key: str, dest: Path) -> Path:
    """The chart on disk in a scratch folder, with its dependencies in charts/."""
    if key.startswith("cache:"):
        import helm_python

        package = Path(key[len("cache:"):].rsplit(":", 1)[0])
        dest.mkdir(parents=True, exist_ok=True)
        helm_python.expand(dest, package)
        return dest / archive_meta(package)[0]
    repo.export(sha, chart_path, dest)
    build_dependencies(repo, sha, chart_path, dest)
    return dest


def documents(text: str, origin: str) -> list[dict[str, Any]]:
    """The Kubernetes objects (mappings with a kind) of a multi-document YAML text."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return [d for d in yaml.load_all(text, Loader=loader) if isinstance(d, dict) and d.get("kind")]
    except yaml.YAMLError as exc:
        raise SourceError(f"{origin}: invalid YAML: {str(exc).splitlines()[0]}") from None


def crd_manifests(chart_dir: Path, origin: str) -> list[dict[str, Any]]:
    """The CRD documents of crd_documents, parsed (cluster-scoped: no namespace added)."""
    return [d for name, text in crd_documents(chart_dir) for d in documents(text, f"{origin}: {name}")]
