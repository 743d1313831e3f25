"""Registry logins from the docker config file (auths, credsStore, credHelpers), never shown.

Read through the docker package's auth module, credential helpers included; every secret found is
registered with releasegate.core.redact.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Iterable

from releasegate.core import redact


@dataclass(frozen=True)
class Credentials:
    """Login for one registry; ``source`` says where it came from (never the secret itself)."""

    username: str | None = None
    password: str | None = None
    identity_token: str | None = None
    source: str = ""

    def basic(self) -> str | None:
        """The value of a Basic Authorization header, or None without username/password."""
        if self.username is None or self.password is None:
            return None
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()


def load_credentials(hosts: Iterable[str], config_path: str | None = None,
                     credstore_env: dict[str, str] | None = None) -> Credentials | None:
    """Credentials for the first of ``hosts`` the docker config knows (auths, credsStore,
    credHelpers); None when it knows none. Raises ValueError for an unreadable config."""
    from docker import auth, errors

    try:
        config = auth.load_config(config_path, credstore_env=credstore_env)
    except errors.DockerException as exc:
        raise ValueError(f"docker config {config_path or '(default)'}: {exc}") from None
    for host in hosts:
        try:
            entry = config.resolve_authconfig(host)
        except errors.DockerException as exc:
            raise ValueError(f"credential helper for {host}: {exc}") from None
        if not entry:
            continue
        username = entry.get("username") or entry.get("Username")
        password = entry.get("password") or entry.get("Password")
        token = entry.get("IdentityToken")
        for secret in (password, token):
            redact.register_secret(secret)
        if username or token:
            store = config.get_credential_store(host) if (config.creds_store or
                                                          config.cred_helpers) else None
            source = f"docker-credential-{store}" if store and "Username" in entry else "auths"
            return Credentials(username, password, token, f"{source} for {host}")
    return None
