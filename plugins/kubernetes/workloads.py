"""Declared workloads and their live counterparts, as plain functions over manifest and object dicts.

Declared state is the chart rendered for an environment (a list of manifest dicts); live state is
what the API server lists in the environment's namespace (``Live``: kind -> list of object dicts).
The health, drift and Argo CD modules judge them and return ``Finding`` values; the checks turn
those into blockers or warnings.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Mapping

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "CronJob")

Live = Mapping[str, list[dict]]


@dataclass(frozen=True)
class Finding:
    """One problem: severity "block" or "warn", a one-line message, JSON-able details."""

    severity: str
    message: str
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Declared:
    """A workload from the rendered chart, with the Services that select it and its HPA."""

    kind: str
    name: str
    manifest: dict
    services: tuple[dict, ...] = ()
    hpa: dict | None = None

    @property
    def pod_spec(self) -> dict:
        """The pod spec of the workload's template (CronJobs included)."""
        return pod_template(self.manifest).get("spec") or {}


def pod_template(obj: dict) -> dict:
    """The pod template of a workload object (CronJob: the job template's)."""
    spec = obj.get("spec") or {}
    if obj.get("kind") == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    return spec.get("template") or {}


def template_labels(obj: dict) -> dict:
    """The labels of a workload's pod template."""
    return (pod_template(obj).get("metadata") or {}).get("labels") or {}


def _matches(selector: Mapping[str, str] | None, labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def pod_selector(obj: dict) -> dict:
    """Pod labels that select a workload's pods (matchLabels; CronJob: its template's labels)."""
    if obj.get("kind") == "CronJob":
        return dict(template_labels(obj))
    return dict(((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {})


def declared(manifests: Iterable[dict]) -> list[Declared]:
    """Workloads of a rendered chart, each with the Services selecting its pods and its HPA."""
    manifests = [m for m in manifests if isinstance(m, dict) and m.get("kind")]
    services = [m for m in manifests if m["kind"] == "Service"]
    hpas = [m for m in manifests if m["kind"] == "HorizontalPodAutoscaler"]
    result = []
    for m in manifests:
        if m["kind"] not in WORKLOAD_KINDS:
            continue
        name = m["metadata"]["name"]
        labels = template_labels(m)
        own_services = tuple(s for s in services
                             if _matches((s.get("spec") or {}).get("selector"), labels))
        hpa = next((h for h in hpas
                    if ((h.get("spec") or {}).get("scaleTargetRef") or {}).get("name") == name
                    and h["spec"]["scaleTargetRef"].get("kind") == m["kind"]), None)
        result.append(Declared(m["kind"], name, m, own_services, hpa))
    return sorted(result, key=lambda d: (d.name, d.kind))


def item_ids(workloads: Iterable[Declared]) -> list[tuple[str, Declared]]:
    """(item id, workload) pairs: the workload name, prefixed with its kind only when names clash."""
    workloads = list(workloads)
    counts = Counter(d.name for d in workloads)
    return [(d.name if counts[d.name] == 1 else f"{d.kind.lower()}-{d.name}", d) for d in workloads]


def find_live(live: Live, kind: str, name: str) -> dict | None:
    """The live object of that kind and name, or None."""
    return next((o for o in live.get(kind, ()) if o["metadata"]["name"] == name), None)


def pods_of(obj: dict, live: Live) -> list[dict]:
    """Live pods selected by a workload (not finished ones)."""
    selector = pod_selector(obj)
    return [p for p in live.get("Pod", ())
            if _matches(selector, (p.get("metadata") or {}).get("labels") or {})
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]


def container_statuses(pod: dict) -> list[tuple[dict, bool]]:
    """A pod's container statuses, init containers first, each with whether it is an init one."""
    status = pod.get("status") or {}
    return ([(s, True) for s in status.get("initContainerStatuses") or ()]
            + [(s, False) for s in status.get("containerStatuses") or ()])


def container_image(pod: dict, container: str) -> str:
    """The image a pod's spec names for a container ("" when no container has that name)."""
    spec = pod.get("spec") or {}
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        if c.get("name") == container:
            return c.get("image", "")
    return ""


def parse_time(value: str | None) -> dt.datetime | None:
    """An RFC 3339 timestamp of the API server as a datetime (None when absent or unreadable)."""
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None

