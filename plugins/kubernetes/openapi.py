"""Manifests the API server would reject: each rendered object against the OpenAPI schema of the
cluster's Kubernetes version, offline.

Built-in kinds are checked against the JSON schemas the `kubernetes-validate` package keeps per
Kubernetes minor version (generated from the API server's OpenAPI document); the "strict" flavour
forbids unknown fields, as the API server does with field validation Strict, which `kubectl apply`
(and so Argo CD's sync, unless `Validate=false`) asks for:
https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation. Custom resources are
checked against the `openAPIV3Schema` of a CustomResourceDefinition the chart or the repository
ships (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#validation);
a kind with neither is "not checked".
"""

from __future__ import annotations

import copy
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import jsonschema
from referencing import Registry, Resource

_VERSION = re.compile(r"^v?(?P<major>[0-9]+)\.(?P<minor>[0-9]+)(?:\.[0-9]+)?$")


@dataclass(frozen=True)
class Problem:
    """One field of one object the API server would refuse."""

    obj: str  # Kind/namespace/name
    path: str  # spec.rules[0].http.paths[0].backend.serviceName
    message: str


def _schema_root() -> Path | None:
    try:
        import kubernetes_validate
    except ImportError:
        return None
    return Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"


def _minor(text: str) -> tuple[int, int] | None:
    match = _VERSION.match(text.strip())
    return (int(match["major"]), int(match["minor"])) if match else None


def kept_versions() -> list[str]:
    """The Kubernetes minor versions the kept schema package covers, oldest first ('1.30')."""
    root = _schema_root()
    if root is None or not root.is_dir():
        return []
    found = {_minor(p.name.split("-")[0]) for p in root.iterdir() if p.name.endswith("-local-strict")}
    return [f"{a}.{b}" for a, b in sorted(v for v in found if v)]


def pick_version(wanted: str | None) -> tuple[str | None, str]:
    """(schema version to use, a note saying why) for the environment's `kubernetes.version`.

    No version set: the newest kept schema, said in the note. A version newer than every kept one:
    None (not checked: a newer package would check it). An older one: the nearest kept one above.
    """
    kept = kept_versions()
    if not kept:
        return None, "the kubernetes-validate package is not installed (pip install kubernetes-validate)"
    if not wanted:
        return kept[-1], (f"Kubernetes {kept[-1]} (the newest schema kept; set kubernetes.version "
                          "to the cluster's)")
    minor = _minor(wanted)
    if minor is None:
        return None, f"kubernetes.version {wanted!r} is not a version like 1.30"
    for version in kept:
        if _minor(version) >= minor:
            note = "" if _minor(version) == minor else f" (the oldest schema kept above {wanted})"
            return version, f"Kubernetes {version}{note}"
    return None, (f"no schema for Kubernetes {wanted} in kubernetes-validate (newest kept: "
                  f"{kept[-1]}): upgrade the package")


def group_version(api_version: str) -> tuple[str, str]:
    """('networking.k8s.io', 'v1') from 'networking.k8s.io/v1'; ('', 'v1') for the core group."""
    group, _, version = str(api_version).rpartition("/")
    return group, version


@functools.lru_cache(maxsize=4)
def _registry(version: str) -> Registry:
    root = _schema_root() / f"v{version}.0-local-strict"
    definitions = json.loads((root / "_definitions.json").read_text())
    return Resource.from_contents(definitions) @ Registry()


@functools.lru_cache(maxsize=512)
def _builtin(version: str, group: str, api: str, kind: str) -> dict[str, Any] | None:
    root = _schema_root() / f"v{version}.0-local-strict"
    short = group.split(".")[0]
    path = root / (f"{kind.lower()}-{short}-{api}.json" if group else f"{kind.lower()}-{api}.json")
    if not path.is_file():
        return None
    schema = json.loads(path.read_text())
    # The file name drops the group's domain: check the schema really is this group's kind.
    if not any(gvk.get("group", "") == group and gvk.get("kind") == kind and gvk.get("version") == api
               for gvk in schema.get("x-kubernetes-group-version-kind") or ()):
        return None
    return schema


def served(version: str, api_version: str, kind: str) -> list[str]:
    """The apiVersions of a built-in group that serve `kind` at that Kubernetes version (empty for
    a kind no built-in group has)."""
    group, _ = group_version(api_version)
    root = _schema_root() / f"v{version}.0-local-strict"
    prefix = f"{kind.lower()}-{group.split('.')[0]}-" if group else f"{kind.lower()}-"
    out = []
    for path in sorted(root.glob(f"{prefix}*.json")):
        api = path.stem[len(prefix):]
        if "-" not in api and _builtin(version, group, api, kind) is not None:
            out.append(f"{group}/{api}" if group else api)
    return out


def builtin_validator(version: str, api_version: str, kind: str) -> Any | None:
    """A validator for a built-in kind at that Kubernetes version, None when it is no built-in."""
    group, api = group_version(api_version)
    schema = _builtin(version, group, api, kind)
    if schema is None:
        return None
    return jsonschema.Draft202012Validator(schema, registry=_registry(version))


def _structural(schema: Any) -> Any:
    """An OpenAPI v3 CRD schema as JSON Schema: unknown fields refused unless the schema keeps
    them (x-kubernetes-preserve-unknown-fields), int-or-string, nullable."""
    if isinstance(schema, list):
        return [_structural(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _structural(v) for k, v in schema.items() if not k.startswith("x-kubernetes-")}
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if schema.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    out.pop("nullable", None)
    if ("properties" in out and "additionalProperties" not in out
            and not schema.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


def crd_schemas(documents: Iterable[Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """{(group, version, kind): JSON schema} from every CustomResourceDefinition among documents."""
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for doc in documents:
        if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc.get("spec") or {}
        kind = (spec.get("names") or {}).get("kind")
        for served in spec.get("versions") or ():
            schema = ((served or {}).get("schema") or {}).get("openAPIV3Schema")
            if kind and isinstance(schema, dict):
                schema = _structural(copy.deepcopy(schema))
                props = schema.setdefault("properties", {})
                for key in ("apiVersion", "kind", "metadata"):
                    props.setdefault(key, {})
                found[(str(spec.get("group", "")), str(served.get("name")), str(kind))] = schema
    return found


def merged_documents(obj: dict[str, Any]) -> bool:
    r"""Whether the object holds a top-level key starting with '---': Helm splits its output on
    `(?:^|\s*
)---\s*` (pkg/releaseutil/manifest.go SplitManifests), so `---kind: X` begins a new
    document there, while a YAML parser reads one mapping; such an object is not what Argo CD applies."""
    return any(str(key).startswith("---") for key in obj)


def label(obj: dict[str, Any]) -> str:
    """Kind/namespace/name of a rendered object."""
    meta = obj.get("metadata") or {}
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj.get('kind')}/{where}{meta.get('name')}"


def _path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(the object)"


_UNEXPECTED = re.compile(r"\('?(.*?)'? (?:was|were) unexpected\)")


def problems(validator: Any, obj: dict[str, Any]) -> list[Problem]:
    """Every schema error of one object: field path and message (unknown fields named one by one)."""
    out = []
    for error in sorted(validator.iter_errors(obj), key=lambda e: [str(p) for p in e.absolute_path]):
        where = list(error.absolute_path)
        extra = _UNEXPECTED.search(error.message) if error.validator == "additionalProperties" else None
        if extra:
            for name in re.split(r"'?, '?", extra.group(1)):
                out.append(Problem(label(obj), _path([*where, name]),
                                   "unknown field (the API server refuses it)"))
            continue
        message = error.message if len(error.message) <= 160 else error.message[:157] + "..."
        out.append(Problem(label(obj), _path(where), message))
    return out


def validate(obj: dict[str, Any], version: str,
             crds: dict[tuple[str, str, str], dict[str, Any]]) -> list[Problem] | None:
    """The object's problems, or None when no schema is known for its kind (not checked)."""
    validator = builtin_validator(version, str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
    if validator is None:
        group, api = group_version(str(obj.get("apiVersion", "")))
        schema = crds.get((group, api, str(obj.get("kind", ""))))
        if schema is None:
            return None
        validator = jsonschema.Draft7Validator(schema)
    return problems(validator, obj)
