"""Which settings classes the containers that call a settings entry's boot function build, read
statically from the settings file at the commit under check: what the import itself builds
(module-level code), what the boot function builds, directly or through functions of the same
file it calls, and the classes nested as fields (or default factories) of those classes.

A migration job or a monitoring section the boot function never builds is then not required in
the containers that only boot the application (settings[].classes, when given, still wins).
"""
from __future__ import annotations

import ast
import functools
from typing import Iterable

from releasegate.estate import SettingsEntry

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def inferred(entry: SettingsEntry, source: str, names: Iterable[str]) -> frozenset[str] | None:
    """The settings classes (of `names`, the file's) that the entry's boot function builds, with the
    boot function's own name; None when the entry has no boot function, the file does not define
    it, or it visibly builds none of them (then every class is required, as before)."""
    if not entry.boot:
        return None
    found = reached(source, entry.boot) & frozenset(names)
    return found | {entry.boot} if found else None


@functools.lru_cache(maxsize=256)
def reached(source: str, boot: str) -> frozenset[str]:
    """Every class of the file that the import and a call of `boot` construct, as far as the file
    shows it: empty when the file does not parse or defines no function `boot`."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return frozenset()
    functions = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    if boot not in functions:
        return frozenset()
    found: set[str] = set()
    done: set[str] = set()
    todo: list[list[ast.stmt]] = [[s for s in tree.body if not isinstance(s, _DEFS)], functions[boot].body]
    while todo:
        for node in (n for stmt in todo.pop() for n in ast.walk(stmt)):
            name = _named(node)
            if name in classes:
                found.add(name)
            elif name in functions and name not in done:  # called, or handed on (a cache, a Depends)
                done.add(name)
                todo.append(functions[name].body)
    return frozenset(_with_nested(found, classes))


def _named(node: ast.AST) -> str | None:
    """The name a node reads (`Settings` in `Settings()` and in `Settings.model_validate(...)`)."""
    return node.id if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) else None


def _with_nested(found: set[str], classes: dict[str, ast.ClassDef]) -> set[str]:
    """The classes and every class their fields (theirs or their bases') hold or default to."""
    out = set(found)
    todo = list(found)
    while todo:
        for name in _field_classes(classes[todo.pop()], classes):
            if name not in out:
                out.add(name)
                todo.append(name)
    return out


def _field_classes(cls: ast.ClassDef, classes: dict[str, ast.ClassDef], seen: frozenset[str] = frozenset()) -> set[str]:
    names = set()
    for stmt in cls.body:
        if isinstance(stmt, ast.AnnAssign):
            parts = [stmt.annotation] + ([stmt.value] if stmt.value is not None else [])
            names |= {n.id for part in parts for n in ast.walk(part) if isinstance(n, ast.Name) and n.id in classes}
    for base in cls.bases:  # inherited fields are built by the subclass, not the base on its own
        if isinstance(base, ast.Name) and base.id in classes and base.id not in seen:
            names |= _field_classes(classes[base.id], classes, seen | {cls.name})
    return names
