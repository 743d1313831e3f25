"""What each container's process environment will be, worked out from the rendered manifests.

Follows the kubelet rule for rule (pkg/kubelet/kubelet_pods.go makeEnvironmentVariables,
third_party/forked/golang/expansion/expand.go, pkg/kubelet/envvars/envvars.go): `envFrom` sources
in order, then `env` entries in order (later wins), `$(VAR)` references expanded against what is
defined before, service-link variables last and lowest. A key or object that is absent leaves an
optional variable unset (not empty) and keeps a required one from starting the pod. A value that
cannot be known here (a sealed secret, the pod IP) is marked `known=False`: the boot uses a
stand-in and findings on it are warnings, not blockers.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from releasegate.core.manifests import Container, Workload
from releasegate.settings.sealed import SecretIndex

SECRET_PLACEHOLDER = "releasegate-sealed-value"
# utilvalidation.IsEnvVarName, which kubelets up to Kubernetes 1.33 apply to envFrom keys (event
# InvalidEnvironmentVariableNames) and the API server to `env` names without the relaxed validation.
_ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
_MASTER_IP = "10.96.0.1"  # the `kubernetes` service: the first address of the service range
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
    unset: Mapping[str, str] = field(default_factory=dict)  # name -> why the kubelet leaves it unset
    opaque: tuple[str, ...] = ()  # envFrom secrets whose keys git does not say: variables they may set

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
    # namespace -> its service-link variables, worked out for its first container: every
    # container of a namespace gets the same ones (hundreds of containers at scale)
    links: dict[str, dict[str, EnvVar]] = field(default_factory=dict, repr=False, compare=False)


def namespace_links(objs: Objects, namespace: str) -> dict[str, EnvVar]:
    """The service-link variables of a namespace (shared: read, never change, the result)."""
    if namespace not in objs.links:
        objs.links[namespace] = _service_links(objs.services.get(namespace, []))
    return objs.links[namespace]


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
    """The environment `container` of `workload` gets in its namespace.

    kubelet_pods.go makeEnvironmentVariables: envFrom sources in order (later keys win), then `env`
    entries in order, each `value` expanded against what is defined so far and the service links;
    then the service links not defined otherwise (lowest precedence).
    """
    ns = workload.namespace
    links = workload.pod_spec.get("enableServiceLinks", True) is not False
    service = namespace_links(objs, ns) if links else _service_links([])
    env: dict[str, EnvVar] = {}
    needs: list[SecretNeed] = []
    problems: list[str] = []
    unset: dict[str, str] = {}
    for source in container.env_from:
        for var in _env_from(source, ns, objs, needs, problems, unset):
            env.pop(var.name, None)
            env[var.name] = var
    defined = {name: var.value for name, var in {**service, **env}.items()}  # what $(VAR) sees so far
    for entry in container.env:
        name = str(entry.get("name", ""))
        var = _env_entry(entry, workload, container, ns, objs, defined, needs, problems, unset)
        if var is not None:
            env.pop(name, None)  # a later definition moves to the end
            env[name] = var
            defined[name] = var.value
            unset.pop(name, None)
    out = {k: v for k, v in service.items() if k not in env}
    out.update(env)
    opaque = tuple(f"envFrom of secret {n.secret}, whose keys come from {found.source}" for n in needs
                   if n.key is None and (found := objs.secrets.find(n.secret, ns)) is not None and not found.known)
    return ContainerEnv(workload.name, workload.kind, container.name, ns, out, tuple(needs), tuple(problems),
                        unset, opaque)


def _env_from(source: Mapping[str, Any], ns: str, objs: Objects, needs: list[SecretNeed],
              problems: list[str], unset: dict[str, str]) -> list[EnvVar]:
    """The variables of one envFrom source: every key with the prefix, invalid names skipped."""
    prefix = str(source.get("prefix") or "")
    if source.get("configMapRef"):
        ref = source["configMapRef"]
        name = str(ref.get("name"))
        data = objs.config_maps.get((ns, name))
        if data is None:
            if not ref.get("optional"):
                problems.append(f"envFrom config map {name} is not rendered by the chart: the pods will not "
                                "start (CreateContainerConfigError) unless it is created another way")
            return []
        pairs = [(key, EnvVar(prefix + key, value, "configmap", True, (name, key))) for key, value in data.items()]
    elif source.get("secretRef"):
        ref = source["secretRef"]
        name = str(ref.get("name"))
        needs.append(SecretNeed(name, None, bool(ref.get("optional")), None))
        found = objs.secrets.find(name, ns)
        pairs = [(key, EnvVar(prefix + key, SECRET_PLACEHOLDER, "secret", False, (name, key)))
                 for key in sorted(found.keys if found else ())]
    else:
        return []
    out = []
    for key, var in pairs:
        if _ENV_NAME.fullmatch(var.name):
            out.append(var)
        else:
            unset[var.name] = f"envFrom key {key!r} of {name} is not a valid variable name: the kubelet skips it"
    return out


def _env_entry(entry: Mapping[str, Any], workload: Workload, container: Container, ns: str, objs: Objects,
               defined: Mapping[str, str], needs: list[SecretNeed], problems: list[str],
               unset: dict[str, str]) -> EnvVar | None:
    """One `env` entry as the kubelet resolves it; None when it sets nothing (an optional source absent)."""
    name = str(entry.get("name", ""))
    source = entry.get("valueFrom")
    raw = entry.get("value")
    if raw is not None and not isinstance(raw, str):
        problems.append(f"{name}: value {raw!r} is a {type(raw).__name__}, not a string; "
                        "the API server rejects the manifest (quote it in the template)")
    if raw not in (None, "") or not source:
        return EnvVar(name, expand("" if raw is None else str(raw), defined), "value")
    if "secretKeyRef" in source:
        ref = source["secretKeyRef"] or {}
        secret, key, optional = str(ref.get("name")), str(ref.get("key")), bool(ref.get("optional"))
        needs.append(SecretNeed(secret, key, optional, name))
        found = objs.secrets.find(secret, ns)
        if optional and (found is None or (found.known and key not in found.keys)):
            unset[name] = f"optional secret {secret} key {key} is absent: the kubelet leaves {name} unset"
            return None
        return EnvVar(name, SECRET_PLACEHOLDER, "secret", False, (secret, key))
    if "configMapKeyRef" in source:
        ref = source["configMapKeyRef"] or {}
        cm, key, optional = str(ref.get("name")), str(ref.get("key")), bool(ref.get("optional"))
        data = objs.config_maps.get((ns, cm))
        if data is not None and key in data:
            return EnvVar(name, data[key], "configmap", True, (cm, key))
        if optional:
            unset[name] = f"optional config map {cm} key {key} is absent: the kubelet leaves {name} unset"
            return None
        problems.append(f"{name}: config map {cm} has no key {key}" if data is not None else
                        f"{name}: config map {cm} is not rendered by the chart: the pods will not start "
                        "(CreateContainerConfigError) unless it is created another way")
        return EnvVar(name, "", "configmap", False, (cm, key))
    if "fieldRef" in source:
        path = str((source["fieldRef"] or {}).get("fieldPath", ""))
        value, known = _field_value(path, workload, ns)
        return EnvVar(name, value, "field", known)
    if "resourceFieldRef" in source:
        value, known = _resource_value(source["resourceFieldRef"] or {}, workload, container)
        return EnvVar(name, value, "resource", known)
    problems.append(f"{name}: valueFrom {sorted(source)} is not understood")
    return EnvVar(name, "", "value", False)


def expand(value: str, defined: Mapping[str, str]) -> str:
    """$(VAR) expansion as third_party/forked/golang/expansion/expand.go Expand does it.

    `$(NAME)` of a defined name becomes its value, of an undefined one stays verbatim; `$$` is one
    `$`; a `$` before anything else (or an unclosed `$(`) is kept as written.
    """
    if "$" not in value:
        return value
    out: list[str] = []
    checkpoint = cursor = 0
    while cursor < len(value):
        if value[cursor] == "$" and cursor + 1 < len(value):
            out.append(value[checkpoint:cursor])
            rest = value[cursor + 1:]
            close = rest.find(")") if rest[0] == "(" else -1
            if rest[0] == "$":
                out.append("$")
            elif close > 0:
                ref = rest[1:close]
                out.append(defined.get(ref, f"$({ref})"))
                cursor += close
            else:
                out.append("$" + rest[0])
            cursor += 1
            checkpoint = cursor + 1
        cursor += 1
    return "".join(out) + value[checkpoint:]


_QUANTITY = re.compile(r"^([0-9.]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_SUFFIX = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
           "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_NODE_ALLOCATABLE = {"cpu": "2", "memory": "8Gi", "ephemeral-storage": "100Gi"}  # a plausible node


def _quantity(text: Any) -> float | None:
    match = _QUANTITY.match(str(text).strip())
    return float(match.group(1)) * _SUFFIX[match.group(2)] if match else None


def _resource_value(ref: Mapping[str, Any], workload: Workload, container: Container) -> tuple[str, bool]:
    """resourceFieldRef as resource.ExtractContainerResourceValue gives it: the quantity divided by the
    divisor, rounded up; a limit the container does not set defaults to the node's allocatable
    (kubelet defaultPodLimitsForDownwardAPI), which only the cluster knows."""
    target = workload.container(str(ref.get("containerName"))) if ref.get("containerName") else None
    resources = (target or container).resources
    kind, _, resource = str(ref.get("resource", "")).partition(".")
    given = (resources.get(kind) or {}).get(resource)
    if given is None and kind == "requests":
        given = (resources.get("limits") or {}).get(resource)  # an unset request defaults to the limit
    known = given is not None
    if given is None:
        given = _NODE_ALLOCATABLE.get(resource, "0") if kind == "limits" else "0"
    amount = _quantity(given) or 0.0
    divisor = _quantity(ref.get("divisor") or "1") or 1.0
    return str(max(0, math.ceil(amount / divisor - 1e-9))), known


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
    """The docker-link style variables of envvars.go FromServices: the master `kubernetes` service
    always (kubelet_pods.go getServiceEnvVarMap adds it even when enableServiceLinks is false), and
    every Service of the namespace with a cluster IP when links are on."""
    out: dict[str, EnvVar] = {}
    master = {"metadata": {"name": "kubernetes"}, "spec": {"clusterIP": _MASTER_IP,
                                                           "ports": [{"name": "https", "port": 443}]}}
    chart = sorted(services, key=lambda s: str((s.get("metadata") or {}).get("name", "")))
    for index, svc in enumerate([master, *chart]):
        spec = svc.get("spec") or {}
        ports = spec.get("ports") or []
        if spec.get("clusterIP") == "None" or spec.get("type") == "ExternalName" or not ports:
            continue  # IsServiceIPSet: headless and ExternalName services get no variables
        base = _variable_name(str((svc.get("metadata") or {}).get("name", "")))
        ip = str(spec.get("clusterIP") or f"10.96.0.{9 + index}")
        values = {f"{base}_SERVICE_HOST": ip, f"{base}_SERVICE_PORT": str(ports[0].get("port"))}
        for port in ports:
            if port.get("name"):
                values[f"{base}_SERVICE_PORT_{_variable_name(str(port['name']))}"] = str(port.get("port"))
        for number, port in enumerate(ports):
            proto = str(port.get("protocol") or "TCP")
            link = f"{proto.lower()}://{ip}:{port.get('port')}"
            if number == 0:
                values[f"{base}_PORT"] = link
            stem = f"{base}_PORT_{port.get('port')}_{proto.upper()}"
            values.update({stem: link, f"{stem}_PROTO": proto.lower(), f"{stem}_PORT": str(port.get("port")),
                           f"{stem}_ADDR": ip})
        out.update({k: EnvVar(k, v, "service", True) for k, v in values.items()})
    return out


def _variable_name(name: str) -> str:
    """envvars.go makeEnvVariableName: upper case, `.` and `-` to `_`, `_` before a leading digit."""
    out = name.replace(".", "_").replace("-", "_").upper()
    return "_" + out if out[:1].isdigit() else out


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
