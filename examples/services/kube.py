"""A Kubernetes API emulator (kmock) on loopback, loaded with what a cluster shows after a deploy.

``deploy(manifests, namespace)`` turns a rendered chart into the live objects a healthy cluster
reports (workloads with status, ReplicaSets, pods with container statuses and image digests,
Services with EndpointSlices, HPAs); the ``set_*``/``scale`` helpers plant problems in them and
``settle`` recomputes the status that follows from the pods. ``start(objects)`` serves them over
HTTP to the real kubernetes client and writes a kubeconfig; the handle records every request.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import hashlib
import json
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import aiohttp.web
import kmock

# kind -> (group/version, plural, namespaced)
RESOURCES: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("v1", "namespaces", False),
    "Pod": ("v1", "pods", True),
    "Service": ("v1", "services", True),
    "ConfigMap": ("v1", "configmaps", True),
    "Secret": ("v1", "secrets", True),
    "ServiceAccount": ("v1", "serviceaccounts", True),
    "Endpoints": ("v1", "endpoints", True),
    "Event": ("v1", "events", True),
    "Deployment": ("apps/v1", "deployments", True),
    "ReplicaSet": ("apps/v1", "replicasets", True),
    "StatefulSet": ("apps/v1", "statefulsets", True),
    "DaemonSet": ("apps/v1", "daemonsets", True),
    "Job": ("batch/v1", "jobs", True),
    "CronJob": ("batch/v1", "cronjobs", True),
    "HorizontalPodAutoscaler": ("autoscaling/v2", "horizontalpodautoscalers", True),
    "EndpointSlice": ("discovery.k8s.io/v1", "endpointslices", True),
    "Ingress": ("networking.k8s.io/v1", "ingresses", True),
    "PodDisruptionBudget": ("policy/v1", "poddisruptionbudgets", True),
    "Role": ("rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("rbac.authorization.k8s.io/v1", "rolebindings", True),
}
ARGO_APPLICATION = ("argoproj.io/v1alpha1", "applications", True)
EPOCH = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.timezone.utc)
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "CronJob")


def _h(*parts: str, n: int = 10) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:n]


def _ts(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def fake_digest(image: str) -> str:
    """A stable sha256 digest for an image reference (what the kubelet would report)."""
    return "sha256:" + hashlib.sha256(image.encode()).hexdigest()


def _repo(image: str) -> str:
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def _meta(obj: dict) -> dict:
    return obj.setdefault("metadata", {})


def _template(obj: dict) -> dict:
    spec = obj.setdefault("spec", {})
    if obj.get("kind") == "CronJob":
        spec = spec.setdefault("jobTemplate", {}).setdefault("spec", {})
    return spec.setdefault("template", {})


def _selector(obj: dict) -> dict:
    if obj.get("kind") == "CronJob":
        return (_template(obj).get("metadata") or {}).get("labels") or {}
    return ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}


def find(objects: list[dict], kind: str, name: str, namespace: str | None = None) -> dict:
    """The object of that kind and name (in that namespace, if given); KeyError if absent."""
    for obj in objects:
        if obj.get("kind") == kind and obj["metadata"]["name"] == name \
                and namespace in (None, obj["metadata"].get("namespace")):
            return obj
    raise KeyError(f"{kind} {name} not in the emulated objects")


def pods_of(objects: list[dict], workload: dict) -> list[dict]:
    """Pods selected by a workload."""
    selector = _selector(workload)
    namespace = workload["metadata"].get("namespace")
    return [o for o in objects if o.get("kind") == "Pod" and selector
            and o["metadata"].get("namespace") == namespace
            and all((o["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())]


def _pod(workload: dict, namespace: str, index: int, owner: tuple[str, str]) -> dict:
    template = copy.deepcopy(_template(workload))
    spec = template.get("spec") or {}
    name = workload["metadata"]["name"]
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    if owner[0] == "ReplicaSet":
        labels["pod-template-hash"] = owner[1].rsplit("-", 1)[-1]
        pod_name = f"{owner[1]}-{_h(owner[1], str(index), n=5)}"
    elif workload["kind"] == "StatefulSet":
        pod_name = f"{name}-{index}"
    else:
        pod_name = f"{name}-{_h(name, str(index), n=5)}"
    started = EPOCH + dt.timedelta(minutes=index)
    statuses = [{
        "name": c["name"], "image": c.get("image", ""),
        "imageID": f"{_repo(c.get('image', ''))}@{fake_digest(c.get('image', ''))}",
        "ready": True, "started": True, "restartCount": 0,
        "state": {"running": {"startedAt": _ts(started)}},
    } for c in spec.get("containers") or []]
    init_statuses = [{
        "name": c["name"], "image": c.get("image", ""),
        "imageID": f"{_repo(c.get('image', ''))}@{fake_digest(c.get('image', ''))}",
        "ready": True, "restartCount": 0,
        "state": {"terminated": {"reason": "Completed", "exitCode": 0,
                                 "finishedAt": _ts(started)}},
    } for c in spec.get("initContainers") or []]
    spec = dict(spec, nodeName=f"node-{index % 2 + 1}")
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": pod_name, "namespace": namespace, "labels": labels,
                     "uid": _h(namespace, pod_name, n=32),
                     "creationTimestamp": _ts(started),
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": owner[0],
                                          "name": owner[1], "controller": True}]},
        "spec": spec,
        "status": {"phase": "Running", "podIP": f"10.42.{index % 250}.{int(_h(pod_name, n=2), 16)}",
                   "startTime": _ts(started),
                   "conditions": [{"type": t, "status": "True"} for t in
                                  ("Initialized", "Ready", "ContainersReady", "PodScheduled")],
                   "containerStatuses": statuses,
                   **({"initContainerStatuses": init_statuses} if init_statuses else {})},
    }


def _spawn_pods(objects: list[dict], workload: dict, namespace: str, count: int) -> None:
    name = workload["metadata"]["name"]
    if workload["kind"] == "Deployment":
        rs_name = f"{name}-{_h(json.dumps(_template(workload), sort_keys=True), n=10)}"
        owner = ("ReplicaSet", rs_name)
        objects[:] = [o for o in objects
                      if not (o.get("kind") == "ReplicaSet" and o["metadata"].get("namespace")
                              == namespace and o["metadata"].get("labels", {})
                              .get("releasegate-emulator/owner") == name)]
        rs_template = copy.deepcopy(_template(workload))
        rs_template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = \
            rs_name.rsplit("-", 1)[-1]
        objects.append({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": rs_name, "namespace": namespace,
                         "labels": {**rs_template["metadata"]["labels"],
                                    "releasegate-emulator/owner": name},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                              "name": name, "controller": True}]},
            "spec": {"replicas": count, "selector": workload["spec"].get("selector"),
                     "template": rs_template},
            "status": {"replicas": count, "readyReplicas": count, "availableReplicas": count},
        })
    else:
        owner = (workload["kind"], name)
    objects[:] = [o for o in objects if o not in pods_of(objects, workload)]
    objects.extend(_pod(workload, namespace, i, owner) for i in range(count))


def _pod_ready(pod: dict) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and all(
        s.get("ready") for s in status.get("containerStatuses") or ())


def settle(objects: list[dict]) -> list[dict]:
    """Recompute workload status and EndpointSlices from the pods, as the controllers would."""
    for obj in objects:
        kind = obj.get("kind")
        if kind not in WORKLOADS or kind == "CronJob":
            continue
        pods = pods_of(objects, obj)
        ready = sum(_pod_ready(p) for p in pods)
        status = obj.setdefault("status", {})
        status["observedGeneration"] = obj["metadata"].get("generation", 1)
        if kind == "DaemonSet":
            status.update(desiredNumberScheduled=len(pods), currentNumberScheduled=len(pods),
                          updatedNumberScheduled=len(pods), numberReady=ready,
                          numberAvailable=ready, numberUnavailable=len(pods) - ready)
            continue
        want = obj["spec"].get("replicas", 1)
        status.update(replicas=len(pods), updatedReplicas=len(pods), readyReplicas=ready,
                      availableReplicas=ready, unavailableReplicas=max(want - ready, 0))
        if kind == "StatefulSet":
            status.pop("availableReplicas", None)
            status.update(currentReplicas=len(pods), currentRevision=f"{obj['metadata']['name']}-1",
                          updateRevision=f"{obj['metadata']['name']}-1")
        else:
            status["conditions"] = [
                {"type": "Available", "status": "True" if ready >= want else "False",
                 "reason": "MinimumReplicasAvailable" if ready >= want
                 else "MinimumReplicasUnavailable"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]
        for rs in objects:
            if rs.get("kind") == "ReplicaSet" \
                    and rs["metadata"].get("namespace") == obj["metadata"].get("namespace") \
                    and (rs["metadata"].get("ownerReferences") or [{}])[0].get("name") \
                    == obj["metadata"]["name"]:
                rs["status"] = {"replicas": len(pods), "readyReplicas": ready,
                                "availableReplicas": ready}
    objects[:] = [o for o in objects if o.get("kind") != "EndpointSlice"]
    for svc in [o for o in objects if o.get("kind") == "Service"]:
        selector = (svc.get("spec") or {}).get("selector") or {}
        if not selector:
            continue
        pods = [o for o in objects if o.get("kind") == "Pod"
                and o["metadata"].get("namespace") == svc["metadata"].get("namespace")
                and all((o["metadata"].get("labels") or {}).get(k) == v
                        for k, v in selector.items())]
        name = svc["metadata"]["name"]
        objects.append({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": f"{name}-{_h(name, n=5)}", "namespace": svc["metadata"]["namespace"],
                         "labels": {"kubernetes.io/service-name": name,
                                    "endpointslice.kubernetes.io/managed-by":
                                        "endpointslice-controller.k8s.io"},
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": name,
                                              "controller": True}]},
            "endpoints": [{"addresses": [p["status"]["podIP"]],
                           "conditions": {"ready": _pod_ready(p), "serving": _pod_ready(p),
                                          "terminating": False},
                           "nodeName": p["spec"].get("nodeName"),
                           "targetRef": {"kind": "Pod", "name": p["metadata"]["name"],
                                         "namespace": p["metadata"]["namespace"]}}
                          for p in pods],
            "ports": [{"name": p.get("name", ""), "port": p.get("targetPort", p.get("port")),
                       "protocol": p.get("protocol", "TCP")}
                      for p in (svc.get("spec") or {}).get("ports") or ()],
        })
    return objects


def deploy(manifests: Iterable[dict], namespace: str, *, argocd_app: str | None = None,
           daemon_nodes: int = 2) -> list[dict]:
    """The live objects of a namespace after a healthy rollout of these rendered manifests."""
    objects: list[dict] = []
    manifests = [copy.deepcopy(m) for m in manifests if isinstance(m, dict) and m.get("kind")]
    hpa_targets = {(m["spec"]["scaleTargetRef"].get("kind"), m["spec"]["scaleTargetRef"]["name"]):
                   m for m in manifests if m["kind"] == "HorizontalPodAutoscaler"}
    for m in manifests:
        if m["kind"] not in RESOURCES or m["kind"] in ("Pod", "EndpointSlice"):
            continue
        meta = _meta(m)
        meta["namespace"] = namespace
        meta.setdefault("uid", _h(namespace, m["kind"], meta["name"], n=32))
        meta.setdefault("generation", 1)
        meta.setdefault("creationTimestamp", _ts(EPOCH))
        meta.setdefault("resourceVersion", str(int(_h(meta["name"], n=6), 16)))
        if argocd_app:
            group = m["apiVersion"].rsplit("/", 1)[0] if "/" in m["apiVersion"] else ""
            meta.setdefault("annotations", {})["argocd.argoproj.io/tracking-id"] = \
                f"{argocd_app}:{group}/{m['kind']}:{namespace}/{meta['name']}"
        objects.append(m)
    for m in list(objects):
        kind = m["kind"]
        if kind == "Service":
            m["spec"].setdefault("clusterIP", f"10.43.{int(_h(m['metadata']['name'], n=2), 16)}.10")
            m["spec"].setdefault("type", "ClusterIP")
        elif kind == "HorizontalPodAutoscaler":
            target = find(objects, m["spec"]["scaleTargetRef"]["kind"],
                          m["spec"]["scaleTargetRef"]["name"], namespace)
            replicas = target["spec"].get("replicas", m["spec"].get("minReplicas", 1))
            m["status"] = {"currentReplicas": replicas, "desiredReplicas": replicas,
                           "lastScaleTime": _ts(EPOCH)}
        elif kind in ("Deployment", "StatefulSet"):
            hpa = hpa_targets.get((kind, m["metadata"]["name"]))
            if hpa is not None and "replicas" not in m["spec"]:
                m["spec"]["replicas"] = hpa["spec"].get("minReplicas", 1)
            m["spec"].setdefault("replicas", 1)
            _spawn_pods(objects, m, namespace, m["spec"]["replicas"])
        elif kind == "DaemonSet":
            _spawn_pods(objects, m, namespace, daemon_nodes)
        elif kind == "CronJob":
            m["status"] = {"lastScheduleTime": _ts(EPOCH), "lastSuccessfulTime": _ts(EPOCH)}
    objects.append({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": namespace, "labels": {
                        "kubernetes.io/metadata.name": namespace}},
                    "status": {"phase": "Active"}})
    return settle(objects)


def set_waiting(objects: list[dict], workload: str, container: str, reason: str, message: str,
                *, kind: str = "Deployment", restarts: int = 0,
                namespace: str | None = None) -> list[dict]:
    """Make a container of every pod of a workload wait with that reason and kubelet message."""
    for pod in pods_of(objects, find(objects, kind, workload, namespace)):
        status = pod["status"]
        for s in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
            if s["name"] == container:
                s.update(ready=False, started=False, restartCount=restarts,
                         state={"waiting": {"reason": reason, "message": message}})
                if reason in ("ImagePullBackOff", "ErrImagePull", "InvalidImageName"):
                    s["imageID"] = ""
        for cond in status["conditions"]:
            if cond["type"] in ("Ready", "ContainersReady"):
                cond.update(status="False", reason="ContainersNotReady")
        if reason != "CrashLoopBackOff" and any(
                s["name"] == container for s in status.get("initContainerStatuses") or ()):
            status["phase"] = "Pending"
    return settle(objects)


def set_restarts(objects: list[dict], workload: str, container: str, count: int,
                 finished: dt.datetime, *, kind: str = "Deployment", reason: str = "Error",
                 exit_code: int = 1, namespace: str | None = None) -> list[dict]:
    """Record that a container restarted ``count`` times, last terminating at ``finished``."""
    for pod in pods_of(objects, find(objects, kind, workload, namespace)):
        for s in pod["status"].get("containerStatuses") or ():
            if s["name"] == container:
                s["restartCount"] = count
                s["lastState"] = {"terminated": {"reason": reason, "exitCode": exit_code,
                                                 "finishedAt": _ts(finished),
                                                 "startedAt": _ts(finished - dt.timedelta(
                                                     minutes=3))}}
    return settle(objects)


def scale(objects: list[dict], workload: str, replicas: int, *, kind: str = "Deployment",
          namespace: str | None = None) -> list[dict]:
    """What ``kubectl scale`` leaves behind: spec.replicas changed and the pods to match."""
    obj = find(objects, kind, workload, namespace)
    obj["spec"]["replicas"] = replicas
    obj["metadata"]["generation"] = obj["metadata"].get("generation", 1) + 1
    _spawn_pods(objects, obj, obj["metadata"]["namespace"], replicas)
    for hpa in objects:
        if hpa.get("kind") == "HorizontalPodAutoscaler" \
                and hpa["metadata"].get("namespace") == obj["metadata"]["namespace"] \
                and hpa["spec"]["scaleTargetRef"]["name"] == workload:
            hpa["status"].update(currentReplicas=replicas, desiredReplicas=replicas)
    return settle(objects)


def set_image(objects: list[dict], workload: str, container: str, image: str, *,
              kind: str = "Deployment", namespace: str | None = None) -> list[dict]:
    """What ``kubectl set image`` leaves behind after the new pods rolled out."""
    obj = find(objects, kind, workload, namespace)
    for c in (_template(obj).get("spec") or {}).get("containers") or ():
        if c["name"] == container:
            c["image"] = image
    obj["metadata"]["generation"] = obj["metadata"].get("generation", 1) + 1
    _spawn_pods(objects, obj, obj["metadata"]["namespace"], obj["spec"].get("replicas", 1))
    return settle(objects)


def argo_application(declared: dict, *, sync: str = "Synced", health: str = "Healthy",
                     revision: str | None = None) -> dict:
    """A live Argo CD Application as the controller reports it, from its manifest in git."""
    app = copy.deepcopy(declared)
    app.setdefault("metadata", {}).setdefault("namespace", "argocd")
    app["status"] = {
        "sync": {"status": sync, "revision": revision or "0" * 40,
                 "comparedTo": {"source": (app.get("spec") or {}).get("source")}},
        "health": {"status": health},
        "reconciledAt": _ts(EPOCH),
    }
    return app


# ---------------------------------------------------------------------------------------------
# The server


def _resource_key(obj: dict) -> tuple[str, str | None, str]:
    kind = obj["kind"]
    gv, plural, namespaced = ARGO_APPLICATION if (kind == "Application" and obj.get(
        "apiVersion", "").startswith("argoproj.io/")) else RESOURCES[kind]
    return f"{gv}/{plural}", obj["metadata"].get("namespace") if namespaced else None, \
        obj["metadata"]["name"]


def write_kubeconfig(path: Path, url: str, contexts: dict[str, str], token: str) -> Path:
    """A kubeconfig with one context per name -> namespace, all pointing at ``url``."""
    names = list(contexts) or ["emulated"]
    config = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": "emulated", "cluster": {"server": url}}],
        "users": [{"name": "releasegate", "user": {"token": token}}],
        "contexts": [{"name": n, "context": {"cluster": "emulated", "user": "releasegate",
                                             **({"namespace": contexts[n]} if contexts.get(n)
                                                else {})}} for n in names],
        "current-context": names[0],
    }
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML; no dumper needed
    path.chmod(0o600)
    return path


@dataclass
class KubeEmulator:
    """A running emulator: its URL, kubeconfig, recorded requests; ``stop()`` when done."""

    url: str
    kubeconfig: Path
    token: str
    _loop: asyncio.AbstractEventLoop
    _handler: _Cluster
    _thread: threading.Thread
    _stop: asyncio.Event
    _tmp: tempfile.TemporaryDirectory | None = None
    env: dict[str, str] = field(default_factory=dict)

    def _call(self, fn: Callable[[], Any]) -> Any:
        async def run() -> Any:
            async with self._handler._lock:
                return fn()
        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=10)

    def load(self, objects: Iterable[dict], *, argocd: bool | None = None) -> None:
        """Replace every stored object with these (``argocd``: serve the Application CRD)."""
        objects = [copy.deepcopy(o) for o in objects]

        def replace() -> None:
            self._handler._resources_memo = None
            for key in list(self._handler.objects):
                del self._handler.objects[key]
            for obj in objects:
                self._handler.objects[_resource_key(obj)] = obj
            if argocd is not None:
                self._declare_argocd(argocd)
        self._call(replace)

    def _declare_argocd(self, present: bool) -> None:
        key = f"{ARGO_APPLICATION[0]}/{ARGO_APPLICATION[1]}"
        self._handler._resources_memo = None
        if present:
            self._handler.resources[key] = kmock.ResourceInfo(
                kind="Application", singular="application", namespaced=True,
                verbs={"get", "list", "watch", "create", "update", "patch", "delete"},
                shortnames={"app", "apps"})
        elif key in self._handler.resources:
            del self._handler.resources[key]

    def respond(self, method: str, path: str, status: int, body: dict) -> None:
        """Answer every ``method path`` request with this status and JSON body from now on."""
        self._call(lambda: self._handler[f"{method.lower()} {path}"] << status << body)

    def requests(self) -> list[dict]:
        """Every request served so far: method, path, query, and the parsed k8s action."""
        return self._call(lambda: [
            {"method": str(r.method.value).upper(), "path": r.url.path, "query": dict(r.params),
             "action": r.action.value if r.action else None,
             "resource": f"{r.resource.group}/{r.resource.version}/{r.resource.plural}"
             if r.resource else None, "namespace": r.namespace, "name": r.name,
             "authorization": (r.headers.get("Authorization") or "")}
            for r in self._handler._requests])

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        self._call(self._handler._requests.clear)

    def stop(self) -> None:
        """Stop serving and remove the kubeconfig written for it."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=10)
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> "KubeEmulator":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


SHORT_NAMES = {"Pod": {"po"}, "Service": {"svc"}, "ConfigMap": {"cm"}, "Namespace": {"ns"},
               "Endpoints": {"ep"}, "Event": {"ev"}, "ServiceAccount": {"sa"},
               "Deployment": {"deploy"}, "ReplicaSet": {"rs"}, "StatefulSet": {"sts"},
               "DaemonSet": {"ds"}, "CronJob": {"cj"}, "HorizontalPodAutoscaler": {"hpa"},
               "Ingress": {"ing"}, "PodDisruptionBudget": {"pdb"}}


class _Cluster(kmock.KubernetesEmulator):
    """kmock's emulator with list responses typed like the API server's (kubectl needs the kind)."""

    # kmock keeps every request served and, to route each new one, scans that whole log once per
    # reaction: a run's cost grows with the square of its requests (300 environments' drift: ~1,800
    # lists, minutes of the emulator's CPU while the suite waits). Without history only the
    # request being served is kept; requests() then returns at most that one.
    history = True

    async def _handle(self, request: Any) -> Any:
        if not self.history:
            del self._requests[:-1]
        return await super()._handle(request)

    # kmock answers a list by testing every stored object, resource first (an attrs comparison,
    # the costly part), and works out the known resources from every object: per request, linear
    # in the objects of all namespaces. The cheap tests first, same outcome (kmock's __check).
    def _KubernetesEmulator__check(self, request: Any, resource: Any, namespace: str | None,
                                   name: str, strict: bool) -> bool:
        if request.name is not None and name != request.name:
            return False
        if (strict or request.namespace is not None) and namespace != request.namespace:
            return False
        return bool(resource == request.resource)

    # A real API server lists one namespace from an index; kmock scans every stored object of
    # every namespace per list (300 namespaces: ~12,000 checks a list, a quadratic run). The
    # objects by namespace, rebuilt whenever the stored keys differ (a list compare, in C).
    _namespaces_memo: tuple[list, dict[str | None, list]] | None = None

    def _KubernetesEmulator__get_objs(self, request: Any, strict: bool) -> list:
        stored = self._objects._objects  # the ObjectsArray's own dict: its keys in C
        keys = list(stored)
        if self._namespaces_memo is None or self._namespaces_memo[0] != keys:
            index: dict[str | None, list] = {}
            for key in keys:
                index.setdefault(key[1], []).append(key)
            self._namespaces_memo = (keys, index)
        if request.namespace is None and not strict:
            candidates = keys  # a cluster-wide list: every namespace's objects (kmock's rule)
        else:
            candidates = self._namespaces_memo[1].get(request.namespace, [])
        return [stored[key] for key in candidates
                if self._KubernetesEmulator__check(request, *key, strict=strict)]

    _resources_memo: tuple[int, list] | None = None

    def _get_resources(self) -> list:
        # recomputed when the number of stored objects changes, and by KubeEmulator.load() and
        # _declare_argocd() (the declared resources)
        if self._resources_memo is None or self._resources_memo[0] != len(self._objects):
            self._resources_memo = (len(self._objects), super()._get_resources())
        return self._resources_memo[1]

    async def _serve_list(self, request: Any) -> Any:
        payload = await super()._serve_list(request)
        res = request.resource
        gv = f"{res.group}/{res.version}" if res.group else res.version
        kind = next((k for k, (g, plural, _) in RESOURCES.items()
                     if g == gv and plural == res.plural), None)
        if kind is None and f"{gv}/{res.plural}" == "/".join(ARGO_APPLICATION[:2]):
            kind = "Application"
        payload.update(apiVersion=gv, kind=f"{kind or 'Object'}List",
                       metadata={"resourceVersion": "1"})
        return payload


def _core_discovery() -> dict:
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1", "resources": [
        {"name": plural, "singularName": kind.lower(), "kind": kind, "namespaced": namespaced,
         "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
         "shortNames": sorted(SHORT_NAMES.get(kind, ()))}
        for kind, (gv, plural, namespaced) in sorted(RESOURCES.items()) if gv == "v1"]}


def serve(objects: Iterable[dict] = (), *, host: str = "127.0.0.1", port: int = 0,
          contexts: dict[str, str] | None = None, kubeconfig: Path | None = None,
          argocd: bool = False, token: str = "emulated-token", history: bool = True) -> KubeEmulator:
    """Start an emulator in a background thread serving these objects; returns its handle.
    history=False: forget each request once served (for long runs; requests() is then empty)."""
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def main() -> None:
        stop = asyncio.Event()
        async with _Cluster() as handler:
            handler.history = history
            for gv_plural in {f"{gv}/{plural}" for gv, plural, _ in RESOURCES.values()}:
                kind = next(k for k, (gv, pl, _) in RESOURCES.items() if f"{gv}/{pl}" == gv_plural)
                handler.resources[gv_plural] = kmock.ResourceInfo(
                    kind=kind, singular=kind.lower(), namespaced=RESOURCES[kind][2],
                    verbs={"get", "list", "watch", "create", "update", "patch", "delete"},
                    shortnames=SHORT_NAMES.get(kind, set()))
            # kmock names the core group version "/v1" in its discovery; clients (kubectl) need "v1"
            handler["get /api/v1"] << (lambda: _core_discovery())
            runner = aiohttp.web.ServerRunner(aiohttp.web.Server(handler), access_log=None)
            await runner.setup()
            site = aiohttp.web.TCPSite(runner, host, port)
            try:
                await site.start()
            except OSError as exc:
                state["error"] = exc
                ready.set()
                await runner.cleanup()
                return
            state.update(loop=asyncio.get_running_loop(), handler=handler, stop=stop,
                         port=runner.addresses[0][1])
            ready.set()
            await stop.wait()
            await runner.cleanup()

    thread = threading.Thread(target=lambda: asyncio.run(main()), name="kube-emulator",
                              daemon=True)
    thread.start()
    ready.wait(timeout=15)
    if "error" in state or "port" not in state:
        raise RuntimeError(f"Kubernetes emulator could not listen on {host}:{port}: "
                           f"{state.get('error', 'timed out')}")
    url = f"http://{host}:{state['port']}"
    tmp = None
    if kubeconfig is None:
        tmp = tempfile.TemporaryDirectory(prefix="kube-emulator-")
        kubeconfig = Path(tmp.name) / "kubeconfig"
    write_kubeconfig(kubeconfig, url, contexts or {"emulated": ""}, token)
    emulator = KubeEmulator(url, kubeconfig, token, state["loop"], state["handler"], thread,
                            state["stop"], tmp)
    emulator.load(objects, argocd=argocd)
    return emulator


# ---------------------------------------------------------------------------------------------
# A small rendered chart (what `helm template` gives for a typical backend), for tests and benchmarks


def sample_manifests(release: str = "app", registry: str = "registry.example.test",
                     tag: str = "v1.4.1") -> list[dict]:
    """Rendered manifests of a typical chart: api (HPA, Service, init container), worker,
    agent (internal ClusterIP Service), scheduler (CronJob) and a ConfigMap."""

    def labels(name: str) -> dict:
        return {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": release}

    def container(name: str, image: str, **extra: Any) -> dict:
        return {"name": name, "image": f"{registry}/{image}:{tag}",
                "env": [{"name": "LOG_LEVEL", "value": "info"},
                        {"name": "SEARCH_URL", "value": "http://search:9200"},
                        {"name": "SMTP_PASSWORD", "valueFrom": {"secretKeyRef": {
                            "name": "backend-secrets", "key": "SMTP_PASSWORD"}}}],
                "envFrom": [{"configMapRef": {"name": f"{release}-config"}}],
                "resources": {"requests": {"cpu": "250m", "memory": "256Mi"},
                              "limits": {"cpu": "1", "memory": "1Gi"}}, **extra}

    def deployment(name: str, image: str, replicas: int | None, **pod: Any) -> dict:
        spec: dict[str, Any] = {
            "selector": {"matchLabels": labels(name)},
            "template": {"metadata": {"labels": {**labels(name), "app.kubernetes.io/component": name}},
                         "spec": {"containers": [container(name, image)], **pod}}}
        if replicas is not None:
            spec["replicas"] = replicas
        return {"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "labels": {**labels(name),
                                                      "app.kubernetes.io/managed-by": "Helm"}},
                "spec": spec}

    def service(name: str, port: int) -> dict:
        return {"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": name, "labels": labels(name)},
                "spec": {"type": "ClusterIP", "selector": labels(name),
                         "ports": [{"name": "http", "port": 80, "targetPort": port,
                                    "protocol": "TCP"}]}}

    api = deployment("api", "api", None,
                     initContainers=[container("migrate", "api", command=["alembic", "upgrade",
                                                                           "head"])])
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{release}-config"},
         "data": {"ENVIRONMENT": "production"}},
        api, service("api", 8000),
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
         "metadata": {"name": "api", "labels": labels("api")},
         "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
                  "minReplicas": 2, "maxReplicas": 6,
                  "metrics": [{"type": "Resource", "resource": {
                      "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]}},
        deployment("worker", "worker", 2),
        deployment("agent", "agent", 1), service("agent", 8080),
        {"apiVersion": "batch/v1", "kind": "CronJob",
         "metadata": {"name": "scheduler", "labels": labels("scheduler")},
         "spec": {"schedule": "*/5 * * * *", "concurrencyPolicy": "Forbid",
                  "jobTemplate": {"spec": {"template": {
                      "metadata": {"labels": labels("scheduler")},
                      "spec": {"restartPolicy": "Never",
                               "containers": [container("scheduler", "worker")]}}}}}},
    ]


# ---------------------------------------------------------------------------------------------
# The demo cluster: every environment of environments.yaml deployed from its rendered chart


DEMO_KUBECONFIG_VAR = "RELEASEGATE_DEMO_KUBECONFIG"
DEMO_CONTEXT = "demo"


def demo_objects(environments: Path | None = None) -> list[dict]:
    """Live objects of the demo estate: each environment's chart deployed healthy into its
    namespace, its Argo CD Application; every pod whose image the demo registry lacks waits in
    ImagePullBackOff: the planted blocker is production's agent (an internal ClusterIP service,
    no ingress)."""
    from examples.services.registry import ci_pushes, planted_gap
    from releasegate.core import helm
    from releasegate.images.imageref import parse as parse_image
    from releasegate.estate import ensure_sources, load
    from releasegate.core.host import Estatewide
    from releasegate.options import Settings

    path = environments or Path(__file__).resolve().parents[2] / "environments.yaml"
    estate = load(path)
    ensure_sources(estate)
    shared = Estatewide(estate, Settings(environments_path=path, env_names=None))
    pushed = {push.reference for push in ci_pushes(estate)} - planted_gap(estate)
    skip = set(estate.registries.skip)
    objects: list[dict] = []
    for name in sorted(estate.environments):
        host = shared.host(name)
        if host.spec.kubernetes is None:
            continue
        app = None
        if host.spec.gitops.argocd_app:
            repo = host.git(host.gitops_source)
            ref = host.ref(host.gitops_source)
            docs = helm.load_yaml_documents(repo.show(ref, host.spec.gitops.argocd_app), name)
            app = next(d for d in docs if isinstance(d, dict) and d.get("kind") == "Application")
        env_objects = deploy(host.manifests, host.namespace,
                             argocd_app=app["metadata"]["name"] if app else None)
        # A pod whose image the demo registry does not hold waits in ImagePullBackOff, as a
        # kubelet would leave it: production's agent (built only with a short SHA) and the
        # images of the registry's planted gap.
        stuck = []
        for workload in host.workloads:
            for container in workload.containers:
                if container.init or parse_image(container.image).registry in skip:
                    continue
                if container.image not in pushed:
                    set_waiting(env_objects, workload.name, container.name, "ImagePullBackOff",
                                f'Back-off pulling image "{container.image}"',
                                kind=workload.kind)
                    stuck.append(workload.name)
        health = "Degraded" if stuck else "Healthy"
        objects += env_objects
        if app is not None:
            live_app = argo_application(_plain(app), health=health,
                                        revision=host.git(host.gitops_source).resolve(ref))
            if health == "Degraded":
                live_app["status"]["health"]["message"] = \
                    f'Deployment "{stuck[0]}" exceeded its progress deadline'
            objects.append(live_app)
    return objects


def _plain(value: Any) -> Any:
    """ruamel's commented maps as plain dicts and lists (JSON-serialisable)."""
    return json.loads(json.dumps(value, default=str))


def start(workdir: Path | None = None, *, host: str = "127.0.0.1", port: int = 0,
          environments: Path | None = None, history: bool = True) -> KubeEmulator:
    """Serve the demo cluster; the kubeconfig (context "demo") lands in ``workdir``
    (history: see serve())."""
    workdir = workdir or Path(__file__).resolve().parents[1] / ".services" / "kube"
    workdir.mkdir(parents=True, exist_ok=True)
    emulator = serve(demo_objects(environments), host=host, port=port,
                     contexts={DEMO_CONTEXT: ""}, kubeconfig=workdir / "kubeconfig", argocd=True,
                     token="demo-" + _h(str(workdir), n=16), history=history)
    emulator.env = {DEMO_KUBECONFIG_VAR: str(emulator.kubeconfig)}
    return emulator


def main() -> None:
    """python -m examples.services.kube: serve the demo cluster until interrupted."""
    emulator = start()
    for key, value in emulator.env.items():
        print(f"export {key}={value}", flush=True)
    print(f"# Kubernetes emulator on {emulator.url}; Ctrl-C to stop", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
