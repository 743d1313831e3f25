"""Helm's ``--set`` syntax, parsed into an existing values map as Helm's pkg/strvals/parser.go does.

A port of ParseInto / ParseIntoString / ParseIntoFile: ``a.b=c``, ``a[0].b=c``, ``a={x,y}``,
``\\,`` escapes, and typedVal's inference (``--set`` gives bool, int64, null; ``--set-string``
keeps the text). Parsing *into* the values merged so far is what keeps the other keys of a list
element (``ingress.hosts[0].host=x`` leaves that host's ``paths``), which a fresh parse then a
deep merge would lose.
"""

from __future__ import annotations

import re
from typing import Any, Callable

MAX_INDEX = 65536
MAX_NESTED_NAME_LEVEL = 30
_INT64 = re.compile(r"[+-]?[0-9]+")
Reader = Callable[[str], Any]


class StrvalsError(ValueError):
    """A malformed --set expression (Helm's message)."""


class _EOF(Exception):
    pass


class _NotList(Exception):
    pass


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def read(self) -> str | None:
        if self.pos >= len(self.text):
            return None
        self.pos += 1
        return self.text[self.pos - 1]

    def unread(self) -> None:
        self.pos -= 1

    def until(self, stop: str) -> tuple[str, str | None]:
        """runesUntil: the text up to a stop rune (backslash escapes the next one); None at EOF."""
        out: list[str] = []
        while True:
            r = self.read()
            if r is None:
                return "".join(out), None
            if r in stop:
                return "".join(out), r
            if r == "\\":
                nxt = self.read()
                if nxt is None:
                    return "".join(out), None
                out.append(nxt)
            else:
                out.append(r)


def typed_value(text: str, as_string: bool) -> Any:
    """typedVal: true/false/null (any case), int64 without a leading zero, else the text."""
    if as_string:
        return text
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    if text == "0":
        return 0
    if text and text[0] != "0" and _INT64.fullmatch(text) and -2**63 <= int(text) < 2**63:
        return int(text)
    return text


def parse_into(expression: str, dest: dict[str, Any], *, as_string: bool = False,
               reader: Reader | None = None) -> None:
    """Apply one --set (or --set-string, or --set-file with reader) expression to dest in place."""
    parser = _Parser(expression, reader or (lambda text: typed_value(text, as_string)))
    while True:
        try:
            parser.key(dest, 0)
        except _EOF:
            return


class _Parser:
    def __init__(self, text: str, reader: Reader) -> None:
        self.sc, self.reader = _Scanner(text), reader

    def key(self, data: dict[str, Any], level: int) -> None:
        k, last = self.sc.until("=[,.")
        if last is None:
            if not k:
                raise _EOF
            raise StrvalsError(f"key {k!r} has no value")
        if last == "[":
            index = self.key_index()
            existing = data.get(k, []) if k in data else []
            if not isinstance(existing, list):
                raise StrvalsError(f"unable to parse key: {k!r} is not a list")
            _set(data, k, self.list_item(existing, index, level))
        elif last == "=":
            try:
                _set(data, k, self.val_list())
            except _EOF:
                _set(data, k, "")
                raise
            except _NotList:
                _set(data, k, self.reader(self.val()))
        elif last == ",":
            _set(data, k, "")
            raise StrvalsError(f"key {k!r} has no value (cannot end with ,)")
        else:  # "."
            level += 1
            if level > MAX_NESTED_NAME_LEVEL:
                raise StrvalsError("value name nested level is greater than maximum supported "
                                   f"nested level of {MAX_NESTED_NAME_LEVEL}")
            inner = data.get(k, {}) if k in data else {}
            if not isinstance(inner, dict):
                raise StrvalsError(f"unable to parse key: {k!r} is not a map")
            try:
                self.key(inner, level)
            except _EOF:
                if inner:
                    _set(data, k, inner)
                raise
            if not inner:
                raise StrvalsError(f"key map {k!r} has no value")
            _set(data, k, inner)

    def key_index(self) -> int:
        text, last = self.sc.until("]")
        if last is None:
            raise StrvalsError("error parsing index: EOF")
        try:
            return int(text)
        except ValueError:
            raise StrvalsError(f"error parsing index: {text!r} is not a number") from None

    def list_item(self, items: list[Any], i: int, level: int) -> list[Any]:
        if i < 0:
            raise StrvalsError(f"negative {i} index not allowed")
        k, last = self.sc.until("[.=")
        if k:
            raise StrvalsError(f"unexpected data at end of array index: {k!r}")
        if last is None:
            raise _EOF
        if last == "=":
            try:
                return _set_index(items, i, self.val_list())
            except _EOF:
                return _set_index(items, i, "")
            except _NotList:
                return _set_index(items, i, self.reader(self.val()))
        if last == "[":
            nxt = self.key_index()
            current = items[i] if len(items) > i and items[i] is not None else []
            if not isinstance(current, list):
                raise StrvalsError(f"unable to parse key: index {i} is not a list")
            return _set_index(items, i, self.list_item(current, nxt, level))
        inner: dict[str, Any] = {}
        if len(items) > i:
            if not isinstance(items[i], dict):
                items[i] = {}
            inner = items[i]
        self.key(inner, level)
        return _set_index(items, i, inner)

    def val(self) -> str:
        return self.sc.until(",")[0]

    def val_list(self) -> list[Any]:
        r = self.sc.read()
        if r is None:
            raise _EOF
        if r != "{":
            self.sc.unread()
            raise _NotList
        out: list[Any] = []
        while True:
            text, last = self.sc.until(",}")
            if last is None:
                raise StrvalsError("list must terminate with '}'")
            if last == "}":
                nxt = self.sc.read()
                if nxt is not None and nxt != ",":
                    self.sc.unread()
                out.append(self.reader(text))
                return out
            out.append(self.reader(text))


def _set(data: dict[str, Any], key: str, value: Any) -> None:
    if key:
        data[key] = value


def _set_index(items: list[Any], index: int, value: Any) -> list[Any]:
    if index < 0:
        raise StrvalsError(f"negative {index} index not allowed")
    if index > MAX_INDEX:
        raise StrvalsError(f"index of {index} is greater than maximum supported index of {MAX_INDEX}")
    if len(items) <= index:
        items.extend([None] * (index + 1 - len(items)))
    items[index] = value
    return items
