"""Pods that would never become Ready: HTTP probes against the container's ports and the app's routes.

The kubelet resolves a probe's named port among the container's own `ports[].name` (a name no port
carries fails every probe: pkg/kubelet/prober/prober.go `probe` -> `findPortByName`, "couldn't find
port"); a number is probed whether declared or not, so an undeclared number is only a warning.
https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from releasegate.core.manifests import workloads
from releasegate.kubernetes.routes import serves

KINDS = ("livenessProbe", "readinessProbe", "startupProbe")


@dataclass(frozen=True)
class Probe:
    """One HTTP probe of one container."""

    workload: str  # Deployment/api
    container: str
    kind: str  # readinessProbe
    path: str
    port: Any  # a number or a port name
    ports: tuple[tuple[str | None, int | None], ...]  # the container's (name, containerPort)

    @property
    def label(self) -> str:
        """Deployment/api container api readinessProbe."""
        return f"{self.workload} container {self.container} {self.kind}"


def http_probes(manifests: Iterable[dict[str, Any]]) -> list[Probe]:
    """Every httpGet probe of every container of the rendered workloads."""
    out = []
    for workload in workloads(manifests):
        for raw in workload.pod_spec.get("containers") or ():
            if not isinstance(raw, dict):
                continue
            ports = tuple((p.get("name"), p.get("containerPort")) for p in raw.get("ports") or ()
                          if isinstance(p, dict))
            for kind in KINDS:
                http = ((raw.get(kind) or {}).get("httpGet")) if isinstance(raw.get(kind), dict) else None
                if isinstance(http, dict):
                    out.append(Probe(f"{workload.kind}/{workload.name}", str(raw.get("name")), kind,
                                     str(http.get("path") or "/"), http.get("port"), ports))
    return out


def port_problem(probe: Probe) -> tuple[str, str] | None:
    """('block' | 'warn', message) when the probe's port does not match the container's ports."""
    port = probe.port
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    if isinstance(port, int):
        if any(number == port for _, number in probe.ports):
            return None
        declared = ", ".join(str(n) for _, n in probe.ports) or "none"
        return "warn", (f"{probe.label} probes port {port}, which the container does not declare "
                        f"(ports: {declared}): check the app listens there")
    names = [name for name, _ in probe.ports if name]
    if port in names:
        return None
    return "block", (f"{probe.label} probes port {port!r}, which no port of the container is named "
                     f"(named: {', '.join(names) or 'none'}): the probe can never succeed")


def route_problem(probe: Probe, routes: set[str]) -> str | None:
    """A blocker message when the probe's path is no route of the fully resolved app."""
    path = probe.path.split("?", 1)[0] or "/"
    if serves(routes, path):
        return None
    near = sorted(r for r in routes if any(w in r for w in ("health", "heartbeat", "ready", "live",
                                                             "ping", "status")))
    hint = f" (routes like it: {', '.join(near[:5])})" if near else ""
    return (f"{probe.label} probes {path}, which the application does not serve{hint}: "
            "the pods never become Ready")
