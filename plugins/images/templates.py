"""Templates: strings a workflow produces at run time (image names, tags), as literal parts and holes.

A hole is a value known only when the workflow runs: a full SHA, a short SHA, a ref name, a version,
or an expression that cannot be resolved statically. ``Template.matches`` tells whether a concrete
value (a deployed tag) could come out of it, ``render`` fills it in for a commit.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

TEXT, SHA, SHORT, REF, VERSION, ANY = "text", "sha", "short", "ref", "version", "any"


@dataclass(frozen=True)
class Part:
    """One piece of a rendered string: literal text or a value known only at run time."""

    kind: str
    text: str = ""      # TEXT: the text; ANY: the unresolved expression
    length: int = 7     # SHORT: how many hex digits


_PART_REGEX = {SHA: "[0-9a-f]{40}", REF: r"[A-Za-z0-9_.-]+",
               VERSION: r"v?\d+(?:\.\d+){0,2}(?:[-+][A-Za-z0-9_.-]+)?", ANY: r".+"}


@dataclass(frozen=True)
class Template:
    """A string with run-time holes; ``matches`` tells whether a concrete value fits it."""

    parts: tuple[Part, ...]

    @classmethod
    def text(cls, value: str) -> Template:
        """A template that is just this text."""
        return cls((Part(TEXT, value),) if value else ())

    def __add__(self, other: Template) -> Template:
        merged: list[Part] = []
        for part in (*self.parts, *other.parts):
            if merged and part.kind == TEXT and merged[-1].kind == TEXT:
                merged[-1] = Part(TEXT, merged[-1].text + part.text)
            elif part.kind != TEXT or part.text:
                merged.append(part)
        return Template(tuple(merged))

    @property
    def literal(self) -> str | None:
        """The text when the template has no holes, else None."""
        if all(p.kind == TEXT for p in self.parts):
            return "".join(p.text for p in self.parts)
        return None

    @property
    def unresolved(self) -> tuple[str, ...]:
        """The expressions that could not be resolved statically."""
        return tuple(p.text for p in self.parts if p.kind == ANY)

    def pattern(self) -> re.Pattern[str]:
        """A regex matching every value this template can produce."""
        pieces = [re.escape(p.text) if p.kind == TEXT else
                  f"[0-9a-f]{{{p.length}}}" if p.kind == SHORT else _PART_REGEX[p.kind]
                  for p in self.parts]
        return re.compile("".join(pieces) + r"\Z")

    def matches(self, value: str) -> bool:
        """True if a run of the workflow could produce ``value``."""
        return self.pattern().match(value) is not None

    def render(self, sha: str, ref_name: str | None = None) -> str | None:
        """The value for a commit (and ref name); None if it needs something unknown."""
        out = []
        for part in self.parts:
            if part.kind == TEXT:
                out.append(part.text)
            elif part.kind == SHA:
                out.append(sha)
            elif part.kind == SHORT:
                out.append(sha[:part.length])
            elif part.kind == REF and ref_name:
                out.append(ref_name)
            elif part.kind == VERSION and ref_name:
                out.append(ref_name.removeprefix("v"))
            else:
                return None
        return "".join(out)

    def describe(self) -> str:
        """How a release manager reads the scheme: 'full SHA', 'short SHA (7)', "'testing'"..."""
        if not self.parts:
            return "''"
        names = {SHA: "full SHA", REF: "branch or tag name", VERSION: "version"}
        words = [names.get(p.kind) or (f"short SHA ({p.length})" if p.kind == SHORT else
                                       f"'{p.text}'" if p.kind == TEXT else
                                       f"unknown {p.text}") for p in self.parts]
        return " + ".join(words)

    def __str__(self) -> str:
        marks = {SHA: "<sha>", REF: "<ref>", VERSION: "<version>"}
        return "".join(p.text if p.kind == TEXT else f"<sha:{p.length}>" if p.kind == SHORT else
                       f"<{p.text}>" if p.kind == ANY else marks[p.kind] for p in self.parts)


def split_image(template: Template) -> tuple[Template, Template] | None:
    """Split ``name:tag`` at the last ':' of literal text after the last '/' (no tag: latest)."""
    parts = list(template.parts)
    for index in range(len(parts) - 1, -1, -1):
        part = parts[index]
        if part.kind != TEXT:
            continue
        colon = part.text.rfind(":")
        slash = part.text.rfind("/")
        if colon > slash:
            name = Template(tuple(parts[:index])) + Template.text(part.text[:colon])
            tag = Template.text(part.text[colon + 1:]) + Template(tuple(parts[index + 1:]))
            if any(p.kind == TEXT and "/" in p.text for p in tag.parts):
                return None
            return name, tag
        if slash >= 0:
            return template, Template.text("latest")
    return None
