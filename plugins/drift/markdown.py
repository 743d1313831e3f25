"""drift.md: the drift document (plugins.drift.document.build) as markdown short enough for a CI
step summary."""
from __future__ import annotations

from typing import Any

from plugins.core.neutral import md_code, md_escape
from plugins.drift.document import INCOMPLETE_NOTE, finding_order, ref_text, summary_parts

_MD_MARK = {"blocker": "🔴", "error": "🟠", "warning": "🟡", "waived": "🔵", "passed": "🟢",
            "skipped": "⚪", None: "·"}


def _md(text: Any) -> str:
    """One table-safe markdown line: no emphasis, link, image, HTML or control character."""
    return md_escape(text)



def _clip(text: str, width: int = 200) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def render_markdown(doc: dict, limit: int = 10) -> str:
    """drift.md: short enough for a CI step summary (matrix + new/resolved/oldest, capped)."""
    run, mat = doc["run"], doc["matrix"]
    lines = ["## Drift report", ""]
    if run.get("incomplete"):
        lines += [f"> **Incomplete run**: {_md(run['incomplete'])}. {INCOMPLETE_NOTE}", ""]
    lines += [" · ".join(summary_parts(doc)), ""]
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
    lines += [" · ".join(meta), ""]
    if mat["checks"]:
        lines.append("| check | " + " | ".join(_md(e) for e in mat["environments"]) + " |")
        lines.append("|---|" + "---|" * len(mat["environments"]))
        cells = {(c["environment"], c["check"]): c for c in mat["cells"]}
        for check in mat["checks"]:
            row = [_MD_MARK[cells[(env, check)]["worst"]] for env in mat["environments"]]
            lines.append(f"| {_md(check)} | " + " | ".join(row) + " |")
        lines += ["", "🔴 blocker 🟠 error 🟡 warning 🔵 waived 🟢 passed ⚪ skipped · not run", ""]
    sections = [
        ("New since the baseline", [f for f in doc["findings"] if f["status"] == "new"]),
        ("Resolved", doc["resolved"]),
        ("Oldest persisting", sorted((f for f in doc["findings"] if f["status"] == "persisting"),
                                     key=lambda f: (-f["age_days"], finding_order(f)))),
    ]
    for title, entries in sections:
        if not entries:
            continue
        lines.append(f"### {title} ({len(entries)})")
        for f in entries[:limit]:
            age = f" · since {f['first_seen']} ({f['age_days']}d)" if f["status"] != "new" else ""
            item = f" / {md_code(f['item'])}" if f.get("item") else ""
            lines.append(f"- {_MD_MARK.get(f.get('category'), '·')} **{_md(f['environment'])}** "
                         f"{md_code(f['check'])}{item}: {md_code(_clip(f['message'] or ''))}{age}")
        if len(entries) > limit:
            lines.append(f"- … and {len(entries) - limit} more in drift.html")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
