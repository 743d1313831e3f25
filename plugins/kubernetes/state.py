"""Kubernetes health and GitOps drift, as plain functions over manifest and live-object dicts.

Declared state is the chart rendered for an environment (a list of manifest dicts); live state is
what the API server lists in the environment's namespace (``Live``: kind -> list of object dicts).
Every function returns ``Finding`` values; the checks turn them into blockers or warnings.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Mapping

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "CronJob")
# Kinds whose live objects are listed, and which the undeclared-object scan covers.
TRACKED_KINDS = (*WORKLOAD_KINDS, "HorizontalPodAutoscaler", "Service")
BAD_WAITING = frozenset({
    "ImagePullBackOff", "ErrImagePull", "CrashLoopBackOff",
    "CreateContainerConfigError", "InvalidImageName",
})
DEFAULT_RESTART_THRESHOLD = 5
ARGO_TRACKING_LABEL = "app.kubernetes.io/instance"
ARGO_TRACKING_ANNOTATION = "argocd.argoproj.io/tracking-id"
_SECRET_NAME = re.compile(r"PASS|SECRET|TOKEN|KEY|CREDENTIAL|DSN|PRIVATE|AUTH", re.I)

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


# ---------------------------------------------------------------------------------------------
# Declared workloads


def pod_template(obj: dict) -> dict:
    """The pod template of a workload object (CronJob: the job template's)."""
    spec = obj.get("spec") or {}
    if obj.get("kind") == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    return spec.get("template") or {}


def _template_labels(obj: dict) -> dict:
    return (pod_template(obj).get("metadata") or {}).get("labels") or {}


def _matches(selector: Mapping[str, str] | None, labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _selector(obj: dict) -> dict:
    """Pod labels that select a workload's pods (matchLabels; CronJob: its template's labels)."""
    if obj.get("kind") == "CronJob":
        return dict(_template_labels(obj))
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
        labels = _template_labels(m)
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
    selector = _selector(obj)
    return [p for p in live.get("Pod", ())
            if _matches(selector, (p.get("metadata") or {}).get("labels") or {})
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]


# ---------------------------------------------------------------------------------------------
# Health


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def rollout_gaps(obj: dict) -> list[str]:
    """What keeps a live workload's rollout from being complete (empty when it is)."""
    kind, spec, status = obj.get("kind"), obj.get("spec") or {}, obj.get("status") or {}
    gaps = []
    generation = (obj.get("metadata") or {}).get("generation")
    if kind != "CronJob" and generation is not None \
            and status.get("observedGeneration", 0) < generation:
        gaps.append(f"generation {generation} not yet observed by the controller "
                    f"(observed {status.get('observedGeneration', 0)})")
    if kind in ("Deployment", "StatefulSet"):
        want = spec.get("replicas", 1)
        for key in ("updatedReplicas", "readyReplicas", "availableReplicas"):
            if key == "availableReplicas" and kind == "StatefulSet" and key not in status:
                continue
            have = status.get(key, 0)
            if have < want:
                gaps.append(f"{have}/{want} {key[:-len('Replicas')]}")
        if kind == "StatefulSet" and status.get("updateRevision") \
                and status.get("currentRevision") != status.get("updateRevision"):
            gaps.append(f"revision {status.get('currentRevision')} -> {status['updateRevision']} "
                        "in progress")
    elif kind == "DaemonSet":
        want = status.get("desiredNumberScheduled", 0)
        for key in ("updatedNumberScheduled", "numberReady", "numberAvailable"):
            have = status.get(key, 0)
            if have < want:
                gaps.append(f"{have}/{want} {key}")
    return gaps


def _statuses(pod: dict) -> list[tuple[dict, bool]]:
    status = pod.get("status") or {}
    return ([(s, True) for s in status.get("initContainerStatuses") or ()]
            + [(s, False) for s in status.get("containerStatuses") or ()])


def _container_image(pod: dict, container: str) -> str:
    spec = pod.get("spec") or {}
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        if c.get("name") == container:
            return c.get("image", "")
    return ""


def pod_problems(workload: str, pods: list[dict], now: dt.datetime,
                 restart_threshold: int) -> list[Finding]:
    """Containers of a workload's pods waiting for a bad reason, or restarting too often."""
    waiting: dict[tuple[str, str], list[tuple[dict, dict]]] = {}
    restarts: dict[str, list[tuple[dict, dict]]] = {}
    hour_ago = now - dt.timedelta(hours=1)
    for pod in pods:
        for status, _init in _statuses(pod):
            reason = ((status.get("state") or {}).get("waiting") or {}).get("reason")
            if reason in BAD_WAITING:
                waiting.setdefault((status["name"], reason), []).append((pod, status))
                continue
            last = _parse_time(((status.get("lastState") or {}).get("terminated") or {})
                               .get("finishedAt"))
            if status.get("restartCount", 0) > restart_threshold and last and last >= hour_ago:
                restarts.setdefault(status["name"], []).append((pod, status))
    findings = []
    for (container, reason), hits in sorted(waiting.items()):
        pod, status = hits[0]
        image = status.get("image") or _container_image(pod, container)
        message = (status["state"]["waiting"].get("message") or "").strip().replace("\n", " ")
        findings.append(Finding("block", (
            f"{workload}: container {container} ({image}) is waiting with {reason} on "
            f"{len(hits)}/{len(pods)} pod(s): {message or 'no message from the kubelet'}"), {
            "workload": workload, "container": container, "image": image, "reason": reason,
            "kubelet_message": message, "pods": [p["metadata"]["name"] for p, _ in hits]}))
    for container, hits in sorted(restarts.items()):
        pod, status = hits[0]
        image = status.get("image") or _container_image(pod, container)
        terminated = status["lastState"]["terminated"]
        count = max(s.get("restartCount", 0) for _, s in hits)
        findings.append(Finding("block", (
            f"{workload}: container {container} ({image}) restarted {count} times, last within the "
            f"hour (threshold {restart_threshold}): last exit {terminated.get('reason', '?')} "
            f"code {terminated.get('exitCode', '?')}"), {
            "workload": workload, "container": container, "image": image,
            "reason": terminated.get("reason"), "restarts": count,
            "kubelet_message": terminated.get("message", ""),
            "pods": [p["metadata"]["name"] for p, _ in hits]}))
    return findings


def _last_run(name: str, obj: dict) -> list[Finding]:
    """A CronJob whose last scheduled run has not succeeded (the Job failed or never finished)."""
    status = obj.get("status") or {}
    scheduled = _parse_time(status.get("lastScheduleTime"))
    succeeded = _parse_time(status.get("lastSuccessfulTime"))
    if obj.get("kind") != "CronJob" or scheduled is None or status.get("active") \
            or (succeeded is not None and succeeded >= scheduled):
        return []
    return [Finding("block", (
        f"CronJob {name}: the run scheduled at {status['lastScheduleTime']} did not succeed "
        f"(last success: {status.get('lastSuccessfulTime') or 'never'})"),
        {"workload": name, "last_schedule": status.get("lastScheduleTime"),
         "last_success": status.get("lastSuccessfulTime")})]


def _ready_endpoints(service: str, live: Live) -> int:
    count = 0
    for eps in live.get("EndpointSlice", ()):
        if ((eps.get("metadata") or {}).get("labels") or {}).get(
                "kubernetes.io/service-name") != service:
            continue
        for endpoint in eps.get("endpoints") or ():
            if (endpoint.get("conditions") or {}).get("ready", True):
                count += len(endpoint.get("addresses") or ())
    return count


def health(workload: Declared, live: Live, namespace: str, now: dt.datetime | None = None,
           restart_threshold: int = DEFAULT_RESTART_THRESHOLD) -> list[Finding]:
    """Blockers for a declared workload: absent, failing pods, rollout incomplete, no endpoints.

    Pod problems are the cause of an incomplete rollout and of a Service without ready endpoints,
    so when a pod problem is found those consequences go into its details rather than repeating.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    obj = find_live(live, workload.kind, workload.name)
    if obj is None:
        return [Finding("block", (
            f"{workload.kind} {workload.name} is declared in git but absent from namespace "
            f"{namespace}: the sync failed or someone deleted it"),
            {"workload": workload.name, "kind": workload.kind, "namespace": namespace})]
    pods = pods_of(obj, live)
    gaps = rollout_gaps(obj)
    missing_services = [s["metadata"]["name"] for s in workload.services
                        if find_live(live, "Service", s["metadata"]["name"]) is None]
    unready = [s["metadata"]["name"] for s in workload.services
               if s["metadata"]["name"] not in missing_services
               and (s.get("spec") or {}).get("selector")
               and _ready_endpoints(s["metadata"]["name"], live) == 0]
    findings = pod_problems(workload.name, pods, now, restart_threshold)
    if findings:
        for f in findings:
            f.details.update(rollout=gaps, services_without_ready_endpoints=unready)
    elif gaps:
        findings.append(Finding("block", f"{workload.kind} {workload.name}: rollout incomplete: "
                                         f"{', '.join(gaps)}",
                                {"workload": workload.name, "rollout": gaps,
                                 "pods": [p["metadata"]["name"] for p in pods]}))
    findings += _last_run(workload.name, obj)
    for name in missing_services:
        findings.append(Finding("block", f"{workload.name}: Service {name} is declared in git but "
                                         f"absent from namespace {namespace}",
                                {"workload": workload.name, "service": name}))
    if unready and not findings:
        for name in unready:
            findings.append(Finding("block", f"{workload.name}: Service {name} has no ready "
                                             "endpoints: nothing behind it answers",
                                    {"workload": workload.name, "service": name}))
    return findings


# ---------------------------------------------------------------------------------------------
# Drift


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
        digests = sorted({d for pod in pods for s, _ in _statuses(pod) if s["name"] == container
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
    want_sel, have_sel = _selector(workload.manifest), _selector(obj)
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
    labels = _template_labels(obj)
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


def argocd(declared_app: dict, live_app: dict | None) -> list[Finding]:
    """Argo CD Application: absent (warn), target revision changed, not Synced, not Healthy, an
    error condition."""
    name = declared_app["metadata"]["name"]
    want_rev = ((declared_app.get("spec") or {}).get("source") or {}).get("targetRevision")
    if live_app is None:
        return [Finding("warn", f"Argo CD Application {name} is not in the cluster: nothing "
                                "applies git to this environment", {"application": name})]
    spec, status = live_app.get("spec") or {}, live_app.get("status") or {}
    have_rev = (spec.get("source") or {}).get("targetRevision")
    sync = (status.get("sync") or {}).get("status", "Unknown")
    health_status = (status.get("health") or {}).get("status", "Unknown")
    details = {"application": name, "target_revision": have_rev, "sync": sync,
               "health": health_status, "synced_revision": (status.get("sync") or {}).get("revision")}
    findings = []
    if want_rev is not None and have_rev != want_rev:
        findings.append(Finding("block", (
            f"Argo CD Application {name} targets revision {have_rev}, git declares {want_rev}"),
            details))
    if sync != "Synced":
        findings.append(Finding("block", (
            f"Argo CD Application {name} is {sync} at {have_rev}: the cluster does not match git"),
            details))
    if health_status in ("Progressing", "Suspended"):
        findings.append(Finding("warn", f"Argo CD Application {name} health is {health_status}",
                                details))
    elif health_status != "Healthy":
        findings.append(Finding("block", f"Argo CD Application {name} health is {health_status}: "
                        f"{(status.get('health') or {}).get('message', 'see the Argo CD UI')}",
                                details))
    return findings + argocd_conditions(name, live_app)


def argocd_conditions(name: str, live_app: dict | None) -> list[Finding]:
    """Error conditions Argo CD reports on the Application (ComparisonError when it cannot read
    the repository, InvalidSpecError...): while one stands, git no longer reaches the cluster."""
    found = []
    for cond in ((live_app or {}).get("status") or {}).get("conditions") or ():
        kind = str(cond.get("type") or "")
        if kind.endswith("Error"):
            message = " ".join(str(cond.get("message") or "no message").split())
            found.append(Finding("block", f"Argo CD Application {name} reports {kind}: {message}",
                                 {"application": name, "condition": kind,
                                  "condition_message": message,
                                  "since": cond.get("lastTransitionTime")}))
    return found


def argocd_revision(name: str, live_app: dict | None, repo: Any, expected: str,
                    label: str) -> list[Finding]:
    """The commit Argo CD last synced against the commit git holds now (`expected`, named
    `label`): behind means the newest deployment commits never reached the cluster."""
    synced = (((live_app or {}).get("status") or {}).get("sync") or {}).get("revision")
    if not synced or not isinstance(synced, str) or synced == expected:
        return []
    details = {"application": name, "synced_revision": synced, "expected_revision": expected}
    known = repo.rev_parse(synced)
    if known is None:
        return [Finding("warn", (
            f"Argo CD Application {name} is synced to {synced[:12]}, which the local clone of "
            f"{repo.name} does not have: fetch it to compare with {label}"), details)]
    if known == expected:
        return []
    if repo.is_ancestor(known, expected):
        behind = repo.count(f"{known}..{expected}")
        details["behind"] = behind
        return [Finding("block", (
            f"Argo CD Application {name} is synced to {repo.name} {known[:12]}, {behind} "
            f"commit(s) behind {label} ({expected[:12]}): the cluster does not run what git says; "
            "check the Application's conditions and Argo CD's access to the repository"),
            details)]
    if repo.is_ancestor(expected, known):
        return [Finding("warn", (
            f"Argo CD Application {name} is synced to {known[:12]}, ahead of {label} "
            f"({expected[:12]}) in the local clone of {repo.name}: fetch it"), details)]
    return [Finding("block", (
        f"Argo CD Application {name} is synced to {known[:12]}, which is not on {label} "
        f"({expected[:12]}): the cluster runs a commit git's {label} does not hold"), details)]
