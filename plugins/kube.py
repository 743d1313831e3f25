"""Read-only Kubernetes access for one environment: kubeconfig, timeouts, cached namespace lists.

``connect(host)`` builds the client for the environment's context and namespace and lists, once
per session, everything the checks read (eight list calls). Every request it makes is recorded in
``KubeClient.calls`` and must be a GET: the suite only gets and lists (see deploy/rbac.yaml).
"""

from __future__ import annotations

import json
import os
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

from plugins import k8s_state

# kind -> (API prefix, resource): the only reads the checks make, one list per kind and namespace.
LISTS: dict[str, tuple[str, str]] = {
    "Deployment": ("apis/apps/v1", "deployments"),
    "StatefulSet": ("apis/apps/v1", "statefulsets"),
    "DaemonSet": ("apis/apps/v1", "daemonsets"),
    "CronJob": ("apis/batch/v1", "cronjobs"),
    "HorizontalPodAutoscaler": ("apis/autoscaling/v2", "horizontalpodautoscalers"),
    "Service": ("api/v1", "services"),
    "EndpointSlice": ("apis/discovery.k8s.io/v1", "endpointslices"),
    "Pod": ("api/v1", "pods"),
}
ARGO_API, ARGO_PLURAL = "apis/argoproj.io/v1alpha1", "applications"
PAGE = 500


class KubeClient:
    """A kubernetes ApiClient bound to one namespace; reads are cached for the session."""

    def __init__(self, env: str, api: Any, namespace: str, timeout_s: float, endpoint: str):
        self.env = env
        self.api = api
        self.namespace = namespace
        self.timeout = (timeout_s, timeout_s)
        self.endpoint = endpoint
        self.calls: list[tuple[str, str]] = []
        request = api.rest_client.request

        def recording(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            self.calls.append((method.upper(), url))
            return request(method, url, *args, **kwargs)
        api.rest_client.request = recording

    def _get(self, path: str, **query: Any) -> dict | None:
        """One GET of an API path, as a dict; None on 404; Unreachable (an ERROR outcome) when the
        server cannot be read. Typed API classes are not used: they cost seconds of import and
        would turn the objects into models we only turn back."""
        import urllib3.exceptions

        from plugins.host import Unreachable

        method, url, headers, body, post = self.api.param_serialize(
            "GET", path, query_params=[(k, v) for k, v in query.items() if v is not None],
            header_params={"Accept": "application/json"}, auth_settings=["BearerToken"])
        try:
            response = self.api.call_api(method, url, headers, body, post,
                                         _request_timeout=self.timeout)
            response.read()
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            cause = str(getattr(exc, "reason", None) or exc).split("): ", 1)[-1]
            raise Unreachable(self.env, self.endpoint, f"GET {path}: {cause}") from None
        if response.status == 404:
            return None
        if not 200 <= response.status < 300:
            try:
                said = ": " + str(json.loads(response.data).get("message") or "")
            except (ValueError, AttributeError):
                said = ""
            hint = ("; the account needs the read rules of deploy/rbac.yaml"
                    if response.status in (401, 403) else "")
            raise Unreachable(self.env, self.endpoint, f"GET {path} answered {response.status} "
                              f"{response.reason}{said.rstrip(': ')}{hint}")
        try:
            return json.loads(response.data or b"{}")
        except ValueError:
            raise Unreachable(self.env, self.endpoint,
                              f"GET {path} answered with something that is not JSON") from None

    def list_kind(self, kind: str) -> list[dict]:
        """Every object of a kind in the namespace (follows pagination)."""
        prefix, resource = LISTS[kind]
        items: list[dict] = []
        token = None
        while True:
            page = self._get(f"/{prefix}/namespaces/{self.namespace}/{resource}", limit=PAGE,
                             **{"continue": token}) or {}
            for item in page.get("items") or ():
                item.setdefault("kind", kind)
                items.append(item)
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items

    @cached_property
    def live(self) -> dict[str, list[dict]]:
        """The namespace's workloads, HPAs, Services, EndpointSlices and pods, by kind."""
        return {kind: self.list_kind(kind) for kind in LISTS}

    def argocd_application(self, name: str, namespace: str) -> tuple[bool, dict | None]:
        """(CRD present, live Application or None). Discovery first, so no CRD is not an error."""
        resources = self._get(f"/{ARGO_API}")
        if not resources or not any(r.get("name") == ARGO_PLURAL
                                    for r in resources.get("resources") or ()):
            return False, None
        return True, self._get(f"/{ARGO_API}/namespaces/{namespace}/{ARGO_PLURAL}/{name}")

    def close(self) -> None:
        """Release the connection pool."""
        self.api.close()


def kubeconfig_path(host: Any) -> Path:
    """The kubeconfig for an environment: its setting, else $KUBECONFIG, else ~/.kube/config."""
    from plugins.environments import skip_if_unset

    spec = host.spec.kubernetes
    setting = spec.kubeconfig if spec is not None else None
    skip_if_unset(host.name, setting)
    if setting:
        path = Path(os.path.expanduser(str(setting)))
        return path if path.is_absolute() else (Path(host.estate.root) / path)
    for candidate in (os.environ.get("KUBECONFIG") or "").split(os.pathsep):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    default = Path.home() / ".kube" / "config"
    if default.is_file():
        return default
    pytest.skip(f"{host.name}: no kubeconfig: environments.{host.name}.kubernetes.kubeconfig is "
                "not set, $KUBECONFIG is unset and ~/.kube/config does not exist")


def restart_threshold(host: Any) -> int:
    """Restarts within the last hour above which a container is a blocker: the optional key
    ``environments.<env>.kubernetes.restart_threshold`` (default 5)."""
    return int(getattr(host.spec.kubernetes, "restart_threshold",
                       k8s_state.DEFAULT_RESTART_THRESHOLD))


def connect(host: Any) -> KubeClient:
    """A read-only client for the environment's context and namespace, its lists prefetched.

    Skips when the environment has no kubernetes section or no kubeconfig; raises Unreachable
    naming the environment and API server when the lists cannot be read within the timeout.
    """
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    from plugins.host import Unreachable

    spec = host.spec.kubernetes
    if spec is None:
        pytest.skip(f"{host.name}: environments.{host.name}.kubernetes is not set")
    path = kubeconfig_path(host)
    configuration = client.Configuration()
    try:
        config.load_kube_config(str(path), context=spec.context,
                                client_configuration=configuration, persist_config=False)
    except (ConfigException, OSError, ValueError) as exc:
        raise Unreachable(host.name, str(path), f"kubeconfig unusable for context "
                                                f"{spec.context or '(current)'}: {exc}") from None
    for value in (configuration.api_key or {}).values():
        _register_secret(value)
    configuration.retries = 0  # one bounded attempt: unreachable is reported, not retried
    namespace = spec.namespace or getattr(host, "namespace", None) \
        or _context_namespace(path, spec.context) or "default"
    timeout_s = getattr(host, "timeout_s", None) or host.estate.network.timeout_s
    kube = KubeClient(host.name, client.ApiClient(configuration), namespace, float(timeout_s),
                      configuration.host)
    try:
        kube.live  # noqa: B018 -- prefetch so a dead API server is an ERROR at setup
    except Unreachable:
        kube.close()
        raise
    return kube


def _register_secret(value: str) -> None:
    token = value.split(" ", 1)[-1] if value.startswith("Bearer ") else value
    try:
        from plugins.redact import register_secret
    except ImportError:  # the redaction plugin is optional for library use
        return
    register_secret(token)


def _context_namespace(path: Path, context: str | None) -> str | None:
    from kubernetes import config
    contexts, current = config.list_kube_config_contexts(str(path))
    chosen = next((c for c in contexts if c["name"] == context), current) if context else current
    return ((chosen or {}).get("context") or {}).get("namespace")
