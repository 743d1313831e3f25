"""Docker image references: parse and normalise them the way the Docker CLI does.

Grammar (distribution/reference):
    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [ domain "/" ] path-component { "/" path-component }
    domain     := host [ ":" port ]
The first component is a registry host only if it contains "." or ":", is "localhost", or has an
upper-case letter; otherwise the image lives on docker.io, and a single-component docker.io name
lives under "library/". With neither tag nor digest the tag is "latest".
"""
from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_REGISTRY = "docker.io"
LEGACY_REGISTRIES = {"index.docker.io", "registry-1.docker.io"}

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|-+)"
_PATH_COMPONENT = re.compile(rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*\Z")
_DOMAIN_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(
    rf"(?:{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?\Z")
_TAG = re.compile(r"[\w][\w.-]{0,127}\Z")
_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}\Z")
_HEX = {"sha256": 64, "sha384": 96, "sha512": 128}
NAME_TOTAL_LENGTH_MAX = 255


class InvalidReference(ValueError):
    """An image string that the Docker reference grammar rejects; str names the string and why."""

    def __init__(self, text: str, reason: str):
        super().__init__(f"invalid image reference {text!r}: {reason}")
        self.text = text
        self.reason = reason


@dataclass(frozen=True)
class ImageRef:
    """A normalised image reference: registry host, repository path, tag and/or digest."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """Fully qualified repository name, e.g. ``docker.io/library/nginx``."""
        return f"{self.registry}/{self.repository}"

    @property
    def reference(self) -> str:
        """What goes after /manifests/ in the Registry API: the digest if pinned, else the tag."""
        return self.digest or self.tag or "latest"

    @property
    def familiar(self) -> str:
        """The short form the Docker CLI prints (``nginx:1.25`` for docker.io/library/nginx)."""
        name = self.name
        if self.registry == DEFAULT_REGISTRY:
            name = self.repository.removeprefix("library/")
        return name + self._suffix()

    def with_tag(self, tag: str) -> ImageRef:
        """The same repository with another tag and no digest."""
        return ImageRef(self.registry, self.repository, tag, None)

    def _suffix(self) -> str:
        return (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    def __str__(self) -> str:
        return self.name + self._suffix()


def split_domain(name: str) -> tuple[str, str]:
    """Split a name into (registry, repository) applying docker.io and library/ defaults."""
    first, sep, rest = name.partition("/")
    if not sep or (not any(c in first for c in ".:") and first != "localhost"
                   and first.lower() == first):
        registry, repository = DEFAULT_REGISTRY, name
    else:
        registry, repository = first, rest
    if registry in LEGACY_REGISTRIES:
        registry = DEFAULT_REGISTRY
    if registry == DEFAULT_REGISTRY and "/" not in repository:
        repository = f"library/{repository}"
    return registry, repository


def parse(text: str) -> ImageRef:
    """Parse an image string into a normalised ImageRef; raise InvalidReference if malformed."""
    if not isinstance(text, str):
        raise InvalidReference(str(text), "not a string")
    if not text or text != text.strip() or any(c.isspace() for c in text):
        raise InvalidReference(text, "empty or contains whitespace")
    remainder, at, digest = text.partition("@")
    if at:
        _check_digest(text, digest)
    else:
        digest = None
    name, tag = remainder, None
    colon = remainder.rfind(":")
    if colon > remainder.rfind("/"):
        name, tag = remainder[:colon], remainder[colon + 1:]
        if not _TAG.match(tag):
            raise InvalidReference(text, f"tag {tag!r} is not valid "
                                         "(letters, digits, _ . -; at most 128)")
    if not name:
        raise InvalidReference(text, "no repository name")
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidReference(text, f"repository name longer than {NAME_TOTAL_LENGTH_MAX}")
    registry, repository = split_domain(name)
    if registry != DEFAULT_REGISTRY and not _DOMAIN.match(registry):
        raise InvalidReference(text, f"registry host {registry!r} is not valid")
    if repository.lower() != repository:
        raise InvalidReference(text, "repository name must be lowercase")
    for component in repository.split("/"):
        if not _PATH_COMPONENT.match(component):
            raise InvalidReference(text, f"path component {component!r} is not valid")
    if tag is None and digest is None:
        tag = "latest"
    return ImageRef(registry, repository, tag, digest)


def _check_digest(text: str, digest: str) -> None:
    if not _DIGEST.match(digest):
        raise InvalidReference(text, f"digest {digest!r} is not algorithm:hex")
    algorithm, _, hexpart = digest.partition(":")
    expected = _HEX.get(algorithm)
    if expected and (len(hexpart) != expected or hexpart.lower() != hexpart):
        raise InvalidReference(text, f"{algorithm} digest must be {expected} lowercase hex digits")


def is_full_sha(tag: str | None) -> bool:
    """True for a 40-hex git commit SHA used as a tag."""
    return bool(tag) and re.fullmatch(r"[0-9a-f]{40}", tag) is not None


def is_short_sha(tag: str | None) -> bool:
    """True for an abbreviated (7-12 hex, not all digits) git commit SHA used as a tag."""
    return bool(tag) and re.fullmatch(r"[0-9a-f]{7,12}", tag) is not None and not tag.isdigit()


def describe_tag(tag: str | None) -> str:
    """How a tag looks to a release manager: 'full SHA', 'short SHA', 'version' or the word."""
    if tag is None:
        return "digest only"
    if is_full_sha(tag):
        return "full SHA"
    if is_short_sha(tag):
        return f"short SHA ({len(tag)})"
    if re.fullmatch(r"v?\d+\.\d+\.\d+(?:[-+][\w.-]+)?", tag):
        return "version"
    return f"fixed word '{tag}'"
