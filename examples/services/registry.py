"""A throwaway Docker registry: Debian's /usr/bin/docker-registry on loopback, seeded over HTTP.

Two ways to guard it, like the registries an estate really uses:
  - ``auth="basic"``: htpasswd (bcrypt, made with apache2-utils' htpasswd) over TLS;
  - ``auth="token"``: the bearer-token flow -- the registry answers 401 with
    ``WWW-Authenticate: Bearer realm=...,service=...,scope=...`` and trusts JWTs signed by a token
    issuer that runs here, in-process (ES256, x5c chain to the CA the registry is told to trust).
Both serve TLS with a certificate from a trustme CA. Images are pushed through the Registry HTTP
API v2 (real gzip tar layers, image configs, Docker v2 / OCI manifests, OCI indexes and Docker
manifest lists), so what the suite reads back is what a CI push would have left.

Used by the tests (tests/test_registry*.py, tests/test_images*.py), the benchmark and the demo
(``python -m examples.services up`` calls ``demo()``).
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import shutil
import ssl
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterable

import httpx
import trustme
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from examples.services import free_port

BINARY = "/usr/bin/docker-registry"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
SERVICE = "releasegate-test-registry"
ISSUER = "releasegate-test-issuer"
DEMO_PORT = 5443
DEMO_REGISTRY_VAR = "RELEASEGATE_DEMO_REGISTRY"
DEMO_DOCKER_CONFIG_VAR = "RELEASEGATE_DEMO_DOCKER_CONFIG"
DEMO_CA_VAR = "RELEASEGATE_DEMO_REGISTRY_CA"


def digest_of(data: bytes) -> str:
    """The content digest the registry gives a blob or manifest."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# ---------------------------------------------------------------------------------------------
# The token issuer (the "realm" of the bearer challenge)


class TokenIssuer:
    """Issues registry JWTs for the users it knows; counts requests so tests can see batching."""

    def __init__(self, ca: trustme.CA, users: dict[str, str], address: str = "127.0.0.1",
                 anonymous: bool = False, ttl_s: int = 300) -> None:
        self.users, self.anonymous, self.ttl_s = users, anonymous, ttl_s
        self.signer = ca.issue_cert("token-signer.releasegate.test")
        self._key = serialization.load_pem_private_key(self.signer.private_key_pem.bytes(), None)
        leaf_pem = self.signer.cert_chain_pems[0].bytes()
        from cryptography import x509

        self._x5c = base64.b64encode(
            x509.load_pem_x509_certificate(leaf_pem).public_bytes(serialization.Encoding.DER)
        ).decode()
        self.requests: list[dict] = []
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                issuer._handle(self)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer((address, 0), Handler)
        self._server.daemon_threads = True
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(address, "localhost").configure_cert(context)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"https://{address}:{self._server.server_address[1]}/token"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        parsed = urllib.parse.urlsplit(request.path)
        query = urllib.parse.parse_qs(parsed.query)
        scopes = query.get("scope", [])
        user = self._user(request.headers.get("Authorization", ""))
        self.requests.append({"user": user, "scopes": scopes})
        if parsed.path != "/token":
            return self._reply(request, 404, {"errors": [{"code": "NOT_FOUND"}]})
        if user is None or (user == "" and not self.anonymous):
            return self._reply(request, 401, {"errors": [{"code": "UNAUTHORIZED",
                                                           "message": "bad credentials"}]})
        token = self.token(user, scopes, query.get("service", [SERVICE])[0])
        self._reply(request, 200, {"token": token, "access_token": token,
                                   "expires_in": self.ttl_s})

    def _user(self, header: str) -> str | None:
        """'' for anonymous, the user name for good credentials, None for bad ones."""
        if not header:
            return ""
        kind, _, value = header.partition(" ")
        if kind.lower() != "basic":
            return None
        try:
            name, _, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return None
        return name if self.users.get(name) == password else None

    def token(self, user: str, scopes: Iterable[str], service: str = SERVICE) -> str:
        """A signed JWT granting pull (and push, for a known user) on each requested scope."""
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            wanted = [a for a in actions.split(",") if a]
            allowed = [a for a in wanted if a == "pull" or (user and a in ("push", "*"))]
            access.append({"type": kind, "name": name, "actions": allowed})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "x5c": [self._x5c]}
        claims = {"iss": ISSUER, "sub": user, "aud": service, "exp": now + self.ttl_s,
                  "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex, "access": access}
        signing_input = (_b64url(json.dumps(header).encode()) + "."
                         + _b64url(json.dumps(claims).encode()))
        der = self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return signing_input + "." + _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


# ---------------------------------------------------------------------------------------------
# The registry


@dataclass
class Registry:
    """A running docker-registry: where it listens, how to authenticate, how to push to it."""

    address: str              # "127.0.0.1:5443": the registry host as image references name it
    url: str                  # "https://127.0.0.1:5443"
    auth: str                 # "basic" | "token" | "none"
    ca: trustme.CA
    ca_file: str
    username: str
    password: str
    docker_config: str        # a config.json with the credentials, for the client under test
    workdir: str
    issuer: TokenIssuer | None = None
    _proc: subprocess.Popen | None = None
    _http: httpx.Client | None = None
    _tokens: dict[str, str] = field(default_factory=dict)
    _blobs: dict[str, set[str]] = field(default_factory=dict)    # digest -> repositories

    @property
    def env(self) -> dict[str, str]:
        """What the demo exports for the environments file."""
        return {DEMO_REGISTRY_VAR: self.url, DEMO_DOCKER_CONFIG_VAR: self.docker_config,
                DEMO_CA_VAR: self.ca_file}

    # pushing ----------------------------------------------------------------------------------
    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(base_url=self.url, verify=_trust(self.ca_file), timeout=30)
        return self._http

    def _headers(self, repo: str, also: str | None = None) -> dict[str, str]:
        if self.auth == "basic":
            raw = f"{self.username}:{self.password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        if self.auth == "token" and self.issuer is not None:
            key = f"{repo} {also or ''}"
            if key not in self._tokens:
                scopes = [f"repository:{repo}:pull,push"] + ([f"repository:{also}:pull"]
                                                             if also else [])
                self._tokens[key] = self.issuer.token(self.username, scopes)
            return {"Authorization": "Bearer " + self._tokens[key]}
        return {}

    def _checked(self, response: httpx.Response, what: str) -> httpx.Response:
        if response.status_code >= 300:
            raise RuntimeError(f"registry push failed ({what}): HTTP {response.status_code} "
                               f"{response.text[:300]}")
        return response

    def push_blob(self, repo: str, data: bytes) -> str:
        """Upload a blob: mounted from a repository that has it, else POST a session and PUT."""
        client, digest = self._client(), digest_of(data)
        holders = self._blobs.setdefault(digest, set())
        if repo in holders:
            return digest
        source = min(holders) if holders else None
        headers = self._headers(repo, source)
        query = {"mount": digest, "from": source} if source else {}
        started = self._checked(client.post(f"/v2/{repo}/blobs/uploads/", params=query,
                                            headers=headers), f"start upload to {repo}")
        if started.status_code != 201:                  # not mounted: upload the bytes
            location = started.headers["Location"]
            separator = "&" if "?" in location else "?"
            self._checked(client.put(f"{location}{separator}digest={digest}", content=data,
                                     headers={**headers,
                                              "Content-Type": "application/octet-stream"}),
                          f"blob {digest} to {repo}")
        holders.add(repo)
        return digest

    def push_manifest(self, repo: str, reference: str, manifest: dict, media_type: str) -> str:
        """PUT a manifest or index under a tag (or its digest); returns its digest."""
        body = json.dumps(manifest, indent=2).encode()
        self._checked(self._client().put(
            f"/v2/{repo}/manifests/{reference}", content=body,
            headers={**self._headers(repo), "Content-Type": media_type}),
            f"manifest {repo}:{reference}")
        return digest_of(body)

    def push_image(self, repo: str, tags: Iterable[str] = ("latest",),
                   platform: str = "linux/amd64", oci: bool = False, label: str = "") -> str:
        """Push a one-layer image for one platform under each tag; returns the manifest digest."""
        os_name, arch, *variant = platform.split("/")
        layer_tar = _layer_tar(f"{platform}\n")   # shared by every image of a platform
        layer = gzip.compress(layer_tar, mtime=0)
        variant_field = {"variant": variant[0]} if variant else {}
        config = {"architecture": arch, "os": os_name, **variant_field,
                  "config": {"Labels": {"org.opencontainers.image.title": repo,
                                        "releasegate.test.label": label}},
                  "rootfs": {"type": "layers", "diff_ids": [digest_of(layer_tar)]}}
        config_bytes = json.dumps(config).encode()
        media_type = OCI_MANIFEST if oci else DOCKER_V2
        manifest = {
            "schemaVersion": 2, "mediaType": media_type,
            "config": {"mediaType": OCI_CONFIG if oci else DOCKER_CONFIG,
                       "size": len(config_bytes), "digest": self.push_blob(repo, config_bytes)},
            "layers": [{"mediaType": OCI_LAYER if oci else DOCKER_LAYER,
                        "size": len(layer), "digest": self.push_blob(repo, layer)}],
        }
        tags = list(tags)
        digest = digest_of(json.dumps(manifest, indent=2).encode())
        for reference in tags or [digest]:
            self.push_manifest(repo, reference, manifest, media_type)
        return digest

    def push_index(self, repo: str, tags: Iterable[str] = ("latest",),
                   platforms: Iterable[str] = ("linux/amd64", "linux/arm64"),
                   oci: bool = True, label: str = "") -> str:
        """Push one image per platform (by digest) and an index listing them under each tag."""
        entries = []
        for platform in platforms:
            digest = self.push_image(repo, (), platform, oci=oci, label=label)
            body = self._client().get(f"/v2/{repo}/manifests/{digest}", headers={
                **self._headers(repo), "Accept": OCI_MANIFEST if oci else DOCKER_V2})
            os_name, arch, *variant = platform.split("/")
            entries.append({"mediaType": OCI_MANIFEST if oci else DOCKER_V2,
                            "size": len(self._checked(body, f"read {digest}").content),
                            "digest": digest,
                            "platform": {"architecture": arch, "os": os_name,
                                         **({"variant": variant[0]} if variant else {})}})
        media_type = OCI_INDEX if oci else DOCKER_LIST
        index = {"schemaVersion": 2, "mediaType": media_type, "manifests": entries}
        tags = list(tags)
        digest = digest_of(json.dumps(index, indent=2).encode())
        for reference in tags or [digest]:
            self.push_manifest(repo, reference, index, media_type)
        return digest

    # lifecycle ---------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop the registry and the token issuer and delete everything they stored."""
        if self._http is not None:
            self._http.close()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()           # its storage is thrown away: nothing to drain
            self._proc.wait(5)
        if self.issuer is not None:
            self.issuer.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _trust(ca_file: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file)


def _layer_tar(text: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        data = text.encode()
        info = tarfile.TarInfo("etc/releasegate-test")
        info.size, info.mtime, info.mode = len(data), 0, 0o644
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _htpasswd(username: str, password: str) -> str:
    htpasswd = shutil.which("htpasswd")
    if not htpasswd:
        raise RuntimeError("htpasswd not found: install Debian's apache2-utils")
    # -i reads the password from stdin, so it never shows in a process listing.
    done = subprocess.run([htpasswd, "-niB", username], input=password, capture_output=True,
                          text=True, check=True)
    return done.stdout.strip() + "\n"


def start(auth: str = "basic", *, address: str = "127.0.0.1", port: int = 0,
          ca: trustme.CA | None = None, username: str = "releasegate", password: str | None = None,
          aliases: Iterable[str] = (), anonymous_pull: bool = False,
          timeout_s: float = 20.0) -> Registry:
    """Start docker-registry over TLS on loopback, guarded by ``auth`` ("basic", "token", "none").

    ``port=0`` picks a free port. ``aliases`` are registry host names (e.g. ``registry.demo.test``)
    that the written docker config also holds the credentials for. Returns when the registry
    answers; raises RuntimeError with the registry's log if it does not within ``timeout_s``.
    """
    if auth not in ("basic", "token", "none"):
        raise ValueError(f"unknown auth {auth!r}; valid: basic, token, none")
    if not os.path.exists(BINARY):
        raise RuntimeError(f"{BINARY} not found: install Debian's docker-registry package")
    ca = ca or trustme.CA()
    password = password or uuid.uuid4().hex
    workdir = tempfile.mkdtemp(prefix="releasegate-registry-")
    ca_file = os.path.join(workdir, "ca.pem")
    ca.cert_pem.write_to_path(ca_file)
    server_cert = ca.issue_cert(address, "localhost", *aliases)
    server_cert.cert_chain_pems[0].write_to_path(os.path.join(workdir, "cert.pem"))
    for extra in server_cert.cert_chain_pems[1:]:
        extra.write_to_path(os.path.join(workdir, "cert.pem"), append=True)
    server_cert.private_key_pem.write_to_path(os.path.join(workdir, "key.pem"))
    issuer = TokenIssuer(ca, {username: password}, address, anonymous_pull) \
        if auth == "token" else None
    if auth == "basic":
        Path(workdir, "htpasswd").write_text(_htpasswd(username, password))
    attempts = 1 if port else 3
    for attempt in range(attempts):
        chosen = port or free_port(address)
        config = _config(workdir, address, chosen, auth, issuer)
        Path(workdir, "config.yml").write_text(json.dumps(config, indent=2))
        log = open(os.path.join(workdir, "registry.log"), "wb")
        proc = subprocess.Popen([BINARY, "serve", os.path.join(workdir, "config.yml")],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        registry = Registry(f"{address}:{chosen}", f"https://{address}:{chosen}", auth, ca,
                            ca_file, username, password, "", workdir, issuer, proc)
        if _wait_ready(registry, timeout_s):
            registry.docker_config = _docker_config(workdir, registry, aliases)
            return registry
        proc.kill()
        proc.wait()
        if attempt == attempts - 1:
            text = Path(workdir, "registry.log").read_text(errors="replace")[-2000:]
            registry.stop()
            raise RuntimeError(f"docker-registry did not start on {address}:{chosen}:\n{text}")
    raise AssertionError("unreachable")


def _config(workdir: str, address: str, port: int, auth: str,
            issuer: TokenIssuer | None) -> dict:
    config: dict = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": os.path.join(workdir, "data")},
                    "delete": {"enabled": False}},
        "http": {"addr": f"{address}:{port}", "secret": uuid.uuid4().hex,
                 "tls": {"certificate": os.path.join(workdir, "cert.pem"),
                         "key": os.path.join(workdir, "key.pem")}},
    }
    if auth == "basic":
        config["auth"] = {"htpasswd": {"realm": "releasegate",
                                       "path": os.path.join(workdir, "htpasswd")}}
    elif auth == "token" and issuer is not None:
        config["auth"] = {"token": {"realm": issuer.url, "service": SERVICE, "issuer": ISSUER,
                                    "rootcertbundle": os.path.join(workdir, "ca.pem")}}
    return config


def _wait_ready(registry: Registry, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(verify=_trust(registry.ca_file), timeout=2) as client:
        while time.monotonic() < deadline:
            if registry._proc is not None and registry._proc.poll() is not None:
                return False
            try:
                if client.get(registry.url + "/v2/").status_code in (200, 401):
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
    return False


def _docker_config(workdir: str, registry: Registry, aliases: Iterable[str]) -> str:
    auth = base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode()
    auths = {host: {"auth": auth} for host in (registry.address, *aliases)}
    path = os.path.join(workdir, "docker", "config.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Path(path).write_text(json.dumps({"auths": auths}, indent=2))
    os.chmod(path, 0o600)
    return path


# ---------------------------------------------------------------------------------------------
# The demo: a registry holding what the demo's CI would have pushed, but for one planted gap

DEMO_ALIAS = "registry.demo.test"
# The planted gap: CI's build of this repository failed for the commit this environment deploys.
DEMO_PLANT = ("echo-next", "app/portal")
MULTI_ARCH = ("app/dashboard", "app/portal")     # front ends ship as an OCI index (amd64, arm64)


@dataclass(frozen=True)
class CiPush:
    """One image reference a workflow run pushed for a commit."""

    reference: str
    workflow: str
    ref_name: str
    sha: str


def ci_pushes(estate) -> list[CiPush]:
    """Every reference the estate's workflows pushed for each branch head and release tag,
    reading each workflow file as it was at that commit (as GitHub Actions does)."""
    from releasegate.images import workflows
    from releasegate.core.gitrepo import GitRepo, SourceError
    from releasegate.images.triggers import BRANCH, TAG
    from releasegate.images.workflow_yaml import WorkflowError

    pushes: dict[str, CiPush] = {}
    for entry in estate.builds:
        source = estate.sources[entry.source]
        repo = GitRepo(source.path, source.name)
        heads = repo._git("for-each-ref", "--format=%(refname:short)", "refs/heads").split()
        for kind, names in ((BRANCH, heads), (TAG, repo.tags("*"))):
            for name in names:
                sha = repo.resolve(name)
                try:
                    flow = workflows.parse(repo.show(sha, entry.workflow), entry.workflow,
                                           read=lambda path, sha=sha: repo.show(sha, path))
                except (SourceError, WorkflowError):
                    continue                        # no such workflow at that commit
                if not flow.builds(kind, name):
                    continue
                for push in flow.pushes:
                    image, tag = push.image.literal, push.tag.render(sha, name)
                    if push.applies(kind, name) and image and tag:
                        reference = f"{image}:{tag}"
                        pushes.setdefault(reference, CiPush(reference, flow.file, name, sha))
    return sorted(pushes.values(), key=lambda p: p.reference)


def planted_gap(estate, plant: tuple[str, str] = DEMO_PLANT) -> set[str]:
    """References the demo registry must lack: the plant's repository at the commit its
    environment deploys (full and short SHA tags)."""
    from releasegate.core.gitrepo import GitRepo

    env_name, repository = plant
    env = estate.environments[env_name]
    source = estate.sources[estate.app_source()]
    repo = GitRepo(source.path, source.name)
    if env.deploys.branch:
        sha = repo.resolve(env.deploys.branch)
    else:
        sha = repo.resolve(repo.tags(env.deploys.tag or source.release_tags)[-1])
    return {f"{DEMO_ALIAS}/{repository}:{sha}", f"{DEMO_ALIAS}/{repository}:{sha[:7]}"}


def seed(registry: Registry, references: Iterable[str]) -> list[str]:
    """Push each ``registry.demo.test/<repo>:<tag>`` reference; returns what was pushed."""
    pushed = []
    for reference in references:
        name, _, tag = reference.rpartition(":")
        repo = name.split("/", 1)[1]
        if repo in MULTI_ARCH:
            registry.push_index(repo, [tag], label=tag)
        else:
            registry.push_image(repo, [tag], label=tag)
        pushed.append(reference)
    return pushed


def demo(estate_path: str | Path = "environments.yaml", port: int = DEMO_PORT,
         ca: trustme.CA | None = None) -> Registry:
    """The demo registry on 127.0.0.1:5443 (htpasswd over TLS) seeded with every image the demo's
    CI pushed for its branch heads and tags -- except the planted gap (DEMO_PLANT)."""
    from releasegate.estate import ensure_sources, load

    estate = load(Path(estate_path))
    ensure_sources(estate)
    registry = start("basic", port=port, ca=ca, aliases=[DEMO_ALIAS])
    gap = planted_gap(estate)
    try:
        seed(registry, [p.reference for p in ci_pushes(estate) if p.reference not in gap])
    except Exception:
        registry.stop()
        raise
    return registry

