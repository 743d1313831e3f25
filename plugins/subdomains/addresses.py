"""Addresses and host names before any connection: network.resolve entries (addr or addr:port), the
host-name rules DNS applies, and the system resolver as a message names it."""
from __future__ import annotations

import ipaddress
import re
import socket


def parse_address(value: str, default_port: int) -> tuple[str, int]:
    """'10.0.0.1' / '10.0.0.1:8443' / '[::1]:8443' / '::1' -> (addr, port)."""
    value = str(value).strip()
    match = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?", value)
    if match:
        return match.group(1), int(match.group(2) or default_port)
    if value.count(":") == 1:
        addr, port = value.split(":")
        if not port.isdigit():
            raise ValueError(f"bad address {value!r}: port must be a number")
        return addr, int(port)
    return value, default_port


_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")
# getaddrinfo errors that say the name does not exist, rather than that nobody could be asked.
NO_SUCH_NAME = frozenset(getattr(socket, n) for n in ("EAI_NONAME", "EAI_NODATA")
                         if hasattr(socket, n))
RESOLV_CONF = "/etc/resolv.conf"


def host_problem(host: str) -> str | None:
    """Why a URL's host is not a name DNS could be asked about (RFC 1123 labels after IDNA
    encoding), or None. One bad name must fail its own endpoint, never the whole probe."""
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    try:
        ascii_name = host.rstrip(".").encode("idna").decode("ascii")
    except UnicodeError as exc:
        return f"IDNA cannot encode it ({exc})"
    if len(ascii_name) > 253:
        return "longer than 253 characters"
    bad = [label for label in ascii_name.split(".") if not _LABEL.fullmatch(label)]
    if bad:
        return f"label {bad[0]!r} is not 1-63 letters, digits or hyphens"
    return None


def resolver() -> str:
    """The system resolver, as a message names it (the nameservers of /etc/resolv.conf)."""
    try:
        lines = open(RESOLV_CONF, encoding="utf-8", errors="replace").read().splitlines()
    except OSError:
        return f"the system resolver ({RESOLV_CONF} unreadable)"
    servers = [line.split()[1] for line in lines if line.startswith("nameserver") and
               len(line.split()) > 1]
    return (f"the system resolver (nameserver {', '.join(servers)} in {RESOLV_CONF})" if servers
            else f"the system resolver (no nameserver in {RESOLV_CONF})")
