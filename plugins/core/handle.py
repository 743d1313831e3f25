"""What a live client needs of an environment, below the clients and the host that builds them.

The database, Kubernetes, registry and HTTPS clients take a ``Handle`` and raise ``Unreachable``;
``releasegate.core.host.EnvHost`` is the one implementation. Keeping both here, under the clients,
is what keeps the host -> client imports one-way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from releasegate.core.redact import redact

if TYPE_CHECKING:
    from releasegate.estate import Environment, Estate


class Unreachable(Exception):
    """A service an environment depends on cannot be used: an ERROR outcome, not a finding.

    ``state`` is "unreachable" (down, too slow, refused) or "failed" (it answered, but with
    something malformed or oversized)."""

    def __init__(self, env: str, endpoint: str, reason: str, state: str = "unreachable") -> None:
        endpoint, reason = redact(endpoint), redact(reason)  # a mirror URL may carry a password
        self.env, self.endpoint, self.reason, self.state = env, endpoint, reason, state
        super().__init__(f"{env}: {endpoint} {state}: {reason}")


class Handle(Protocol):
    """One environment as its clients see it: name, spec, estate and the run's one time bound."""

    name: str
    spec: Environment
    estate: Estate

    @property
    def timeout_s(self) -> float:
        """The one bound for every connection and request of this run."""

    @property
    def workloads(self) -> Any:
        """Every workload the rendered chart declares."""
