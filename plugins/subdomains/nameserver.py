"""Whether the system resolver answers at all: one DNS question (SOA) to each nameserver of
resolv.conf, about the zone above a name that did not resolve, then about the root.

A lookup that says "no such name" blames the record only if the resolver knows anything: a
nameserver that answers NOERROR for the parent zone or for the root zone (every recursive resolver
knows the root, RFC 1034 section 5.3.3) does; one that answers nothing, or NXDOMAIN / SERVFAIL /
REFUSED even for the root, cannot tell a missing record from its own blindness. The question is
built as RFC 1035 section 4.1 lays out a message (header, one question, QTYPE SOA = 6, QCLASS IN
= 1); any reply carrying our ID counts as an answer, and its RCODE (low 4 bits of byte 3) says
which. glibc asks 127.0.0.1 when resolv.conf names no nameserver (resolv.conf(5)).
"""
from __future__ import annotations

import ipaddress
import os
import socket
import struct

from releasegate.subdomains import addresses

DNS_PORT = 53
_SOA, _IN, _NOERROR = 6, 1, 0
_RCODES = {1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def nameservers() -> list[tuple[str, int]]:
    """The nameservers of resolv.conf (glibc reads at most three), else 127.0.0.1 as glibc does."""
    try:
        lines = open(addresses.RESOLV_CONF, encoding="utf-8", errors="replace").read().splitlines()
    except OSError:
        lines = []
    found = [line.split()[1] for line in lines if line.startswith("nameserver") and len(line.split()) > 1]
    return [(server, DNS_PORT) for server in (found[:3] or ["127.0.0.1"])]


def question(name: str, ident: int) -> bytes:
    """An RFC 1035 query: SOA of `name` ("" or "." is the root), recursion desired."""
    labels = [label.encode("idna") for label in name.strip(".").split(".") if label]
    qname = b"".join(bytes([len(label)]) + label for label in labels) + b"\0"
    return struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", _SOA, _IN)


def ask(server: tuple[str, int], name: str, timeout_s: float) -> str:
    """The nameserver's answer to SOA `name`: "NOERROR", another RCODE name, or why there was none."""
    ident = int.from_bytes(os.urandom(2), "big")
    family = socket.AF_INET6 if ipaddress.ip_address(server[0]).version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout_s)
        try:
            sock.connect(server)
            sock.send(question(name, ident))
            while True:
                reply = sock.recv(4096)
                if len(reply) >= 4 and int.from_bytes(reply[:2], "big") == ident and reply[2] & 0x80:
                    rcode = reply[3] & 0x0F
                    return "NOERROR" if rcode == _NOERROR else _RCODES.get(rcode, f"RCODE {rcode}")
        except TimeoutError:
            return f"no answer within {timeout_s:g}s"
        except OSError as exc:
            return exc.strerror or type(exc).__name__


def parent(host: str) -> str:
    """The zone above a host name (the root for a single label)."""
    return host.rstrip(".").partition(".")[2] or "."


def silent(host: str, servers: list[tuple[str, int]] | None = None, timeout_s: float = 1.0) -> str | None:
    """None when some nameserver answers NOERROR about the zone above `host` or about the root;
    else one line saying what each answered."""
    said = []
    for server in servers if servers is not None else nameservers():
        for zone in dict.fromkeys((parent(host), ".")):
            answer = ask(server, zone, timeout_s)
            if answer == "NOERROR":
                return None
            said.append(f"{server[0]}{'' if server[1] == 53 else f':{server[1]}'} {answer} for {zone} SOA")
    return "; ".join(said) or "no nameserver to ask"
