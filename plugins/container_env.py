"""What each container's process environment will be, worked out from the rendered manifests.

Follows the kubelet: service-link variables first (lowest precedence), then `envFrom` sources in
order, then `env` entries in order (later wins), with `$(VAR)` references expanded against what is
defined before. A value that cannot be known here (a sealed secret, a config map the chart does not
render, the pod IP) is marked `known=False`: boot findings on it are warnings, not blockers.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from plugins.manifests import Container, Workload
from plugins.sealed import SecretIndex

SECRET_PLACEHOLDER = "releasegate-sealed-value"
_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
_FIELD_VALUES = {"status.podIP": "10.0.0.10", "status.hostIP": "10.0.0.1", "status.podIPs": "10.0.0.10",
                 "status.hostIPs": "10.0.0.1", "spec.nodeName": "node-1", "metadata.uid":
                 "00000000-0000-0000-0000-000000000000"}


@dataclass(frozen=True)
class EnvVar:
    """One variable of a container's environment and where its value comes from."""

    name: str
    value: str
    source: str  # value | secret | configmap | field | resource | service
    known: bool = True  # False: a placeholder stands in for a value only the cluster knows
    ref: tuple[str, str] | None = None  # (object name, key) for secret/configmap sources

    @property
    def secret(self) -> bool:
        """True if the value comes from a secret."""
        return self.source == "secret"


@dataclass(frozen=True)
class SecretNeed:
    """A secret (and key) a container cannot start without, unless marked optional."""

    secret: str
    key: str | None  # None: the whole secret (envFrom)
    optional: bool
    variable: str | None


@dataclass(frozen=True)
class ContainerEnv:
    """The environment one container gets, with the secrets it needs and what could not be resolved."""

    workload: str
    kind: str
    container: str
    namespace: str
    vars: Mapping[str, EnvVar]
    needs: tuple[SecretNeed, ...] = ()
    problems: tuple[str, ...] = ()

    def values(self) -> dict[str, str]:
        """{name: value} as the process sees it (placeholders for values only the cluster knows)."""
        return {name: var.value for name, var in self.vars.items()}

    def declared(self) -> dict[str, EnvVar]:
        """Variables the chart sets (env and envFrom), without Kubernetes' service links."""
        return {n: v for n, v in self.vars.items() if v.source != "service"}


@dataclass
class Objects:
    """Config maps and secrets an environment holds: rendered by the chart or listed as secret files."""

    config_maps: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    secrets: SecretIndex = field(default_factory=lambda: SecretIndex(()))
    services: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # namespace -> specs


def objects(manifests: Iterable[dict[str, Any]], secrets: SecretIndex) -> Objects:
    """Index the config maps and services of rendered manifests, with the environment's secrets."""
    out = Objects(secrets=secrets)
    for m in manifests:
        meta = m.get("metadata") or {}
        ns = str(meta.get("namespace") or "")
        if m.get("kind") == "ConfigMap":
            data = {str(k): "" if v is None else str(v) for k, v in (m.get("data") or {}).items()}
            data.update({str(k): "" for k in (m.get("binaryData") or {})})
            out.config_maps[(ns, str(meta.get("name", "")))] = data
        elif m.get("kind") == "Service":
            out.services.setdefault(ns, []).append(m)
    return out


def container_env(workload: Workload, container: Container, objs: Objects) -> ContainerEnv:
    """The environment `container` of `workload` gets in its namespace."""
    ns = workload.namespace
    env: dict[str, EnvVar] = {}
    needs: list[SecretNeed] = []
    problems: list[str] = []
    if workload.pod_spec.get("enableServiceLinks", True) is not False:
        env.update(_service_links(objs.services.get(ns, [])))
    for source in container.env_from:
        prefix = str(source.get("prefix") or "")
        if source.get("configMapRef"):
            ref = source["configMapRef"]
            data = objs.config_maps.get((ns, str(ref.get("name"))))
            if data is None:
                if not ref.get("optional"):
                    problems.append(f"envFrom config map {ref.get('name')} is not rendered by the chart; "
                                    "its variables are unknown")
                continue
            for key, value in data.items():
                env[prefix + key] = EnvVar(prefix + key, value, "configmap", True, (str(ref.get("name")), key))
        elif source.get("secretRef"):
            ref = source["secretRef"]
            name = str(ref.get("name"))
            needs.append(SecretNeed(name, None, bool(ref.get("optional")), None))
            found = objs.secrets.find(name, ns)
            for key in sorted(found.keys if found else ()):
                env[prefix + key] = EnvVar(prefix + key, SECRET_PLACEHOLDER, "secret", False, (name, key))
    for entry in container.env:
        name = str(entry.get("name", ""))
        env.pop(name, None)  # a later definition moves to the end, as the kubelet orders it
        var = _env_entry(entry, workload, ns, objs, env, needs, problems)
        if var is not None:
            env[name] = var
    return ContainerEnv(workload.name, workload.kind, container.name, ns, env, tuple(needs), tuple(problems))


def _env_entry(entry: Mapping[str, Any], workload: Workload, ns: str, objs: Objects,
               env: Mapping[str, EnvVar], needs: list[SecretNeed], problems: list[str]) -> EnvVar | None:
    name = str(entry.get("name", ""))
    source = entry.get("valueFrom")
    if not source:
        raw = entry.get("value")
        if raw is not None and not isinstance(raw, str):
            problems.append(f"{name}: value {raw!r} is a {type(raw).__name__}, not a string; "
                            "the API server rejects the manifest (quote it in the template)")
        return EnvVar(name, _expand("" if raw is None else str(raw), env), "value")
    if "secretKeyRef" in source:
        ref = source["secretKeyRef"] or {}
        needs.append(SecretNeed(str(ref.get("name")), str(ref.get("key")), bool(ref.get("optional")), name))
        return EnvVar(name, SECRET_PLACEHOLDER, "secret", False, (str(ref.get("name")), str(ref.get("key"))))
    if "configMapKeyRef" in source:
        ref = source["configMapKeyRef"] or {}
        cm, key = str(ref.get("name")), str(ref.get("key"))
        data = objs.config_maps.get((ns, cm))
        if data is not None and key in data:
            return EnvVar(name, data[key], "configmap", True, (cm, key))
        if data is not None and not ref.get("optional"):
            problems.append(f"{name}: config map {cm} has no key {key}")
        return EnvVar(name, "", "configmap", False, (cm, key))
    if "fieldRef" in source:
        path = str((source["fieldRef"] or {}).get("fieldPath", ""))
        value, known = _field_value(path, workload, ns)
        return EnvVar(name, value, "field", known)
    if "resourceFieldRef" in source:
        return EnvVar(name, "1", "resource", False)
    problems.append(f"{name}: valueFrom {sorted(source)} is not understood")
    return EnvVar(name, "", "value", False)


def _expand(value: str, env: Mapping[str, EnvVar]) -> str:
    """Kubernetes' $(VAR) expansion: defined names are replaced, $$ escapes, others stay as they are."""
    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        var = env.get(match.group(1))
        return var.value if var is not None else match.group(0)

    return _REF.sub(sub, value)


def _field_value(path: str, workload: Workload, ns: str) -> tuple[str, bool]:
    template_meta = (((workload.manifest.get("spec") or {}).get("template") or {}).get("metadata") or {})
    if path == "metadata.namespace":
        return ns, True
    if path == "metadata.name":
        return f"{workload.name}-0", False
    if path == "spec.serviceAccountName":
        return str(workload.pod_spec.get("serviceAccountName") or "default"), True
    match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if match:
        value = (template_meta.get(match.group(1)) or {}).get(match.group(2))
        return ("" if value is None else str(value)), value is not None
    return _FIELD_VALUES.get(path, ""), False


def _service_links(services: list[dict[str, Any]]) -> dict[str, EnvVar]:
    """The docker-link style variables the kubelet injects for every Service in the namespace."""
    out: dict[str, EnvVar] = {}
    for svc in sorted(services, key=lambda s: str((s.get("metadata") or {}).get("name", ""))):
        spec = svc.get("spec") or {}
        ports = spec.get("ports") or []
        if spec.get("clusterIP") == "None" or spec.get("type") == "ExternalName" or not ports:
            continue
        base = str((svc.get("metadata") or {}).get("name", "")).upper().replace("-", "_")
        ip = "10.96.0.10"
        values = {f"{base}_SERVICE_HOST": ip, f"{base}_SERVICE_PORT": str(ports[0].get("port"))}
        for port in ports:
            if port.get("name"):
                values[f"{base}_SERVICE_PORT_{str(port['name']).upper().replace('-', '_')}"] = str(port.get("port"))
        first = ports[0]
        proto = str(first.get("protocol") or "TCP")
        values[f"{base}_PORT"] = f"{proto.lower()}://{ip}:{first.get('port')}"
        for port in ports:
            proto = str(port.get("protocol") or "TCP")
            stem = f"{base}_PORT_{port.get('port')}_{proto.upper()}"
            values.update({stem: f"{proto.lower()}://{ip}:{port.get('port')}", f"{stem}_PROTO": proto.lower(),
                           f"{stem}_PORT": str(port.get("port")), f"{stem}_ADDR": ip})
        out.update({k: EnvVar(k, v, "service", True) for k, v in values.items()})
    return out


def environments(workloads: Iterable[Workload], objs: Objects,
                 names: Iterable[str] | None = None) -> list[ContainerEnv]:
    """The environment of every container (init containers too), optionally only those in `names`."""
    wanted = set(names) if names is not None else None
    out = []
    for w in workloads:
        for c in w.containers:
            if wanted is not None and c.name not in wanted:
                continue
            out.append(container_env(w, c, objs))
    return out
