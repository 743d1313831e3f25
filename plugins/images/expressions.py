"""``${{ }}`` expressions resolved as far as the workflow file allows, into templates.

What an expression can see at one step (the Scope): the matrix combination, ``env``, the outputs of
earlier steps, the inputs of a reusable workflow. ``github.sha`` is a full SHA, ``github.ref_name``
a ref name; anything else unknown stays a hole naming the expression. Expressions are parsed and
evaluated by GitHub's rules (actions_expr, actions_eval: operators, ``&&``/``||`` as values,
functions), so ``cond && 'a' || 'b'`` is 'a' or 'b' as GitHub makes it, or unknown.
"""
from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass, field
from typing import Any

from releasegate.images import actions_eval, actions_expr
from releasegate.images.actions_expr import UNKNOWN
from releasegate.images.matrix import RunTimeMatrix
from releasegate.images.templates import ANY, REF, SHA, SHORT, TEXT, VERSION, Part, Template

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
    inputs: dict[str, Any] = field(default_factory=dict)   # of a reusable workflow (Template, bool, float)
    depth: int = 0


def unquote(text: str) -> str:
    """A shell word without its surrounding quotes (one pair, single or double)."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def evaluate(expression: str, scope: Scope) -> Template:
    """One ``${{ }}`` expression as a template (an ANY hole naming it when it cannot be known
    statically), parsed and evaluated by GitHub's rules (actions_expr, actions_eval)."""
    expression = expression.strip()
    try:
        tree = actions_expr.parse(expression)
    except actions_expr.ExpressionError:
        return Template((Part(ANY, expression),))
    value = actions_eval.evaluate(tree, functools.partial(_context, scope), _OPAQUE)
    if value is UNKNOWN or isinstance(value, actions_expr.Context):
        return Template((Part(ANY, expression),))
    return value if isinstance(value, Template) else Template.text(actions_eval.to_string(value))


def _truthy(template: Template) -> Any:
    """A run-time string is truthy when some part of it is sure not to be empty."""
    if any(p.kind in (SHA, SHORT, REF, VERSION) or (p.kind == TEXT and p.text) for p in template.parts):
        return True
    return UNKNOWN if template.parts else False


def _concat(pieces: list[Any]) -> Template:
    result = Template(())
    for piece in pieces:
        result = result + (piece if isinstance(piece, Template) else Template.text(str(piece)))
    return result


_OPAQUE = actions_eval.Opaque(Template, _truthy, _concat, lambda t: t.literal)


def _known(getter: Any) -> actions_expr.Context:
    return actions_expr.Context(getter)


def _context(scope: Scope, name: str) -> Any:
    """The top-level contexts a build step's expressions read; UNKNOWN for what only the run knows."""
    if isinstance(scope.matrix, RunTimeMatrix):
        return UNKNOWN if name == "matrix" else _context_of(scope, name)
    return _context_of(scope, name)


def _context_of(scope: Scope, name: str) -> Any:
    if name == "matrix":  # the whole combination is known: a key it lacks is null, as on GitHub
        return {k: _matrix_value(v, scope) for k, v in scope.matrix.items()}
    if name == "env":
        return _known(lambda key: next((env_value(v, scope) for k, v in scope.env.items() if k.lower() == key),
                                       UNKNOWN))
    if name == "inputs":
        return _known(lambda key: next((v for k, v in scope.inputs.items() if k.lower() == key), UNKNOWN))
    if name == "steps":
        return _known(lambda step: _known(lambda part: _known(
            lambda key: next((v for k, v in scope.outputs.get(step, {}).items() if k.lower() == key), UNKNOWN))
            if part == "outputs" else UNKNOWN))
    if name == "github":
        return _known(lambda key: _GITHUB.get(key, UNKNOWN))
    return UNKNOWN


def _matrix_value(value: Any, scope: Scope) -> Any:
    if isinstance(value, str) and "${{" in value:
        return render_text(value, scope)
    if isinstance(value, bool) or value is None or isinstance(value, (str, list, dict)):
        return value
    return float(value) if isinstance(value, (int, float)) else str(value)


_EVENT = actions_expr.Context(lambda key: {"after": Template((Part(SHA),)),
                                           "release": actions_expr.Context(
                                               lambda k: Template((Part(REF),)) if k == "tag_name" else UNKNOWN)
                                           }.get(key, UNKNOWN))
_GITHUB = {"sha": Template((Part(SHA),)), "ref_name": Template((Part(REF),)), "event": _EVENT}


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
