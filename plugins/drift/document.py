"""The drift document: pure functions from result records (+ the previous drift.json) to drift.json.

Nothing here touches pytest, the network or the clock: the plugin (plugins/drift/plugin.py) passes in
the records, the run metadata, the baseline document and the time of the run. The document is
rendered as drift.md by releasegate.drift.markdown and as drift.html by releasegate.drift.page.

A *record* is one outcome as releasegate.report collects it: {check, environment, item, outcome,
severity, message, details, nodeid, duration}. A *finding* is a record that says something is
wrong or waived (blocker, error, warning, waived). A finding keeps its identity across runs by
(check, environment, item) -- never by message text, so rewording a message keeps its first-seen
date.
"""
from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from datetime import date, datetime, timezone
from typing import Any, Iterable

SCHEMA_VERSION = 1

# Worst first. "category" is what a record means for the matrix and the filters.
CATEGORIES = ("blocker", "error", "warning", "waived", "passed", "skipped")
FINDING_CATEGORIES = ("blocker", "error", "warning", "waived")
_RANK = {name: len(CATEGORIES) - i for i, name in enumerate(CATEGORIES)}
# Findings that count as "something new" for --drift-fail-on new (a waived one is accepted).
ACTIONABLE = ("blocker", "error", "warning")

STATUSES = ("new", "persisting", "resolved", "unchecked")
INCOMPLETE_NOTE = ("Findings of items it did not reach are listed as unchecked, not resolved, "
                   "and keep their first-seen dates")


class BaselineError(ValueError):
    """The previous drift.json cannot be used as a baseline (one-line reason)."""


# --------------------------------------------------------------------------- classification

def category(record: dict) -> str:
    """Map a record's severity (first) or outcome to one of CATEGORIES."""
    outcome = (record.get("outcome") or "").lower()
    severity = (record.get("severity") or "").lower()
    waiver = record.get("waiver")
    if isinstance(waiver, dict) and not waiver.get("expired"):
        return "waived"
    if outcome in ("xfailed", "xpassed", "waived") and severity in ("", "blocker", "waived"):
        return "waived"
    if severity in ("blocker", "error", "warning", "waived"):
        return severity
    # a check not checked because its chart did not render (plugins/unrendered.py): the drift
    # report keeps it an error of that check, as before, so the failure is neither lost nor new
    if outcome == "error" or (record.get("details") or {}).get("unrendered"):
        return "error"
    if outcome == "failed":
        return "blocker"
    if outcome == "skipped":
        return "skipped"
    return "passed"


def worst(categories: Iterable[str]) -> str | None:
    """The worst of some categories, or None when there are none."""
    found = [c for c in categories if c in _RANK]
    return max(found, key=_RANK.__getitem__) if found else None


def identity(finding: dict) -> tuple[str, str, str]:
    """(check, environment, item): what makes a finding the same finding in the next run."""
    return (str(finding.get("check") or ""), str(finding.get("environment") or ""),
            str(finding.get("item") or ""))


def finding_id(key: tuple[str, str, str], ordinal: int) -> str:
    """Short stable id for a finding (anchor in the HTML, handle for scripts)."""
    digest = hashlib.sha1(json.dumps(list(key)).encode()).hexdigest()[:12]
    return digest if ordinal == 0 else f"{digest}-{ordinal}"


# --------------------------------------------------------------------------- time helpers

def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------- baseline

def check_baseline(doc: Any, source: str = "baseline") -> dict:
    """Return doc if it looks like a drift.json this module wrote, else raise BaselineError."""
    if not isinstance(doc, dict):
        raise BaselineError(f"{source}: not a drift report (top level is not an object)")
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        raise BaselineError(
            f"{source}: schema_version {version!r} is not supported (expected {SCHEMA_VERSION})")
    for key in ("findings", "unchecked"):
        entries = doc.get(key, [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise BaselineError(f"{source}: '{key}' must be a list of objects")
        for entry in entries:
            missing = [k for k in ("check", "environment", "first_seen") if k not in entry]
            if missing:
                raise BaselineError(f"{source}: a '{key}' entry lacks {', '.join(missing)}")
            if _as_date(entry["first_seen"]) is None:
                raise BaselineError(
                    f"{source}: first_seen {entry['first_seen']!r} is not a date (YYYY-MM-DD)")
    return doc


def _pair(current: list[dict],
          previous: list[dict]) -> tuple[list[tuple[dict, dict | None]], list[dict]]:
    """Pair findings that share an identity: same message first, then in order.

    Returns ([(current, previous-or-None)], unpaired previous).
    """
    left = list(previous)
    pairs: list[tuple[dict, dict | None]] = []
    pending: list[dict] = []
    for cur in current:
        match = next((p for p in left if p.get("message") == cur.get("message")), None)
        if match is not None:
            left.remove(match)
            pairs.append((cur, match))
        else:
            pending.append(cur)
    for cur in pending:
        pairs.append((cur, left.pop(0) if left else None))
    return pairs, left


def compare(records: list[dict], baseline: dict | None, today: date,
            complete: bool = True) -> dict[str, list[dict]]:
    """Mark the findings among `records` new/persisting against `baseline` and list the resolved.

    A previous finding not found again is *resolved* when its check ran for its environment in
    this run (the item passed, or is gone from a check that ran); when the check did not run there
    (environment not selected, check deselected or skipped) it is *unchecked* and keeps its
    first-seen date for the next run. In an incomplete run (interrupted, ``-x``) only an item that
    itself ran can be resolved: the run may have stopped before reaching the others.
    Returns {"findings": [...], "resolved": [...], "unchecked": [...]}.
    """
    ran: dict[tuple[str, str], set[str]] = defaultdict(set)   # (check, env) -> categories seen
    item_outcome: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    by_key: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for rec in records:
        cat = category(rec)
        key = identity(rec)
        ran[key[:2]].add(cat)
        item_outcome[key].add(cat)
        if cat in FINDING_CATEGORIES:
            by_key[key].append(rec)

    previous: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    if baseline:
        for entry in list(baseline.get("findings", [])) + list(baseline.get("unchecked", [])):
            previous[identity(entry)].append(entry)

    findings: list[dict] = []
    resolved: list[dict] = []
    unchecked: list[dict] = []
    for key in sorted(set(by_key) | set(previous)):
        pairs, gone = _pair(by_key.get(key, []), previous.get(key, []))
        for ordinal, (rec, prev) in enumerate(pairs):
            first_seen = (_as_date(prev.get("first_seen")) if prev else None) or today
            finding = _finding(rec, key, ordinal)
            finding.update(status="persisting" if prev else "new",
                           first_seen=first_seen.isoformat(),
                           age_days=max((today - first_seen).days, 0))
            if prev and prev.get("message") != finding["message"]:
                finding["previous_message"] = prev.get("message")
            if prev and prev.get("severity") != finding["severity"]:
                finding["previous_severity"] = prev.get("severity")
            findings.append(finding)
        for prev in gone:
            first_seen = _as_date(prev.get("first_seen")) or today
            entry = {k: prev.get(k) for k in ("id", "severity", "category", "message", "details")}
            entry.update(check=key[0], environment=key[1], item=key[2])
            entry.update(first_seen=first_seen.isoformat(),
                         age_days=max((today - first_seen).days, 0))
            if _ran(key, ran if complete else {}, item_outcome):
                entry.update(status="resolved", resolved_on=today.isoformat())
                resolved.append(entry)
            else:
                entry.update(status="unchecked",
                             last_checked=prev.get("last_checked") or _baseline_day(baseline))
                unchecked.append(entry)
    findings.sort(key=finding_order)
    resolved.sort(key=finding_order)
    unchecked.sort(key=finding_order)
    return {"findings": findings, "resolved": resolved, "unchecked": unchecked}


def _baseline_day(baseline: dict | None) -> str | None:
    day = _as_date((baseline or {}).get("generated_at"))
    return day.isoformat() if day else None


def _ran(key: tuple[str, str, str], ran: dict, item_outcome: dict) -> bool:
    """Did this run look at the item behind `key` (so that its absence means it is fixed)?"""
    seen = item_outcome.get(key) or ran.get(key[:2])
    return bool(seen) and seen != {"skipped"}


def _finding(rec: dict, key: tuple[str, str, str], ordinal: int) -> dict:
    cat = category(rec)
    details = rec.get("details")
    return {
        "id": finding_id(key, ordinal),
        "check": key[0],
        "environment": key[1],
        "item": key[2],
        "severity": (rec.get("severity") or cat),
        "category": cat,
        "outcome": rec.get("outcome") or "",
        "message": str(rec.get("message") or ""),
        "details": details if isinstance(details, dict) else ({} if details is None
                                                               else {"value": details}),
        "nodeid": rec.get("nodeid") or "",
        **({"waiver": rec["waiver"]} if isinstance(rec.get("waiver"), dict) else {}),
        **({"location": rec["location"]} if isinstance(rec.get("location"), dict) else {}),
    }


def finding_order(finding: dict) -> tuple:
    """Sort key of a finding: worst category first, then environment, check, item and id."""
    return (-_RANK.get(finding.get("category") or "", 0), finding.get("environment") or "",
            finding.get("check") or "", finding.get("item") or "", finding.get("id") or "")


# --------------------------------------------------------------------------- the document

def matrix(records: list[dict], envs: Iterable[str] | None = None) -> dict:
    """Environment x check grid: worst category and counts per cell (every pair has a cell)."""
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    env_names = set(envs or ())
    checks: set[str] = set()
    for rec in records:
        check, env, _ = identity(rec)
        env_names.add(env)
        checks.add(check)
        counts[(env, check)][category(rec)] += 1
    environments = sorted(env_names)
    cells = []
    for env in environments:
        for check in sorted(checks):
            cell = dict(counts.get((env, check), {}))
            cells.append({"environment": env, "check": check, "worst": worst(cell),
                          "counts": {c: cell[c] for c in CATEGORIES if cell.get(c)}})
    return {"environments": environments, "checks": sorted(checks), "cells": cells}


def build(records: list[dict], metadata: dict, baseline: dict | None, now: datetime,
          baseline_path: str | None = None, incomplete: str | None = None) -> dict:
    """The drift.json document for one run; `incomplete` says why the run stopped short."""
    today = now.astimezone(timezone.utc).date() if now.tzinfo else now.date()
    envs = list(metadata.get("envs") or [])
    marked = compare(records, baseline, today, complete=incomplete is None)
    findings = marked["findings"]
    by_category = {c: sum(1 for f in findings if f["category"] == c) for c in FINDING_CATEGORIES}
    summary = {
        "findings": len(findings),
        "by_category": by_category,
        "new": sum(1 for f in findings if f["status"] == "new"),
        "new_actionable": sum(1 for f in findings
                              if f["status"] == "new" and f["category"] in ACTIONABLE),
        "persisting": sum(1 for f in findings if f["status"] == "persisting"),
        "resolved": len(marked["resolved"]),
        "unchecked": len(marked["unchecked"]),
        "results": len(records),
    }
    run = {
        "generated_at": _iso(now),
        "started_at": metadata.get("started_at"),
        "duration_s": metadata.get("duration"),
        "version": metadata.get("version"),
        "refs": {name: _ref(value) for name, value in (metadata.get("refs") or {}).items()},
        "envs": envs,
        "complete": incomplete is None,
    }
    if incomplete:
        run["incomplete"] = incomplete
    for extra in ("markexpr", "exitstatus", "args", "hostname", "candidate", "environments_file"):
        if metadata.get(extra) is not None:
            run[extra] = metadata[extra]
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": run["generated_at"],
        "run": run,
        "baseline": None if baseline is None else {
            "path": baseline_path, "generated_at": baseline.get("generated_at")},
        "summary": summary,
        "matrix": matrix(records, envs),
        "findings": findings,
        "resolved": marked["resolved"],
        "unchecked": marked["unchecked"],
    }


def _ref(value: Any) -> dict:
    """A checked ref as {ref, commit}: from "main" or {"ref": "main", "commit": "abc..."}."""
    if isinstance(value, dict):
        return {"ref": str(value.get("ref") or ""), "commit": value.get("commit") or None}
    return {"ref": str(value), "commit": None}


def ref_text(value: dict) -> str:
    """main@0123abcd (short commit when known)."""
    commit = value.get("commit")
    return f"{value['ref']}@{commit[:12]}" if commit and commit != value["ref"] else value["ref"]


def to_json(doc: dict) -> str:
    """drift.json text (stable key order for diffs)."""
    return json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n"


# --------------------------------------------------------------------------- headline

def plural(n: int, word: str) -> str:
    """"1 blocker", "2 blockers" ("waived" stays as it is)."""
    return f"{n} {word}" if n == 1 or word == "waived" else f"{n} {word}s"


def summary_parts(doc: dict) -> list[str]:
    """Headline counts: per category, then new/persisting/resolved(/unchecked)."""
    s = doc["summary"]
    parts = [plural(s["by_category"][c], c) for c in FINDING_CATEGORIES]
    parts += [f"{s['new']} new", f"{s['persisting']} persisting", f"{s['resolved']} resolved"]
    if s["unchecked"]:
        parts.append(f"{s['unchecked']} unchecked")
    return parts
