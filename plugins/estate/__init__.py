"""The environments file: typed models (models), their scalar types (values), the loader that
maps validation errors to file, line and key (loader), the sources it names (sources), and the
JSON Schema generated from the models (schema)."""

from __future__ import annotations

from releasegate.estate.loader import EnvironmentsError, load
from releasegate.estate.models import (
    BuildEntry, DatabaseRequirements, DatabaseSpec, Deploys, Environment, Estate, FeatureFlags,
    FrontendEntry, GitopsSpec, IndexRequirement, KubeSpec, Network, Registries, SettingsEntry,
    Snapshot, Source, Subdomain, VersionSpec, Waiver,
)
from releasegate.estate.sources import ensure_sources, skip_if_unset
from releasegate.estate.values import Unset, interpolate

__all__ = [
    "BuildEntry", "DatabaseRequirements", "DatabaseSpec", "Deploys", "Environment", "Estate",
    "EnvironmentsError", "FeatureFlags", "FrontendEntry", "GitopsSpec", "IndexRequirement",
    "KubeSpec", "Network", "Registries", "SettingsEntry", "Snapshot", "Source", "Subdomain",
    "Unset", "VersionSpec", "Waiver", "ensure_sources", "interpolate", "load", "skip_if_unset",
]
