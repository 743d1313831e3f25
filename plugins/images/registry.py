"""A read-only Registry HTTP API v2 client: does an image reference exist, and is it what we need?

One httpx connection pool per run, at most ``concurrency`` requests in flight. Per reference one
HEAD on ``/v2/<name>/manifests/<reference>`` with Accept for the OCI index, OCI manifest, Docker
manifest list and Docker v2 manifest; a GET follows only for an index (to find
``registries.platform`` in it) and for a 404 (to tell a missing repository from a missing tag).
Every request, its body included, ends within ``timeout_s`` (releasegate.core.bounded); a manifest body is
capped at the OCI distribution limit of 4 MiB, and an answer that is malformed or past a cap is
an ERROR about the registry, never a finding about the image. The first transport failure of a
registry (down, too slow) is remembered: later references fail at once with the same line.
Auth is what ``GET /v2/`` challenges for (auth.py: Basic, or Bearer with one token request
covering many repositories), with the login of the docker config file (credentials.py), never put
in a message. results.py holds the statuses, Result and RegistryUnreachable; oci.py the media
types, the platforms of an image index and content digests; host_registry.py builds the client of
an environment (host.registry).
"""
from __future__ import annotations

import itertools
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Iterable
from urllib.parse import urlsplit

import httpx

from releasegate.core import bounded, tls
from releasegate.estate import Unset
from releasegate.images import imageref
from releasegate.images.auth import (Denied, Endpoint, auth_header, bearer_token, learn_scheme,
                                 pull_scope)
from releasegate.images.credentials import load_credentials
from releasegate.images.imageref import ImageRef
from releasegate.images.oci import (ACCEPT, INDEX_TYPES, content_digest, index_platforms,
                                platform_matches)
from releasegate.images.results import (DENIED, DIGEST_MISMATCH, MISSING, NO_PLATFORM, NOT_CONFIGURED,
                                    PRESENT, SKIPPED, RegistryUnreachable, Result, malformed)

DOCKER_HUB_API = "https://registry-1.docker.io"
DEFAULT_CONCURRENCY = 16
TOKEN_BATCH = 40           # repositories per token request (keeps the URL short)
# The OCI distribution spec lets a registry refuse manifests over 4 MiB, so none is larger.
MANIFEST_CAP = 4 * bounded.MIB
TAGS_CAP = 16 * bounded.MIB


@dataclass
class RegistryClient:
    """Checks image references against their registries (HEAD/GET only), cached per reference."""

    mirrors: dict[str, str | Unset] = field(default_factory=dict)
    ca_file: str | None = None
    platform: str | None = "linux/amd64"
    skip: tuple[str, ...] = ()
    timeout_s: float = 10.0
    docker_config: str | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    credstore_env: dict[str, str] | None = None
    requests: int = 0                   # requests sent so far (tests, benchmark)

    def __post_init__(self) -> None:
        verify: ssl.SSLContext | bool = True
        if self.ca_file:
            verify = tls.verifying_context(str(self.ca_file))  # shared by every environment's client
        self._http = bounded.client(
            self.timeout_s, verify=verify,
            limits=httpx.Limits(max_connections=self.concurrency,
                                max_keepalive_connections=self.concurrency),
            headers={"User-Agent": "releasegate"}, follow_redirects=True)
        self._endpoints: dict[str, Endpoint] = {}
        self._results: dict[str, Result | RegistryUnreachable] = {}
        self._pending: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._sent = itertools.count(1)

    # public ---------------------------------------------------------------------------------
    def check(self, ref: ImageRef | str) -> Result:
        """What the registry says about one reference (cached; concurrent callers share one
        request). Raises RegistryUnreachable when the registry cannot be asked."""
        ref = imageref.parse(ref) if isinstance(ref, str) else ref
        key = str(ref)
        while True:
            with self._lock:
                if key in self._results:
                    return _outcome(self._results[key])
                waiting = self._pending.get(key)
                if waiting is None:
                    self._pending[key] = threading.Event()
                    break
            waiting.wait()
        try:
            try:
                result: Result | RegistryUnreachable = self._check(ref)
            except RegistryUnreachable as exc:
                result = exc  # asked once per run: the next check of it fails at once
            with self._lock:
                self._results[key] = result
            return _outcome(result)
        finally:
            with self._lock:
                self._pending.pop(key).set()

    def check_all(self, refs: Iterable[ImageRef | str]) -> dict[str, Result | RegistryUnreachable]:
        """Check many references at once, ``concurrency`` at a time, with tokens fetched for
        many repositories per request. Maps str(ref) to its Result or to the failure."""
        parsed = [imageref.parse(r) if isinstance(r, str) else r for r in refs]
        unique = list({str(r): r for r in parsed}.values())
        with self._lock:
            todo = [r for r in unique if str(r) not in self._results]
        if todo:
            self._prefetch_tokens(todo)

        def one(ref: ImageRef) -> Result | RegistryUnreachable:
            try:
                return self.check(ref)
            except RegistryUnreachable as exc:
                return exc

        if len(todo) <= 1:
            outcomes = [one(r) for r in unique]
        else:
            with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                outcomes = list(pool.map(one, unique))
        return {str(ref): outcome for ref, outcome in zip(unique, outcomes)}

    def ping(self, registry: str) -> None:
        """Reach a registry host once (GET /v2/, checking a Basic login); RegistryUnreachable
        if it is down, too slow, untrusted or refuses the login. Remembered for the run."""
        self._ping(self._endpoint(registry))

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    # endpoints and auth ---------------------------------------------------------------------
    def base_url(self, registry: str) -> str | Unset:
        """Where a registry host is reached: its mirror, Docker Hub's API host, or https://host."""
        if registry in self.mirrors:
            mirror = self.mirrors[registry]
            if isinstance(mirror, Unset):
                return mirror
            return mirror if "://" in mirror else f"https://{mirror}"
        if registry == imageref.DEFAULT_REGISTRY:
            return DOCKER_HUB_API
        return f"https://{registry}"

    def _endpoint(self, registry: str) -> Endpoint:
        with self._lock:
            if registry in self._endpoints:
                return self._endpoints[registry]
        base = self.base_url(registry)
        assert not isinstance(base, Unset)
        hosts = [registry, urlsplit(base).netloc]
        if registry == imageref.DEFAULT_REGISTRY:
            hosts.insert(0, "https://index.docker.io/v1/")
        try:
            credentials = load_credentials(dict.fromkeys(hosts), self.docker_config,
                                           self.credstore_env)
        except ValueError as exc:
            raise RegistryUnreachable(base, str(exc)) from None
        with self._lock:
            return self._endpoints.setdefault(registry, Endpoint(registry, base, credentials))

    def _fetch(self, endpoint: str, method: str, url: str, what: str, cap: int,
               **kwargs: Any) -> bounded.Answer:
        """One bounded request: RegistryUnreachable naming ``endpoint`` on a timeout, a broken
        connection or a body past ``cap``."""
        try:
            self.requests = next(self._sent)
            return bounded.fetch(self._http, method, url, timeout_s=self.timeout_s, cap=cap,
                                 **kwargs)
        except httpx.TimeoutException:
            raise RegistryUnreachable(endpoint, f"{what}no complete answer within "
                                                f"{self.timeout_s:g}s") from None
        except bounded.TooLarge as exc:
            raise RegistryUnreachable(endpoint, f"{method} {url.removeprefix(endpoint)}: {exc}",
                                      "failed") from None
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            if "CERTIFICATE_VERIFY_FAILED" in reason:
                reason = "TLS certificate not trusted (set registries.ca_file)"
            raise RegistryUnreachable(endpoint, what + reason) from None

    def _send(self, endpoint: Endpoint, method: str, path: str,
              **kwargs: Any) -> bounded.Answer:
        if endpoint.failure is not None:
            raise endpoint.failure
        try:
            return self._fetch(endpoint.base_url, method, endpoint.base_url + path, "",
                               MANIFEST_CAP, **kwargs)
        except RegistryUnreachable as exc:
            if exc.state == "unreachable":
                endpoint.failure = exc  # down or too slow: not asked again by every reference
            raise

    def _ping(self, endpoint: Endpoint) -> None:
        """Learn the auth scheme from GET /v2/ once per endpoint; failures are remembered."""
        with endpoint.lock:
            if endpoint.failure is not None:
                raise endpoint.failure
            if endpoint.scheme is not None:
                return
            try:
                learn_scheme(self._send, endpoint)
            except RegistryUnreachable as exc:
                endpoint.failure = exc
                raise

    def _prefetch_tokens(self, refs: list[ImageRef]) -> None:
        """One token request per TOKEN_BATCH repositories of a bearer registry."""
        by_registry: dict[str, list[str]] = {}
        for ref in refs:
            if ref.registry not in self.skip and not isinstance(self.base_url(ref.registry), Unset):
                by_registry.setdefault(ref.registry, []).append(ref.repository)
        for registry, repos in by_registry.items():
            try:
                endpoint = self._endpoint(registry)
                self._ping(endpoint)
                if endpoint.scheme != "bearer":
                    continue
                names = sorted(set(repos))
                for start in range(0, len(names), TOKEN_BATCH):
                    bearer_token(self._fetch, endpoint, names[start:start + TOKEN_BATCH])
            except (RegistryUnreachable, Denied):
                continue      # check() reports it per reference

    def _request(self, endpoint: Endpoint, method: str, ref: ImageRef,
                 path: str) -> bounded.Answer:
        """Send with auth; on a bearer 401 drop the token and retry once with a fresh one."""
        for attempt in (1, 2):
            headers = {"Accept": ACCEPT, **auth_header(self._fetch, endpoint, ref.repository)}
            response = self._send(endpoint, method, path, headers=headers)
            if response.status_code != 401 or endpoint.scheme != "bearer" or attempt == 2:
                break
            with endpoint.lock:
                endpoint.tokens.pop(pull_scope(ref.repository), None)
        if response.status_code == 401 and endpoint.scheme == "basic":
            raise RegistryUnreachable(endpoint.base_url, "auth refused: login rejected (HTTP 401)")
        if response.status_code == 429:
            raise RegistryUnreachable(endpoint.base_url, "rate limited (HTTP 429)")
        if response.status_code >= 500:
            raise RegistryUnreachable(endpoint.base_url,
                                      f"server error HTTP {response.status_code}")
        return response

    # the check itself -----------------------------------------------------------------------
    def _check(self, ref: ImageRef) -> Result:
        if ref.registry in self.skip:
            return Result(ref, SKIPPED, f"registry {ref.registry} is in registries.skip")
        base = self.base_url(ref.registry)
        if isinstance(base, Unset):
            return Result(ref, NOT_CONFIGURED, f"registries.mirrors.{ref.registry} is not "
                                               f"configured (${{{base.variable}}} is not set)")
        endpoint = self._endpoint(ref.registry)
        self._ping(endpoint)
        path = f"/v2/{ref.repository}/manifests/{ref.reference}"
        try:
            response = self._request(endpoint, "HEAD", ref, path)
        except Denied as exc:
            return Result(ref, DENIED, str(exc), endpoint=endpoint.base_url)
        if response.status_code == 404:
            return self._missing(endpoint, ref)
        if response.status_code in (401, 403):
            return Result(ref, DENIED, "the registry refuses to show it with the configured "
                                       f"login (HTTP {response.status_code}): missing or no "
                                       "permission", endpoint=endpoint.base_url)
        if response.status_code != 200:
            raise RegistryUnreachable(endpoint.base_url, f"HEAD {path} answered HTTP "
                                                         f"{response.status_code}")
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip() or None
        digest = response.headers.get("Docker-Content-Digest")
        body, platforms = None, None
        if (media_type in INDEX_TYPES and self.platform) or (ref.digest and not digest):
            got = self._request(endpoint, "GET", ref, path)
            if got.status_code != 200:
                raise RegistryUnreachable(endpoint.base_url, f"GET {path} answered HTTP "
                                                             f"{got.status_code} after HEAD 200")
            body = got.content
            if media_type in INDEX_TYPES:
                platforms = index_platforms(body)
                if isinstance(platforms, str):
                    raise malformed(endpoint.base_url, f"GET {path}", platforms)
            if ref.digest or not digest:
                digest = content_digest(body, ref.digest)
        if ref.digest and digest != ref.digest:
            return Result(ref, DIGEST_MISMATCH, f"asked for {ref.digest}, the registry serves "
                                                f"{digest}", digest, media_type,
                          endpoint=endpoint.base_url)
        platforms = platforms or ()
        if body is not None and media_type in INDEX_TYPES and self.platform \
                and not any(platform_matches(self.platform, p) for p in platforms):
            offered = ", ".join(platforms) or "no platform"
            return Result(ref, NO_PLATFORM, f"the index has no {self.platform} image (it has "
                                            f"{offered})", digest, media_type, platforms,
                          endpoint=endpoint.base_url)
        detail = "present" + (f" ({', '.join(platforms)})" if platforms else "")
        return Result(ref, PRESENT, detail, digest, media_type, platforms,
                      endpoint=endpoint.base_url)

    def _missing(self, endpoint: Endpoint, ref: ImageRef) -> Result:
        """Tell a missing repository from a missing tag (GET tags/list), naming a few tags."""
        listing = self._request(endpoint, "GET", ref, f"/v2/{ref.repository}/tags/list")
        what = "digest" if ref.digest else "tag"
        if listing.status_code == 404:
            return Result(ref, MISSING, "the repository does not exist",
                          endpoint=endpoint.base_url)
        tags: tuple[str, ...] = ()
        if listing.status_code == 200:
            try:
                found = listing.json().get("tags") or ()
                tags = tuple(sorted(str(t) for t in found if isinstance(t, str)))
            except (ValueError, AttributeError, TypeError):
                raise malformed(endpoint.base_url,
                                f"GET /v2/{ref.repository}/tags/list") from None
        shown = ", ".join(_abbreviate(t) for t in tags[:3]) + (", ..." if len(tags) > 3 else "")
        others = f"; the repository has {len(tags)} other tag(s): {shown}" if tags else \
            "; the repository has no tags"
        return Result(ref, MISSING, f"no such {what}{others}", tags=tags[:20],
                      endpoint=endpoint.base_url)


def _abbreviate(tag: str) -> str:
    """Full-SHA tags cut to 12 characters, so a message stays one readable line."""
    return tag[:12] + "..." if imageref.is_full_sha(tag) else tag


def _outcome(result: Result | RegistryUnreachable) -> Result:
    if isinstance(result, RegistryUnreachable):
        raise result.with_traceback(None)
    return result
