"""Throwaway local services for the demo and for the suite's own tests (one module per service)."""

from __future__ import annotations

import socket


def free_port(address: str = "127.0.0.1") -> int:
    """A port on address that nobody listens on right now (bound, then released for the server)."""
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]
