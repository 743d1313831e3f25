"""Registry auth: the challenge of ``GET /v2/``, a Basic login, and bearer tokens per repository.

Each registry host is an Endpoint holding what was learnt of it (its scheme, the challenge, cached
tokens, the failure that ends it for the run). The requests go through the client's own bounded
``fetch`` and ``send`` (releasegate.images.registry), passed in.
"""
from __future__ import annotations

import re
import threading
import time
from typing import Callable

from releasegate.core import bounded, redact
from releasegate.images.credentials import Credentials
from releasegate.images.results import RegistryUnreachable

TOKEN_CAP = 1 * bounded.MIB

Fetch = Callable[..., bounded.Answer]   # (endpoint, method, url, what, cap, **httpx kwargs)
Send = Callable[..., bounded.Answer]    # (endpoint, method, path, **httpx kwargs)

_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Split ``WWW-Authenticate: Bearer realm="..",service="..""`` into ("bearer", params)."""
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), {k.lower(): v for k, v in _CHALLENGE_PARAM.findall(rest)}


class Denied(Exception):
    """The registry (or its token service) refuses one repository to this login."""


class Endpoint:
    """One registry host as reached through its base URL: its auth scheme and tokens."""

    def __init__(self, registry: str, base_url: str, credentials: Credentials | None) -> None:
        self.registry, self.base_url, self.credentials = registry, base_url.rstrip("/"), credentials
        self.scheme: str | None = None      # None until pinged; "none", "basic" or "bearer"
        self.challenge: dict[str, str] = {}
        self.failure: RegistryUnreachable | None = None
        self.tokens: dict[str, tuple[str, float]] = {}
        self.lock = threading.Lock()


def learn_scheme(send: Send, endpoint: Endpoint) -> None:
    """Ask ``GET /v2/`` which auth the registry wants (checking a Basic login at once) and note it
    on the endpoint; RegistryUnreachable when it is not a registry or refuses the login."""
    response = send(endpoint, "GET", "/v2/")
    if response.status_code == 200:
        endpoint.scheme = "none"
        return
    if response.status_code != 401:
        raise RegistryUnreachable(endpoint.base_url, f"GET /v2/ answered HTTP "
                                                     f"{response.status_code}, not a registry")
    scheme, params = parse_challenge(response.headers.get("WWW-Authenticate", ""))
    creds = endpoint.credentials
    if scheme == "basic":
        if creds is None or creds.basic() is None:
            raise RegistryUnreachable(endpoint.base_url, "auth refused: the registry wants a "
                                      f"login and the docker config has none for "
                                      f"{endpoint.registry}")
        check = send(endpoint, "GET", "/v2/", headers={"Authorization": creds.basic()})
        if check.status_code != 200:
            raise RegistryUnreachable(endpoint.base_url, f"auth refused: login from "
                                      f"{creds.source} rejected (HTTP {check.status_code})")
        endpoint.scheme = "basic"
    elif scheme == "bearer" and params.get("realm"):
        endpoint.scheme, endpoint.challenge = "bearer", params
    else:
        raise RegistryUnreachable(endpoint.base_url,
                                  f"unsupported auth challenge {scheme or '(none)'!r}")


def pull_scope(repository: str) -> str:
    """The token scope that lets one repository be read."""
    return f"repository:{repository}:pull"


def bearer_token(fetch: Fetch, endpoint: Endpoint, repositories: list[str]) -> str:
    """A bearer token for the repositories (from the cache when still valid)."""
    scopes = [pull_scope(r) for r in repositories]
    now = time.monotonic()
    with endpoint.lock:
        cached = [endpoint.tokens.get(s) for s in scopes]
        if all(c and c[1] > now for c in cached):
            return cached[0][0]  # type: ignore[index]
    realm = endpoint.challenge["realm"]
    params = [("scope", s) for s in scopes]
    if endpoint.challenge.get("service"):
        params.insert(0, ("service", endpoint.challenge["service"]))
    creds = endpoint.credentials
    if creds and creds.identity_token:
        data = dict(params, grant_type="refresh_token", client_id="releasegate",
                    refresh_token=creds.identity_token)
        data["scope"] = " ".join(scopes)
        response = fetch(realm, "POST", realm, "token service: ", TOKEN_CAP, data=data)
    else:
        headers = {"Authorization": creds.basic()} if creds and creds.basic() else {}
        response = fetch(realm, "GET", realm, "token service: ", TOKEN_CAP,
                         params=params, headers=headers)
    if response.status_code == 403:
        raise Denied("the token service refuses access (HTTP 403)")
    if response.status_code == 401:
        who = f"login from {creds.source}" if creds else "anonymous access"
        failure = RegistryUnreachable(realm, f"auth refused: token service rejected {who} "
                                             "(HTTP 401)")
        with endpoint.lock:
            endpoint.failure = failure   # bad credentials stay bad for this run
        raise failure
    if response.status_code != 200:
        raise RegistryUnreachable(realm, f"token service answered HTTP {response.status_code}")
    try:
        body = response.json()
        token = body.get("token") or body["access_token"]
    except (ValueError, KeyError, AttributeError):
        raise RegistryUnreachable(realm, "token service answered without a token") from None
    redact.register_secret(token)
    expires = now + max(float(body.get("expires_in") or 60) - 10, 5)
    with endpoint.lock:
        for scope in scopes:
            endpoint.tokens[scope] = (token, expires)
    return token


def auth_header(fetch: Fetch, endpoint: Endpoint, repository: str) -> dict[str, str]:
    """The Authorization header for a request about one repository ({} without auth)."""
    if endpoint.failure is not None:
        raise endpoint.failure
    if endpoint.scheme == "basic" and endpoint.credentials:
        return {"Authorization": endpoint.credentials.basic() or ""}
    if endpoint.scheme == "bearer":
        return {"Authorization": "Bearer " + bearer_token(fetch, endpoint, [repository])}
    return {}
