"""A service whose name does not resolve on a machine whose resolver answers nothing failed because
of the resolver, not the service: one ERROR naming the resolver for the whole run, and every other
check it kept from running skips pointing at that one (issue 21 item 5: "a resolver that answers
nothing is one ERROR naming it").

Whether the resolver answers at all is nameserver.silent's question (an SOA query about the zone
above the name, then the root, to each nameserver of resolv.conf). A lookup failure is told from
its text: getaddrinfo's EAI_NONAME ("Name or service not known", errno -2), EAI_AGAIN ("Temporary
failure in name resolution", -3), EAI_NODATA ("No address associated with hostname", -5), as
glibc's gai_strerror words them (https://man7.org/linux/man-pages/man3/getaddrinfo.3.html).
"""
from __future__ import annotations

import functools
import re
import threading
from urllib.parse import urlsplit

import pytest

from releasegate.core.handle import Unreachable

LOOKUP_FAILED = re.compile(r"\[Errno -(2|3|5)\]|Name or service not known|Temporary failure in name "
                           r"resolution|No address associated with hostname|nodename nor servname")


class ResolverSilent(Unreachable):
    """The resolver answers nothing: reported once per run (an ERROR), skipped everywhere else."""


@functools.lru_cache(maxsize=64)
def _silence(host: str) -> str | None:
    from releasegate.subdomains import nameserver

    return nameserver.silent(host)


def blame(env: str, endpoint: str, reason: str, state: str = "unreachable",
          host: str | None = None) -> Unreachable:
    """The exception for a service at ``endpoint`` (a URL, or ``host``'s) that failed with
    ``reason``: ResolverSilent when its name did not resolve and no nameserver answers about its
    zone nor the root, else the plain Unreachable as before."""
    host = host or urlsplit(endpoint if "//" in endpoint else f"//{endpoint}").hostname or ""
    if host and LOOKUP_FAILED.search(reason):
        silence = _silence(host)
        if silence:
            from releasegate.subdomains import addresses, nameserver

            return ResolverSilent(env, addresses.resolver(), (
                f"{host} did not resolve, and no nameserver answers about {nameserver.parent(host)} nor "
                f"the root ({silence}): the resolver answers nothing, so no record is to blame"), "failed")
    return Unreachable(env, endpoint, reason, state)


_FIRST = pytest.StashKey[dict[str, str]]()
_LOCK = threading.Lock()


def once(config: pytest.Config, nodeid: str, exc: ResolverSilent) -> None:
    """Re-raise ``exc`` for the first check of the run it reaches (and that check again); skip every
    other, naming the check that reported it."""
    with _LOCK:
        first = config.stash.setdefault(_FIRST, {}).setdefault("resolver", nodeid)
    if first == nodeid:
        raise exc
    pytest.skip(f"{exc.env}: not checked: {exc.endpoint} failed (reported once, at "
                f"{first.rsplit('::', 1)[-1]})")
