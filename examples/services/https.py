"""Throwaway HTTPS endpoints on 127.0.0.x with certificates from a trustme test CA.

One server per subdomain, each with a behaviour that plants exactly one problem (or none):

    ok, expired, expiring (3 days left), wrong-host, self-signed, slow, http-502, wrong-body,
    degraded (JSON status "degraded"), hang (accepts TCP, never answers), closed (nobody
    listens), and any endpoint serves `version` at /api/version (a wrong SHA = wrong build).

Routes of a healthy endpoint: `/` -> 200 html, `/server/ping` -> `pong`, `/api/health` ->
{"status": "ok"}, `/api/version` -> {"build_version": <version>} plus an X-Build-Version header,
`/moved` -> 302 to `/`. Used by the tests, the benchmark and `python -m examples.services up`
(see `demo()`).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import os
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import trustme

from examples.services import free_port

BEHAVIOURS = ("ok", "expired", "expiring", "wrong-host", "self-signed", "slow", "http-502",
              "wrong-body", "degraded", "hang", "closed")
DEMO_PORT = 8443
DEMO_CA_VAR = "RELEASEGATE_DEMO_CA"
DEMO_PORT_VAR = "RELEASEGATE_DEMO_HTTPS_PORT"
DEMO_PLANT = ("production", "portal", "expiring")


@dataclass(frozen=True)
class EndpointSpec:
    """What to serve for one hostname."""

    host: str
    behaviour: str = "ok"
    address: str = "127.0.0.1"
    port: int = 0                 # 0: a free port
    version: str = "unknown"      # what /api/version reports
    delay_s: float = 1.0          # for "slow"

    def __post_init__(self) -> None:
        if self.behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {self.behaviour!r}; valid: {', '.join(BEHAVIOURS)}")


@dataclass
class Endpoint:
    """A started endpoint: where it listens (for network.resolve)."""

    spec: EndpointSpec
    address: str
    port: int

    @property
    def resolve(self) -> str:
        """address:port for network.resolve."""
        return f"{self.address}:{self.port}"


@dataclass
class Service:
    """Running endpoints; `.resolve` and `.ca_file` configure the client; `.stop()` ends them."""

    ca: trustme.CA
    ca_file: str
    endpoints: dict[str, Endpoint]
    _loop: asyncio.AbstractEventLoop
    _thread: threading.Thread
    _servers: list = field(default_factory=list)
    _conns: set = field(default_factory=set)
    _tmp: tempfile.TemporaryDirectory | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def resolve(self) -> dict[str, str]:
        """network.resolve entries for every endpoint."""
        return {host: ep.resolve for host, ep in self.endpoints.items()}

    @property
    def env(self) -> dict[str, str]:
        """The variables an environments file reads to trust and reach these endpoints."""
        return {DEMO_CA_VAR: self.ca_file, **self.extra_env}

    def stop(self) -> None:
        """Close every listener and open connection, then the loop thread."""
        if not self._thread.is_alive():
            return

        async def close() -> None:
            for server in self._servers:
                server.close()
            for writer in list(self._conns):
                writer.transport.abort()
            for server in self._servers:
                await server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if self._tmp:
            self._tmp.cleanup()

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _utc(days: float) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days)


def self_signed_pem(host: str) -> tuple[bytes, bytes]:
    """(cert PEM, key PEM) of a certificate that signs itself, valid for host."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(_utc(-1)).not_valid_after(_utc(365))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def _server_context(ca: trustme.CA, spec: EndpointSpec, workdir: Path) -> ssl.SSLContext | None:
    if spec.behaviour in ("hang", "closed"):
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if spec.behaviour == "self-signed":
        cert, key = self_signed_pem(spec.host)
        path = workdir / f"{spec.host}-{spec.port}-self.pem"
        path.write_bytes(key + cert)
        ctx.load_cert_chain(str(path))
        return ctx
    names = {"wrong-host": (f"wrong-host.{spec.host}",)}.get(spec.behaviour, (spec.host,))
    not_after = {"expired": _utc(-2), "expiring": _utc(3)}.get(spec.behaviour, _utc(365))
    leaf = ca.issue_cert(*names, not_before=_utc(-30), not_after=not_after)
    leaf.configure_cert(ctx)
    return ctx


def _answer(spec: EndpointSpec, path: str) -> tuple[int, dict[str, str], bytes]:
    path = path.split("?", 1)[0]
    if spec.behaviour == "http-502":
        return 502, {"Content-Type": "text/html"}, b"<h1>502 Bad Gateway</h1>"
    if path == "/server/ping":
        return 200, {"Content-Type": "text/plain"}, b"maintenance" if spec.behaviour == "wrong-body" else b"pong"
    if path == "/api/health":
        status = "degraded" if spec.behaviour == "degraded" else "ok"
        return 200, {"Content-Type": "application/json"}, json.dumps({"status": status}).encode()
    if path == "/api/version":
        return (200, {"Content-Type": "application/json", "X-Build-Version": spec.version},
                json.dumps({"build_version": spec.version}).encode())
    if path == "/moved":
        return 302, {"Location": "/"}, b""
    if path == "/":
        body = b"<h1>maintenance</h1>" if spec.behaviour == "wrong-body" else b"<h1>ok</h1>"
        return 200, {"Content-Type": "text/html"}, body
    return 404, {"Content-Type": "text/plain"}, b"not found"


def _handler(spec: EndpointSpec, conns: set):
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conns.add(writer)
        try:
            if spec.behaviour == "hang":
                await reader.read()  # accept, then say nothing until the client gives up
                return
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            path = head.split(b"\r\n", 1)[0].split(b" ")[1].decode("latin-1")
            if spec.behaviour == "slow":
                await asyncio.sleep(spec.delay_s)
            status, headers, body = _answer(spec, path)
            lines = [f"HTTP/1.1 {status} {'OK' if status < 400 else 'Error'}",
                     f"Content-Length: {len(body)}", "Connection: close",
                     *(f"{k}: {v}" for k, v in headers.items())]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ssl.SSLError, IndexError):
            pass
        finally:
            conns.discard(writer)
            writer.transport.abort()

    return handle


def start(specs: list[EndpointSpec], ca: trustme.CA | None = None, workdir: str | Path | None = None) -> Service:
    """Start one TLS server per spec in a background thread; returns when all listen."""
    ca = ca or trustme.CA()
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="releasegate-https-")
        workdir = tmp.name
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    ca_file = workdir / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="releasegate-https", daemon=True)
    thread.start()
    service = Service(ca=ca, ca_file=str(ca_file), endpoints={}, _loop=loop, _thread=thread, _tmp=tmp)

    async def listen() -> None:
        for spec in specs:
            ipaddress.ip_address(spec.address)  # loopback addresses only, never a name
            if spec.behaviour == "closed":
                port = spec.port or free_port(spec.address)
                service.endpoints[spec.host] = Endpoint(spec, spec.address, port)
                continue
            ctx = _server_context(ca, spec, workdir)
            server = await asyncio.start_server(_handler(spec, service._conns), spec.address, spec.port,
                                                ssl=ctx, backlog=512, reuse_address=True)
            service._servers.append(server)
            port = server.sockets[0].getsockname()[1]
            service.endpoints[spec.host] = Endpoint(spec, spec.address, port)

    try:
        asyncio.run_coroutine_threadsafe(listen(), loop).result(60)
    except BaseException:
        service.stop()
        raise
    return service


def demo_specs(estate, plant: tuple[str, str, str] = DEMO_PLANT) -> list[EndpointSpec]:
    """Endpoints for every subdomain of the demo estate, healthy but for `plant`.

    Addresses come from the file's network.resolve (host -> 127.0.0.x:port), so the demo client
    and servers agree by construction; /api/version serves the build each environment should run.
    """
    from releasegate.subdomains.addresses import parse_address

    resolve = {str(k).lower(): v for k, v in estate.network.resolve.items() if v}
    specs: dict[str, EndpointSpec] = {}
    for env in sorted(estate.environments.values(), key=lambda e: e.name):
        version = expected_build(estate, env)
        names = [*env.subdomains, *([env.version.subdomain] if env.version else [])]
        for name in names:
            host = f"{name}.{env.domain}".lower()
            if host in specs or host not in resolve:
                continue  # not routed to the demo: nothing to serve
            addr, port = parse_address(resolve[host], DEMO_PORT)
            behaviour = plant[2] if (env.name, name) == plant[:2] else "ok"
            specs[host] = EndpointSpec(host, behaviour, addr, port, version=version)
    return list(specs.values())


def expected_build(estate, env) -> str:
    """The commit an environment is meant to run: its branch head, or its newest release tag."""
    from releasegate.core.gitrepo import GitRepo

    source = estate.sources[estate.app_source()]
    repo = GitRepo(source.path, source.name)
    if env.deploys.branch:
        return repo.branch_head(env.deploys.branch) or "unknown"
    tags = repo.tags(env.deploys.tag or source.release_tags or "*")
    return repo.rev_parse(tags[-1]) if tags else "unknown"


def demo(estate_path: str | Path = "environments.yaml", workdir: str | Path | None = None) -> Service:
    """The demo's HTTPS endpoints: one planted problem (production portal cert expiring in 3 days)."""
    from releasegate.estate import ensure_sources, load

    os.environ.setdefault(DEMO_PORT_VAR, str(DEMO_PORT))  # the file routes hosts to this port
    estate = load(Path(estate_path))
    ensure_sources(estate)
    service = start(demo_specs(estate), workdir=workdir)
    service.extra_env[DEMO_PORT_VAR] = os.environ[DEMO_PORT_VAR]
    return service

