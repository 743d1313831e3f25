"""Health of a declared workload in the cluster: present, pods not stuck or crash-looping, the
rollout complete, the last CronJob run succeeded, its Services with ready endpoints."""

from __future__ import annotations

import datetime as dt

from releasegate.kubernetes.workloads import (Declared, Finding, Live, container_image,
                                          container_statuses, find_live, parse_time, pods_of)

BAD_WAITING = frozenset({
    "ImagePullBackOff", "ErrImagePull", "CrashLoopBackOff",
    "CreateContainerConfigError", "InvalidImageName",
})
DEFAULT_RESTART_THRESHOLD = 5


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


def pod_problems(workload: str, pods: list[dict], now: dt.datetime,
                 restart_threshold: int) -> list[Finding]:
    """Containers of a workload's pods waiting for a bad reason, or restarting too often."""
    waiting: dict[tuple[str, str], list[tuple[dict, dict]]] = {}
    restarts: dict[str, list[tuple[dict, dict]]] = {}
    hour_ago = now - dt.timedelta(hours=1)
    for pod in pods:
        for status, _init in container_statuses(pod):
            reason = ((status.get("state") or {}).get("waiting") or {}).get("reason")
            if reason in BAD_WAITING:
                waiting.setdefault((status["name"], reason), []).append((pod, status))
                continue
            last = parse_time(((status.get("lastState") or {}).get("terminated") or {})
                               .get("finishedAt"))
            if status.get("restartCount", 0) > restart_threshold and last and last >= hour_ago:
                restarts.setdefault(status["name"], []).append((pod, status))
    findings = []
    for (container, reason), hits in sorted(waiting.items()):
        pod, status = hits[0]
        image = status.get("image") or container_image(pod, container)
        message = (status["state"]["waiting"].get("message") or "").strip().replace("\n", " ")
        findings.append(Finding("block", (
            f"{workload}: container {container} ({image}) is waiting with {reason} on "
            f"{len(hits)}/{len(pods)} pod(s): {message or 'no message from the kubelet'}"), {
            "workload": workload, "container": container, "image": image, "reason": reason,
            "kubelet_message": message, "pods": [p["metadata"]["name"] for p, _ in hits]}))
    for container, hits in sorted(restarts.items()):
        pod, status = hits[0]
        image = status.get("image") or container_image(pod, container)
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
    scheduled = parse_time(status.get("lastScheduleTime"))
    succeeded = parse_time(status.get("lastSuccessfulTime"))
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
