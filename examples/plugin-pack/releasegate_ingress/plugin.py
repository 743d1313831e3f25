"""The pack's pytest plugin: fixtures its checks use (releasegate provides host, item, gate)."""

from __future__ import annotations

from typing import Any

import pytest


def tls_hosts(manifests: tuple[dict[str, Any], ...]) -> set[str]:
    """Every host an Ingress of the rendered chart serves over TLS."""
    return {name for m in manifests if m.get("kind") == "Ingress"
            for tls in (m.get("spec") or {}).get("tls") or () for name in tls.get("hosts") or ()}


@pytest.fixture
def ingress_tls_hosts(host: Any) -> set[str]:
    """The TLS hosts of the environment's rendered chart."""
    return tls_hosts(host.manifests)
