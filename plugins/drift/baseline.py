"""--drift-baseline read and checked before any check runs: a previous drift.json, valid against
the drift report's own JSON Schema (drift_schema.json), nested no deeper than a report can be."""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from releasegate.core.neutral import controls, no_commands
from releasegate.drift import document

MAX_DEPTH = 32  # a drift.json nests 6 deep (run.refs.<source>.commit); details add a few more


@cache
def _validator() -> Any:
    import jsonschema

    schema = json.loads((Path(__file__).with_name("drift_schema.json")).read_text("utf-8"))
    return jsonschema.Draft202012Validator(schema)


def depth(value: Any) -> int:
    """How deep a JSON value nests (a scalar is 0), measured without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = (item.values() if isinstance(item, dict)
                    else item if isinstance(item, list) else None)
        if children is None:
            continue
        deepest = max(deepest, level)
        if level <= MAX_DEPTH:
            stack.extend((child, level + 1) for child in children)
    return deepest


def _short(text: str, width: int = 160) -> str:
    text = no_commands(controls(text).replace("\n", " "))  # stderr is read by the runner too
    return text if len(text) <= width else text[: width - 1] + "…"


def load_baseline(path: Path) -> dict:
    """Read a previous drift.json and check it against the report's schema; any problem is a
    one-line UsageError naming the file and the JSON path of the bad value (exit 4)."""
    flag = "--drift-baseline"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise pytest.UsageError(f"{flag}: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise pytest.UsageError(f"{flag}: {path} is not JSON ({exc})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise pytest.UsageError(f"{flag}: {path} is not JSON ({exc})") from None
    except RecursionError:
        raise pytest.UsageError(f"{flag}: {path} nests deeper than {MAX_DEPTH} levels: "
                                "not a drift report") from None
    if depth(doc) > MAX_DEPTH:
        raise pytest.UsageError(f"{flag}: {path} nests deeper than {MAX_DEPTH} levels: "
                                "not a drift report")
    import jsonschema

    error = jsonschema.exceptions.best_match(_validator().iter_errors(doc))
    if error is not None:
        raise pytest.UsageError(f"{flag}: {path}: {error.json_path}: {_short(error.message)} "
                                "(not a drift report this version wrote)")
    try:
        return document.check_baseline(doc, str(path))
    except document.BaselineError as exc:
        raise pytest.UsageError(f"{flag}: {exc}") from None
