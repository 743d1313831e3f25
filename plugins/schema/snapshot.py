"""A directus-sync schema snapshot, read from a folder or from a git ref.

Layout (directus-sync `snapshot/`): info.json, collections/<collection>.json,
fields/<collection>/<field>.json, relations/<collection>/<field>.json. Collections without a
table (folders) have `schema: null`; alias fields (o2m, m2m, presentation) have `schema: null`.
A malformed file is recorded against its collection with the file's path, so one bad file
fails one item instead of the whole run; a malformed info.json makes the snapshot unusable.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field as dc_field, replace
from pathlib import Path
from typing import Any

from releasegate.core.gitrepo import Absent, SourceError


class SnapshotError(SourceError):
    """The snapshot cannot be used at all (missing, or info.json malformed); names the file."""


@dataclass(frozen=True)
class Collection:
    """One collections/<name>.json; schema None means a folder (no table)."""

    name: str
    meta: dict[str, Any] | None
    schema: dict[str, Any] | None
    file: str

    @property
    def is_folder(self) -> bool:
        """Whether the collection is a folder without a table."""
        return self.schema is None


@dataclass(frozen=True)
class Field:
    """One fields/<collection>/<field>.json; schema None means an alias field (no column)."""

    collection: str
    name: str
    type: str | None
    meta: dict[str, Any] | None
    schema: dict[str, Any] | None
    file: str

    @property
    def is_alias(self) -> bool:
        """Whether the field has no database column."""
        return self.schema is None


@dataclass(frozen=True)
class Relation:
    """One relations/<collection>/<field>.json; schema None means no foreign key in the DB."""

    collection: str
    field: str
    related_collection: str | None
    meta: dict[str, Any] | None
    schema: dict[str, Any] | None
    file: str


@dataclass
class Snapshot:
    """The whole snapshot; `where` names it in messages (e.g. "app@v1.4.1:directus/sync/snapshot")."""

    where: str
    info: dict[str, Any]
    collections: dict[str, Collection] = dc_field(default_factory=dict)
    fields: dict[str, dict[str, Field]] = dc_field(default_factory=dict)
    relations: dict[str, dict[str, Relation]] = dc_field(default_factory=dict)
    errors: dict[str, list[str]] = dc_field(default_factory=dict)  # collection -> messages
    broken: set[str] = dc_field(default_factory=set)  # relative paths of malformed files
    file_count: int = 0

    def names(self) -> list[str]:
        """Every collection the snapshot mentions (own, folders, and system ones it adds fields to)."""
        return sorted(set(self.collections) | set(self.fields) | set(self.relations)
                      | set(self.errors))

    def path_of(self, rel: str) -> str:
        """A snapshot file as a user finds it: '<where>/<rel>'."""
        return f"{self.where}/{rel}"


def load_dir(path: Path, where: str | None = None) -> Snapshot:
    """Read a snapshot folder on disk."""
    root = Path(path)
    if not (root / "info.json").is_file():
        raise SnapshotError(f"{where or root}: no info.json (not a directus-sync snapshot folder)")
    files = {}
    for folder, _, names in os.walk(root):
        prefix = os.path.relpath(folder, root).replace(os.sep, "/")
        for name in names:
            if name.endswith(".json"):
                with open(os.path.join(folder, name), "rb") as handle:
                    files[name if prefix == "." else f"{prefix}/{name}"] = handle.read()
    return parse(files, where or str(root))


class SnapshotAbsent(SnapshotError, Absent):
    """The snapshot folder does not exist at that ref (added later, or moved since)."""

    def __init__(self, message: str, absent: Absent) -> None:
        Absent.__init__(self, absent.source, absent.path, absent.ref)
        self.args = (message,)


def load_ref(repo: Any, ref: str, path: str, label: str | None = None) -> Snapshot:
    """Read a snapshot folder at a git ref (one `git archive`, never the checkout).

    repo is a releasegate.core.gitrepo.GitRepo (anything with read_tree(ref, dir) and a name); label names
    the ref in messages (default: ref itself).
    """
    where = f"{getattr(repo, 'name', repo)}@{label or ref}:{path.strip('/')}"
    found = repo.object_at(ref, path.strip("/")) if hasattr(repo, "object_at") else None
    if found and found[1] == "tree":  # refs that carry the same tree share one read and parse
        key = (str(getattr(repo, "path", repo)), found[0])
        if key not in _PARSED:
            try:
                _PARSED[key] = _read(repo, ref, path, _WHERE)
            except SnapshotError:
                return _read(repo, ref, path, where)  # the message names this ref
        return _named(_PARSED[key], where)
    return _read(repo, ref, path, where)


# (repository, snapshot tree id) -> the snapshot parsed with _WHERE standing for its name
_PARSED: dict[tuple[str, str], Snapshot] = {}
_WHERE = "\0where\0"


def _named(snap: Snapshot, where: str) -> Snapshot:
    """A parsed snapshot under the name of the ref it was read at (messages included)."""
    errors = {c: [m.replace(_WHERE, where) for m in ms] for c, ms in snap.errors.items()}
    return replace(snap, where=where, errors=errors)


def _read(repo: Any, ref: str, path: str, where: str) -> Snapshot:
    try:
        files = repo.read_tree(ref, path)
    except Absent as exc:  # estates evolve: no snapshot at that commit means nothing to check there
        raise SnapshotAbsent(f"{where}: no info.json at that ref ({exc})", exc) from None
    except SourceError as exc:
        raise SnapshotError(f"{where}: no info.json at that ref ({exc})") from None
    if "info.json" not in files:
        raise SnapshotError(f"{where}: no info.json at that ref (snapshot missing or moved)")
    return parse({k: v for k, v in files.items() if k.endswith(".json")}, where)


def _load_json(rel: str, data: bytes) -> tuple[Any, str | None]:
    try:
        return json.loads(data), None
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 ({exc.reason} at byte {exc.start})"
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"


def _is_obj_or_none(value: Any) -> bool:
    return value is None or isinstance(value, dict)


def parse(files: dict[str, bytes], where: str) -> Snapshot:
    """Build a Snapshot from {path relative to the snapshot folder: bytes}."""
    info, err = _load_json("info.json", files.get("info.json", b""))
    if err or not isinstance(info, dict):
        raise SnapshotError(f"{where}/info.json: {err or 'not a JSON object'}")
    snap = Snapshot(where=where, info=info, file_count=len(files))
    vendor = info.get("vendor")
    if vendor not in (None, "postgres"):
        raise SnapshotError(f"{where}/info.json: vendor is {vendor!r}; only postgres is supported")

    def bad(collection: str, rel: str, reason: str) -> None:
        snap.errors.setdefault(collection, []).append(f"{where}/{rel}: {reason}")
        snap.broken.add(rel)

    for rel in sorted(files):
        if rel == "info.json":
            continue
        parts = rel[:-5].split("/")
        kind = parts[0]
        collection = parts[1] if len(parts) > 1 else ""
        if not ((kind == "collections" and len(parts) == 2)
                or (kind in ("fields", "relations") and len(parts) == 3)):
            continue  # not a schema file (README, other tooling): ignored like directus-sync does
        doc, err = _load_json(rel, files[rel])
        if err:
            bad(collection, rel, err)
            continue
        if not isinstance(doc, dict):
            bad(collection, rel, "not a JSON object")
            continue
        if doc.get("collection") != collection:
            bad(collection, rel, f"says collection {doc.get('collection')!r}, its path says "
                                 f"{collection!r}")
            continue
        if not (_is_obj_or_none(doc.get("meta")) and _is_obj_or_none(doc.get("schema"))):
            bad(collection, rel, "'meta' and 'schema' must be objects or null")
            continue
        if kind == "collections":
            snap.collections[collection] = Collection(collection, doc.get("meta"),
                                                      doc.get("schema"), rel)
            continue
        name = parts[2]
        key = "field"
        if doc.get(key) != name:
            bad(collection, rel, f"says field {doc.get(key)!r}, its path says {name!r}")
            continue
        schema = doc.get("schema")
        if kind == "fields":
            if schema is not None and not isinstance(schema.get("data_type"), str):
                bad(collection, rel, "schema.data_type is missing")
                continue
            snap.fields.setdefault(collection, {})[name] = Field(
                collection, name, doc.get("type"), doc.get("meta"), schema, rel)
        else:
            if schema is not None and not all(isinstance(schema.get(k), str) for k in
                                              ("foreign_key_table", "foreign_key_column")):
                bad(collection, rel, "schema.foreign_key_table/foreign_key_column are missing")
                continue
            snap.relations.setdefault(collection, {})[name] = Relation(
                collection, name, doc.get("related_collection"), doc.get("meta"), schema, rel)
    return snap
