"""drift.md: the drift document (releasegate.drift.document.build) as markdown short enough for a CI
step summary: what changed since the baseline first, then what to fix by root cause (full
messages, file:line), the matrix, and the run last."""
from __future__ import annotations

from typing import Any

from releasegate.core.neutral import md_code, md_escape
from releasegate.drift import causes
from releasegate.drift.causes import where_text
from releasegate.drift.document import INCOMPLETE_NOTE, ref_text, summary_parts

_MD_MARK = {"blocker": "🔴", "error": "🟠", "warning": "🟡", "waived": "🔵", "passed": "🟢",
            "skipped": "⚪", None: "·"}


def _md(text: Any) -> str:
    """One table-safe markdown line: no emphasis, link, image, HTML or control character."""
    return md_escape(text)


def _where(location: dict | None) -> str:
    """file:line of a finding, a link when its source has a web URL."""
    text = where_text(location)
    if not text:
        return ""
    url = (location or {}).get("url")
    return f" · [{_md(text)}](<{url}>)" if url else f" · {md_code(text)}"


def _line(f: dict, lead: str = "- ") -> str:
    """One finding: mark, environment, check and item, its full message, where, since when."""
    age = f" · since {f['first_seen']} ({f['age_days']}d)" if f.get("status") == "persisting" \
        else ""
    item = f" / {md_code(f['item'])}" if f.get("item") else ""
    return (f"{lead}{_MD_MARK.get(f.get('category'), '·')} **{_md(f['environment'])}** "
            f"{md_code(f['check'])}{item}: {md_code(causes.bare_message(f))}"
            f"{_where(f.get('location'))}{age}")


def _changes(doc: dict, limit: int) -> list[str]:
    """What changed since the baseline: new findings (blockers first), then the resolved."""
    base = doc.get("baseline")
    if not base:
        return ["No baseline: this is the first report, so every finding below is new.", ""]
    new, resolved = causes.changes(doc)
    lines = [f"Since the baseline of {_md(base.get('generated_at'))}: {len(new)} new, "
             f"{len(resolved)} resolved.", ""]
    for title, entries in (("New since the baseline", new), ("Resolved", resolved)):
        if not entries:
            continue
        lines.append(f"### {title} ({len(entries)})")
        lines += [_line(f) for f in entries[:limit]]
        if len(entries) > limit:
            lines.append(f"- … and {len(entries) - limit} more in drift.html")
        lines.append("")
    return lines


def _groups(doc: dict, limit: int) -> list[str]:
    """The findings by root cause, what to fix first first, each message in full."""
    groups = causes.group(doc["findings"])
    if not groups:
        return []
    lines = [f"### What to fix, by root cause ({len(groups)})"]
    for g in groups[:limit]:
        if len(g["members"]) == 1:
            lines.append(_line(g["members"][0]))
            continue
        lines.append(f"- {_MD_MARK.get(g['category'], '·')} **{_md(g['title'])}** · {g['status']} · "
                     f"{_md(', '.join(g['environments']))}: breaks {len(g['members'])} checks")
        lines += [_line(f, "  - ") for f in g["members"]]
    if len(groups) > limit:
        lines.append(f"- … and {len(groups) - limit} more causes in drift.html")
    return lines + [""]


def _run(doc: dict) -> list[str]:
    """The run metadata line (last: it is what a reader needs least)."""
    run = doc["run"]
    meta = [f"generated {run['generated_at']}"]
    if run.get("duration_s") is not None:
        meta.append(f"took {float(run['duration_s']):.1f}s")
    if run.get("version"):
        meta.append(f"releasegate {run['version']}")
    if run.get("refs"):
        meta.append("refs " + ", ".join(md_code(f"{k}={ref_text(v)}")
                                        for k, v in sorted(run["refs"].items())))
    base = doc.get("baseline")
    meta.append(f"baseline {base['generated_at']}" if base else "no baseline (everything is new)")
    return ["---", "", " · ".join(meta)]


def render_markdown(doc: dict, limit: int = 10) -> str:
    """drift.md, for a CI step summary: what changed since the baseline, the findings by root
    cause with their full text and place, the matrix, the run (capped at ``limit`` entries)."""
    run, mat = doc["run"], doc["matrix"]
    lines = ["## Drift report", ""]
    if run.get("incomplete"):
        lines += [f"> **Incomplete run**: {_md(run['incomplete'])}. {INCOMPLETE_NOTE}", ""]
    lines += [" · ".join(summary_parts(doc)), ""]
    lines += _changes(doc, limit)
    lines += _groups(doc, limit)
    if mat["checks"]:
        lines.append("| check | " + " | ".join(_md(e) for e in mat["environments"]) + " |")
        lines.append("|---|" + "---|" * len(mat["environments"]))
        cells = {(c["environment"], c["check"]): c for c in mat["cells"]}
        for check in mat["checks"]:
            row = [_MD_MARK[cells[(env, check)]["worst"]] for env in mat["environments"]]
            lines.append(f"| {_md(check)} | " + " | ".join(row) + " |")
        lines += ["", "🔴 blocker 🟠 error 🟡 warning 🔵 waived 🟢 passed ⚪ skipped · not run", ""]
    lines += _run(doc)
    return "\n".join(lines).rstrip() + "\n"
