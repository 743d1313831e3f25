"""Estate text made inert for whoever reads the output: terminals, GitHub runners, Markdown.

Text written by others (commit subjects, values, names) reaches three kinds of reader that act
on what they read:

- a terminal acts on control characters (ESC sequences move the cursor, erase lines, set the
  title): every C0 and C1 control except tab and newline is written as ``\\x1b``;
- the GitHub Actions runner acts on workflow commands in the step's output: a line starting with
  ``::`` (after leading white space; actions/runner ActionCommand.TryParseV2) and ``##[`` anywhere
  in a line (the legacy ActionCommand.TryParse, ``message.IndexOf("##[")``). Estate text gets a
  zero-width space between the two characters, so it reads the same and commands nothing;
- Markdown (the step summary, drift.md) renders headings, images, links and HTML: estate text
  goes into an inline code span, where nothing is interpreted.
"""

from __future__ import annotations

import re
from typing import Any

ZWSP = "\u200b"
# C0 except tab (09) and newline (0a), DEL, C1 (80-9f).
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SGR = re.compile(r"\x1b\[[0-9;]*m")
_COMMAND_START = re.compile(r"^(\s*):(?=:)", re.MULTILINE)


def _hex(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group(0)):02x}"


def controls(text: str) -> str:
    """Control characters (ESC, CR, NUL, C1, ...) written as ``\\x1b``; tab and newline kept."""
    return _CONTROLS.sub(_hex, text) if _CONTROLS.search(text) else text


def controls_but_colours(text: str) -> str:
    """controls(), keeping SGR colour sequences (``ESC[31m``) the writer itself adds when the
    terminal has colours; every other sequence (cursor moves, erase, OSC titles) is escaped."""
    if "\x1b" not in text:
        return controls(text)
    parts = _SGR.split(text)
    colours = _SGR.findall(text)
    out = [controls(parts[0])]
    for colour, part in zip(colours, parts[1:]):
        out += [colour, controls(part)]
    return "".join(out)


def no_commands(text: str) -> str:
    """Estate text that cannot form a workflow command wherever it lands in a line: every
    ``::`` and ``##[`` gets a zero-width space inside."""
    if "::" in text:
        text = text.replace("::", f":{ZWSP}:")
    if "##[" in text:
        text = text.replace("##[", f"#{ZWSP}#[")
    return text


def command_line_guard(line: str) -> str:
    """A whole output line that the runner would read as a workflow command, made inert (a line
    whose text, after white space, starts with ``::``, and any ``##[``)."""
    if "::" in line:
        line = _COMMAND_START.sub(lambda m: m.group(1) + ":" + ZWSP, line)
    if "##[" in line:
        line = line.replace("##[", f"#{ZWSP}#[")
    return line


def md_code(text: Any, table: bool = False) -> str:
    """Estate text as one inline Markdown code span: no heading, image, link or HTML can come
    out of it (newlines become spaces; in a GFM table cell, pipes are escaped too)."""
    body = controls(str("" if text is None else text)).replace("\r", " ").replace("\n", " ")
    if table:
        body = body.replace("|", "\\|")
    if not body:
        return ""
    ticks = max((len(run) for run in re.findall(r"`+", body)), default=0) + 1
    pad = " " if body.startswith("`") or body.endswith("`") or body.startswith(" ") else ""
    fence = "`" * ticks
    return f"{fence}{pad}{body}{pad}{fence}"


# An underscore inside a word opens no emphasis (CommonMark 6.2, left-/right-flanking runs), so
# check names such as test_image stay as they are written.
_MD_SPECIAL = re.compile(r"([\\`*\[\]!|~>]|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z]))")


def md_escape(text: Any) -> str:
    """Text of our own that may hold a name from the estate (the verdict sentence), as Markdown
    that reads the same: the characters that open emphasis, links, images, code, tables and
    quotes backslash-escaped, < and & as entities (no HTML), "://" broken (no bare link), on one
    line; its plain words, colons and parentheses stay as they are."""
    body = controls(str("" if text is None else text)).replace("\r", " ").replace("\n", " ")
    body = body.replace("&", "&amp;").replace("<", "&lt;")
    return _MD_SPECIAL.sub(r"\\\1", body).replace("://", ":&#47;/").replace("www.", "www&#46;")


def clean_obj(value: Any) -> Any:
    """Every string inside a JSON-like structure with its control characters escaped."""
    if isinstance(value, str):
        return controls(value)
    if isinstance(value, dict):
        return {clean_obj(k) if isinstance(k, str) else k: clean_obj(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_obj(v) for v in value]
    return value
