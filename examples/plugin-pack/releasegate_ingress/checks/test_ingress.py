"""Every ingress host is served over TLS."""

from __future__ import annotations

from typing import Any, Iterable

import pytest

from releasegate.params import per_item


def ingress_hosts(host: Any) -> Iterable[tuple[str, Any]]:
    """(item id, rule) for every ingress rule: read at collection time from the rendered chart."""
    for manifest in host.manifests:
        if manifest.get("kind") == "Ingress":
            for rule in (manifest.get("spec") or {}).get("rules") or ():
                yield rule["host"], rule


@pytest.mark.smoke
@pytest.mark.drift
@per_item(ingress_hosts)
def test_ingress_host_has_tls(host: Any, item: dict[str, Any], ingress_tls_hosts: set[str],
                              gate: Any) -> None:
    """An ingress host without a TLS entry is served over plain HTTP."""
    if item["host"] not in ingress_tls_hosts:
        gate.fail(f"{host.name}: ingress host {item['host']} has no TLS entry: add it to spec.tls")
