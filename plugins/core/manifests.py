"""Workloads and containers in rendered manifests: the shape every check reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job")


@dataclass(frozen=True)
class Container:
    """One container (or init container) of a workload, as the chart declares it."""

    name: str
    image: str
    init: bool
    env: tuple[dict[str, Any], ...] = ()
    env_from: tuple[dict[str, Any], ...] = ()
    resources: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Workload:
    """A Deployment, StatefulSet, DaemonSet, CronJob or Job with its pod template."""

    kind: str
    name: str
    namespace: str
    manifest: dict[str, Any] = field(repr=False, compare=False)
    pod_spec: dict[str, Any] = field(repr=False, compare=False)
    containers: tuple[Container, ...] = ()

    def container(self, name: str) -> Container | None:
        """The container of that name, if any."""
        return next((c for c in self.containers if c.name == name), None)


def pod_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    """The pod spec of a workload manifest (a CronJob nests it one level deeper)."""
    spec = manifest.get("spec") or {}
    if manifest.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return ((spec.get("template") or {}).get("spec")) or {}


def _containers(spec: dict[str, Any]) -> tuple[Container, ...]:
    out = []
    for key, init in (("initContainers", True), ("containers", False)):
        for raw in spec.get(key) or ():
            out.append(Container(
                name=str(raw.get("name", "")), image=str(raw.get("image", "")), init=init,
                env=tuple(raw.get("env") or ()), env_from=tuple(raw.get("envFrom") or ()),
                resources=dict(raw.get("resources") or {})))
    return tuple(out)


def workloads(manifests: Iterable[dict[str, Any]]) -> list[Workload]:
    """Every workload in rendered manifests, sorted by kind and name."""
    out = []
    for manifest in manifests:
        if manifest.get("kind") not in WORKLOAD_KINDS:
            continue
        meta = manifest.get("metadata") or {}
        spec = pod_spec(manifest)
        out.append(Workload(kind=manifest["kind"], name=str(meta.get("name", "")),
                            namespace=str(meta.get("namespace", "")), manifest=manifest,
                            pod_spec=spec, containers=_containers(spec)))
    return sorted(out, key=lambda w: (w.name, w.kind))


def find(manifests: Iterable[dict[str, Any]], kind: str, name: str) -> dict[str, Any] | None:
    """The manifest of that kind and name, if the chart renders one."""
    for manifest in manifests:
        if manifest.get("kind") == kind and (manifest.get("metadata") or {}).get("name") == name:
            return manifest
    return None


def of_kind(manifests: Iterable[dict[str, Any]], *kinds: str) -> list[dict[str, Any]]:
    """Every manifest of the given kinds."""
    return [m for m in manifests if m.get("kind") in kinds]
