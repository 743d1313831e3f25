"""Merge the reports of the N shards of one run (``--shard K/N``) into the report one run would
have written.

    python -m releasegate.drift.merge OUT_DIR SHARD_DIR... [--baseline PATH] [--fail-on blockers|new]
    python -m releasegate.drift.merge --records OUT.json SHARD.json...

The first form reads each shard's drift report folder (a complete set: drift.complete.json names
every file and its sha256) and writes drift.json, drift.md and drift.html into OUT_DIR as one run
writes them (whole or not at all, the manifest last). New, persisting and resolved are worked out
again against the baseline given (default OUT_DIR/drift.json, the previous merged report), as one
run does against its previous report: the shards need no baseline of their own. The second form
joins the shards' --report-json files (records, verdict, run).

Shards of different runs are refused: every report must carry the same run token
(``--shard-run``), the same N, every K from 1 to N exactly once, and the same commit of every
source. A refusal is one line naming what is wrong (exit 4). Exit 1 when the merged run has a
blocker (``--fail-on blockers``, the default) or a new finding (``--fail-on new``), else 0.
"""
from __future__ import annotations

import argparse
import json
import socket
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import releasegate
from releasegate.core import atomic
from releasegate.core.neutral import clean_obj
from releasegate.core.redact import redact_obj
from releasegate.drift import document
from releasegate.drift.baseline import MAX_DEPTH, depth
from releasegate.lifecycle import new_run_id

USAGE, FAILED = 4, 1


class Refused(Exception):
    """Shards that cannot be merged (one line)."""


def _read_json(path: Path) -> Any:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise Refused(f"{path}: cannot be read as JSON ({exc})") from None
    if depth(doc) > MAX_DEPTH:
        raise Refused(f"{path}: nests deeper than {MAX_DEPTH} levels: not a releasegate report")
    return doc


def check_shards(runs: list[tuple[str, dict]]) -> tuple[str, int]:
    """(run token, N) of shard reports given as (where, run section); Refused when they are not
    the N shards of one run, each once, at the same commits."""
    if not runs:
        raise Refused("no shard reports given")
    marks = []
    for where, run in runs:
        mark = run.get("shard") if isinstance(run, dict) else None
        if not isinstance(mark, dict) or not isinstance(mark.get("index"), int) \
                or not isinstance(mark.get("total"), int):
            raise Refused(f"{where}: not a shard's report (no run.shard: run it with --shard K/N)")
        if not mark.get("run"):
            raise Refused(f"{where}: shard {mark['index']}/{mark['total']} has no run token: give "
                          "every shard the same --shard-run ID")
        marks.append((where, mark))
    tokens = sorted({str(m["run"]) for _, m in marks})
    if len(tokens) > 1:
        said = "; ".join(f"{t}: " + ", ".join(f"{m['index']}/{m['total']}" for _, m in marks
                                              if m["run"] == t) for t in tokens)
        raise Refused(f"shards of different runs ({said})")
    totals = sorted({m["total"] for _, m in marks})
    if len(totals) > 1:
        raise Refused(f"shards of run {tokens[0]} disagree on N ({', '.join(map(str, totals))})")
    total = totals[0]
    seen: dict[int, str] = {}
    for where, mark in marks:
        if mark["index"] in seen:
            raise Refused(f"shard {mark['index']}/{total} given twice ({seen[mark['index']]}, {where})")
        seen[mark["index"]] = where
    missing = [str(k) for k in range(1, total + 1) if k not in seen]
    if missing:
        raise Refused(f"run {tokens[0]}: missing shard{'s' if len(missing) > 1 else ''} "
                      f"{', '.join(missing)} of {total}")
    commits: dict[str, set] = {}
    for _, run in runs:
        for source, ref in (run.get("refs") or {}).items():
            commits.setdefault(source, set()).add(
                ref.get("commit") if isinstance(ref, dict) else str(ref))
    moved = sorted(source for source, found in commits.items() if len(found) > 1)
    if moved:
        raise Refused(f"shards of run {tokens[0]} checked source {', '.join(moved)} at different "
                      "commits: pin the refs (--ref SOURCE=SHA) so that every shard checks the same")
    return tokens[0], total


# --------------------------------------------------------------------------- drift reports

def read_shard(folder: Path) -> dict:
    """A shard's drift.json, from a complete report set."""
    if atomic.complete_set(folder) is None:
        raise Refused(f"{folder}: no complete drift report ({atomic.MANIFEST} missing or not "
                      "matching its files)")
    doc = _read_json(folder / "drift.json")
    try:
        return document.check_baseline(doc, str(folder / "drift.json"))
    except document.BaselineError as exc:
        raise Refused(str(exc)) from None


def records_of(doc: dict) -> list[dict]:
    """Records that give back a shard's findings and matrix: each finding as its record, and the
    passed and skipped counts of each matrix cell as that many records (no item: what drift.json
    keeps of them)."""
    out = []
    for f in doc.get("findings") or []:
        rec = {k: f.get(k) for k in ("check", "environment", "item", "severity", "outcome",
                                     "message", "details", "nodeid")}
        for kept in ("waiver", "location"):  # the finding's own, as document._finding keeps them
            if isinstance(f.get(kept), dict):
                rec[kept] = f[kept]
        if document.category(rec) != f.get("category"):
            rec["severity"] = f.get("category")
        out.append(rec)
    for cell in (doc.get("matrix") or {}).get("cells") or []:
        for cat in ("passed", "skipped"):
            out += [{"check": cell["check"], "environment": cell["environment"], "item": "",
                     "outcome": cat, "severity": ""}] * int(cell["counts"].get(cat, 0))
    return out


def _same(runs: list[dict], key: str) -> Any:
    values = [r.get(key) for r in runs if r.get(key) is not None]
    return values[0] if values else None


def merged_metadata(runs: list[dict], exitstatus: int) -> dict:
    """The run metadata of the merged run, in document.build's shape."""
    started = sorted(r["started_at"] for r in runs if r.get("started_at"))
    durations = [r["duration_s"] for r in runs if isinstance(r.get("duration_s"), (int, float))]
    return {"envs": sorted({e for r in runs for e in r.get("envs") or []}),
            "refs": _same(runs, "refs") or {}, "duration": max(durations) if durations else None,
            "version": _same(runs, "version") or releasegate.__version__,
            "started_at": started[0] if started else None,
            "markexpr": _same(runs, "markexpr") or "", "candidate": _same(runs, "candidate"),
            "environments_file": _same(runs, "environments_file"), "exitstatus": exitstatus,
            "hostname": socket.gethostname()}


def merge_drift(shards: list[Path], baseline: dict | None, now: datetime,
                baseline_path: str | None = None, fail_on: str = "blockers") -> dict:
    """The drift document of the run the shards make up."""
    docs = [(str(folder), read_shard(folder)) for folder in shards]
    token, total = check_shards([(where, doc["run"]) for where, doc in docs])
    runs = [doc["run"] for _, doc in docs]
    records = [rec for _, doc in docs for rec in records_of(doc)]
    why = [f"shard {r['shard']['index']}/{total}: {r.get('incomplete') or 'incomplete'}"
           for r in runs if not r.get("complete", True)]
    status = max((int(r.get("exitstatus") or 0) for r in runs), default=0)
    doc = document.build(records, merged_metadata(runs, status), baseline, now,
                         baseline_path=baseline_path, incomplete="; ".join(why) or None)
    if fail_on == "new" and not why:
        doc["run"]["exitstatus"] = FAILED if doc["summary"]["new_actionable"] else 0
    doc["run"]["run_id"] = new_run_id()
    doc["run"]["shard"] = {"run": token, "total": total, "merged": total}
    return clean_obj(redact_obj(doc))


def write_drift(folder: Path, doc: dict) -> None:
    """drift.json, drift.md and drift.html into folder, as one run writes them."""
    from releasegate.drift import markdown, page

    ident = doc["run"]["run_id"]
    stamp = f"<!-- releasegate run {ident} -->\n"
    texts = {"drift.json": document.to_json(doc),
             "drift.md": markdown.render_markdown(doc) + "\n" + stamp,
             "drift.html": page.render(doc) + stamp}
    folder.mkdir(parents=True, exist_ok=True)
    lock = atomic.lock_folder(folder)
    try:
        atomic.write_set(folder, texts, ident)
    finally:
        atomic.unlock_folder(lock)


# --------------------------------------------------------------------------- --report-json files

def merge_records(paths: list[Path]) -> dict:
    """The --report-json payload of the run the shards' payloads make up."""
    from releasegate import verdict as verdicts

    payloads = []
    for path in paths:
        doc = _read_json(path)
        if not isinstance(doc, dict) or not isinstance(doc.get("records"), list) \
                or not isinstance(doc.get("run"), dict):
            raise Refused(f"{path}: not a --report-json file (no records and run)")
        payloads.append((str(path), doc))
    token, total = check_shards([(where, doc["run"]) for where, doc in payloads])
    runs = [doc["run"] for _, doc in payloads]
    found = sorted((rec for _, doc in payloads for rec in doc["records"]),
                   key=lambda r: (r.get("nodeid") or "", r.get("index", 0)))
    interrupted = next((r["incomplete"] for r in runs if "interrupted" in str(r.get("incomplete"))),
                       None)
    verdict = verdicts.summarize(found, sorted({r["environment"] for r in found}),
                                 _same(runs, "markers") or "",
                                 interrupted=interrupted and interrupted.split()[2]) \
        if found or interrupted else None
    started = sorted(r["started"] for r in runs if r.get("started"))
    run = {**{k: v for k, v in runs[0].items() if k not in ("shard", "incomplete")},
           "environments": sorted({e for r in runs for e in r.get("environments") or []}),
           "started": started[0] if started else None,
           "duration_s": max((r.get("duration_s") or 0 for r in runs), default=0),
           "run_id": new_run_id(), "shard": {"run": token, "total": total, "merged": total},
           "notes": list(dict.fromkeys(n for r in runs for n in r.get("notes") or [])),
           "complete": all(r.get("complete", True) for r in runs)}
    why = [f"shard {r['shard']['index']}/{total}: {r['incomplete']}" for r in runs
           if r.get("incomplete")]
    if why:
        run["incomplete"] = "; ".join(why)
    return {"releasegate": _same([{"v": d.get("releasegate")} for _, d in payloads], "v"),
            "records": found, "verdict": verdict, "run": run}


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module's docstring)."""
    parser = argparse.ArgumentParser(prog="python -m releasegate.drift.merge",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="OUT_DIR (drift reports) or OUT.json (--records)")
    parser.add_argument("shards", type=Path, nargs="+", help="each shard's folder or JSON file")
    parser.add_argument("--records", action="store_true",
                        help="merge --report-json files instead of drift report folders")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="previous drift.json (default: OUT_DIR/drift.json when it exists)")
    parser.add_argument("--fail-on", choices=("blockers", "new"), default="blockers")
    args = parser.parse_args(argv)
    try:
        if args.records:
            payload = merge_records(args.shards)
            atomic.write_file(args.out, json.dumps(payload, indent=2, sort_keys=True) + "\n")
            safe = (payload["verdict"] or {}).get("safe", True)
            print(f"{args.out}: {len(payload['records'])} records of {payload['run']['shard']['total']} "
                  f"shards (run {payload['run']['shard']['run']})")
            return 0 if safe else FAILED
        baseline_path = args.baseline or (args.out / "drift.json")
        baseline = None
        if args.baseline is not None or baseline_path.is_file():
            baseline = _baseline(baseline_path)
        doc = merge_drift(args.shards, baseline, datetime.now(timezone.utc),
                          str(baseline_path) if baseline else None, args.fail_on)
        write_drift(args.out, doc)
    except Refused as exc:
        print(f"merge: {exc}", file=sys.stderr)
        return USAGE
    except (atomic.FolderBusy, OSError) as exc:
        print(f"merge: cannot write {args.out}: {exc}", file=sys.stderr)
        return USAGE
    s = doc["summary"]
    print(f"{args.out / 'drift.html'}: {s['new']} new, {s['persisting']} persisting, "
          f"{s['resolved']} resolved from {doc['run']['shard']['total']} shards "
          f"(run {doc['run']['shard']['run']})")
    return FAILED if doc["run"].get("exitstatus") == FAILED else 0


def _baseline(path: Path) -> dict:
    import pytest

    from releasegate.drift.baseline import load_baseline

    try:
        return load_baseline(path)
    except pytest.UsageError as exc:
        raise Refused(str(exc).replace("--drift-baseline", "--baseline", 1)) from None


if __name__ == "__main__":
    sys.exit(main())
