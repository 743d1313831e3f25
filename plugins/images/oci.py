"""The OCI and Docker manifest formats: media types, the platforms an image index offers, digests."""
from __future__ import annotations

import hashlib
import json
from typing import Any

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"
ACCEPT = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_V2))
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})


def platform_key(platform: dict[str, Any] | str) -> str:
    """``os/arch[/variant]`` with arm64's implicit v8 dropped, for comparison."""
    if isinstance(platform, str):
        parts = platform.split("/")
    else:
        parts = [platform.get("os", ""), platform.get("architecture", "")]
        if platform.get("variant"):
            parts.append(platform["variant"])
    if parts[1:2] == ["arm64"] and parts[2:] == ["v8"]:
        parts = parts[:2]
    return "/".join(parts)


def platform_matches(wanted: str, offered: str) -> bool:
    """True if an index entry for ``offered`` serves a host asking for ``wanted``."""
    wanted_parts, offered_parts = platform_key(wanted).split("/"), platform_key(offered).split("/")
    return offered_parts[:2] == wanted_parts[:2] and (
        len(wanted_parts) < 3 or offered_parts[2:3] == wanted_parts[2:3])


def index_platforms(body: bytes) -> tuple[str, ...] | str:
    """The platforms an image index offers, or why the index is malformed."""
    try:
        document = json.loads(body)
    except ValueError as exc:
        return str(exc)
    manifests = document.get("manifests") if isinstance(document, dict) else None
    if not isinstance(manifests, list):
        return "no manifests list"
    return tuple(platform_key(m["platform"]) for m in manifests
                 if isinstance(m, dict) and isinstance(m.get("platform"), dict))


def content_digest(body: bytes, like: str | None = None) -> str:
    """The digest of manifest bytes, with the algorithm of ``like`` (sha256 by default)."""
    algorithm = (like or "sha256:").partition(":")[0]
    if algorithm not in ("sha256", "sha384", "sha512"):
        algorithm = "sha256"
    return f"{algorithm}:{hashlib.new(algorithm, body).hexdigest()}"
