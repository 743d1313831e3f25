"""GitHub Actions expressions (the text inside ``${{ }}``): a parser and an evaluator that keeps
what cannot be known statically as UNKNOWN, never a guess.

Rules from https://docs.github.com/en/actions/learn-github-actions/expressions (cited per rule):
- Literals: ``null``, ``true``/``false``, numbers in any JSON format plus hex (``0xff``) and
  exponents, strings in single quotes with ``''`` for a quote (section "Literals").
- Operators, by precedence high to low (section "Operators"): ``( )``, ``[ ]``, ``.``, ``!``,
  ``< <= > >=``, ``== !=``, ``&&``, ``||``. ``&&``/``||`` return an operand, not a boolean
  (``cond && 'a' || 'b'``). Falsy: ``false``, ``0``, ``-0``, ``""``, ``null``, ``NaN``.
- Loose equality: values of different types are coerced to numbers (null 0, true 1, false 0,
  a string parsed as a JSON number, '' 0, otherwise NaN, arrays and objects NaN); NaN equals
  nothing; strings compare ignoring case; arrays and objects equal only themselves.
- Property names ignore case; a missing property is ``null``; ``.*`` filters an array or object.
- Functions (section "Functions"): ``contains``, ``startsWith``, ``endsWith`` (ignore case),
  ``format`` (``{N}``, ``{{``/``}}`` escapes), ``join`` (default separator ``,``), ``toJSON``,
  ``fromJSON``, status checks ``success``/``always``/``failure``/``cancelled``; ``hashFiles`` and
  anything else is UNKNOWN. Status checks are evaluated for the path a build takes: every earlier
  step succeeded and nothing was cancelled.

Values are None, bool, float, str, list, dict, a ``Context`` (a context whose properties are
computed on demand, UNKNOWN when it cannot tell), UNKNOWN, or an opaque value of the caller (a
string known only at run time, e.g. a commit SHA) whose truthiness the caller's ``truthy`` says.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable


class ExpressionError(ValueError):
    """Text that is no GitHub Actions expression."""


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


class Context:
    """A context whose properties are looked up on demand (``get`` returns UNKNOWN when unknown)."""

    def __init__(self, get: Callable[[str], Any]) -> None:
        self.get = get


_TOKEN = re.compile(r"""\s*(?:
    (?P<number>[-+]?(?:0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?))
  | (?P<string>'(?:[^']|'')*')
  | (?P<op>&&|\|\||==|!=|<=|>=|[<>!()\[\].,*])
  | (?P<name>[A-Za-z_][A-Za-z0-9_-]*)
)""", re.X)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, position = [], 0
    while position < len(text):
        if not text[position:].strip():
            break
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ExpressionError(f"unexpected {text[position:].strip()[:20]!r} in {text!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        position = match.end()
    return out


@dataclass(frozen=True)
class Node:
    """One node of a parsed expression."""

    kind: str  # literal | name | prop | index | not | op | call | star
    value: Any = None
    args: tuple[Node, ...] = ()


_BINARY = [("||",), ("&&",), ("==", "!="), ("<", "<=", ">", ">=")]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text, self.tokens, self.at = text, _tokens(text), 0

    def peek(self) -> str | None:
        return self.tokens[self.at][1] if self.at < len(self.tokens) and self.tokens[self.at][0] == "op" else None

    def take(self, op: str) -> None:
        if self.peek() != op:
            raise ExpressionError(f"expected {op!r} in {self.text!r}")
        self.at += 1

    def binary(self, level: int = 0) -> Node:
        if level == len(_BINARY):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek() in _BINARY[level]:
            op = self.peek()
            self.at += 1
            left = Node("op", op, (left, self.binary(level + 1)))
        return left

    def unary(self) -> Node:
        if self.peek() == "!":
            self.at += 1
            return Node("not", None, (self.unary(),))
        return self.postfix(self.primary())

    def postfix(self, node: Node) -> Node:
        while self.peek() in (".", "["):
            if self.peek() == ".":
                self.at += 1
                if self.peek() == "*":
                    self.at += 1
                    node = Node("star", None, (node,))
                    continue
                kind, value = self.tokens[self.at] if self.at < len(self.tokens) else ("", "")
                if kind != "name":
                    raise ExpressionError(f"expected a property name in {self.text!r}")
                self.at += 1
                node = Node("prop", value, (node,))
            else:
                self.at += 1
                index = Node("star") if self.peek() == "*" else None
                if index is not None:
                    self.at += 1
                    self.take("]")
                    node = Node("star", None, (node,))
                    continue
                inner = self.binary()
                self.take("]")
                node = Node("index", None, (node, inner))
        return node

    def primary(self) -> Node:
        if self.at >= len(self.tokens):
            raise ExpressionError(f"unexpected end of {self.text!r}")
        kind, value = self.tokens[self.at]
        self.at += 1
        if kind == "number":
            return Node("literal", _number(value))
        if kind == "string":
            return Node("literal", value[1:-1].replace("''", "'"))
        if kind == "op" and value == "(":
            inner = self.binary()
            self.take(")")
            return inner
        if kind == "name":
            literal = {"true": True, "false": False, "null": None, "NaN": math.nan, "Infinity": math.inf}
            if value in literal:
                return Node("literal", literal[value])
            if self.peek() == "(":
                self.at += 1
                args: list[Node] = []
                while self.peek() != ")":
                    args.append(self.binary())
                    if self.peek() == ",":
                        self.at += 1
                    elif self.peek() != ")":
                        raise ExpressionError(f"expected ',' or ')' in {self.text!r}")
                self.take(")")
                return Node("call", value.lower(), tuple(args))
            return Node("name", value)
        raise ExpressionError(f"unexpected {value!r} in {self.text!r}")


def parse(text: str) -> Node:
    """The syntax tree of one expression; ExpressionError for text that is none."""
    parser = _Parser(text)
    node = parser.binary()
    if parser.at != len(parser.tokens):
        raise ExpressionError(f"unexpected {parser.tokens[parser.at][1]!r} in {text!r}")
    return node


def _number(text: str) -> float:
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    return sign * (float(int(body, 16)) if body.lower().startswith("0x") else float(body))
