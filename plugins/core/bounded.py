"""Bounded HTTP for the registry and Kubernetes clients: one deadline per request, capped bodies.

httpx's timeouts bound each socket operation, so a server that sends one byte every half second
never trips them. Here every socket operation of a request (connect, TLS, writing, headers, body,
redirects included) gets only what is left of one deadline, through an httpcore network backend
that clamps each operation's timeout (the DNS lookup included); and a body is read in chunks up to a cap, so a 2 GB answer
costs the cap, not 2 GB of memory.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator

import httpcore
import httpx

MIB = 1 << 20
_LOCAL = threading.local()


class TooLarge(Exception):
    """A body went past its cap: the caller reports it naming the endpoint and the cap."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        super().__init__(f"the answer is larger than the {size(cap)} cap")


def size(n: int) -> str:
    """4194304 -> '4 MiB'."""
    return f"{n / MIB:g} MiB" if n >= MIB else f"{n} bytes"


def _left(timeout: float | None, error: type[Exception]) -> float | None:
    end = getattr(_LOCAL, "end", None)
    if end is None:
        return timeout
    left = end - time.monotonic()
    if left <= 0:
        raise error("the request deadline has passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    """A socket stream whose every read, write and TLS handshake ends by the request deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.start_tls(ssl_context, server_hostname,
                                             _left(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def _lookup(host: str, port: int, timeout: float | None) -> str:
    """The first address of host, looked up within timeout: getaddrinfo itself takes no
    timeout, and a hung resolver must not hold the request. The lookup runs in a daemon thread
    that finishes on its own (and never holds the interpreter's exit)."""
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    box: dict[str, Any] = {}
    done = threading.Event()

    def lookup() -> None:
        try:
            box["infos"] = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=lookup, name="bounded-dns", daemon=True).start()
    if not done.wait(timeout):
        raise httpcore.ConnectTimeout(f"looking up {host} took longer than the deadline")
    if "error" in box:
        raise httpcore.ConnectError(f"{host}: {box['error']}")
    return box["infos"][0][4][0]


class _Backend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None, socket_options: Any = None) -> _Stream:
        # TLS still verifies the name: httpcore hands start_tls the origin's host, not this one.
        address = _lookup(host, port, _left(timeout, httpcore.ConnectTimeout))
        return _Stream(self._inner.connect_tcp(address, port,
                                               _left(timeout, httpcore.ConnectTimeout),
                                               local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Any = None) -> _Stream:
        return _Stream(self._inner.connect_unix_socket(
            path, _left(timeout, httpcore.ConnectTimeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def client(timeout_s: float, **kwargs: Any) -> httpx.Client:
    """An httpx.Client whose requests, sent through fetch(), end within one deadline each.

    Keyword arguments are httpx.HTTPTransport's (verify, cert, proxy, limits...) and
    httpx.Client's (headers, follow_redirects)."""
    transport_keys = ("verify", "cert", "proxy", "limits", "trust_env", "http1")
    transport = httpx.HTTPTransport(**{k: kwargs.pop(k) for k in transport_keys if k in kwargs})
    pool = transport._pool  # httpx exposes no backend option; httpcore's pool takes one
    if not hasattr(pool, "_network_backend"):
        raise RuntimeError(f"httpcore {httpcore.__version__}: no _network_backend to bound")
    pool._network_backend = _Backend()
    return httpx.Client(transport=transport, timeout=httpx.Timeout(timeout_s), **kwargs)


@contextlib.contextmanager
def deadline(timeout_s: float) -> Iterator[None]:
    """Every socket operation of this thread inside the block ends by now + timeout_s."""
    if not math.isfinite(timeout_s) or timeout_s <= 0:
        raise ValueError(f"timeout_s must be a positive finite number, got {timeout_s!r}")
    saved = getattr(_LOCAL, "end", None)
    end = time.monotonic() + timeout_s
    _LOCAL.end = end if saved is None else min(saved, end)
    try:
        yield
    finally:
        _LOCAL.end = saved


@dataclass(frozen=True)
class Answer:
    """A response read to its end (or to its cap): status, headers, body."""

    status_code: int
    headers: httpx.Headers
    content: bytes
    reason_phrase: str = ""

    def json(self) -> Any:
        """The body parsed as JSON (ValueError when it is not)."""
        import json

        return json.loads(self.content)


def fetch(http: httpx.Client, method: str, url: str, *, timeout_s: float, cap: int,
          **kwargs: Any) -> Answer:
    """Send one request and read its body, all within timeout_s; TooLarge past cap bytes.

    Raises httpx.TimeoutException when the deadline passes, whatever the server trickles."""
    with deadline(timeout_s), http.stream(method, url, **kwargs) as response:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > cap:
            raise TooLarge(cap)
        chunks, got = [], 0
        for chunk in response.iter_bytes():
            got += len(chunk)
            if got > cap:
                raise TooLarge(cap)
            chunks.append(chunk)
        return Answer(response.status_code, response.headers, b"".join(chunks),
                      response.reason_phrase)
