"""The environments file: kept as the import path other modules use; the code is plugins.estate."""

from __future__ import annotations

from plugins.estate import (  # noqa: F401
    BuildEntry, DatabaseRequirements, DatabaseSpec, Deploys, Environment, Estate,
    EnvironmentsError, FeatureFlags, FrontendEntry, GitopsSpec, IndexRequirement, KubeSpec, Network,
    Registries, SettingsEntry, Snapshot, Source, Subdomain, Unset, VersionSpec, Waiver,
    __all__, ensure_sources, interpolate, load, skip_if_unset,
)
