"""A workflow file's YAML: loading it, the error that names the file, and loose values made plain."""
from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError


class WorkflowError(ValueError):
    """A workflow file that cannot be read; str names the file and the problem."""


def load_yaml(text: str, path: str) -> Any:
    """The YAML document in ``text``; WorkflowError naming ``path`` (and the line) if invalid."""
    yaml = YAML(typ="safe", pure=True)
    try:
        return yaml.load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else path
        raise WorkflowError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None


def mapping(value: Any) -> dict[str, Any]:
    """A YAML mapping with string keys; anything else (absent, a list, a scalar) as {}."""
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}
