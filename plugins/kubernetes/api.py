"""Read-only Kubernetes access for one environment: kubeconfig, timeouts, cached namespace lists.

``connect(host)`` builds the client for the environment's context and namespace and lists, once
per session, everything the checks read (eight list calls). Every request it makes is recorded in
``KubeClient.calls`` and must be a GET: the suite only gets and lists (see deploy/rbac.yaml).

The kubernetes package reads the kubeconfig and builds each request (URL, query, auth headers,
token refresh); the request itself goes through releasegate.core.bounded, so that it ends within one
timeout whatever the server trickles. Lists are read in pages of ``PAGE`` objects
(``limit``/``continue``), each page capped at ``PAGE_CAP``: an oversized or malformed page is an
ERROR naming the API server, never a finding.
"""

from __future__ import annotations

import json
import os
from functools import cached_property
import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from releasegate.core import tls
from releasegate.kubernetes.health import DEFAULT_RESTART_THRESHOLD

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
if TYPE_CHECKING:
    import httpx

PAGE_CAP = 32 << 20   # 32 MiB: 500 objects of 64 KiB each, far above what a pod weighs


class KubeClient:
    """A kubernetes ApiClient bound to one namespace; reads are cached for the session."""

    def __init__(self, env: str, api: Any, namespace: str, timeout_s: float, endpoint: str):
        self.env = env
        self.api = api
        self.namespace = namespace
        self.timeout_s = timeout_s
        self.endpoint = endpoint
        self.calls: list[tuple[str, str]] = []
        self._http, self._sni = _http_client(api.configuration, timeout_s)
        self.failure: Exception | None = None

    def _get(self, path: str, cap: int = PAGE_CAP, **query: Any) -> dict | None:
        """One GET of an API path, as a dict; None on 404; Unreachable (an ERROR outcome) when the
        server cannot be read or answers something that is not a JSON object. The first failure
        is kept: every later read fails at once with it. Typed API classes are not used: they
        cost seconds of import and would turn the objects into models we only turn back."""
        if self.failure is not None:
            raise self.failure.with_traceback(None)
        try:
            return self._read(path, cap, query)
        except Exception as exc:
            self.failure = exc
            raise

    def _read(self, path: str, cap: int, query: dict[str, Any]) -> dict | None:
        import httpx  # httpx (~0.1 s) only once a cluster is configured

        from releasegate.core import bounded
        from releasegate.core.handle import Unreachable

        method, url, headers, _, _ = self.api.param_serialize(
            "GET", path, query_params=[(k, v) for k, v in query.items() if v is not None],
            header_params={"Accept": "application/json"}, auth_settings=["BearerToken"])
        self.calls.append((method, url))
        try:
            response = bounded.fetch(self._http, method, url, timeout_s=self.timeout_s, cap=cap,
                                     headers=headers, extensions=self._sni)
        except httpx.TimeoutException:
            raise Unreachable(self.env, self.endpoint, f"GET {path}: no complete answer within "
                                                       f"{self.timeout_s:g}s (timed out)") from None
        except bounded.TooLarge as exc:
            raise Unreachable(self.env, self.endpoint, f"GET {path}: {exc}", "failed") from None
        except httpx.HTTPError as exc:
            raise Unreachable(self.env, self.endpoint, f"GET {path}: "
                                                       f"{exc or type(exc).__name__}") from None
        if response.status_code == 404:
            return None
        if not 200 <= response.status_code < 300:
            try:
                said = ": " + str(response.json().get("message") or "")
            except (ValueError, AttributeError):
                said = ""
            hint = ("; the account needs the read rules of deploy/rbac.yaml"
                    if response.status_code in (401, 403) else "")
            raise Unreachable(self.env, self.endpoint, f"GET {path} answered "
                              f"{response.status_code} {response.reason_phrase}"
                              f"{said.rstrip(': ')}{hint}")
        try:
            document = json.loads(response.content or b"{}")
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise Unreachable(self.env, self.endpoint, f"GET {path} answered malformed JSON "
                                                       "(not a JSON object)", "failed")
        return document

    def list_kind(self, kind: str) -> list[dict]:
        """Every object of a kind in the namespace (follows pagination)."""
        prefix, resource = LISTS[kind]
        items: list[dict] = []
        token = None
        while True:
            path = f"/{prefix}/namespaces/{self.namespace}/{resource}"
            page = self._get(path, limit=PAGE, **{"continue": token}) or {}
            found, meta = page.get("items") or [], page.get("metadata") or {}
            if not isinstance(found, list) or not isinstance(meta, dict) or not all(
                    isinstance(i, dict) and isinstance((i.get("metadata") or {}).get("name"), str)
                    for i in found):
                self.failure = _malformed(self, path, "items is not a list of named objects")
                raise self.failure
            for item in found:
                item.setdefault("kind", kind)
                items.append(item)
            token = meta.get("continue")
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
        """Release the connection pools."""
        self._http.close()
        self.api.close()


def _malformed(kube: KubeClient, path: str, why: str) -> Exception:
    from releasegate.core.handle import Unreachable

    return Unreachable(kube.env, kube.endpoint, f"GET {path} answered malformed JSON ({why})",
                       "failed")


def _http_client(configuration: Any, timeout_s: float) -> tuple[httpx.Client, dict[str, str]]:
    """A bounded httpx client with the TLS material, server name and proxy that the kubernetes
    package's own REST client would use (kubernetes.client.rest.RESTClientObject)."""
    from releasegate.core import bounded

    verify: ssl.SSLContext | bool = False
    if configuration.verify_ssl:
        verify = tls.verifying_context(
            configuration.ssl_ca_cert, getattr(configuration, "ca_cert_data", None),
            check_hostname=configuration.assert_hostname is not False,
            cert_file=configuration.cert_file or None, key_file=configuration.key_file or None)
    proxy = configuration.proxy or None
    if proxy:
        from kubernetes.client.rest import should_bypass_proxies

        if should_bypass_proxies(configuration.host, configuration.no_proxy or ""):
            proxy = None
    sni = ({"sni_hostname": configuration.tls_server_name}
           if configuration.tls_server_name else {})
    return bounded.client(timeout_s, verify=verify, proxy=proxy, trust_env=False), sni


def kubeconfig_path(host: Any) -> Path:
    """The kubeconfig for an environment: its setting, else $KUBECONFIG, else ~/.kube/config."""
    from releasegate.estate import skip_if_unset

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
    return int(getattr(host.spec.kubernetes, "restart_threshold", DEFAULT_RESTART_THRESHOLD))


def connect(host: Any) -> KubeClient:
    """A read-only client for the environment's context and namespace, its lists prefetched.

    Skips when the environment has no kubernetes section or no kubeconfig; raises Unreachable
    naming the environment and API server when the lists cannot be read within the timeout.
    """
    spec = host.spec.kubernetes
    if spec is None:
        pytest.skip(f"{host.name}: environments.{host.name}.kubernetes is not set")
    path = kubeconfig_path(host)
    # after the skips: the client library costs a tenth of a second to import
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    from releasegate.core.handle import Unreachable

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
        from releasegate.core.redact import register_secret
    except ImportError:  # the redaction plugin is optional for library use
        return
    register_secret(token)


def _context_namespace(path: Path, context: str | None) -> str | None:
    from kubernetes import config
    contexts, current = config.list_kube_config_contexts(str(path))
    chosen = next((c for c in contexts if c["name"] == context), current) if context else current
    return ((chosen or {}).get("context") or {}).get("namespace")
