"""``${{ }}`` expressions resolved as far as the workflow file allows, into templates.

What an expression can see at one step (the Scope): the matrix combination, ``env``, the outputs of
earlier steps, the inputs of a reusable workflow. ``github.sha`` is a full SHA, ``github.ref_name``
a ref name; anything else unknown stays a hole naming the expression.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from plugins.images.templates import ANY, REF, SHA, Part, Template

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}", re.S)


@dataclass
class Scope:
    """What an expression can see at one step of one job, for one matrix combination."""

    matrix: dict[str, Any]
    env: dict[str, Any]
    outputs: dict[str, dict[str, Template]]       # step id -> output -> template
    shell: dict[str, Template] = field(default_factory=dict)
    metadata: dict[str, list[tuple[Template, Template, frozenset[str]]]] = field(
        default_factory=dict)
    inputs: dict[str, Template] = field(default_factory=dict)   # of a reusable workflow
    depth: int = 0


def unquote(text: str) -> str:
    """A shell word without its surrounding quotes (one pair, single or double)."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def evaluate(expression: str, scope: Scope) -> Template:
    """One ``${{ }}`` expression as a template (ANY when it cannot be known statically)."""
    expression = expression.strip()
    if "||" in expression:
        for alternative in expression.split("||"):
            value = evaluate(alternative, scope)
            if value.parts and not value.unresolved:
                return value
        return Template((Part(ANY, expression),))
    if expression[:1] in "'\"":
        return Template.text(unquote(expression))
    if expression in ("github.sha", "github.event.after"):
        return Template((Part(SHA),))
    if expression in ("github.ref_name", "github.event.release.tag_name"):
        return Template((Part(REF),))
    head, _, rest = expression.partition(".")
    if head == "matrix" and rest:
        value: Any = scope.matrix
        for key in rest.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None and not isinstance(value, (dict, list)):
            return render_text(str(value), scope)
    elif head == "env" and rest in scope.env:
        return env_value(scope.env[rest], scope)
    elif head == "inputs" and rest in scope.inputs:
        return scope.inputs[rest]
    elif head == "steps":
        step_id, _, output = rest.partition(".outputs.")
        found = scope.outputs.get(step_id, {}).get(output)
        if found is not None:
            return found
    return Template((Part(ANY, expression),))


def env_value(value: Any, scope: Scope) -> Template:
    """An env entry: a template written to GITHUB_ENV by a run step, or YAML text."""
    return value if isinstance(value, Template) else render_text(str(value), scope)


def render_text(text: str, scope: Scope) -> Template:
    """Text with ``${{ }}`` expressions in it, as a template."""
    if scope.depth > 8:
        return Template((Part(ANY, text),))
    inner = dataclasses.replace(scope, depth=scope.depth + 1)
    result, position = Template(()), 0
    for match in EXPRESSION.finditer(text):
        result = result + Template.text(text[position:match.start()]) + evaluate(match[1], inner)
        position = match.end()
    return result + Template.text(text[position:])
