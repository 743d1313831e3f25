"""The names Directus gives the indexes and constraints it creates or drops (its postgres helper).

A push that drops an index by the name Directus computes fails when the live index has another
name: comparison.py predicts that with these names; the demo database is built with them.
"""
from __future__ import annotations

import re
from typing import Iterable

_MAX_IDENT = 63  # Postgres: NAMEDATALEN - 1 bytes; Directus's postgres helper passes maxLength 63


def _simple_hash(units: list[int]) -> str:
    """@directus/utils getSimpleHash: `hash = 31 * hash + charCode` kept a signed 32-bit integer,
    then Math.abs(hash) in hex."""
    value = 0
    for unit in units:
        value = (31 * value + unit) & 0xFFFFFFFF
        value -= (value & 0x80000000) << 1  # ToInt32, what `hash &= hash` does
    return format(abs(value), "x")


def directus_index_name(kind: str, collection: str, fields: str | Iterable[str],
                        max_length: int = _MAX_IDENT) -> str:
    """The name Directus gives an index, unique or foreign constraint it creates or drops.

    @directus/api getDefaultIndexName(type, collection, fields, {maxLength: 63}) (the postgres
    schema helper): `<collection>_<fields>_<type>` lower-cased, `.` and `-` of the collection made
    `_`; longer than maxLength, a prefix, `__`, getSimpleHash of the full name and `_<type>`.
    Lengths count UTF-16 code units, as JavaScript does; Postgres then keeps at most 63 bytes.
    """
    fields = [fields] if isinstance(fields, str) else list(fields)
    table = re.sub(r"[.-]", "_", collection)
    name = (table + "_" + "_".join(fields) + "_" + kind).lower()
    units = _utf16(name)
    if len(units) > max_length:
        suffix = _utf16(f"__{_simple_hash(units)}_{kind}")
        units = units[:max(max_length - len(suffix), 0)] + suffix
        name = b"".join(u.to_bytes(2, "little") for u in units).decode("utf-16-le",
                                                                       errors="ignore")
    return name.encode()[:_MAX_IDENT].decode(errors="ignore")


def _utf16(text: str) -> list[int]:
    data = text.encode("utf-16-le")
    return [int.from_bytes(data[i:i + 2], "little") for i in range(0, len(data), 2)]
