"""Secrets never leave the process: every output passes through redact()."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

MASK = "***"
_SECRETS: set[str] = set()
# Credentials embedded in URLs (postgresql://user:pass@host) and common token shapes.
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]+:)(?P<pw>[^@\s]+)(?=@)")
_AUTH_HEADER = re.compile(r"(?i)(authorization\s*[:=]\s*(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]+")
_KEYWORD = re.compile(r"(?i)\b(password|passwd|pwd|token|secret)=([^\s&;'\"]+)")


def register_secret(value: str | None) -> None:
    """Remember a secret value so that it is masked wherever it would be printed."""
    if value and len(value) >= 4:
        _SECRETS.add(value)


def register_dsn(dsn: str | None) -> None:
    """Remember the password inside a DSN or URL."""
    if not dsn:
        return
    try:
        password = urlsplit(dsn).password
    except ValueError:
        password = None
    register_secret(password)
    for match in _KEYWORD.finditer(dsn):
        register_secret(match.group(2))


def redact(text: str) -> str:
    """Mask every registered secret, URL password, auth header and password= pair in a text."""
    if not text:
        return text
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    text = _URL_PASSWORD.sub(lambda m: m["scheme"] + MASK, text)
    text = _AUTH_HEADER.sub(lambda m: m.group(1) + MASK, text)
    return _KEYWORD.sub(lambda m: f"{m.group(1)}={MASK}", text)


def redact_obj(value: object) -> object:
    """Redact every string inside a JSON-like structure."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_obj(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_obj(v) for v in value]
    return value
