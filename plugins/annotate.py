"""Findings where code review happens: GitHub Actions annotations and SARIF 2.1.0.

On GitHub Actions (``GITHUB_ACTIONS=true``) every blocker, error and warning becomes a workflow
command on stdout, ``::error file=<path>,line=<n>,title=<node id>::<message>`` (``::warning``
for warnings), which GitHub shows on the pull request's changed lines and in the run's summary.
With a drift baseline (the pull-request gate compares with the base branch), a finding the
baseline already had is a ``::notice``: the pull request did not bring it.
The file is the finding's location inside its repository, prefixed with where that repository
lies below ``$GITHUB_WORKSPACE`` (a checkout of the deployment repository at the workspace root
gets plain repository paths, as GitHub matches them to the pull request's files); a location in a
repository outside the workspace is named in the message instead.

``--sarif PATH`` writes the same findings as one SARIF 2.1.0 run (rules = checks, results with a
physical location per finding, relative to the source it names through ``uriBaseId``) for code
scanning upload.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import releasegate
from releasegate import unrendered
from releasegate.drift import document, plugin
from releasegate.options import settings
from releasegate.core.atomic import write_file
from releasegate.core.neutral import clean_obj, controls
from releasegate.core.redact import redact_obj
from releasegate.lifecycle import run_id
from releasegate.stdout_guard import guard

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"blocker": "error", "error": "error", "warning": "warning"}


def reported(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records worth a reviewer's eye: blockers and errors that count, warnings not waived."""
    out = []
    for r in found:
        if r["outcome"] == "error" or (r["severity"] == "blocker" and r["outcome"] == "failed") \
                or (r["severity"] == "warning" and "waiver" not in r):
            out.append(r)
    for env, line, n in unrendered.failures(found):  # one error per environment and chart
        out.append({"check": "render", "environment": env, "item": None, "outcome": "error",
                    "severity": "error", "nodeid": f"render[{env}]", "details": {},
                    "message": f"{env}: {line} ({n} check{'s' if n > 1 else ''} not checked)"})
    return out


def _escape_data(text: str) -> str:
    # Escaped as the runner unescapes (actions/runner ActionCommand: %25, %0D, %0A; properties
    # also %3A, %2C); other control characters as \x1b, so no ESC reaches the log viewer.
    return controls(text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workspace_path(location: dict[str, Any], sources: dict[str, Path], workspace: Path) -> str | None:
    """The location's file as a path below the workspace (plain repository path when the source
    is not below it), or None when the finding names no file."""
    if not location or not location.get("path"):
        return None
    source = location.get("source")
    full = (sources[source] / location["path"]) if source in sources else Path(location["path"])
    try:
        return full.resolve().relative_to(workspace.resolve()).as_posix()
    except ValueError:  # another repository: a file of that name here would be the wrong one
        return None


def annotation(record: dict[str, Any], sources: dict[str, Path], workspace: Path,
               known_before: bool = False) -> str:
    """One GitHub Actions workflow command for a record (a notice when the baseline had it)."""
    kind = "warning" if record["severity"] == "warning" else "error"
    if known_before:
        kind = "notice"
    props = []
    location = record.get("location") or {}
    path = workspace_path(location, sources, workspace)
    if path:
        props.append(f"file={_escape_property(path)}")
        if location.get("line"):
            props.append(f"line={int(location['line'])}")
    props.append(f"title={_escape_property('releasegate ' + record['nodeid'].rsplit('::', 1)[-1])}")
    message = record["message"] + (" (already there before this change)" if known_before else "")
    if not path and location.get("path"):
        where = ":".join(str(p) for p in (location.get("source"), location["path"], location.get("line")) if p)
        message += f" (at {where})"
    return f"::{kind} {','.join(props)}::{_escape_data(message)}"


def sarif(found: list[dict[str, Any]], sources: dict[str, Path]) -> dict[str, Any]:
    """A SARIF 2.1.0 log of the run's findings."""
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for r in reported(found):
        rules.setdefault(r["check"], {"id": r["check"], "name": r["check"],
                                      "shortDescription": {"text": f"releasegate check {r['check']}"}})
        result: dict[str, Any] = {
            "ruleId": r["check"],
            "level": _LEVEL.get(r["severity"] or "error", "error"),
            "message": {"text": r["message"] or r["check"]},
            "partialFingerprints": {"releasegate/v1": f"{r['check']}|{r['environment']}|{r['item']}"},
            "properties": {"environment": r["environment"], "item": r["item"],
                           "nodeid": r["nodeid"], "outcome": r["outcome"]},
        }
        location = r.get("location") or {}
        if location.get("path"):
            artifact: dict[str, Any] = {"uri": location["path"]}
            if location.get("source"):
                artifact["uriBaseId"] = location["source"]
            physical: dict[str, Any] = {"artifactLocation": artifact}
            if location.get("line"):
                physical["region"] = {"startLine": int(location["line"])}
            result["locations"] = [{"physicalLocation": physical}]
            if location.get("commit"):
                result["properties"]["commit"] = location["commit"]
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "releasegate", "version": releasegate.__version__,
                                "rules": list(rules.values())}},
            "originalUriBaseIds": {name: {"uri": path.resolve().as_uri() + "/"}
                                   for name, path in sorted(sources.items())},
            "results": results,
        }],
    }


def _sources(config: pytest.Config) -> dict[str, Path]:
    from releasegate.params import shared

    try:
        return {name: source.path for name, source in shared(config).estate.sources.items()}
    except pytest.UsageError:
        return {}


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print the annotations when running on GitHub Actions."""
    if os.environ.get("GITHUB_ACTIONS") != "true" or hasattr(config, "workerinput"):
        return
    from releasegate.report import records

    found = reported(records(config))
    if not found:
        return
    sources = _sources(config)
    workspace = Path(os.environ.get("GITHUB_WORKSPACE") or config.invocation_params.dir)
    before = _persisting(config)
    lines = [annotation(r, sources, workspace, document.identity(r) in before) for r in found]
    own = guard(config)
    if own is not None:
        own.commands(lines)  # the runner reads these even though the rest of the output is muted
    else:
        for line in lines:
            terminalreporter.write_line(line)


def _persisting(config: pytest.Config) -> set[tuple[str, str, str]]:
    """Findings a drift baseline already had (a pull request's base): they are no news to its
    author, so they are annotated as notices, not errors."""
    state = config.stash.get(plugin.STATE, None)
    doc = (state or {}).get("doc")
    if not doc or not doc.get("baseline"):
        return set()
    return {document.identity(f) for f in doc["findings"] if f["status"] == "persisting"}


def pytest_configure(config: pytest.Config) -> None:
    """A --sarif path that cannot be written stops the run now (exit 4), as --report-json does."""
    from releasegate.report import writable_problem

    path = settings(config).sarif
    if path is not None and not hasattr(config, "workerinput"):
        problem = writable_problem(path)
        if problem:
            raise pytest.UsageError(f"--sarif: cannot write {path}: {problem}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write --sarif once, on the controller."""
    config = session.config
    path = settings(config).sarif
    if path is None or hasattr(config, "workerinput"):
        return
    from releasegate.report import records

    try:
        log = sarif(records(config), _sources(config))
        log["runs"][0]["properties"] = {"releasegate_run_id": run_id(config)}
        write_file(path, json.dumps(clean_obj(redact_obj(log)), indent=2) + "\n")
    except OSError as exc:
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
        terminal = config.pluginmanager.get_plugin("terminalreporter")
        if terminal is not None:
            terminal.write_line(f"ERROR --sarif: could not write {path}: {exc.strerror}", red=True)
