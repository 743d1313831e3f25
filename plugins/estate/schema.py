"""The environments file's JSON Schema and the key reference of docs/environments.md, both
generated from the models, so that editors, the reference and the loader agree (one source of
truth).

``python -m releasegate.estate.schema`` rewrites the shipped schema; ``--markdown`` prints the
reference table docs/environments.md carries. tests/test_environments_schema.py keeps both in step.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import typing
from pathlib import Path
from typing import Any, Iterator

from pydantic import TypeAdapter
from pydantic_core import PydanticUndefined

from releasegate.estate.models import Estate, unwrap

SCHEMA_PATH = Path(__file__).with_name("environments.schema.json")
SCHEMA_ID = "https://releasegate.invalid/environments.schema.json"


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of an environments file."""
    schema = TypeAdapter(Estate).json_schema(mode="validation")

    def tidy(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: " ".join(v.split()) if k == "description" and isinstance(v, str) else tidy(v)
                    for k, v in node.items() if k != "title"}
        if isinstance(node, list):
            return [tidy(v) for v in node]
        return node

    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            "title": "releasegate environments file", **tidy(schema)}


def schema_text() -> str:
    """The shipped file's exact text."""
    return json.dumps(json_schema(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def _default(info: Any) -> str:
    if info.default_factory is not None:
        value = info.default_factory()
        return "`{}`" if isinstance(value, dict) else "`[]`" if isinstance(value, tuple) else ""
    value = info.default
    if value is PydanticUndefined or value is None:
        return ""
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`" if not isinstance(value, tuple) else "`[]`"


_PLACEHOLDER = {"environments": "<env>", "subdomains": "<subdomain>"}


def _bounds(info: Any) -> str:
    found = {name: getattr(m, name) for m in info.metadata for name in ("gt", "ge", "le")
             if getattr(m, name, None) is not None}
    parts = [f"{op} {found[name]:g}" for name, op in (("gt", ">"), ("ge", ">="), ("le", "<="))
             if name in found]
    return f" (a number {' and '.join(parts)})" if parts else ""


def _rows(model: Any, prefix: str) -> Iterator[tuple[str, str, str, str]]:
    hints = typing.get_type_hints(model, include_extras=True)
    for f in dataclasses.fields(model):
        if not f.init:
            continue
        info = model.__pydantic_fields__[f.name]
        key = f"{prefix}{f.name}"
        required = info.default is PydanticUndefined and info.default_factory is None
        meaning = " ".join((info.description or "").split()) + _bounds(info)
        yield key, "yes" if required else "", _default(info), meaning
        inner, suffix = unwrap(hints[f.name]), ""
        while typing.get_origin(inner) in (dict, tuple):
            is_dict = typing.get_origin(inner) is dict
            suffix += f".{_PLACEHOLDER.get(f.name, '<name>')}" if is_dict else "[]"
            inner = unwrap(typing.get_args(inner)[-1 if is_dict else 0])
        if dataclasses.is_dataclass(inner):
            yield from _rows(inner, f"{key}{suffix}.")


def markdown() -> str:
    """The table of docs/environments.md: every key, whether it is required, its default, what it names."""
    lines = ["| key | required | default | meaning |", "| --- | --- | --- | --- |"]
    lines += [f"| `{key}` | {required} | {default} | {meaning} |"
              for key, required, default, meaning in _rows(Estate, "")]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """Write the shipped schema, or print the reference table (docs/environments.md) with --markdown."""
    if "--markdown" in argv:
        sys.stdout.write(markdown())
    else:
        SCHEMA_PATH.write_text(schema_text())
        print(f"wrote {SCHEMA_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
