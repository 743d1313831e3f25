"""Secrets never leave the process: every output passes through redact().

Outputs are the terminal, every report file, exception text (other plugins such as allure read
exceptions themselves) and log records of every logger, ours and third parties' (httpx logs each
request's URL, user info included): install_log_redaction() masks records as they are made.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Iterable
from urllib.parse import unquote, urlsplit

MASK = "***"
# A secret shorter than this, or one that is (or lies inside) a name the report must show (an
# environment, source, check or file name), is "weak": masking every occurrence of it would
# rewrite those names ("releasegate: ***"). A weak secret is masked only where it stands as a
# credential's value: URL user info, password=/token=/secret= pairs, Authorization headers (the
# patterns below, which mask whatever value stands there), and a credential-named key's value in
# a report's structured details.
MIN_SECRET = 8
_WEAK: set[str] = set()
_NAMES: set[str] = set()
_SECRETS: set[str] = set()
_LONGEST_FIRST: tuple[str, ...] = ()  # _SECRETS, longest first: no shorter one masks part of a longer
# redact()'s answers for short texts: every check's record repeats the same names, outcomes and
# messages. Emptied whenever a secret is registered (the answer depends on _SECRETS).
_MEMO: dict[str, str] = {}
_MEMO_TEXT = 256  # texts longer than this are redacted each time (tracebacks, captured output)
_MEMO_SIZE = 1 << 16
# Credentials embedded in URLs (postgresql://user:pass@host): the password runs to the LAST '@'
# before the host, so an unencoded '@' inside it leaves no tail behind.
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s\"'<>]+:)"
                           r"(?P<pw>[^\s\"'<>]*)@(?=[^\s@/\"'<>]*(?:[/\s?#\"'<>]|$))")
_AUTH_HEADER = re.compile(r"(?i)(authorization\s*[:=]\s*(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]+")
# libpq keyword/value pairs: password = 'quoted \' value' or a bare word (also token=, secret=).
_KEYWORD = re.compile(r"(?i)\b(password|passwd|pwd|token|secret)(\s*=\s*)"
                      r"('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s&;'\"]+)")
_KEYWORDS = ("passw", "pwd", "token", "secret")  # what _KEYWORD's words have in them
_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+")


def _is_weak(value: str) -> bool:
    folded = value.casefold()
    return len(value) < MIN_SECRET or any(folded in name for name in _NAMES)


def register_secret(value: str | None) -> None:
    """Remember a secret value so that it is masked wherever it would be printed; a weak one
    (short, or a name the report shows) only where it stands as a credential's value."""
    global _LONGEST_FIRST
    if not value or value in _SECRETS or value in _WEAK:
        return
    if _is_weak(value):
        _WEAK.add(value)
        return
    _SECRETS.add(value)
    _LONGEST_FIRST = tuple(sorted(_SECRETS, key=len, reverse=True))
    _MEMO.clear()


def register_names(names: Iterable[str | None]) -> None:
    """Names the report must show as they are (environments, sources, checks, files): a secret
    equal to one, or inside one, is masked only where it stands as a credential's value."""
    global _LONGEST_FIRST
    _NAMES.update(name.casefold() for name in names if name)
    demoted = {secret for secret in _SECRETS if _is_weak(secret)}
    if demoted:
        _SECRETS.difference_update(demoted)
        _WEAK.update(demoted)
        _LONGEST_FIRST = tuple(sorted(_SECRETS, key=len, reverse=True))
        _MEMO.clear()


def register_dsn(dsn: str | None) -> None:
    """Remember the password inside a DSN or URL: as libpq reads it (which ends a URI's user
    info at its first '@'), as a URL parser reads it (at the last '@'), percent-decoded or not,
    and each '@'-separated piece of it, since libpq prints the pieces after the first '@' as
    part of a host name."""
    if not dsn:
        return
    candidates = [m.group(3).strip("'\"") for m in _KEYWORD.finditer(dsn)]
    scheme, sep, rest = dsn.partition("://")
    if sep:
        authority = rest.split("/", 1)[0]
        userinfo = authority.rpartition("@")[0]
        if ":" in userinfo:
            password = userinfo.split(":", 1)[1]
            candidates += [password, unquote(password), *password.split("@")]
    try:
        candidates.append(urlsplit(dsn).password)
    except ValueError:
        pass
    if scheme.startswith("postgres") or not sep:
        try:
            import psycopg.conninfo

            candidates.append(psycopg.conninfo.conninfo_to_dict(dsn).get("password"))
        except Exception:  # noqa: BLE001 - an unparsable DSN still gets the patterns above
            pass
    for candidate in candidates:
        register_secret(candidate)


def register_urls(values: Any) -> None:
    """Remember the password of every URL with user info found in a JSON-like structure (the
    raw environments file: mirrors, endpoints, anything)."""
    for text in _strings(values):
        for match in _URL.finditer(text):
            register_dsn(match.group(0))


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def redact(text: str) -> str:
    """Mask every registered secret, URL password, auth header and password= pair in a text."""
    if not text:
        return text
    if len(text) > _MEMO_TEXT:
        return _redact(text)
    clean = _MEMO.get(text)
    if clean is None:
        if len(_MEMO) >= _MEMO_SIZE:
            _MEMO.clear()
        clean = _MEMO[text] = _redact(text)
    return clean


def _redact(text: str) -> str:
    for secret in _LONGEST_FIRST:
        if secret in text:
            text = text.replace(secret, MASK)
    if "://" in text:
        text = _URL_PASSWORD.sub(lambda m: m["scheme"] + MASK + "@", text)
    # Most texts (every passing check's record) hold none of the words the patterns need; an
    # ASCII text is checked for them first (IGNORECASE also folds a few non-ASCII letters).
    lower = text.lower() if text.isascii() else None
    if lower is None or "authorization" in lower:
        text = _AUTH_HEADER.sub(lambda m: m.group(1) + MASK, text)
    if lower is None or any(word in lower for word in _KEYWORDS):
        text = _KEYWORD.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    return text


def _credential_value(key: object, value: object) -> bool:
    """A weak secret standing as the value of a key that names a credential (password, token)."""
    return (isinstance(value, str) and value in _WEAK and isinstance(key, str)
            and any(word in key.lower() for word in _KEYWORDS))


def redact_obj(value: object) -> object:
    """Redact every string inside a JSON-like structure."""
    kind = type(value)  # the exact types first: a record holds little else
    if kind is str:
        return redact(value)  # type: ignore[arg-type]
    if kind is dict:
        return {k: MASK if _WEAK and _credential_value(k, v) else redact_obj(v)
                for k, v in value.items()}  # type: ignore[attr-defined]
    if value is None or kind is int or kind is bool or kind is float:
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: MASK if _credential_value(k, v) else redact_obj(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_obj(v) for v in value]
    return value


def redact_exception(exc: BaseException) -> None:
    """Mask secrets in an exception in place (its args, and pytest's msg), for whoever reads it."""
    if isinstance(getattr(exc, "msg", None), str):
        exc.msg = redact(exc.msg)  # type: ignore[attr-defined]
    exc.args = tuple(redact(a) if isinstance(a, str) else a for a in exc.args)


_INSTALLED: list[Any] = []


def install_log_redaction() -> None:
    """Make every log record of every logger carry a redacted message (idempotent): handlers
    of pytest's live logging, captured logs and log files then only ever see masked text."""
    if _INSTALLED:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is the logger's own problem
            return record
        clean = redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        return record

    _INSTALLED.append(previous)
    logging.setLogRecordFactory(factory)
