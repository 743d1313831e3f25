"""Verifying TLS contexts shared by every environment of a run.

Building one loads its CA bundle (the system store: tens of milliseconds); an estate of hundreds
of environments with the same CA file built one per environment and client. A context is shared
only between clients with the same trust material (files keyed by path, size and mtime, so a
rewritten file is read again) and is not changed after it is made.
"""

from __future__ import annotations

import functools
import os
import ssl


def _stamp(path: str | None) -> tuple[int, int] | None:
    if not path:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None  # let ssl raise its own error for a missing file
    return st.st_size, st.st_mtime_ns


@functools.lru_cache(maxsize=32)
def _context(cafile: str | None, cadata: str | bytes | None, check_hostname: bool,
             cert_file: str | None, key_file: str | None, _stamps: tuple) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=cafile, cadata=cadata)
    ctx.check_hostname = check_hostname
    if cert_file:
        ctx.load_cert_chain(cert_file, key_file)
    return ctx


def verifying_context(cafile: str | None = None, cadata: str | bytes | None = None, *,
                      check_hostname: bool = True, cert_file: str | None = None,
                      key_file: str | None = None) -> ssl.SSLContext:
    """A verifying client context for this trust material (shared; do not modify it)."""
    stamps = (_stamp(cafile), _stamp(cert_file), _stamp(key_file))
    return _context(cafile, cadata, check_hostname, cert_file, key_file, stamps)
