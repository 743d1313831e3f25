"""Syncs that would fail: two objects with one identity, and changes the API server refuses on update.

An object's identity is (API group, kind, namespace, name): the version is not part of it (apps/v1
and apps/v1beta2 Deployments are one object). Immutable fields follow the API server's update
validation, rule by rule (each rule names its source; `RULES` is the table the tests walk).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from releasegate.kubernetes.openapi import group_version, label


@dataclass(frozen=True)
class Refusal:
    """One change of one object the API server would refuse, or one duplicate identity."""

    obj: str
    field: str
    message: str
    rule: str  # where the rule comes from


def identity(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    """(group, kind, namespace, name) of a rendered object."""
    meta = obj.get("metadata") or {}
    return (group_version(str(obj.get("apiVersion", "")))[0], str(obj.get("kind", "")),
            str(meta.get("namespace") or ""), str(meta.get("name", "")))


def duplicates(manifests: Iterable[dict[str, Any]]) -> list[Refusal]:
    """Objects rendered twice with one identity: the sync applies one and fails or flaps on the other
    (Argo CD reports "Resource appeared N times": gitops-engine pkg/sync/sync_context.go)."""
    seen: dict[tuple[str, str, str, str], list[str]] = {}
    for obj in manifests:
        seen.setdefault(identity(obj), []).append(str(obj.get("apiVersion", "")))
    out = []
    for (group, kind, namespace, name), versions in sorted(seen.items()):
        if len(versions) > 1:
            obj = f"{kind}/{namespace + '/' if namespace else ''}{name}"
            out.append(Refusal(obj, "metadata.name",
                               f"{obj} is rendered {len(versions)} times "
                               f"({', '.join(sorted(versions))}): rename one",
                               "object identity: group, kind, namespace, name"))
    return out


def _get(obj: dict[str, Any], path: str) -> Any:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _same(path: str, default: Any = None) -> Callable[[dict, dict], str | None]:
    """The field may not change; unset means the API server's default for it."""
    def rule(old: dict, new: dict) -> str | None:
        before, after = _get(old, path), _get(new, path)
        before = default if before is None else before
        after = default if after is None else after
        if before is None or before == after:
            return None
        return f"{path} changed from {_short(before)} to {_short(after)}: the field is immutable"
    rule.__name__ = path
    return rule


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _cluster_ip(old: dict, new: dict) -> str | None:
    before, after = _get(old, "spec.clusterIP"), _get(new, "spec.clusterIP")
    if _get(new, "spec.type") == "ExternalName":
        return None  # the API server drops the cluster IP on the move to ExternalName
    if after in (None, "") or before == after:
        return None
    # unset before means an address the cluster allocated: no value of git can equal it
    return (f"spec.clusterIP changed from {before or 'allocated'} to {after}: may not change once "
            "set (delete and recreate the Service)")


def _external_name(old: dict, new: dict) -> str | None:
    if _get(old, "spec.type") != "ExternalName" and _get(new, "spec.type") == "ExternalName" \
            and _get(new, "spec.clusterIP") not in (None, "", "None"):
        return "spec.type becomes ExternalName while spec.clusterIP is set: must be empty for ExternalName"
    return None


_QUANTITY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50,
             "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15}


def quantity(text: Any) -> float | None:
    """A Kubernetes resource quantity ('10Gi', '500M', '1e3') in units, None when unreadable."""
    value = str(text).strip()
    for suffix in sorted(_QUANTITY, key=len, reverse=True):
        if value.endswith(suffix):
            value, scale = value[: -len(suffix)], _QUANTITY[suffix]
            break
    else:
        scale = 1
    try:
        return float(value) * scale
    except ValueError:
        return None


def _pvc_spec(old: dict, new: dict) -> str | None:
    before, after = dict(_get(old, "spec") or {}), dict(_get(new, "spec") or {})
    size = ("resources", )
    if {k: v for k, v in before.items() if k not in size} != \
            {k: v for k, v in after.items() if k not in size}:
        changed = sorted(k for k in set(before) | set(after)
                         if k not in size and before.get(k) != after.get(k))
        return (f"spec.{', spec.'.join(changed)} changed: a claim's spec is immutable after creation "
                "except resources.requests")
    was = quantity(_get(old, "spec.resources.requests.storage"))
    now = quantity(_get(new, "spec.resources.requests.storage"))
    if was is not None and now is not None and now < was:
        return (f"spec.resources.requests.storage shrinks from "
                f"{_get(old, 'spec.resources.requests.storage')} to "
                f"{_get(new, 'spec.resources.requests.storage')}: a claim can only grow")
    return None


_cluster_ip.__name__ = "spec.clusterIP"
_external_name.__name__ = "spec.type"
_pvc_spec.__name__ = "spec"

_APPS = "https://github.com/kubernetes/kubernetes/blob/master/pkg/apis/apps/validation/validation.go"
_CORE = "https://github.com/kubernetes/kubernetes/blob/master/pkg/apis/core/validation/validation.go"
_BATCH = "https://github.com/kubernetes/kubernetes/blob/master/pkg/apis/batch/validation/validation.go"

# (group, kind) -> [(rule, source)]: the update validation of each kind.
RULES: dict[tuple[str, str], list[tuple[Callable[[dict, dict], str | None], str]]] = {
    ("apps", "Deployment"): [
        (_same("spec.selector"), "https://kubernetes.io/docs/concepts/workloads/controllers/deployment/"
                                 "#label-selector-updates (pkg/registry/apps/deployment/strategy.go "
                                 "ValidateUpdate: selector immutable in apps/v1)")],
    ("apps", "DaemonSet"): [
        (_same("spec.selector"), f"{_APPS} ValidateDaemonSetUpdate (ValidateImmutableField "
                                 "spec.selector)")],
    ("apps", "StatefulSet"): [
        (_same(path, default), f"{_APPS} ValidateStatefulSetUpdate (\"updates to statefulset spec "
                               "for fields other than 'replicas', 'ordinals', 'template', "
                               "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
                               "'minReadySeconds' are forbidden\")")
        for path, default in (("spec.selector", None), ("spec.volumeClaimTemplates", None),
                              ("spec.serviceName", None),
                              ("spec.podManagementPolicy", "OrderedReady"))],  # defaults.go
    ("batch", "Job"): [
        (_same(path, default), f"{_BATCH} ValidateJobSpecUpdate (ValidateImmutableField); "
                               "https://kubernetes.io/docs/concepts/workloads/controllers/job/")
        for path, default in (("spec.selector", None), ("spec.template", None),
                              ("spec.completionMode", "NonIndexed"))],
    ("", "Service"): [
        (_cluster_ip, f"{_CORE} ValidateServiceUpdate (clusterIPs: may not change once set); "
                      "https://kubernetes.io/docs/reference/kubernetes-api/service-resources/service-v1/"),
        (_external_name, f"{_CORE} ValidateServiceUpdate/validateServiceTypeTransition "
                         "(ExternalName: clusterIP must be empty)")],
    ("", "PersistentVolumeClaim"): [
        (_pvc_spec, f"{_CORE} ValidatePersistentVolumeClaimUpdate (\"spec is immutable after "
                    "creation except resources.requests ...\"; storage may only grow); "
                    "https://kubernetes.io/docs/concepts/storage/persistent-volumes/"
                    "#expanding-persistent-volumes-claims")],
}


def recreated(obj: dict[str, Any]) -> bool:
    """Whether the sync deletes and recreates the object instead of updating it: a Helm or Argo CD
    hook (https://argo-cd.readthedocs.io/en/stable/user-guide/resource_hooks/, Helm hooks are
    mapped to Argo hooks), or the sync options Replace=true / Force=true
    (https://argo-cd.readthedocs.io/en/stable/user-guide/sync-options/)."""
    notes = (obj.get("metadata") or {}).get("annotations") or {}
    options = str(notes.get("argocd.argoproj.io/sync-options", ""))
    return bool(notes.get("helm.sh/hook") or notes.get("argocd.argoproj.io/hook")
                or "Replace=true" in options or "Force=true" in options)


# Fields the API server never fills in by default: a live object's value is what was applied, so
# git's next sync can be compared with it directly (the other rules need the applied manifest).
LIVE_FIELDS = ("spec.selector", "spec.clusterIP", "spec.type")


def refused_updates(old: Iterable[dict[str, Any]], new: Iterable[dict[str, Any]],
                    fields: tuple[str, ...] | None = None) -> list[Refusal]:
    """Every change from the running objects (`old`) to the ones under check (`new`) that the API
    server would refuse on update; objects only on one side are creations or deletions, never refused.
    `fields` limits the rules to those fields (live objects: LIVE_FIELDS)."""
    before = {identity(obj): obj for obj in old}
    out = []
    for obj in new:
        key = identity(obj)
        if key not in before or recreated(obj):
            continue
        for rule, source in RULES.get((key[0], key[1]), ()):
            if fields is not None and rule.__name__ not in fields:
                continue
            message = rule(before[key], obj)
            if message:
                out.append(Refusal(label(obj), rule.__name__, f"{label(obj)}: {message}", source))
    return out


def applied(old: Iterable[dict[str, Any]], new: Iterable[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    """What the cluster holds after syncing `new` over `old`: each object the API server refuses
    to update keeps its old version (the history sweep compares the next commit with this)."""
    before = {identity(obj): obj for obj in old}
    refused = {identity(obj) for obj in new if identity(obj) in before and not recreated(obj)
               and any(rule(before[identity(obj)], obj)
                       for rule, _ in RULES.get(identity(obj)[:2], ()))}
    return tuple(before[identity(obj)] if identity(obj) in refused else obj for obj in new)
