"""GitOps drift: how a workload's live object differs from what git declares (images and digests,
env, resources, replicas and HPA bounds, selectors), and live objects git does not declare."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable

from releasegate.kubernetes.workloads import (WORKLOAD_KINDS, Declared, Finding, Live,
                                          container_statuses, find_live, pod_selector,
                                          pod_template, pods_of, template_labels)

# Kinds whose live objects are listed, and which the undeclared-object scan covers.
TRACKED_KINDS = (*WORKLOAD_KINDS, "HorizontalPodAutoscaler", "Service")
ARGO_TRACKING_LABEL = "app.kubernetes.io/instance"
ARGO_TRACKING_ANNOTATION = "argocd.argoproj.io/tracking-id"
_SECRET_NAME = re.compile(r"PASS|SECRET|TOKEN|KEY|CREDENTIAL|DSN|PRIVATE|AUTH", re.I)

_SUFFIX = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
           "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": 1,
           "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")


def quantity(value: Any) -> Decimal | str:
    """A Kubernetes quantity as a number ("500m" == "0.5", "1Gi" == "1024Mi"); else the text."""
    match = _QUANTITY.match(str(value).strip())
    if not match:
        return str(value)
    try:
        return Decimal(match[1]) * Decimal(_SUFFIX[match[2] or ""])
    except InvalidOperation:
        return str(value)


def image_digest(image_id: str | None) -> str | None:
    """The sha256 digest in a pod's containerStatuses[].imageID, if it names one."""
    match = re.search(r"sha256:[0-9a-f]{64}", image_id or "")
    return match[0] if match else None


def _containers(pod_spec: dict) -> dict[str, dict]:
    return {c["name"]: c for c in (pod_spec.get("initContainers") or [])
            + (pod_spec.get("containers") or [])}


def _env_diff(name: str, container: str, want: list[dict], have: list[dict]) -> list[Finding]:
    want_map = {e["name"]: e for e in want or ()}
    have_map = {e["name"]: e for e in have or ()}
    missing = sorted(set(want_map) - set(have_map))
    extra = sorted(set(have_map) - set(want_map))
    findings = []
    if missing or extra:
        parts = ([f"missing live: {', '.join(missing)}"] if missing else []) \
            + ([f"not in git: {', '.join(extra)}"] if extra else [])
        findings.append(Finding("block", f"{name}: container {container} env differs from git: "
                                         + "; ".join(parts),
                                {"workload": name, "container": container,
                                 "missing_live": missing, "not_in_git": extra}))
    changed, details = [], {}
    for key in sorted(set(want_map) & set(have_map)):
        w, h = want_map[key], have_map[key]
        w_val, h_val = w.get("value", "") if "valueFrom" not in w else None, \
            h.get("value", "") if "valueFrom" not in h else None
        if w.get("valueFrom") != h.get("valueFrom") or w_val != h_val:
            changed.append(key)
            if not _SECRET_NAME.search(key) and "valueFrom" not in w and "valueFrom" not in h:
                details[key] = {"git": w_val, "live": h_val}
            else:
                details[key] = {"git": w.get("valueFrom", "(plain value)"),
                                "live": h.get("valueFrom", "(plain value)")}
    if changed:
        findings.append(Finding("block", f"{name}: container {container} env values differ from "
                                         f"git: {', '.join(changed)}",
                                {"workload": name, "container": container, "changed": details}))
    return findings


def _resources_diff(want: dict, have: dict) -> list[str]:
    changes = []
    for section in ("requests", "limits"):
        w, h = (want or {}).get(section) or {}, (have or {}).get(section) or {}
        for key in sorted(set(w) | set(h)):
            if quantity(w.get(key, "-")) != quantity(h.get(key, "-")):
                changes.append(f"{section}.{key} git {w.get(key, 'unset')} live "
                               f"{h.get(key, 'unset')}")
    return changes


def _container_drift(workload: Declared, obj: dict, pods: list[dict]) -> list[Finding]:
    name = workload.name
    want = _containers(workload.pod_spec)
    have = _containers(pod_template(obj).get("spec") or {})
    findings = []
    if set(want) != set(have):
        findings.append(Finding("block", (
            f"{name}: containers differ from git: git {sorted(want)}, live {sorted(have)}"),
            {"workload": name, "git": sorted(want), "live": sorted(have)}))
    for container in sorted(set(want) & set(have)):
        w, h = want[container], have[container]
        digests = sorted({d for pod in pods for s, _ in container_statuses(pod) if s["name"] == container
                          for d in [image_digest(s.get("imageID"))] if d})
        if w.get("image") != h.get("image"):
            findings.append(Finding("block", (
                f"{name}: container {container} runs image {h.get('image')}, git declares "
                f"{w.get('image')}"), {"workload": name, "container": container,
                                       "git": w.get("image"), "live": h.get("image"),
                                       "live_digests": digests}))
        else:
            pinned = image_digest(w.get("image"))
            if pinned and any(d != pinned for d in digests):
                findings.append(Finding("block", (
                    f"{name}: container {container} pins {pinned[:19]}... but pods run "
                    f"{', '.join(d[:19] + '...' for d in digests if d != pinned)}"),
                    {"workload": name, "container": container, "git": w.get("image"),
                     "live_digests": digests}))
            elif not pinned and len(digests) > 1:
                findings.append(Finding("warn", (
                    f"{name}: container {container} image {w.get('image')} resolves to "
                    f"{len(digests)} digests across pods: the tag was pushed again"),
                    {"workload": name, "container": container, "live_digests": digests}))
        findings += _env_diff(name, container, w.get("env"), h.get("env"))
        if (w.get("envFrom") or []) != (h.get("envFrom") or []):
            findings.append(Finding("block", f"{name}: container {container} envFrom differs "
                                             "from git",
                                    {"workload": name, "container": container,
                                     "git": w.get("envFrom"), "live": h.get("envFrom")}))
        changes = _resources_diff(w.get("resources"), h.get("resources"))
        if changes:
            findings.append(Finding("block", f"{name}: container {container} resources differ "
                                             f"from git: {'; '.join(changes)}",
                                    {"workload": name, "container": container,
                                     "changes": changes}))
    return findings


def _replica_drift(workload: Declared, obj: dict, live: Live) -> list[Finding]:
    name = workload.name
    if workload.kind not in ("Deployment", "StatefulSet"):
        return []
    live_replicas = (obj.get("spec") or {}).get("replicas", 1)
    if workload.hpa is None:
        want = (workload.manifest.get("spec") or {}).get("replicas", 1)
        if live_replicas != want:
            return [Finding("block", (
                f"{name}: scaled by hand to {live_replicas} replicas, git declares {want} and no "
                "HPA: Argo CD self-heal will revert it (or sync is broken)"),
                {"workload": name, "git": want, "live": live_replicas})]
        return []
    hpa_name = workload.hpa["metadata"]["name"]
    live_hpa = find_live(live, "HorizontalPodAutoscaler", hpa_name)
    want_min = workload.hpa["spec"].get("minReplicas", 1)
    want_max = workload.hpa["spec"].get("maxReplicas")
    if live_hpa is None:
        return [Finding("block", f"{name}: HPA {hpa_name} is declared in git but absent live",
                        {"workload": name, "hpa": hpa_name})]
    findings = []
    have_min = live_hpa["spec"].get("minReplicas", 1)
    have_max = live_hpa["spec"].get("maxReplicas")
    if (have_min, have_max) != (want_min, want_max):
        findings.append(Finding("block", (
            f"{name}: HPA {hpa_name} bounds are {have_min}..{have_max} live, git declares "
            f"{want_min}..{want_max}"), {"workload": name, "git": [want_min, want_max],
                                         "live": [have_min, have_max]}))
    if not have_min <= live_replicas <= (have_max if have_max is not None else live_replicas):
        findings.append(Finding("block", (
            f"{name}: {live_replicas} replicas is outside HPA {hpa_name} bounds "
            f"{have_min}..{have_max}: scaled by hand"),
            {"workload": name, "live": live_replicas, "bounds": [have_min, have_max]}))
    return findings


def _selector_drift(workload: Declared, obj: dict, live: Live) -> list[Finding]:
    name = workload.name
    findings = []
    want_sel, have_sel = pod_selector(workload.manifest), pod_selector(obj)
    if workload.kind != "CronJob" and want_sel != have_sel:
        findings.append(Finding("block", f"{name}: selector {have_sel} differs from git "
                                         f"{want_sel}",
                                {"workload": name, "git": want_sel, "live": have_sel}))
    used = dict(want_sel)
    for service in workload.services:
        used.update(service["spec"].get("selector") or {})
        live_svc = find_live(live, "Service", service["metadata"]["name"])
        if live_svc is not None and (live_svc.get("spec") or {}).get("selector") \
                != service["spec"].get("selector"):
            findings.append(Finding("block", (
                f"{name}: Service {service['metadata']['name']} selector "
                f"{(live_svc.get('spec') or {}).get('selector')} differs from git "
                f"{service['spec'].get('selector')}"),
                {"workload": name, "service": service["metadata"]["name"]}))
    labels = template_labels(obj)
    wrong = {k: labels.get(k) for k, v in used.items() if labels.get(k) != v}
    if wrong:
        findings.append(Finding("block", (
            f"{name}: pod labels used by selectors differ from git: "
            + ", ".join(f"{k}={labels.get(k)!s} (git {used[k]})" for k in sorted(wrong))),
            {"workload": name, "git": used, "live": labels}))
    return findings


def drift(workload: Declared, live: Live) -> list[Finding]:
    """Differences between a declared workload and its live object (absent: health reports it)."""
    obj = find_live(live, workload.kind, workload.name)
    if obj is None:
        return []
    pods = pods_of(obj, live)
    return (_container_drift(workload, obj, pods) + _replica_drift(workload, obj, live)
            + _selector_drift(workload, obj, live))


def undeclared(manifests: Iterable[dict], live: Live, namespace: str) -> list[Finding]:
    """Warnings for live objects git does not declare: what an Argo CD prune would delete."""
    known = {(m.get("kind"), (m.get("metadata") or {}).get("name")) for m in manifests
             if isinstance(m, dict)}
    findings = []
    for kind in TRACKED_KINDS:
        for obj in live.get(kind, ()):
            meta = obj.get("metadata") or {}
            if (kind, meta.get("name")) in known or meta.get("ownerReferences"):
                continue
            if kind == "Service" and meta.get("name") == "kubernetes":
                continue
            tracked = ARGO_TRACKING_ANNOTATION in (meta.get("annotations") or {}) \
                or ARGO_TRACKING_LABEL in (meta.get("labels") or {})
            findings.append(Finding("warn", (
                f"{kind} {meta.get('name')} runs in {namespace} but git does not declare it: "
                f"a prune would delete it{'' if tracked else ' (if Argo CD tracks it)'}; "
                "add it to the chart or remove it"),
                {"kind": kind, "name": meta.get("name"), "namespace": namespace,
                 "tracked": tracked, "created": meta.get("creationTimestamp")}))
    return findings
