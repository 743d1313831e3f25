"""The environments file parsed by libyaml (PyYAML's C parser), with ruamel's YAML 1.2 meaning.

ruamel's round-trip parser is pure Python (~1.5 s for a 300-environment file); libyaml reads the
same text about ten times faster. Only the values and line marks of files that parse cleanly come
from here: plain scalars are resolved with ruamel's YAML 1.2 rules and every non-string scalar is
built by ruamel's own constructor, so the values are ruamel's. Anything this reader does not
mirror exactly (a ``%YAML`` directive, any ``!`` (tags: ruamel keeps ``!!str 1`` as a tagged
scalar), merge keys, duplicate keys, complex keys, an error of
any kind) makes it decline, and the caller parses with ruamel, whose messages name the line.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml import nodes as ruamel_nodes
from ruamel.yaml.resolver import implicit_resolvers

from releasegate.core import yaml_bounds

try:  # PyYAML comes with the kubernetes client; without libyaml every file takes ruamel's path
    import yaml as _pyyaml
    from yaml.cyaml import CParser as _CParser
except ImportError:  # pragma: no cover - PyYAML is a dependency of a requirement
    _pyyaml, _CParser = None, None

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_SCALARS = {f"tag:yaml.org,2002:{name}" for name in ("bool", "int", "float", "null", "timestamp")}


class _Decline(Exception):
    """The text uses something this reader does not mirror: ruamel must parse it."""


class Lines:
    """ruamel's ``.lc`` for a mapping or sequence: zero-based (line, column) of keys, values, items."""

    __slots__ = ("_keys", "_values", "_items")

    def __init__(self) -> None:
        self._keys: dict[Any, tuple[int, int]] = {}
        self._values: dict[Any, tuple[int, int]] = {}
        self._items: list[tuple[int, int]] = []

    def key(self, name: Any) -> tuple[int, int]:
        """Where a mapping key starts."""
        return self._keys[name]

    def value(self, name: Any) -> tuple[int, int]:
        """Where a mapping value starts."""
        return self._values[name]

    def item(self, index: int) -> tuple[int, int]:
        """Where a sequence item starts."""
        return self._items[index]


class LineDict(dict):
    """A mapping with its line marks."""

    lc: Lines


class LineList(list):
    """A sequence with its line marks."""

    lc: Lines


def _mark(node: Any) -> tuple[int, int]:
    return node.start_mark.line, node.start_mark.column


class _Builder:
    """Values from libyaml's node tree, built the way ruamel's round-trip constructor builds them."""

    def __init__(self, constructor: type) -> None:
        rt = YAML(typ="rt")
        rt.Constructor = constructor
        self._rt = rt.constructor
        self.aliases: dict[int, Any] = {}

    def build(self, node: Any) -> Any:
        if id(node) in self.aliases:  # an alias: the same object, as ruamel gives
            return self.aliases[id(node)]
        if isinstance(node, _pyyaml.ScalarNode):
            return self._scalar(node)
        if isinstance(node, _pyyaml.SequenceNode):
            if node.tag != _SEQ:
                raise _Decline(node.tag)
            seq = self.aliases[id(node)] = LineList()
            seq.lc = Lines()
            for child in node.value:
                seq.append(self.build(child))
                seq.lc._items.append(_mark(child))
            return seq
        if node.tag != _MAP:
            raise _Decline(node.tag)
        mapping = self.aliases[id(node)] = LineDict()
        mapping.lc = Lines()
        for key_node, value_node in node.value:
            if not isinstance(key_node, _pyyaml.ScalarNode) or key_node.tag == _MERGE:
                raise _Decline("complex or merge key")
            key = self.build(key_node)
            if key in mapping:
                raise _Decline("duplicate key")
            mapping[key] = self.build(value_node)
            mapping.lc._keys[key] = _mark(key_node)
            mapping.lc._values[key] = _mark(value_node)
        return mapping

    def _scalar(self, node: Any) -> Any:
        if node.tag == _STR:
            return node.value
        if node.tag not in _SCALARS:
            raise _Decline(node.tag)
        return self._rt.construct_object(ruamel_nodes.ScalarNode(node.tag, node.value), deep=True)


def _loader_class() -> Any:
    """libyaml's parser with YAML 1.2's implicit tags, as ruamel resolves plain scalars."""
    class Resolver(_pyyaml.resolver.BaseResolver):
        """ruamel's YAML 1.2 implicit resolvers."""

    Resolver.yaml_implicit_resolvers = {}
    for versions, tag, pattern, first in implicit_resolvers:
        if (1, 2) in versions:
            Resolver.add_implicit_resolver(tag, pattern, first)

    class Loader(_CParser, Resolver):  # type: ignore[misc, valid-type]
        """Composes nodes only: the values are built by _Builder."""

        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            Resolver.__init__(self)

    return Loader


_LOADER = _loader_class() if _CParser is not None else None


def parse(text: str, constructor: type, most: int = yaml_bounds.MAX_NODES) -> Any:
    """The file's top-level mapping with line marks, or None when ruamel must parse the text;
    constructor is the ruamel round-trip constructor class the caller parses with. Raise
    yaml_bounds.AliasBomb when aliases expand past `most` values or refer to themselves."""
    if _LOADER is None or "%YAML" in text or "!" in text:
        return None
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if yaml_bounds.may_alias(text):
            yaml_bounds.check(node, most)
        raw = _Builder(constructor).build(node)
    except yaml_bounds.AliasBomb:
        raise
    except Exception:  # noqa: BLE001 - any doubt: ruamel parses and names the problem
        return None
    finally:
        loader.dispose()
    return raw if isinstance(raw, dict) else None


def parse_all(text: str, constructor: type) -> list[Any] | None:
    """Every document of a YAML stream with line marks (None for an empty one), or None when
    ruamel must parse the text; yaml_bounds.AliasBomb for an alias bomb or a recursive alias."""
    if _LOADER is None or "%YAML" in text or "!" in text:
        return None
    loader = _LOADER(text)
    try:
        builder = _Builder(constructor)
        documents = []
        while loader.check_node():
            builder.aliases = {}  # by node id: a document's nodes live only while it is built
            node = loader.get_node()
            if yaml_bounds.may_alias(text):
                yaml_bounds.check(node)
            documents.append(builder.build(node))
    except yaml_bounds.AliasBomb:
        raise
    except Exception:  # noqa: BLE001 - any doubt: ruamel parses it
        return None
    finally:
        loader.dispose()
    return documents


__all__ = ["LineDict", "LineList", "Lines", "parse", "parse_all"]
