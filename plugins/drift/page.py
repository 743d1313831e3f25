"""drift.html: the drift document (releasegate.drift.document.build) rendered as one self-contained page.

What a reader with two minutes needs comes first: what changed since the baseline (new blockers
first, then the resolved), then the findings grouped by root cause (releasegate.drift.causes) with
their full text and file:line (a link where the source has a web_url); the matrix, the filterable
table of every finding and the run's metadata follow.

The markup is plugins/drift/templates/drift.html.j2 (Jinja2, autoescape on); the page's CSS and
JavaScript are drift.css and drift.js beside it, inlined at render time so that the page is one
file that makes no request (its Content-Security-Policy says so too).
"""
from __future__ import annotations

import html
import json
from functools import cache
from typing import Any

import jinja2
from markupsafe import Markup

from releasegate.drift import causes
from releasegate.drift.document import (FINDING_CATEGORIES, INCOMPLETE_NOTE, STATUSES, plural,
                                    ref_text, summary_parts)


def _text(value: Any) -> Any:
    """Every {{ }} escaped as html.escape(quote=True) does (&quot;, &#x27;); None is empty."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


def _pretty(details: Any) -> str:
    return json.dumps(details or {}, indent=2, sort_keys=True, default=str)


def cell_title(cell: dict) -> str:
    """Tooltip of a matrix cell: its counts per category, or "not run"."""
    parts = [f"{n} {c}" for c, n in cell["counts"].items()]
    return f"{cell['environment']} · {cell['check']}: " + (", ".join(parts) or "not run")


def cell_text(cell: dict) -> str:
    """What a matrix cell reads: "2 blockers", "passed", "–" when nothing ran."""
    worst_cat = cell["worst"]
    if worst_cat is None:
        return "–"
    n = cell["counts"].get(worst_cat, 0)
    return plural(n, worst_cat) if worst_cat in FINDING_CATEGORIES else worst_cat


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("releasegate.drift", "templates"),
                             autoescape=True, finalize=_text, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(pretty=_pretty, cell_title=cell_title, cell_text=cell_text,
                       where=causes.where_text, bare=causes.bare_message)
    return env


def _asset(name: str) -> Markup:
    """A file beside the template, inlined as it is (ours, so not escaped)."""
    env = _environment()
    source, _, _ = env.loader.get_source(env, name)
    return Markup(source)


def _meta(doc: dict) -> list[tuple[str, Any]]:
    run = doc["run"]
    rows: list[tuple[str, Any]] = [("generated", run["generated_at"])]
    if run.get("started_at"):
        rows.append(("started", run["started_at"]))
    if run.get("duration_s") is not None:
        rows.append(("duration", f"{float(run['duration_s']):.1f} s"))
    rows.append(("suite version", run.get("version") or "unknown"))
    rows.append(("environments", ", ".join(run.get("envs") or []) or "–"))
    for key, label in (("candidate", "candidate"), ("markexpr", "markers"),
                       ("exitstatus", "exit status"), ("environments_file", "environments file"),
                       ("hostname", "host")):
        if run.get(key) not in (None, ""):
            rows.append((label, run[key]))
    base = doc.get("baseline")
    rows.append(("baseline", f"{base.get('path') or ''} ({base.get('generated_at')})" if base
                 else "none: every finding is new"))
    return rows


def render(doc: dict) -> str:
    """drift.html: one self-contained page (inline CSS/JS, no request leaves it)."""
    mat = doc["matrix"]
    entries = doc["findings"] + doc["resolved"] + doc.get("unchecked", [])
    present = {f.get("category") for f in entries}
    cells = {(c["environment"], c["check"]): c for c in mat["cells"]}
    filters = [
        ("env", "environment",
         sorted({f["environment"] for f in entries} | set(mat["environments"]))),
        ("severity", "severity", [c for c in FINDING_CATEGORIES if c in present]),
        ("check", "check", sorted({f["check"] for f in entries} | set(mat["checks"]))),
        ("status", "status", STATUSES),
    ]
    new, resolved = causes.changes(doc)
    return _environment().get_template("drift.html.j2").render(
        baseline=doc.get("baseline"), new=new, resolved=resolved,
        causes=causes.group(doc["findings"]), run=doc["run"], summary=summary_parts(doc), meta=_meta(doc),
        refs=[(k, ref_text(v)) for k, v in sorted((doc["run"].get("refs") or {}).items())],
        environments=mat["environments"],
        matrix_rows=[(check, [cells[(env, check)] for env in mat["environments"]])
                     for check in mat["checks"]] if mat["cells"] else [],
        filters=filters, entries=entries, incomplete_note=INCOMPLETE_NOTE,
        css=_asset("drift.css"), js=_asset("drift.js"))
