"""What a registry says about an image reference: its status, the Result, and RegistryUnreachable."""
from __future__ import annotations

from dataclasses import dataclass

from releasegate.core import redact
from releasegate.images.imageref import ImageRef

PRESENT = "present"
MISSING = "missing"
DENIED = "denied"
NO_PLATFORM = "no-platform"
DIGEST_MISMATCH = "digest-mismatch"
SKIPPED = "skipped"
NOT_CONFIGURED = "not-configured"
FINDINGS = frozenset({MISSING, DENIED, NO_PLATFORM, DIGEST_MISMATCH})


class RegistryUnreachable(Exception):
    """A registry cannot be asked (down, too slow, TLS failure, credentials refused: state
    "unreachable") or answered something unusable (malformed, oversized: state "failed")."""

    def __init__(self, endpoint: str, reason: str, state: str = "unreachable") -> None:
        self.endpoint, self.reason = redact.redact(endpoint), redact.redact(reason)
        self.state = state
        super().__init__(f"{endpoint} {state}: {self.reason}")


def malformed(endpoint: str, what: str, why: str = "") -> RegistryUnreachable:
    """The failure ("failed") of a registry whose answer to ``what`` is JSON it cannot use."""
    return RegistryUnreachable(endpoint, f"{what} answered malformed JSON"
                               + (f" ({why})" if why else ""), "failed")


@dataclass(frozen=True)
class Result:
    """What the registry says about one reference. ``detail`` is one line, never a secret."""

    ref: ImageRef
    status: str
    detail: str = ""
    digest: str | None = None
    media_type: str | None = None
    platforms: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()      # a few tags the repository has, when the reference is missing
    endpoint: str = ""

    @property
    def ok(self) -> bool:
        """True when nothing is wrong with the reference (skips are not findings)."""
        return self.status not in FINDINGS
