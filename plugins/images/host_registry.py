"""The foundation hook host.registry: an environment's registry client, built from its
``registries`` settings."""
from __future__ import annotations

from typing import TYPE_CHECKING

from releasegate.estate import Unset, skip_if_unset

if TYPE_CHECKING:
    from releasegate.core.handle import Handle
    from releasegate.images.registry import RegistryClient


def connect(host: Handle) -> RegistryClient:
    """The registry client of an environment: one per session for the same settings, shared by
    its environments (each reference asked once per run, not once per environment; closed with
    the session), else the environment's own (closed by host.close()).

    Skips when every configured mirror names an unset variable, or the CA file or docker config
    does. No registry is asked here: one that cannot be reached or refuses the login is an ERROR
    of the references on it only (the client remembers the failure per registry), so the images
    on the other registries are still checked."""
    import pytest

    registries = host.estate.registries
    mirrors = dict(registries.mirrors)
    if mirrors and all(isinstance(v, Unset) for v in mirrors.values()):
        pytest.skip(f"{host.name}: {next(iter(mirrors.values()))}")
    docker_config = getattr(registries, "docker_config", None)
    skip_if_unset(host.name, registries.ca_file, docker_config)
    # httpx and the registry client (~0.2 s of imports) only once a registry is configured
    from releasegate.images.registry import DEFAULT_CONCURRENCY, RegistryClient

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
    return client

