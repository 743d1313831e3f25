"""HTTPS client for the subdomain checks: one deadline per request, each step reported on its own.

`HttpClient.fetch(url)` walks DNS -> TCP -> TLS -> HTTP by hand (asyncio streams + h11) so that a
failure names the step where it happened. `network.resolve` works like curl's --resolve /
--connect-to (host -> addr or addr:port) and `network.ca_file` replaces the system trust store
(like curl --cacert). The whole exchange, retries and redirects included, is bounded by one
`timeout_s`: a black-holed address costs one timeout, never one per retry. What an exchange learned
is releasegate.subdomains.exchange; address and host-name rules are releasegate.subdomains.addresses.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import ssl
import time
from typing import Any, Iterable, Mapping
from urllib.parse import urljoin, urlsplit

import h11

from releasegate.core import tls
from releasegate.subdomains.addresses import NO_SUCH_NAME, host_problem, parse_address, resolver
from releasegate.subdomains.exchange import CertInfo, Exchange, Failure, Response, Step, cert_info

USER_AGENT = "releasegate-probe/1"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRY_STATUSES = frozenset({502, 503, 504})
IDEMPOTENT = frozenset({"GET", "HEAD"})
MAX_BODY = 1 << 20
DEFAULT_RETRIES = 2

# OpenSSL X509_V_ERR_* codes -> the kind of certificate problem a release manager can act on.
_VERIFY_KINDS = {
    9: "not-yet-valid",
    10: "expired",
    18: "self-signed",
    19: "self-signed",
    2: "untrusted",
    20: "untrusted",
    21: "untrusted",
    62: "hostname",
}


class _StepError(Exception):
    def __init__(self, step: str, kind: str, reason: str, retry: bool = False) -> None:
        super().__init__(reason)
        self.failure = Failure(step, kind, reason)
        self.retry = retry


def _ms(since: float) -> float:
    return round((time.monotonic() - since) * 1000, 1)


def _os_reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


class HttpClient:
    """Probing HTTPS client: resolve overrides, CA bundle, one deadline, bounded GET retries."""

    def __init__(
        self,
        timeout_s: float = 10.0,
        resolve: Mapping[str, str] | None = None,
        ca_file: str | None = None,
        retries: int = DEFAULT_RETRIES,
        backoff_s: float = 0.2,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s!r}")
        self.timeout_s = float(timeout_s)
        self.resolve = {str(k).lower(): str(v) for k, v in (resolve or {}).items()}
        self.ca_file = str(ca_file) if ca_file else None
        self.retries = max(0, int(retries))
        self.backoff_s = max(0.0, float(backoff_s))
        self._ssl: ssl.SSLContext | None = None
        self._dns_pool: concurrent.futures.ThreadPoolExecutor | None = None

    # -- configuration --------------------------------------------------------------------------
    def ssl_context(self) -> ssl.SSLContext:
        """Verifying context: `ca_file` when set, else the system store."""
        if self._ssl is None:
            self._ssl = tls.verifying_context(self.ca_file)
        return self._ssl

    def override(self, host: str, port: int) -> tuple[str, int] | None:
        """The network.resolve entry for host (or host:port), as (addr, port)."""
        value = self.resolve.get(f"{host.lower()}:{port}") or self.resolve.get(host.lower())
        return parse_address(value, port) if value else None

    # -- running --------------------------------------------------------------------------------
    def get(self, url: str, *, follow_redirects: bool = True) -> Exchange:
        """Blocking single GET (tests, one-off calls)."""
        return self.get_many([url], follow_redirects=follow_redirects)[0]

    def get_many(self, urls: Iterable[str], *, follow_redirects: bool | Iterable[bool] = True) -> list[Exchange]:
        """GET every url concurrently, each bounded by timeout_s; results in input order."""
        urls = list(urls)
        follows = [follow_redirects] * len(urls) if isinstance(follow_redirects, bool) else list(follow_redirects)
        return run_sync(self.gather([(u, f) for u, f in zip(urls, follows)]))

    async def gather(self, requests: list[tuple[str, bool]]) -> list[Exchange]:
        """Fetch (url, follow_redirects) pairs concurrently on the running loop."""
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(64, len(requests))))
        self._dns_pool = pool
        try:
            done = await asyncio.gather(*(self.fetch(u, follow_redirects=f) for u, f in requests),
                                        return_exceptions=True)
            return [_crashed(url, ex) if isinstance(ex, Exception) else ex
                    for (url, _), ex in zip(requests, done)]
        finally:
            self._dns_pool = None
            # A hung resolver must not hold the run: let its thread finish in the background.
            pool.shutdown(wait=False, cancel_futures=True)

    async def fetch(self, url: str, *, method: str = "GET", follow_redirects: bool = True,
                    max_redirects: int = 10) -> Exchange:
        """One request with retries and redirects, all inside one timeout_s deadline."""
        ex = Exchange(url=url)
        start = time.monotonic()
        current = {"step": "dns", "since": start}
        try:
            async with asyncio.timeout(self.timeout_s):
                await self._follow(ex, method, url, follow_redirects, max_redirects, start, current)
        except TimeoutError:
            ex.steps.append(Step(current["step"], False, _ms(current["since"]), "timeout"))
            ex.failure = Failure(current["step"], "timeout", f"no answer within {self.timeout_s:g}s")
        ex.elapsed_ms = _ms(start)
        return ex

    async def _follow(self, ex: Exchange, method: str, url: str, follow: bool, max_redirects: int,
                      start: float, current: dict) -> None:
        hops = 0
        while True:
            await self._with_retries(ex, method, url, start, current)
            resp = ex.response
            if not (follow and resp and resp.status in REDIRECT_STATUSES and "location" in resp.headers):
                return
            if hops >= max_redirects:
                ex.failure = Failure("http", "redirects", f"more than {max_redirects} redirects")
                return
            hops += 1
            url = urljoin(url, resp.headers["location"])
            ex.redirects.append(url)
            if method not in IDEMPOTENT or resp.status == 303:
                method = "GET"

    async def _with_retries(self, ex: Exchange, method: str, url: str, start: float, current: dict) -> None:
        attempts = 1 + (self.retries if method in IDEMPOTENT else 0)
        ex.attempts = 0  # counted per hop: a redirect is not a retry
        for attempt in range(attempts):
            ex.attempts += 1
            ex.failure, ex.response = None, None
            retry = False
            try:
                await self._once(ex, method, url, current)
                retry = ex.response is not None and ex.response.status in RETRY_STATUSES
            except _StepError as err:
                ex.failure = err.failure
                retry = err.retry
            if not retry or attempt == attempts - 1:
                return
            pause = self.backoff_s * (2 ** attempt)
            if time.monotonic() - start + pause >= self.timeout_s:
                return  # no time left for another try: report what we have
            current.update(step="tcp", since=time.monotonic())
            await asyncio.sleep(pause)

    async def _once(self, ex: Exchange, method: str, url: str, current: dict) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise _StepError("dns", "bad-url", f"not an http(s) URL: {url}")
        host = parts.hostname
        problem = host_problem(host)
        if problem:
            raise _StepError("dns", "bad-name", f"{url} names the host {host!r}, which is not a "
                                                f"valid host name: {problem}")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise _StepError("dns", "bad-url", f"{url}: {exc}") from None
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

        addr, addr_port = await self._dns(ex, host, port, current)
        reader, writer = await self._tcp(ex, addr, addr_port, current)
        try:
            if parts.scheme == "https":
                await self._tls(ex, writer, host, addr, addr_port, current)
            await self._http(ex, reader, writer, method, url, host, port, parts.scheme, target, current)
        finally:
            writer.transport.abort()

    async def _dns(self, ex: Exchange, host: str, port: int, current: dict) -> tuple[str, int]:
        t0 = time.monotonic()
        current.update(step="dns", since=t0)
        pinned = self.override(host, port)
        if pinned:
            ex.steps.append(Step("dns", True, _ms(t0), f"{host} -> {pinned[0]}:{pinned[1]} (network.resolve)"))
            return pinned
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.run_in_executor(
                self._dns_pool, socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
        except socket.gaierror as exc:
            ex.steps.append(Step("dns", False, _ms(t0), _os_reason(exc)))
            if exc.errno in NO_SUCH_NAME:
                raise _StepError("dns", "not-found",
                                 f"{host} does not resolve ({_os_reason(exc)})") from None
            raise _StepError("dns", "resolver", f"{host} could not be looked up: {resolver()} "
                                                f"failed ({_os_reason(exc)})") from None
        except UnicodeError as exc:
            ex.steps.append(Step("dns", False, _ms(t0), str(exc)))
            raise _StepError("dns", "bad-name", f"{host!r} is not a valid host name ({exc})") \
                from None
        addr = infos[0][4][0]
        ex.steps.append(Step("dns", True, _ms(t0), f"{host} -> {addr}"))
        return addr, port

    async def _tcp(self, ex: Exchange, addr: str, port: int, current: dict):
        t0 = time.monotonic()
        current.update(step="tcp", since=t0)
        ex.address = f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"
        try:
            reader, writer = await asyncio.open_connection(addr, port, limit=MAX_BODY)
        except ConnectionRefusedError:
            ex.steps.append(Step("tcp", False, _ms(t0), "connection refused"))
            raise _StepError("tcp", "refused", f"{ex.address} refuses connections", retry=True) from None
        except OSError as exc:
            ex.steps.append(Step("tcp", False, _ms(t0), _os_reason(exc)))
            raise _StepError("tcp", "unreachable", f"{ex.address}: {_os_reason(exc)}", retry=True) from None
        ex.steps.append(Step("tcp", True, _ms(t0), ex.address))
        return reader, writer

    async def _tls(self, ex: Exchange, writer, host: str, addr: str, port: int, current: dict) -> None:
        t0 = time.monotonic()
        current.update(step="tls", since=t0)
        try:
            await writer.start_tls(self.ssl_context(), server_hostname=host)
        except ssl.SSLCertVerificationError as exc:
            kind = _VERIFY_KINDS.get(exc.verify_code, "untrusted")
            ex.steps.append(Step("tls", False, _ms(t0), exc.verify_message))
            try:  # the explanation may use a slice of the deadline, never all of it
                async with asyncio.timeout(self.timeout_s / 4):
                    ex.cert = await self._peek_cert(host, addr, port)
            except TimeoutError:
                ex.cert = None
            raise _StepError("tls", kind, exc.verify_message or str(exc)) from None
        except (ssl.SSLError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", None) or _os_reason(exc)
            ex.steps.append(Step("tls", False, _ms(t0), str(reason)))
            raise _StepError("tls", "handshake", f"TLS handshake failed: {reason}") from None
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        ex.cert = cert_info(der)
        ex.steps.append(Step("tls", True, _ms(t0), f"valid until {ex.cert.not_after:%Y-%m-%d}"))

    async def _peek_cert(self, host: str, addr: str, port: int) -> CertInfo | None:
        """Fetch the leaf without verifying it, only to explain a verification failure."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            _, writer = await asyncio.open_connection(addr, port, ssl=ctx, server_hostname=host)
        except (OSError, ssl.SSLError):
            return None
        try:
            return cert_info(writer.get_extra_info("ssl_object").getpeercert(binary_form=True))
        except Exception:  # an undecodable certificate only costs us the explanation
            return None
        finally:
            writer.transport.abort()

    async def _http(self, ex: Exchange, reader, writer, method: str, url: str, host: str, port: int,
                    scheme: str, target: str, current: dict) -> None:
        t0 = time.monotonic()
        current.update(step="http", since=t0)
        default_port = 443 if scheme == "https" else 80
        conn = h11.Connection(h11.CLIENT)
        request = h11.Request(method=method, target=target, headers=[
            ("Host", host if port == default_port else f"{host}:{port}"),
            ("User-Agent", USER_AGENT), ("Accept", "*/*"), ("Connection", "close")])
        try:
            writer.write(conn.send(request) + conn.send(h11.EndOfMessage()))
            await writer.drain()
            head, body, truncated = await self._read_response(conn, reader, method)
        except (ConnectionError, ssl.SSLError, OSError, h11.ProtocolError) as exc:
            ex.steps.append(Step("http", False, _ms(t0), _os_reason(exc)))
            raise _StepError("http", "protocol", f"connection broken before a full answer: {_os_reason(exc)}",
                             retry=head_missing(exc)) from None
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in head.headers}
        ex.response = Response(url=url, status=head.status_code, headers=headers, body=body, truncated=truncated)
        ex.steps.append(Step("http", True, _ms(t0), f"HTTP {head.status_code}"))

    @staticmethod
    async def _read_response(conn: h11.Connection, reader, method: str):
        head, chunks, size, truncated = None, [], 0, False
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                conn.receive_data(data)
                continue
            if isinstance(event, h11.Response):
                head = event
            elif isinstance(event, h11.Data):
                if size < MAX_BODY:
                    chunks.append(bytes(event.data))
                size += len(event.data)
                truncated = truncated or size > MAX_BODY
                if truncated:
                    break
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                if head is None:
                    raise _NoAnswer("connection closed without an answer")
                break
        return head, b"".join(chunks)[:MAX_BODY], truncated


def _crashed(url: str, exc: Exception) -> Exchange:
    """An exchange that raised: its own failure, so the other endpoints keep their results."""
    ex = Exchange(url=url)
    ex.failure = Failure("dns", "client", f"{url}: the probe failed on it: "
                                          f"{type(exc).__name__}: {exc}")
    return ex


class _NoAnswer(ConnectionError):
    """The server closed the connection before sending a status line (safe to retry a GET)."""


def head_missing(exc: BaseException) -> bool:
    """Retry only when nothing was answered: a half-read response is not retried."""
    return isinstance(exc, (_NoAnswer, ConnectionResetError))


def run_sync(coro) -> Any:
    """Run a coroutine to completion from sync code, even if this thread already has a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def setting(estate: Any, name: str, default: Any) -> Any:
    """An optional network.<name> key: the typed model's field when it has one, else the raw file."""
    value = getattr(estate.network, name, None)
    if value is None:
        value = ((getattr(estate, "raw", None) or {}).get("network") or {}).get(name)
    return default if value is None else value


def connect(host: Any) -> HttpClient:
    """The environment's client (host.http): skips while network.ca_file or a resolve entry is an
    unset ${VAR} (a CA file that does not exist is already a usage error of the loader)."""
    from releasegate.estate import skip_if_unset

    network = host.estate.network
    skip_if_unset(host.name, network.ca_file, *network.resolve.values())
    return HttpClient(timeout_s=host.timeout_s, resolve=network.resolve, ca_file=network.ca_file,
                      retries=int(setting(host.estate, "retries", DEFAULT_RETRIES)))
