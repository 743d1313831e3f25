"""The foundation hook host.registry: an environment's registry client, built from its
``registries`` settings and checked against the registries its chart pulls from."""
from __future__ import annotations

from typing import TYPE_CHECKING

from plugins.estate import Unset, skip_if_unset
from plugins.images import imageref
from plugins.images.results import RegistryUnreachable

if TYPE_CHECKING:
    from plugins.core.handle import Handle
    from plugins.images.registry import RegistryClient


def connect(host: Handle) -> RegistryClient:
    """The registry client of an environment: one per session for the same settings, shared by
    its environments (each reference asked once per run, not once per environment; closed with
    the session), else the environment's own (closed by host.close()).

    Skips when every configured mirror names an unset variable, or the CA file or docker config
    does; an unreachable registry is reported per reference by the checks."""
    import pytest

    from plugins.core.resolver_once import blame

    registries = host.estate.registries
    mirrors = dict(registries.mirrors)
    if mirrors and all(isinstance(v, Unset) for v in mirrors.values()):
        pytest.skip(f"{host.name}: {next(iter(mirrors.values()))}")
    docker_config = getattr(registries, "docker_config", None)
    skip_if_unset(host.name, registries.ca_file, docker_config)
    # httpx and the registry client (~0.2 s of imports) only once a registry is configured
    from plugins.images.registry import DEFAULT_CONCURRENCY, RegistryClient

    settings = dict(mirrors=mirrors,
                    ca_file=str(registries.ca_file) if registries.ca_file else None,
                    platform=registries.platform or None, skip=tuple(registries.skip),
                    timeout_s=host.timeout_s,
                    docker_config=str(docker_config) if docker_config else None,
                    concurrency=getattr(registries, "concurrency", DEFAULT_CONCURRENCY))
    session = getattr(host, "shared", None)
    shared = callable(getattr(session, "client", None))
    if shared:
        key = ("registry", repr(sorted(settings.items())))
        client = session.client(key, lambda: RegistryClient(**settings))
    else:
        client = RegistryClient(**settings)
    for registry in chart_registries(host, client):
        try:
            client.ping(registry)  # remembered by the client: a shared one pings once
        except RegistryUnreachable as exc:
            if not shared:
                client.close()
            raise blame(host.name, exc.endpoint, exc.reason) from None
    return client


def chart_registries(host: Handle, client: RegistryClient) -> list[str]:
    """The registry hosts the environment's chart pulls from that the client can reach: not
    under registries.skip, and not behind an unset mirror."""
    found = set()
    for workload in host.workloads:
        for container in workload.containers:
            try:
                registry = imageref.parse(container.image).registry
            except imageref.InvalidReference:
                continue
            if registry not in client.skip and not isinstance(client.base_url(registry), Unset):
                found.add(registry)
    return sorted(found)
