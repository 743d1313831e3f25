"""Where to change it: the source file and line behind each finding.

A location is ``{source, path, line, commit}``: the environments file's name of the repository
(``None`` for the environments file itself), the path inside it, the 1-based line, and the commit
the file was read at. Lines come from ruamel.yaml's round-trip positions of the very file the
check read, at the very commit, so a location points at what is there, not at a guess:

- a variable a container gets: the values file line that sets it (the most specific file first,
  as Helm merges them), else the most specific values file at the mapping where variables live;
- a secret key: the SealedSecret/Secret manifest, at the data of the named secret;
- an image tag: the values line that names the tag;
- a build: the workflow's ``matrix`` (else ``tags``) line;
- the Argo CD Application: its ``targetRevision`` line;
- a snapshot difference: the snapshot's field file (``fields/<collection>/<field>.json``);
- a subdomain, a database requirement: their entry in the environments file;
- a settings class that fails at boot on its own validator: the class (or field) in the settings
  module at the commit that boots;
- a settings entry naming no container: its ``containers`` in the environments file;
- a release-process finding: the application commit, no file.
"""

from __future__ import annotations

import functools
import io
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

from ruamel.yaml import YAML
from ruamel.yaml.constructor import RoundTripConstructor

from releasegate.core import yaml_anchors, yaml_bounds
from releasegate.estate import fast_yaml

Key = tuple[Any, ...]
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


@dataclass(frozen=True)
class Location:
    """A place to change: a file of a source (or of no source: the environments file) and a line."""

    source: str | None
    path: str | None
    line: int | None = None
    commit: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return asdict(self)


# -- YAML positions -------------------------------------------------------------------------------
def yaml_positions(text: str) -> list[tuple[Key, int, Any]]:
    """(key path, 1-based line, value) of every mapping key and sequence item of every document.

    Paths start with the document index: ``(0, "env", "LOG_LEVEL")``.
    """
    return list(_positions(text))


@functools.lru_cache(maxsize=256)  # the same few values files, for every finding of every env
def _positions(text: str) -> tuple[tuple[Key, int, Any], ...]:
    out: list[tuple[Key, int, Any]] = []
    try:
        documents = fast_yaml.parse_all(text, RoundTripConstructor)  # libyaml: ~10x ruamel's speed
        if documents is None:
            with yaml_anchors.quiet_reused_anchors():  # an anchor defined again: valid YAML
                if yaml_bounds.may_alias(text):
                    for node in YAML().compose_all(io.StringIO(text)):
                        yaml_bounds.check(node)
                documents = list(YAML().load_all(io.StringIO(text)))
    except Exception:  # a file the check could not read either (an alias bomb too): no line
        return ()
    for index, doc in enumerate(documents):
        out.extend(_walk(doc, (index,)))
    return tuple(out)


def _walk(node: Any, path: Key) -> Iterator[tuple[Key, int, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            line = node.lc.key(key)[0] + 1 if hasattr(node, "lc") else 0
            yield (*path, key), line, value
            yield from _walk(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            line = node.lc.item(i)[0] + 1 if hasattr(node, "lc") else 0
            yield (*path, i), line, value
            yield from _walk(value, (*path, i))


def line_of(text: str, *keys: Any) -> int | None:
    """The line of a key path inside the first document (``line_of(text, "spec", "source")``)."""
    for path, line, _ in yaml_positions(text):
        if path[1:] == keys:
            return line
    return None


# -- values files ---------------------------------------------------------------------------------
def values_files(host: Any, sha: str) -> list[str]:
    """The environment's values files at a gitops commit, least specific first (as Helm merges)."""
    from releasegate.core import helm

    source = host.chart_source(sha)
    repo = host.git(host.gitops_source)
    if not source.values:
        return [f"{source.chart.strip('/')}/values.yaml"]
    return helm.value_file_paths(repo, sha, source)


def _sets(path: Key, value: Any, variable: str) -> int:
    """How well a values key names a variable: 2 exactly, 1 as its suffix, 0 not at all."""
    key = path[-1]
    if key == variable or (key == "name" and value == variable):
        return 2
    if isinstance(key, str) and len(key) > 2 and variable.endswith("_" + key):
        return 1
    return 0


def _env_mapping(positions: list[tuple[Key, int, Any]]) -> Key | None:
    """The mapping that holds the most variable-like keys (``env:``): where a missing one goes."""
    counts: dict[Key, int] = {}
    for path, _, _ in positions:
        if isinstance(path[-1], str) and _ENV_NAME.match(path[-1]):
            counts[path[:-1]] = counts.get(path[:-1], 0) + 1
    return max(counts, key=lambda p: (counts[p], -len(p))) if counts else None


def variable_location(host: Any, variable: str, gitops_ref: str | None = None) -> Location:
    """The values file line that sets a variable for the environment, else where to add it."""
    repo = host.git(host.gitops_source)
    sha = repo.resolve(gitops_ref or host.ref(host.gitops_source))
    files = values_files(host, sha)
    texts = {path: _text(repo, sha, path) for path in files}
    best: tuple[int, str, int] | None = None
    for path in reversed(files):  # the most specific file wins, as in Helm's merge
        for key, line, value in yaml_positions(texts[path]):
            score = _sets(key, value, variable)
            if score and (best is None or score > best[0]):
                best = (score, path, line)
        if best and best[0] == 2:
            break
    if best:
        return Location(host.gitops_source, best[1], best[2], sha)
    target = files[-1]
    here = {key: ln for key, ln, _ in yaml_positions(texts[target])}
    line = here.get(_set_elsewhere(repo, sha, files, variable))  # type: ignore[arg-type]
    if line is None:
        where = None
        for path in files:
            where = _env_mapping(yaml_positions(texts[path])) or where
        line = here.get(where) if where is not None else None
    return Location(host.gitops_source, target, line, sha)


def _set_elsewhere(repo: Any, sha: str, files: list[str], variable: str) -> Key | None:
    """The mapping where another environment's values file of the same chart sets the variable
    (``extraEnv``): where this environment's file should set it too."""
    folder = files[-1].rsplit("/", 1)[0] if "/" in files[-1] else ""
    try:
        siblings = [p for p in repo.ls_tree(sha, folder) if p.rsplit("/", 1)[-1].startswith("values")
                    and p.endswith((".yaml", ".yml")) and p not in files]
    except Exception:
        return None
    found: list[tuple[int, Key]] = []
    for path in sorted(siblings):
        found += [(_sets(key, value, variable), key[:-1])
                  for key, _, value in yaml_positions(_text(repo, sha, path))]
    best = max(found, key=lambda f: f[0], default=(0, None))
    return best[1] if best[0] else None


def value_location(host: Any, value: str, gitops_ref: str | None = None) -> Location:
    """The values file line whose scalar is (or ends with) a value, such as an image tag."""
    repo = host.git(host.gitops_source)
    sha = repo.resolve(gitops_ref or host.ref(host.gitops_source))
    files = values_files(host, sha)
    for path in reversed(files):
        for _, line, found in yaml_positions(_text(repo, sha, path)):
            if isinstance(found, str) and len(found) >= 6 and (
                    found == value or value.endswith(found) or found.endswith(value)):
                return Location(host.gitops_source, path, line, sha)
    return Location(host.gitops_source, files[-1], None, sha)


def _text(repo: Any, sha: str, path: str) -> str:
    try:
        return repo.show(sha, path)
    except Exception:
        return ""


# -- manifests of the deployment repository --------------------------------------------------------
def secret_location(host: Any, manifest: str, secret: str) -> Location:
    """The data of the named secret in a SealedSecret/Secret manifest."""
    repo = host.git(host.gitops_source)
    sha = repo.resolve(host.ref(host.gitops_source))
    positions = yaml_positions(_text(repo, sha, manifest))
    docs = {key[0] for key, _, value in positions if key[1:] == ("metadata", "name") and value == secret}
    for key, line, _ in positions:
        if key[0] in docs and key[1:] in (("spec", "encryptedData"), ("data",), ("stringData",)):
            return Location(host.gitops_source, manifest, line, sha)
    first = next((line for key, line, _ in positions if key[0] in docs), None)
    return Location(host.gitops_source, manifest, first, sha)


def argocd_location(host: Any) -> Location | None:
    """The Argo CD Application manifest, at its targetRevision."""
    app = host.spec.gitops.argocd_app
    if not app:
        return None
    repo = host.git(host.gitops_source)
    sha = repo.resolve(host.ref(host.gitops_source))
    text = _text(repo, sha, app)
    line = line_of(text, "spec", "source", "targetRevision") or line_of(text, "kind")
    return Location(host.gitops_source, app, line, sha)


# -- the application repository ----------------------------------------------------------------------
def workflow_location(host: Any, source: str, path: str, ref: str | None = None) -> Location:
    """A workflow file at its first ``matrix`` line (where a build entry goes), else ``tags``."""
    repo = host.git(source)
    sha = repo.resolve(ref or host.ref(source))
    positions = yaml_positions(_text(repo, sha, path))
    for wanted in ("matrix", "tags"):
        line = next((ln for key, ln, _ in positions if key[-1] == wanted), None)
        if line:
            return Location(source, path, line, sha)
    return Location(source, path, None, sha)


def snapshot_location(host: Any, where: str, collection: str, field: str | None) -> Location:
    """The snapshot's field file (or collection file) a schema difference is about.

    ``where`` is the snapshot's own label, ``<source>@<ref>:<path>`` (see releasegate.schema.snapshot).
    """
    head, _, folder = where.partition(":")
    source, _, label = head.partition("@")
    ref = re.search(r"\(([0-9a-f]{7,40})\)$", label)
    repo = host.git(source)
    sha = repo.rev_parse(ref.group(1) if ref else label)
    rel = f"fields/{collection}/{field}.json" if field else f"collections/{collection}.json"
    return Location(source, f"{folder}/{rel}", 1, sha)


def settings_location(entry: Any, repo: Any, sha: str, field: str) -> Location:
    """The line of a settings class (``Class``) or of its field (``Class.field``) in the settings
    module at a commit, read with ast as the settings checks read it."""
    import ast

    cls_name, _, name = field.partition(".")
    line = None
    try:
        tree = _module_tree(repo.show(sha, entry.path))
    except (SyntaxError, Exception):  # noqa: BLE001 - no line rather than no finding
        tree = None
    for node in getattr(tree, "body", []):
        if isinstance(node, ast.ClassDef) and node.name == cls_name:
            line = node.lineno
            for stmt in node.body:
                target = getattr(stmt, "target", None)
                if name and isinstance(target, ast.Name) and target.id == name:
                    line = stmt.lineno
    return Location(entry.source, entry.path, line, sha)


@functools.lru_cache(maxsize=64)  # one settings module text, for every finding that names it
def _module_tree(text: str) -> Any:
    import ast

    return ast.parse(text)


def commit_location(host: Any, ref: str | None = None) -> Location:
    """An application commit (release-process findings name no file)."""
    source = host.app_source
    return Location(source, None, None, host.git(source).rev_parse(ref or host.shared.candidate()))


# -- the environments file -----------------------------------------------------------------------------
def environments_location(path: Path, *keys: Any) -> Location:
    """The line of a key path of the environments file (the deepest key that exists)."""
    try:
        text = path.read_text()
    except OSError:
        return Location(None, str(path))
    positions = _key_lines(text)
    for depth in range(len(keys), 0, -1):
        if tuple(keys[:depth]) in positions:
            return Location(None, str(path), positions[tuple(keys[:depth])])
    return Location(None, str(path), None)


@functools.lru_cache(maxsize=4)  # one environments file, for every finding of every environment
def _key_lines(text: str) -> dict[tuple, int]:
    """{key path without the document index: its line} (a later document's key wins)."""
    return {key[1:]: line for key, line, _ in _positions(text)}


# -- which location a finding gets ---------------------------------------------------------------------
_SETTINGS_CHECKS = ("test_settings_", "test_env_cross_parity", "test_feature_flags")


def locate(host: Any, check: str, item_id: str | None, item: Any, finding: Any) -> Location | None:
    """The location of a finding that its check did not give one, from what the finding names."""
    details = finding.details
    env_file = host.estate.path
    if check == "test_secret_keys" and details.get("origin") and details.get("secret"):
        return secret_location(host, details["origin"], details["secret"])
    if check == "test_settings_containers":
        index = re.search(r"settings\[(\d+)\]", finding.message)
        return environments_location(env_file, "settings", int(index.group(1)) if index else 0,
                                     "containers")
    if check.startswith("test_settings_boot") and not details.get("variable") \
            and details.get("field") and isinstance(item, tuple) and len(item) == 3 and item[1]:
        entry, target = item[0], item[1]
        return settings_location(entry, host.git(entry.source), target.sha, details["field"])
    if check.startswith(_SETTINGS_CHECKS):
        variable = details.get("variable") or finding.item or \
            next(iter(details.get("accepted") or ()), None)
        if variable:
            return variable_location(host, variable)
    if check == "test_frontend_env" and item is not None:
        entry = item[0]
        return Location(entry.source, entry.env_file, None, item[1])
    if check in ("test_image_present", "test_candidate_images_ready") and details.get("tag"):
        return value_location(host, str(details["tag"]))
    if check == "test_image_present" and item is not None and getattr(item, "ref", None):
        return value_location(host, str(item.ref))
    if check.startswith(("test_schema_", "test_database_requirement")):
        snap = item[1] if isinstance(item, tuple) and len(item) == 3 else None
        if snap is not None and hasattr(snap, "where"):
            return snapshot_location(host, snap.where, item[0], details.get("field"))
        return environments_location(env_file, "database_requirements")
    if check == "test_argocd_application":
        return argocd_location(host)
    if check.startswith(("test_workload_", "test_no_undeclared")):
        return argocd_location(host) or Location(host.gitops_source, host.spec.gitops.chart)
    if check.startswith(("test_subdomain_", "test_live_build")):
        return environments_location(env_file, "environments", host.name, "subdomains",
                                     item_id)
    if check.startswith(("test_hotfix_", "test_deployed_commit", "test_branch_env")):
        named = details.get("commits") or [details.get("running")]
        return commit_location(host, named[0] if named and named[0] else None)
    if check.startswith(("test_candidate_", "test_next_tag", "test_hotfix_", "test_shared_",
                         "test_deployed_commit", "test_branch_env")):
        return commit_location(host)
    return environments_location(env_file, "environments", host.name)


def web_link(web_url: Any, location: Location) -> str | None:
    """The page of a location on the repository host (`<web_url>/blob/<commit>/<path>#L<line>`,
    as GitHub and GitLab serve it); None without a web URL, a path or a commit."""
    if not isinstance(web_url, str) or not web_url or not location.path or not location.commit:
        return None
    line = f"#L{location.line}" if location.line else ""
    return f"{web_url.rstrip('/')}/blob/{location.commit}/{location.path}{line}"
