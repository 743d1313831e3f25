"""The kubelet's container environment, rule by rule: each test cites the rule it models and asserts
the exact environment a container gets (plugins/settings/kubelet_env.py)."""

from __future__ import annotations

from typing import Any

import pytest

from releasegate.settings import kubelet_env as container_env
from releasegate.settings import secret_keys
from releasegate.settings import sealed
from releasegate.core.manifests import workloads

STAND_IN = container_env.SECRET_PLACEHOLDER
MASTER = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443",
          "KUBERNETES_SERVICE_PORT_HTTPS": "443", "KUBERNETES_PORT": "tcp://10.96.0.1:443",
          "KUBERNETES_PORT_443_TCP": "tcp://10.96.0.1:443", "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
          "KUBERNETES_PORT_443_TCP_PORT": "443", "KUBERNETES_PORT_443_TCP_ADDR": "10.96.0.1"}


def _env(container: dict[str, Any], *objects: dict[str, Any], secrets: dict[str, list[str]] | None = None,
         pod: dict[str, Any] | None = None) -> container_env.ContainerEnv:
    deployment = {"kind": "Deployment", "metadata": {"name": "api", "namespace": "ns"}, "spec": {"template": {
        "metadata": {"labels": {"tier": "web"}, "annotations": {"team": "core"}},
        "spec": {**(pod or {}), "containers": [{"name": "api", "image": "x", **container}]}}}}
    index = sealed.SecretIndex(sealed.secret_keys(
        [{"kind": "Secret", "metadata": {"name": n, "namespace": "ns"}, "data": {k: "eA==" for k in keys}}
         for n, keys in (secrets or {}).items()], "secrets.yaml"))
    (w,) = workloads([deployment])
    return container_env.container_env(w, w.containers[0], container_env.objects([*objects, deployment], index))


def _declared(env: container_env.ContainerEnv) -> dict[str, str]:
    return {k: v for k, v in env.values().items() if k not in MASTER}


def _config_map(name: str, **data: str) -> dict[str, Any]:
    return {"kind": "ConfigMap", "metadata": {"name": name, "namespace": "ns"}, "data": data}


def _ref(kind: str, name: str, key: str, **extra: Any) -> dict[str, Any]:
    return {"valueFrom": {kind: {"name": name, "key": key, **extra}}}


def test_secret_key_ref_present_optional_absent_and_required_absent() -> None:
    """kubelet_pods.go makeEnvironmentVariables, case SecretKeyRef: a key the secret holds gives its
    value (a stand-in here: sealed); a key or secret that is absent with `optional: true` is skipped
    (`continue`: the variable is not set at all, not set empty); absent and not optional returns an
    error, so the container does not start (CreateContainerConfigError)."""
    env = _env({"env": [
        {"name": "TOKEN", **_ref("secretKeyRef", "app", "TOKEN")},
        {"name": "SENTRY_DSN", **_ref("secretKeyRef", "app", "SENTRY_DSN", optional=True)},
        {"name": "EXTRA", **_ref("secretKeyRef", "absent", "X", optional=True)},
        {"name": "SMTP_PASSWORD", **_ref("secretKeyRef", "app", "SMTP_PASSWORD")}]}, secrets={"app": ["TOKEN"]})
    assert _declared(env) == {"TOKEN": STAND_IN, "SMTP_PASSWORD": STAND_IN}
    assert env.unset == {
        "SENTRY_DSN": "optional secret app key SENTRY_DSN is absent: the kubelet leaves SENTRY_DSN unset",
        "EXTRA": "optional secret absent key X is absent: the kubelet leaves EXTRA unset"}
    host = type("Host", (), {"name": "prod"})()
    (blocker,) = secret_keys.secret_findings(host, [env], sealed.SecretIndex(
        sealed.secret_keys([{"kind": "Secret", "metadata": {"name": "app", "namespace": "ns"},
                             "data": {"TOKEN": "eA=="}}], "secrets.yaml")))
    assert blocker.item == "app.SMTP_PASSWORD" and "CreateContainerConfigError" in blocker.message


def test_config_map_key_ref_present_optional_absent_and_required_absent() -> None:
    """kubelet_pods.go makeEnvironmentVariables, case ConfigMapKeyRef: the key's value; a config map
    or key that is absent is skipped when optional and an error (the pod does not start) when not."""
    env = _env({"env": [
        {"name": "REGION", **_ref("configMapKeyRef", "cfg", "region")},
        {"name": "ZONE", **_ref("configMapKeyRef", "cfg", "zone", optional=True)},
        {"name": "OTHER", **_ref("configMapKeyRef", "nowhere", "k", optional=True)},
        {"name": "TIER", **_ref("configMapKeyRef", "cfg", "tier")}]}, _config_map("cfg", region="eu"))
    assert _declared(env) == {"REGION": "eu", "TIER": ""}
    assert set(env.unset) == {"ZONE", "OTHER"}
    assert env.problems == ("TIER: config map cfg has no key tier",)


def test_env_from_prefix_invalid_names_and_missing_objects() -> None:
    """kubelet_pods.go makeEnvironmentVariables, EnvFrom: every key of the config map or secret,
    with `prefix` prepended; keys that are then not valid variable names (IsEnvVarName) are skipped
    (event InvalidEnvironmentVariableNames); a missing optional object injects nothing; a missing
    required one is an error (the pod does not start)."""
    env = _env({"envFrom": [
        {"configMapRef": {"name": "cfg"}, "prefix": "CFG_"},
        {"configMapRef": {"name": "cfg"}},
        {"secretRef": {"name": "app"}, "prefix": "S_"},
        {"configMapRef": {"name": "external", "optional": True}},
        {"secretRef": {"name": "vault", "optional": True}},
        {"configMapRef": {"name": "required-elsewhere"}}]},
        _config_map("cfg", **{"A": "1", "1ST": "x", "b.c": "2"}), secrets={"app": ["TOKEN"]})
    assert _declared(env) == {"CFG_A": "1", "CFG_1ST": "x", "CFG_b.c": "2", "A": "1", "b.c": "2",
                              "S_TOKEN": STAND_IN}
    assert list(env.unset) == ["1ST"]
    assert env.problems == ("envFrom config map required-elsewhere is not rendered by the chart: the pods will "
                            "not start (CreateContainerConfigError) unless it is created another way",)
    assert [(n.secret, n.optional) for n in env.needs] == [("app", False), ("vault", True)]


def test_order_and_precedence_env_from_then_env_later_wins() -> None:
    """kubelet_pods.go makeEnvironmentVariables: "Process EnvFrom first then allow Env to replace
    existing values": later envFrom sources overwrite earlier keys, `env` entries overwrite envFrom,
    and a name repeated in `env` keeps its last definition."""
    env = _env({"envFrom": [{"configMapRef": {"name": "one"}}, {"configMapRef": {"name": "two"}}],
                "env": [{"name": "A", "value": "env"}, {"name": "D", "value": "first"},
                        {"name": "D", "value": "last"}]},
               _config_map("one", A="one", B="one", C="one"), _config_map("two", B="two"))
    assert _declared(env) == {"C": "one", "B": "two", "A": "env", "D": "last"}


@pytest.mark.parametrize(("value", "expected"), [
    ("$(VAR_A)", "A"), ("___$(VAR_B)___", "___B___"), ("$(VAR_A)-$(VAR_A)", "A-A"), ("foo$(VAR_EMPTY)bar", "foobar"),
    ("$(VAR_DNE)", "$(VAR_DNE)"), ("foo$(VAR_Awhoops!", "foo$(VAR_Awhoops!"), ("$VAR_A", "$VAR_A"),
    ("${VAR_A}", "${VAR_A}"), ("$?_boo_$!", "$?_boo_$!"), ("$$(VAR_A)", "$(VAR_A)"),
    ("$$$$$$(VAR_A)", "$$$(VAR_A)"), ("$$$$$$$(VAR_A)", "$$$A"), ("$(VAR_B)_______$(A", "B_______$(A"),
    ("$(VAR_A)foobarzab$", "Afoobarzab$"), ("--$($($($($--", "--$($($($($--"), ("$(foo$$var)", "$(foo$$var)"),
])
def test_expansion_of_defined_references_escapes_and_undefined_verbatim(value: str, expected: str) -> None:
    """third_party/forked/golang/expansion/expand.go Expand (its own expand_test.go cases): `$(NAME)`
    of a defined name is replaced, `$$` is one `$`, undefined references and anything that is not a
    complete reference are kept verbatim."""
    assert container_env.expand(value, {"VAR_A": "A", "VAR_B": "B", "VAR_EMPTY": ""}) == expected


def test_expansion_sees_earlier_variables_and_service_links_only() -> None:
    """kubelet_pods.go makeEnvironmentVariables, step 1a: a `value` is expanded with
    MappingFuncFor(tmpEnv, serviceEnv): envFrom keys and `env` entries defined before it, then the
    service variables; a later entry is not yet defined, so its reference stays verbatim; values
    from valueFrom are not expanded."""
    env = _env({"envFrom": [{"configMapRef": {"name": "cfg"}}],
                "env": [{"name": "URL", "value": "http://$(HOST):$(DB_SERVICE_PORT)/$(LATER)"},
                        {"name": "LATER", "value": "x"},
                        {"name": "RAW", **_ref("configMapKeyRef", "cfg", "TEMPLATE")}]},
               _config_map("cfg", HOST="db", TEMPLATE="$(HOST)"),
               {"kind": "Service", "metadata": {"name": "db", "namespace": "ns"}, "spec": {"ports": [{"port": 5432}]}})
    assert {k: v for k, v in _declared(env).items() if not k.startswith("DB_")} == {
        "HOST": "db", "TEMPLATE": "$(HOST)", "URL": "http://db:5432/$(LATER)", "LATER": "x", "RAW": "$(HOST)"}


def test_service_links_unless_enable_service_links_is_false() -> None:
    """envvars.go FromServices and makeLinkVariables for every Service of the namespace with a cluster
    IP (headless and ExternalName services skipped), names through makeEnvVariableName; the master
    `kubernetes` service always (getServiceEnvVarMap), even with enableServiceLinks: false; a
    variable the container defines itself wins over a service variable."""
    services = [
        {"kind": "Service", "metadata": {"name": "9cache.v2", "namespace": "ns"},
         "spec": {"clusterIP": "10.96.5.5", "ports": [{"name": "redis", "port": 6379},
                                                       {"name": "metrics-udp", "port": 9121, "protocol": "UDP"}]}},
        {"kind": "Service", "metadata": {"name": "headless", "namespace": "ns"},
         "spec": {"clusterIP": "None", "ports": [{"port": 80}]}},
        {"kind": "Service", "metadata": {"name": "ext", "namespace": "ns"},
         "spec": {"type": "ExternalName", "externalName": "example.org"}},
        {"kind": "Service", "metadata": {"name": "other", "namespace": "elsewhere"}, "spec": {"ports": [{"port": 1}]}}]
    on = _env({"env": [{"name": "_9CACHE_V2_SERVICE_PORT", "value": "mine"}]}, *services)
    assert on.values() == {**MASTER, "_9CACHE_V2_SERVICE_HOST": "10.96.5.5", "_9CACHE_V2_SERVICE_PORT_REDIS": "6379",
                           "_9CACHE_V2_SERVICE_PORT_METRICS_UDP": "9121", "_9CACHE_V2_PORT": "tcp://10.96.5.5:6379",
                           "_9CACHE_V2_PORT_6379_TCP": "tcp://10.96.5.5:6379", "_9CACHE_V2_PORT_6379_TCP_PROTO": "tcp",
                           "_9CACHE_V2_PORT_6379_TCP_PORT": "6379", "_9CACHE_V2_PORT_6379_TCP_ADDR": "10.96.5.5",
                           "_9CACHE_V2_PORT_9121_UDP": "udp://10.96.5.5:9121", "_9CACHE_V2_PORT_9121_UDP_PROTO": "udp",
                           "_9CACHE_V2_PORT_9121_UDP_PORT": "9121", "_9CACHE_V2_PORT_9121_UDP_ADDR": "10.96.5.5",
                           "_9CACHE_V2_SERVICE_PORT": "mine"}
    assert on.declared() == {"_9CACHE_V2_SERVICE_PORT": on.vars["_9CACHE_V2_SERVICE_PORT"]}
    off = _env({}, *services, pod={"enableServiceLinks": False})
    assert off.values() == MASTER



def test_a_namespace_links_are_worked_out_once_and_the_same_for_every_container() -> None:
    """envvars.go FromServices depends only on the namespace's Services: two containers of one
    namespace get the same link variables (each with its own definitions on top, its own wins),
    and they are worked out once per namespace, not once per container."""
    service = {"kind": "Service", "metadata": {"name": "db", "namespace": "ns"},
               "spec": {"clusterIP": "10.96.7.7", "ports": [{"port": 5432}]}}
    deployments = [{"kind": "Deployment", "metadata": {"name": n, "namespace": "ns"}, "spec": {"template": {
        "spec": {"containers": [{"name": n, "image": "x", "env": env}]}}}}
        for n, env in (("a", []), ("b", [{"name": "DB_SERVICE_HOST", "value": "mine"}]))]
    objs = container_env.objects([service, *deployments], sealed.SecretIndex(()))
    a, b = container_env.environments(workloads(deployments), objs)
    assert a.values()["DB_SERVICE_HOST"] == "10.96.7.7" and b.values()["DB_SERVICE_HOST"] == "mine"
    assert {k: v for k, v in a.values().items() if k != "DB_SERVICE_HOST"} == \
        {k: v for k, v in b.values().items() if k != "DB_SERVICE_HOST"}
    assert list(objs.links) == ["ns"]
    assert objs.links["ns"]["DB_SERVICE_HOST"].value == "10.96.7.7"  # the shared map is not changed

def test_downward_api_field_refs() -> None:
    """kubelet_pods.go podFieldSelectorRuntimeValue and fieldpath.ExtractFieldPathAsString: namespace,
    labels, annotations and the service account come from the pod spec (known); the pod name, uid,
    node and IPs are assigned by the cluster (plausible stand-ins, known=False)."""
    paths = ["metadata.namespace", "metadata.labels['tier']", "metadata.annotations['team']",
             "metadata.labels['absent']", "spec.serviceAccountName", "metadata.name", "metadata.uid",
             "spec.nodeName", "status.podIP", "status.podIPs", "status.hostIP", "status.hostIPs"]
    env = _env({"env": [{"name": f"F{i}", "valueFrom": {"fieldRef": {"fieldPath": p}}} for i, p in enumerate(paths)]},
               pod={"serviceAccountName": "api-sa"})
    assert [(env.vars[f"F{i}"].value, env.vars[f"F{i}"].known) for i in range(len(paths))] == [
        ("ns", True), ("web", True), ("core", True), ("", False), ("api-sa", True), ("api-0", False),
        ("00000000-0000-0000-0000-000000000000", False), ("node-1", False), ("10.0.0.10", False),
        ("10.0.0.10", False), ("10.0.0.1", False), ("10.0.0.1", False)]


def test_downward_api_resource_field_refs() -> None:
    """resource.ExtractContainerResourceValue: the container's quantity divided by the divisor
    (default 1), rounded up; an unset request takes the limit; an unset limit takes the node's
    allocatable (kubelet defaultPodLimitsForDownwardAPI), a value only the cluster knows."""
    refs = [("limits.cpu", None), ("limits.cpu", "1m"), ("requests.cpu", None), ("limits.memory", "1Mi"),
            ("requests.memory", "1Mi"), ("limits.ephemeral-storage", "1Gi")]
    env = _env({"resources": {"limits": {"cpu": "1500m", "memory": "512Mi"}, "requests": {"cpu": "250m"}},
                "env": [{"name": f"R{i}", "valueFrom": {"resourceFieldRef": {
                    "resource": r, **({"divisor": d} if d else {})}}} for i, (r, d) in enumerate(refs)]})
    assert [(env.vars[f"R{i}"].value, env.vars[f"R{i}"].known) for i in range(len(refs))] == [
        ("2", True), ("1500", True), ("1", True), ("512", True), ("512", True), ("100", False)]
