"""The cluster checks of checks/test_cluster.py as the history sweep runs them at one gitops commit:
the blockers the API server or the kubelet would raise if that commit were synced after the one
before it (schema, duplicates, immutable fields against the previous commit, probe ports)."""

from __future__ import annotations

from typing import Any

from releasegate.breaks import Blocker
from releasegate.kubernetes import conflicts, openapi, probes


def cluster_blockers(version: str | None, manifests: tuple[dict[str, Any], ...],
                     previous: tuple[dict[str, Any], ...] | None) -> list[Blocker]:
    """Blockers of the rendered manifests at one commit; `previous` is the render the cluster ran
    before it (None: the environment is new there, nothing is updated). `version` None: no schema."""
    out: list[Blocker] = []
    if version is not None:
        crds = openapi.crd_schemas(manifests)
        for obj in manifests:
            if openapi.merged_documents(obj):
                continue  # the render's document split, not the chart's (checks/test_cluster.py says so)
            for problem in openapi.validate(obj, version, crds) or ():
                out.append(Blocker("test_manifest_schema", f"{obj.get('apiVersion')}/{obj.get('kind')}",
                                   f"{problem.obj}: {problem.path}: {problem.message}"))
    out += [Blocker("test_unique_objects", None, d.message) for d in conflicts.duplicates(manifests)]
    if previous is not None:
        out += [Blocker("test_immutable_fields", r.obj, r.message)
                for r in conflicts.refused_updates(previous, manifests)]
    for probe in probes.http_probes(manifests):
        found = probes.port_problem(probe)
        if found and found[0] == "block":
            out.append(Blocker("test_probe_ports", probe.label, found[1]))
    return out
