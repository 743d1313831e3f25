"""Helm's --set syntax (plugins/render/strvals.py), rule by rule from helm/helm pkg/strvals/parser.go.

Where a fresh parse is enough, Helm's own parser (helm-python-sdk's parse_set_string and
parse_set_string_values call pkg/strvals.Parse / ParseString) is the oracle; ParseInto's behaviour
on values merged so far is cited from parser.go (key, listItem, setIndex).
"""

from __future__ import annotations

import copy
from typing import Any

import helm_python
import pytest

from releasegate.render.strvals import StrvalsError, parse_into, typed_value

FRESH = [
    "a=b",
    "a.b.c=d",
    "a=1,b=true,c=FALSE,d=null,e=0,f=007,g=1.5,h=-3,i=+4",
    "list={x,y,z}",
    "list={1,true}",
    r"name=one\,two",
    r"name=a\=b",
    r"dots=x\.y",
    "a[0]=x",
    "a[2]=x",
    "a[0].b=c,a[0].d=e",
    "a[0][1]=x",
    "a=",
    "a.b=,c=d",
    "a={}",
    "big=9223372036854775808",
    "url=https://example.com/x?y=z",
    "a.b[1].c=d",
]


@pytest.mark.parametrize("expression", FRESH)
def test_set_matches_helms_own_parser(expression: str) -> None:
    """parser.go Parse (typedVal for --set): our port gives what Helm's engine gives."""
    ours: dict[str, Any] = {}
    parse_into(expression, ours)
    assert ours == helm_python.parse_set_string(expression)


@pytest.mark.parametrize("expression", ["a=1,b=true,c=null,d=0", "list={1,false}", "a[0]=7"])
def test_set_string_matches_helms_own_parser(expression: str) -> None:
    """parser.go ParseString (newParser with stringBool): --set-string keeps every value text."""
    ours: dict[str, Any] = {}
    parse_into(expression, ours, as_string=True)
    assert ours == helm_python.parse_set_string_values(expression)


@pytest.mark.parametrize("text,expected", [
    ("true", True), ("True", True), ("false", False), ("null", None), ("NULL", None),
    ("0", 0), ("10", 10), ("010", "010"), ("1e3", "1e3"), ("", ""), ("yes", "yes"),
])
def test_typed_value(text: str, expected: Any) -> None:
    """parser.go typedVal: bools and null any case, int64 unless a leading zero, else the text."""
    assert typed_value(text, False) == expected and type(typed_value(text, False)) is type(expected)
    assert typed_value(text, True) == text


BASE = {"ingress": {"enabled": False, "hosts": [{"host": "a", "paths": ["/"]}, {"host": "b"}]},
        "image": {"repository": "r", "tag": "1"}, "tags": ["x", "y"]}


@pytest.mark.parametrize("expression,path,expected", [
    ("ingress.hosts[0].host=z", ("ingress", "hosts", 0), {"host": "z", "paths": ["/"]}),
    ("ingress.hosts[1].host=z", ("ingress", "hosts", 1), {"host": "z"}),
    ("ingress.enabled=true", ("ingress",), {"enabled": True, "hosts": BASE["ingress"]["hosts"]}),
    ("image.tag=2", ("image",), {"repository": "r", "tag": 2}),
    ("tags[1]=q", ("tags",), ["x", "q"]),
    ("tags={q}", ("tags",), ["q"]),
    ("image=null", ("image",), None),
])
def test_parse_into_keeps_what_was_merged(expression: str, path: tuple[Any, ...],
                                          expected: Any) -> None:
    """parser.go key/listItem: an existing map or list element is updated in place (ParseInto),
    a {list} replaces the list, and null stores nil (the chart's coalesce then drops the key)."""
    values = copy.deepcopy(BASE)
    parse_into(expression, values)
    node: Any = values
    for step in path:
        node = node[step]
    assert node == expected


def test_set_file_reader_gets_the_path() -> None:
    """parser.go newFileParser/ParseIntoFile: the value is the reader's result for the path text."""
    values: dict[str, Any] = {"a": {"b": 1}}
    parse_into(r"a.conf=files/x\,y.conf", values, reader=lambda path: f"<{path}>")
    assert values == {"a": {"b": 1, "conf": "<files/x,y.conf>"}}


@pytest.mark.parametrize("expression,message", [
    ("a", "key 'a' has no value"),
    ("a,b=c", "cannot end with ,"),
    ("a[-1]=x", "negative -1 index not allowed"),
    ("a[70000]=x", "greater than maximum supported index"),
    ("a[x]=1", "error parsing index"),
    ("a={b,c", "list must terminate with '}'"),
    ("image[0]=x", "not a list"),
])
def test_malformed_expressions_fail_like_helm(expression: str, message: str) -> None:
    """parser.go key/keyIndex/setIndex/valList errors (the same cases make Helm's CLI fail)."""
    values = copy.deepcopy(BASE)
    with pytest.raises(StrvalsError, match=message.replace("[", r"\[")):
        parse_into(expression, values)
