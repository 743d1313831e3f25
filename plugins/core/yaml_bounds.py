"""YAML aliases bounded before anything is built: no alias bomb, no recursive alias.

An alias is a reference, so a few lines of anchors and aliases (the "billion laughs") stand for
billions of values once anything walks, copies or serialises them, and an alias inside its own
anchor is a cycle. Both are found on the composed node graph (PyYAML's or ruamel's: the same
shape), before any value is built, with the line of the anchor, in time linear in the text.
"""

from __future__ import annotations

from typing import Any, Iterator

MAX_NODES = 1_000_000  # expanded; a large rendered chart has about 100 000


class AliasBomb(ValueError):
    """A YAML document whose aliases repeat past the bound or refer to themselves."""

    def __init__(self, line: int | None, problem: str) -> None:
        self.line, self.problem = line, problem
        super().__init__(f"line {line}: {problem}" if line else problem)


def _line(node: Any) -> int | None:
    mark = getattr(node, "start_mark", None)
    return mark.line + 1 if mark is not None else None


def _children(node: Any) -> Iterator[Any]:
    value = node.value
    if isinstance(value, list):
        for item in value:
            if isinstance(item, tuple):
                yield from item
            else:
                yield item


def may_alias(text: str) -> bool:
    """Whether a YAML text can hold an alias at all (an alias needs an anchor): the others skip
    the check."""
    return "&" in text and "*" in text


def check(root: Any, most: int = MAX_NODES) -> None:
    """Raise AliasBomb if a composed document expands to more than `most` nodes, or if an
    alias refers to a node that contains it."""
    if root is None:
        return
    sizes: dict[int, int] = {}
    open_: set[int] = {id(root)}
    frames: list[list[Any]] = [[root, _children(root), 1]]  # node, children left, size so far
    while frames:
        frame = frames[-1]
        child = next(frame[1], None)
        if child is not None:
            key = id(child)
            if key in open_:
                raise AliasBomb(_line(child), "an alias refers to the anchor that contains it "
                                              "(a recursive alias)")
            if key in sizes:
                frame[2] += sizes[key]
            else:
                open_.add(key)
                frames.append([child, _children(child), 1])
            continue
        frames.pop()
        node, size = frame[0], frame[2]
        sizes[id(node)] = size
        open_.discard(id(node))
        if size > most:
            raise AliasBomb(_line(node), f"expands to more than {most} values through "
                                         "repeated aliases (an alias bomb)")
        if frames:
            frames[-1][2] += size


__all__ = ["AliasBomb", "MAX_NODES", "check", "may_alias"]
