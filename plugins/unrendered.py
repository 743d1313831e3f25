"""A chart that did not render is one error of its environment, not one per check that needs it.

When Helm's engine fails on an environment's chart (a template error, or a bound of
plugins/core/render_child.py: render.timeout_s, render.memory_mb, render.output_mb), every check
of that environment that reads the render would error with the same line, and the verdict would
count a dozen "errors (a service could not be checked)". Instead each of those checks is NOT
CHECKED with one line that points at the failure, its record keeps the render's line in
``details["unrendered"]``, and the verdict, the terminal and the step summary name the failure
once per environment and chart: it is still an error (the run is not safe, the exit code is 1).
Every record decides this on its own, so a run split by pytest-xdist reports the same.
"""

from __future__ import annotations

import re
from typing import Any

PREFIX = "helm could not render "
KEY = "unrendered"

_BOUNDS = {"render.memory_mb": "memory limit", "render.timeout_s": "time limit",
           "render.output_mb": "output limit"}
_TEMPLATE = re.compile(r"([\w.@/-]*templates/[\w.@/-]+?\.(?:ya?ml|tpl|txt|json)(?::\d+)*)")


def failure(env: str, message: str) -> str | None:
    """The render's line (without the environment) when an error message is a chart that did not
    render, else None."""
    line = message.removeprefix(f"{env}: ")
    return line if line.startswith(PREFIX) else None


def skip_reason(env: str) -> str:
    """The one line every check of an environment whose chart did not render skips with."""
    return f"{env}: not checked: its chart did not render (the ERROR {env} line names the chart)"


def short(line: str) -> str:
    """`helm/app: memory limit (render.memory_mb)` or `helm/app: template error in x.yaml:2:3`:
    the chart and why, for the verdict's sentence."""
    chart, _, why = line.removeprefix(PREFIX).partition(": ")
    bound = next((f"{label} ({key})" for key, label in _BOUNDS.items() if f"({key})" in why), None)
    if bound:
        return f"{chart}: {bound}"
    if why.startswith("the render process died"):
        return f"{chart}: the render process died"
    template = _TEMPLATE.search(why)
    if template:
        return f"{chart}: template error in {template[1]}"
    return f"{chart}: {why if len(why) <= 80 else why[:79] + '…'}"


def failures(found: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    """(environment, render line, checks not checked because of it), one per environment and
    chart, in a stable order."""
    counts: dict[tuple[str, str], int] = {}
    for r in found:
        line = (r.get("details") or {}).get(KEY)
        if line:
            key = (r["environment"], line)
            counts[key] = counts.get(key, 0) + 1
    return [(env, line, n) for (env, line), n in sorted(counts.items())]


__all__ = ["KEY", "PREFIX", "failure", "failures", "short", "skip_reason"]
