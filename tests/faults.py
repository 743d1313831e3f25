"""Fault servers on 127.0.0.1 for the clients' fault tests: each answers one way a service breaks.

    black-hole       accepts TCP and never says a word (a TLS client stalls in the handshake)
    stall            completes TLS (when on), reads the request, never answers
    trickle          sends a status line and headers (4 KiB body), then one byte every 0.5 s
    trickle-headers  sends the status line, then one header byte every 0.5 s
    huge             Content-Length of 2 GB, and streams it
    chunked          Transfer-Encoding: chunked, 2 GB in 64 KiB chunks
    malformed        200 application/json whose body is not JSON
    500              HTTP 500

``serve({route: behaviour}, tls=...)`` starts one server in a daemon thread. A route is a path
prefix, optionally with a method ("HEAD /v2/"); the longest match wins and "" is the default. A
behaviour is a name above or ``reply(status, body, headers)``. A server stops by itself after
``lifetime_s`` (its thread and sockets end), or on ``stop()``.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

import trustme

GB2 = 2 * 1024**3
CHUNK = 64 * 1024
TRICKLE_S = 0.5
Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter, str, str], Awaitable[None]]


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {'OK' if status < 400 else 'Error'}", "Connection: close",
             *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def reply(status: int, body: Any = b"", headers: dict[str, str] | None = None) -> Behaviour:
    """A plain answer (a dict or list body is sent as JSON); HEAD gets the headers only."""
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **(headers or {}),
               "Content-Length": str(len(body))}

    async def answer(reader, writer, method, path):
        writer.write(_head(status, headers) + (b"" if method == "HEAD" else body))
        await writer.drain()
    return answer


async def _stall(reader, writer, method, path):
    await reader.read()  # until the client gives up


async def _trickle(reader, writer, method, path):
    writer.write(_head(200, {"Content-Type": "application/json", "Content-Length": "4096"}))
    while True:
        writer.write(b" ")
        await writer.drain()
        await asyncio.sleep(TRICKLE_S)


async def _trickle_headers(reader, writer, method, path):
    writer.write(b"HTTP/1.1 200 OK\r\n")
    while True:
        writer.write(b"X")
        await writer.drain()
        await asyncio.sleep(TRICKLE_S)


async def _huge(reader, writer, method, path):
    writer.write(_head(200, {"Content-Type": "application/json", "Content-Length": str(GB2)}))
    block = b"[" + b" " * (CHUNK - 1)
    for _ in range(GB2 // CHUNK):
        writer.write(block)
        await writer.drain()


async def _chunked(reader, writer, method, path):
    writer.write(_head(200, {"Content-Type": "application/json",
                             "Transfer-Encoding": "chunked"}))
    block = f"{CHUNK:x}\r\n".encode() + b" " * CHUNK + b"\r\n"
    for _ in range(GB2 // CHUNK):
        writer.write(block)
        await writer.drain()
    writer.write(b"0\r\n\r\n")
    await writer.drain()


BEHAVIOURS: dict[str, Behaviour] = {
    "stall": _stall, "trickle": _trickle, "trickle-headers": _trickle_headers, "huge": _huge,
    "chunked": _chunked,
    "malformed": reply(200, b'{"manifests": [{"platform": '),
    "500": reply(500, {"message": "internal error"}),
}


@dataclass
class FaultServer:
    """A started fault server: its URL, the CA file that trusts it, what it was asked."""

    url: str
    ca_file: str | None
    requests: list[tuple[str, str]] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _tmp: Any = None

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self) -> None:
        """Close the listener and every connection; the thread ends."""
        if self._loop and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(10)
        if self._tmp:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> FaultServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _route(routes: dict[str, Behaviour | str], method: str, path: str) -> Behaviour | str:
    best, length = routes.get("", "black-hole"), -1
    for key, behaviour in routes.items():
        want_method, _, prefix = key.rpartition(" ")
        if (not want_method or want_method == method) and path.startswith(prefix) \
                and len(key) > length and key:
            best, length = behaviour, len(key)
    return best


def serve(routes: dict[str, Behaviour | str] | str, *, tls: bool = False,
          lifetime_s: float = 60.0) -> FaultServer:
    """Start a fault server on 127.0.0.1 (a free port); it stops by itself after lifetime_s."""
    routes = dict(routes) if isinstance(routes, dict) else {"": routes}
    ctx, ca_file, tmp = None, None, None
    if tls:
        ca = trustme.CA()
        tmp = tempfile.TemporaryDirectory(prefix="releasegate-faults-")
        ca_file = str(Path(tmp.name) / "ca.pem")
        ca.cert_pem.write_to_path(ca_file)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    loop = asyncio.new_event_loop()
    server = FaultServer("", ca_file, _loop=loop, _tmp=tmp)
    handshake_timeout = lifetime_s + 5
    listeners: list[asyncio.Server] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if routes == {"": "black-hole"}:
                await reader.read()
                return
            head = await reader.readuntil(b"\r\n\r\n")
            method, path = head.split(b" ", 2)[:2]
            method, path = method.decode(), path.decode("latin-1")
            server.requests.append((method, path))
            behaviour = _route(routes, method, path)
            if behaviour == "black-hole":
                await reader.read()
                return
            await (BEHAVIOURS[behaviour] if isinstance(behaviour, str) else behaviour)(
                reader, writer, method, path)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ssl.SSLError,
                ValueError):
            pass
        finally:
            writer.transport.abort()

    async def main(started: threading.Event) -> None:
        black_hole_tls = tls and routes == {"": "black-hole"}
        listener = await asyncio.start_server(
            handle, "127.0.0.1", 0, ssl=None if black_hole_tls else ctx,
            ssl_handshake_timeout=None if black_hole_tls or not tls else handshake_timeout)
        listeners.append(listener)
        server.url = f"{'https' if tls else 'http'}://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
        started.set()
        loop.call_later(lifetime_s, loop.stop)

    def run(started: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.set_exception_handler(lambda *_: None)  # clients hanging up is what faults are for
        loop.run_until_complete(main(started))
        loop.run_forever()
        for listener in listeners:
            listener.close()
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.close()

    started = threading.Event()
    server._thread = threading.Thread(target=run, args=(started,), name="releasegate-faults",
                                      daemon=True)
    server._thread.start()
    if not started.wait(30):
        raise RuntimeError("the fault server did not start")
    return server
