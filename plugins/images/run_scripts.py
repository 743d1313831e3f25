"""Run scripts: shell words as templates, and the outputs and variables a script writes.

``$(git rev-parse --short HEAD)``, ``${GITHUB_SHA::7}``, ``$GITHUB_REF_NAME`` and shell variables
assigned earlier in the script; ``echo name=value >> $GITHUB_OUTPUT`` (or ``$GITHUB_ENV``) and the
legacy ``::set-output``.
"""
from __future__ import annotations

import re
from typing import Callable

from releasegate.images.expressions import EXPRESSION, Scope, env_value, render_text, unquote
from releasegate.images.templates import ANY, REF, SHA, SHORT, TEXT, Part, Template

_SHELL_FORMS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], Part | None]]] = [
    (re.compile(r"\$\(\s*git\s+rev-parse\s+--short(?:=(\d+))?\s+HEAD\s*\)"),
     lambda m: Part(SHORT, length=int(m[1] or 7))),
    (re.compile(r"\$\(\s*git\s+rev-parse\s+HEAD\s*\)"), lambda m: Part(SHA)),
    (re.compile(r"\$\{GITHUB_SHA:(?:0)?:(\d+)\}"), lambda m: Part(SHORT, length=int(m[1]))),
    (re.compile(r"\$\(\s*echo\s+\"?\$\{?GITHUB_SHA\}?\"?\s*\|\s*cut\s+-c\s*1-(\d+)\s*\)"),
     lambda m: Part(SHORT, length=int(m[1]))),
    (re.compile(r"\$\(\s*echo\s+\"?\$\{?GITHUB_SHA\}?\"?\s*\|\s*head\s+-c\s*(\d+)\s*\)"),
     lambda m: Part(SHORT, length=int(m[1]))),
    (re.compile(r"\$\{?GITHUB_SHA\}?"), lambda m: Part(SHA)),
    (re.compile(r"\$\{?GITHUB_REF_NAME\}?|\$\{GITHUB_REF#refs/\*/\}|\$\{GITHUB_REF##\*/\}"),
     lambda m: Part(REF)),
    (re.compile(r"\$\(.*?\)"), lambda m: Part(ANY, m[0])),
    (re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?"), lambda m: None),   # a variable: look it up
]
_OUTPUT_LINE = re.compile(
    r"""echo\s+["']?([A-Za-z_][\w-]*)=(.*?)["']?\s*>>\s*["']?\$\{?GITHUB_(OUTPUT|ENV)\}?["']?""")
_SET_OUTPUT = re.compile(r"""::set-output\s+name=([\w-]+)::(.*?)["']?\s*$""")
_ASSIGNMENT = re.compile(r"""^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$""")


def shell_value(text: str, scope: Scope) -> Template:
    """A shell word as a template: ``$(git rev-parse --short HEAD)``, ``${GITHUB_SHA::7}``..."""
    text = unquote(text)
    base = render_text(text, scope)
    result = Template(())
    for part in base.parts:
        if part.kind != TEXT:
            result = result + Template((part,))
            continue
        result = result + _shell_text(part.text, scope)
    return result


def _shell_text(text: str, scope: Scope) -> Template:
    result, position = Template(()), 0
    while position < len(text):
        best: tuple[int, re.Match[str], Callable[[re.Match[str]], Part | None]] | None = None
        for pattern, make in _SHELL_FORMS:
            match = pattern.search(text, position)
            if match and (best is None or match.start() < best[0]):
                best = (match.start(), match, make)
        if best is None:
            break
        start, match, make = best
        result = result + Template.text(text[position:start])
        part = make(match)
        if part is None:
            name = match[1]
            known = scope.shell.get(name)
            if known is None and name in scope.env:
                known = env_value(scope.env[name], scope)
            result = result + (known if known is not None else Template((Part(ANY, match[0]),)))
        else:
            result = result + Template((part,))
        position = match.end()
    return result + Template.text(text[position:])


def run_lines(script: str) -> list[str]:
    """Logical lines of a run script; ``${{ }}`` squeezed so a shell word stays one word."""
    script = EXPRESSION.sub(lambda m: "${{" + re.sub(r"\s+", "", m[1]) + "}}", script)
    return script.replace("\\\n", " ").splitlines()


def read_run(script: str, scope: Scope) -> tuple[dict[str, Template], dict[str, Template]]:
    """Outputs and GITHUB_ENV variables a run script writes, as templates."""
    outputs: dict[str, Template] = {}
    env: dict[str, Template] = {}
    for line in run_lines(script):
        assignment = _ASSIGNMENT.match(line)
        if assignment and "GITHUB_" not in assignment[1]:
            scope.shell[assignment[1]] = shell_value(assignment[2], scope)
        for match in _OUTPUT_LINE.finditer(line):
            value = shell_value(match[2], scope)
            (outputs if match[3] == "OUTPUT" else env)[match[1]] = value
        legacy = _SET_OUTPUT.search(line)
        if legacy:
            outputs[legacy[1]] = shell_value(legacy[2], scope)
    return outputs, env
