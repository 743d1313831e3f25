"""The environments file's database sections as typed models: the schema snapshot a source keeps,
what the database must have besides it (extensions, indexes), and where an environment's live
database is (plugins/estate/models.py names them; split out to keep each module small)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic.dataclasses import dataclass

from releasegate.estate.values import MODEL, Flag, RepoPath, SourceRef, Strings, Text, Variable, or_default


@dataclass(frozen=True, config=MODEL)
class Snapshot:
    """A schema kept as code in a source."""

    kind: Literal["directus"]
    """the schema tool"""
    source: SourceRef
    """the source that holds the snapshot"""
    path: RepoPath
    """the directus-sync snapshot folder in that source"""


@dataclass(frozen=True, config=MODEL)
class IndexRequirement:
    """An index that migrations rely on."""

    name: Text
    """the index name"""
    table: Text
    """its table"""
    columns: Strings
    """its columns, in order"""
    unique: Flag = False
    """a unique index"""
    where: Text | None = None
    """the partial index's predicate"""


@dataclass(frozen=True, config=MODEL)
class DatabaseRequirements:
    """Raw SQL that the snapshot cannot express."""

    extensions: Strings = ()
    """Postgres extensions the database must have"""
    indexes: Annotated[tuple[IndexRequirement, ...], or_default(tuple)] = ()
    """indexes the database must have"""


@dataclass(frozen=True, config=MODEL)
class DatabaseSpec:
    """The live database of an environment."""

    dsn_env: Variable
    """the environment variable that holds the DSN"""
