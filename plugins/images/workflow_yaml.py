"""A workflow file's YAML: loading it, the error that names the file, and loose values made plain."""
from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.error import YAMLError

from releasegate.core import yaml_bounds
from releasegate.estate import fast_yaml


class WorkflowError(ValueError):
    """A workflow file that cannot be read; str names the file and the problem."""


def load_yaml(text: str, path: str) -> Any:
    """The YAML document in ``text``; WorkflowError naming ``path`` (and the line) if invalid.

    A mapping libyaml reads cleanly is built from libyaml's nodes with ruamel's YAML 1.2 meaning and
    safe constructor (releasegate.estate.fast_yaml, ~10x faster); anything else is read by ruamel."""
    yaml = YAML(typ="safe", pure=True)
    try:
        fast = fast_yaml.parse(text, SafeConstructor)
        if fast is not None:
            return _plain(fast, {})
        if yaml_bounds.may_alias(text):  # aliases: bounded on the nodes, before anything is built
            yaml_bounds.check(yaml.compose(text))
        return yaml.load(text)
    except yaml_bounds.AliasBomb as exc:
        raise WorkflowError(f"{path}:{exc.line}: {exc.problem}") from None
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else path
        raise WorkflowError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None


def _plain(value: Any, seen: dict[int, Any]) -> Any:
    """fast_yaml's marked mappings and sequences as the plain ones ruamel's safe loader gives
    (an alias stays one shared object)."""
    if not isinstance(value, (dict, list)):
        return value
    if id(value) in seen:
        return seen[id(value)]
    if isinstance(value, dict):
        plain: dict[Any, Any] = {}
        seen[id(value)] = plain
        for key, item in value.items():
            plain[key] = _plain(item, seen)
        return plain
    items: list[Any] = []
    seen[id(value)] = items
    items.extend(_plain(item, seen) for item in value)
    return items


def mapping(value: Any) -> dict[str, Any]:
    """A YAML mapping with string keys; anything else (absent, a list, a scalar) as {}."""
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}
