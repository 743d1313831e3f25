"""Findings grouped by root cause, for the morning page (drift.html, drift.md).

One cause often breaks several checks: an image that was never built is missing from the registry
(test_image_present), not built by the workflow that should (test_build_matrix_parity) and leaves
its pods in ImagePullBackOff (test_workload_healthy). The cause of a finding is read from what the
check recorded, first match wins:

1. an image: ``details.image``, else ``details.repository`` with ``details.tag`` (the digest
   dropped, so a pinned and a tagged reference of one image meet);
2. a variable of one environment: ``details.variable``, else an item that is a variable name;
3. a place to change: the finding's location (source, path, line);
4. else the finding alone.

Pure functions over drift.json's findings: nothing here reads pytest, the network or the clock.
"""
from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any

from releasegate.drift.document import finding_order, worst

_VARIABLE = re.compile(r"^[A-Z][A-Z0-9_]*$")
_FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
_RANK = {"blocker": 0, "error": 1, "warning": 2, "waived": 3}


def _image(details: dict) -> str | None:
    image = details.get("image")
    if isinstance(image, str) and image:
        return image.split("@", 1)[0]
    repository, tag = details.get("repository"), details.get("tag")
    if isinstance(repository, str) and repository:
        return f"{repository}:{tag}" if isinstance(tag, str) and tag else repository
    return None


def _short_image(ref: str) -> str:
    name, _, tag = ref.rpartition(":")
    return f"{name}:{tag[:12]}…" if name and _FULL_SHA.match(tag) else ref


def cause(finding: dict) -> tuple[str, str]:
    """(key, title) of a finding's root cause; findings with one key share one group."""
    details = finding.get("details") if isinstance(finding.get("details"), dict) else {}
    env = finding.get("environment") or ""
    image = _image(details)
    if image:
        return f"image:{image}", f"image {_short_image(image)}"
    variable = details.get("variable")
    item = finding.get("item") or ""
    if not (isinstance(variable, str) and variable) and _VARIABLE.match(item):
        variable = item
    if isinstance(variable, str) and variable:
        return f"variable:{env}:{variable}", f"{variable} in {env}"
    location = finding.get("location")
    if isinstance(location, dict) and location.get("path"):
        where = where_text(location)
        return f"location:{location.get('source')}:{location['path']}:{location.get('line')}", where
    check = finding.get("check") or ""
    return (f"finding:{check}:{env}:{item}",
            f"{check} {item}".strip() + (f" in {env}" if env else ""))


def where_text(location: dict | None) -> str:
    """source:path:line of a location ("" when it names no file); the environments file (no
    source) by its file name."""
    if not isinstance(location, dict) or not location.get("path"):
        return ""
    path = str(location["path"])
    if location.get("source"):
        path = f"{location['source']}:{path}"
    else:
        path = PurePath(path).name
    return f"{path}:{location['line']}" if location.get("line") else path


def bare_message(finding: dict) -> str:
    """The finding's full message without the "environment: " it starts with (shown beside)."""
    message = str(finding.get("message") or "")
    return message.removeprefix(f"{finding.get('environment')}: ")


def group(findings: list[dict]) -> list[dict[str, Any]]:
    """The findings as root-cause groups, what to fix first first: worst category, then new
    before persisting, then the cause that breaks the most checks.

    A group is {key, title, category, status, environments, first_seen, members}; its members
    are the findings, worst first."""
    groups: dict[str, dict[str, Any]] = {}
    for finding in findings:
        key, title = cause(finding)
        entry = groups.setdefault(key, {"key": key, "title": title, "members": []})
        entry["members"].append(finding)
    for entry in groups.values():
        members = sorted(entry["members"], key=finding_order)
        entry["members"] = members
        entry["category"] = worst(m.get("category") or "" for m in members)
        entry["status"] = "new" if any(m.get("status") == "new" for m in members) \
            else "persisting"
        entry["environments"] = sorted({m.get("environment") or "" for m in members})
        entry["first_seen"] = min((m.get("first_seen") or "" for m in members), default="")
    return sorted(groups.values(), key=lambda g: (
        _RANK.get(g["category"] or "", 9), g["status"] != "new", -len(g["members"]), g["title"]))


def changes(doc: dict) -> tuple[list[dict], list[dict]]:
    """What changed since the baseline: the new findings (blockers first, then errors, warnings,
    waived) and the resolved ones; both empty without a baseline."""
    if doc.get("baseline") is None:
        return [], []
    new = sorted((f for f in doc["findings"] if f.get("status") == "new"), key=finding_order)
    return new, sorted(doc.get("resolved") or [], key=finding_order)
