"""Evaluating a parsed GitHub Actions expression (actions_expr.parse) with GitHub's coercions.

Every rule follows https://docs.github.com/en/actions/learn-github-actions/expressions (see
actions_expr's docstring for the list). A value the caller cannot know is UNKNOWN and stays
UNKNOWN through every operator and function that depends on it; an opaque caller value (a string
known only at run time) is passed through ``||``, ``&&``, ``format`` and ``join`` by the caller's
``Opaque`` hooks, and is UNKNOWN to comparisons.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Callable

from releasegate.images.actions_expr import UNKNOWN, Context, Node


@dataclass(frozen=True)
class Opaque:
    """How the caller's run-time strings behave: their truthiness (True, False or UNKNOWN) and how
    pieces join into one (``concat`` of a list of str and opaque values)."""

    kind: type
    truthy: Callable[[Any], Any]
    concat: Callable[[list[Any]], Any]
    as_text: Callable[[Any], str | None]  # its text when it has no run-time part, else None


def evaluate(node: Node, contexts: Callable[[str], Any], opaque: Opaque | None = None) -> Any:
    """The value of a parsed expression; ``contexts(name)`` gives a top-level context or UNKNOWN."""
    return _Evaluator(contexts, opaque).value(node)


def to_number(value: Any) -> float:
    """GitHub's coercion to a number: null 0, booleans 1/0, a string as a JSON number ('' 0), else NaN."""
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return 0.0
        try:
            if text.lower().startswith(("0x", "-0x", "+0x")):
                return float(int(text, 16))
            parsed = json.loads(text)
            return float(parsed) if isinstance(parsed, (int, float)) and not isinstance(parsed, bool) else math.nan
        except ValueError:
            return math.nan
    return math.nan


def to_string(value: Any) -> str:
    """GitHub's coercion to a string: null '', 'true'/'false', integral numbers without a point,
    arrays 'Array', objects 'Object'."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if isinstance(value, list):
        return "Array"
    if isinstance(value, (dict, Context)):
        return "Object"
    return str(value)


class _Evaluator:
    def __init__(self, contexts: Callable[[str], Any], opaque: Opaque | None) -> None:
        self.contexts, self.opaque = contexts, opaque

    def _plain(self, value: Any) -> Any:
        """An opaque value without run-time parts is its text."""
        if self.opaque is not None and isinstance(value, self.opaque.kind):
            text = self.opaque.as_text(value)
            return text if text is not None else value
        return value

    def _is_opaque(self, value: Any) -> bool:
        return self.opaque is not None and isinstance(value, self.opaque.kind)

    def truthy(self, value: Any) -> Any:
        value = self._plain(value)
        if value is UNKNOWN:
            return UNKNOWN
        if self._is_opaque(value):
            return self.opaque.truthy(value)
        if isinstance(value, float):
            return not (value == 0 or math.isnan(value))
        if isinstance(value, (list, dict, Context)):
            return True
        return bool(value)

    def value(self, node: Node) -> Any:
        kind = node.kind
        if kind == "literal":
            return node.value
        if kind == "name":
            return self.contexts(node.value.lower())
        if kind == "prop":
            return _property(self.value(node.args[0]), node.value)
        if kind == "index":
            key = self._plain(self.value(node.args[1]))
            if key is UNKNOWN or self._is_opaque(key):
                return UNKNOWN
            return _property(self.value(node.args[0]), key)
        if kind == "star":
            return _star(self.value(node.args[0]))
        if kind == "not":
            truth = self.truthy(self.value(node.args[0]))
            return UNKNOWN if truth is UNKNOWN else not truth
        if kind == "op":
            return self._op(node.value, node.args)
        return self._call(node.value, [self.value(a) for a in node.args])

    def _op(self, op: str, args: tuple[Node, ...]) -> Any:
        left = self.value(args[0])
        if op in ("&&", "||"):
            truth = self.truthy(left)
            if truth is UNKNOWN:
                return UNKNOWN
            return self.value(args[1]) if truth == (op == "&&") else left
        right = self.value(args[1])
        left, right = self._plain(left), self._plain(right)
        if UNKNOWN in (left, right) or self._is_opaque(left) or self._is_opaque(right):
            return UNKNOWN
        if op in ("==", "!="):
            return _equal(left, right) == (op == "==")
        return _compare(op, left, right)

    def _call(self, name: str, args: list[Any]) -> Any:
        status = {"success": True, "always": True, "failure": False, "cancelled": False}
        if name in status:
            return status[name]
        if name == "format" and args:
            return self._format(args)
        if name == "join" and args:
            return self._join(args)
        plain = [self._plain(a) for a in args]
        if any(a is UNKNOWN or self._is_opaque(a) or isinstance(a, Context) for a in plain):
            return UNKNOWN
        if name in ("contains", "startswith", "endswith") and len(plain) == 2:
            return _search(name, *plain)
        if name == "tojson" and len(plain) == 1:
            return json.dumps(_json_ready(plain[0]), indent=2)
        if name == "fromjson" and len(plain) == 1:
            try:
                return _from_json(json.loads(to_string(plain[0])))
            except ValueError:
                return UNKNOWN  # the workflow run would fail here: nothing to tell about its output
        return UNKNOWN  # hashFiles and anything else needs the run

    def _pieces(self, parts: list[Any]) -> Any:
        if any(p is UNKNOWN for p in parts):
            return UNKNOWN
        if not any(self._is_opaque(p) for p in parts):
            return "".join(parts)
        return self.opaque.concat(parts)

    def _format(self, args: list[Any]) -> Any:
        template = self._plain(args[0])
        if not isinstance(template, str):
            return UNKNOWN
        values = [self._plain(a) for a in args[1:]]
        pieces, text, i = [], "", 0
        while i < len(template):
            char = template[i]
            if char in "{}" and template[i:i + 2] in ("{{", "}}"):
                text, i = text + char, i + 2
                continue
            if char == "{":
                end = template.find("}", i)
                index = template[i + 1:end] if end > 0 else ""
                if not index.isdigit() or int(index) >= len(values):
                    return UNKNOWN  # GitHub fails the run on a bad format string
                value = values[int(index)]
                pieces += [text, value if value is UNKNOWN or self._is_opaque(value) else to_string(value)]
                text, i = "", end + 1
                continue
            text, i = text + char, i + 1
        return self._pieces(pieces + [text])

    def _join(self, args: list[Any]) -> Any:
        items, separator = self._plain(args[0]), self._plain(args[1]) if len(args) > 1 else ","
        if items is UNKNOWN or separator is UNKNOWN or self._is_opaque(separator):
            return UNKNOWN
        if not isinstance(items, list):
            return items if self._is_opaque(items) else to_string(items)
        pieces: list[Any] = []
        for n, item in enumerate(items):
            item = self._plain(item)
            pieces += ([to_string(separator)] if n else []) + [
                item if item is UNKNOWN or self._is_opaque(item) else to_string(item)]
        return self._pieces(pieces)


def _property(target: Any, key: Any) -> Any:
    if target is UNKNOWN:
        return UNKNOWN
    if isinstance(target, Context):
        return target.get(str(key).lower()) if isinstance(key, str) else None
    if isinstance(target, dict):
        if not isinstance(key, str):
            return None
        return next((v for k, v in target.items() if str(k).lower() == key.lower()), None)
    if isinstance(target, _Filtered):  # after .*: the property of each element that has it
        return _Filtered(v for v in (_property(t, key) for t in target) if v is not None)
    if isinstance(target, list):
        if isinstance(key, str) and key.strip() and not math.isnan(to_number(key)):
            key = to_number(key)
        if isinstance(key, float) and not math.isnan(key) and key.is_integer() and 0 <= key < len(target):
            return target[int(key)]
        return None
    return None if not hasattr(target, "parts") else UNKNOWN


class _Filtered(list):
    """The array an object filter (``.*``) makes: a property of it is each element's."""


def _star(target: Any) -> Any:
    if target is UNKNOWN or isinstance(target, Context):
        return UNKNOWN
    if isinstance(target, dict):
        return _Filtered(target.values())
    if isinstance(target, list):
        return _Filtered(target)
    return _Filtered()


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left.casefold() == right.casefold()
    if isinstance(left, (list, dict, Context)) or isinstance(right, (list, dict, Context)):
        return left is right
    if type(left) is type(right) and not isinstance(left, float):
        return left == right
    a, b = to_number(left), to_number(right)
    return not (math.isnan(a) or math.isnan(b)) and a == b


def _compare(op: str, left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        a: Any = left.casefold()
        b: Any = right.casefold()
    else:
        a, b = to_number(left), to_number(right)
        if math.isnan(a) or math.isnan(b):
            return False
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _search(name: str, haystack: Any, needle: Any) -> bool:
    if name == "contains" and isinstance(haystack, list):
        return any(_equal(item, needle) for item in haystack)
    text, part = to_string(haystack).casefold(), to_string(needle).casefold()
    return {"contains": part in text, "startswith": text.startswith(part), "endswith": text.endswith(part)}[name]


def _json_ready(value: Any) -> Any:
    """Expression values as JSON writes them: integral numbers without a point."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    return value


def _from_json(value: Any) -> Any:
    """JSON as expression values: numbers are floats."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return {str(k): _from_json(v) for k, v in value.items()}
