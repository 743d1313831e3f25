"""The nightly drift report: ``--drift-report DIR`` writes drift.json, drift.md and drift.html.

Each finding is compared with the previous report (``--drift-baseline``, default DIR/drift.json
before it is replaced) by (check, environment, item): new, persisting since a first-seen date, or
resolved. ``--drift-fail-on new`` makes the exit code say "something new appeared" instead of
"there are blockers", for a nightly job that should page only on change.
"""
from __future__ import annotations

import json
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

import releasegate
from releasegate import report
from releasegate.core import atomic
from releasegate.core.neutral import clean_obj
from releasegate.core.redact import redact_obj
from releasegate.drift import baseline as baselines, document, markdown
from releasegate.lifecycle import run_id
from releasegate import shards

FAIL_ON = ("blockers", "new")
FILES = ("drift.json", "drift.md", "drift.html")
_STATE = pytest.StashKey[dict[str, Any]]()
STATE = _STATE  # read by releasegate.annotate: which findings the baseline already had


def _fail_on(value: str) -> str:
    """Parse ``--drift-fail-on``."""
    if value not in FAIL_ON:
        raise pytest.UsageError(f"--drift-fail-on: {value!r} is not one of {', '.join(FAIL_ON)}")
    return value


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the drift report options in the releasegate group."""
    group = parser.getgroup("releasegate")
    group.addoption("--drift-report", metavar="DIR", default=None,
                    help="write drift.json, drift.md and drift.html into DIR")
    group.addoption("--drift-baseline", metavar="PATH", default=None,
                    help="previous drift.json to compare with (default: DIR/drift.json from the "
                         "last run, if any)")
    group.addoption("--drift-fail-on", metavar="blockers|new", type=_fail_on, default="blockers",
                    help="blockers (default): exit 1 when a check fails, as pytest does; "
                         "new: exit 1 only when a finding appeared since the baseline")


def _resolve(config: pytest.Config, value: str) -> Path:
    return (Path(config.invocation_params.dir) / value).resolve()


def pytest_configure(config: pytest.Config) -> None:
    """Check the options and read the baseline up front: a bad one stops the run (exit 4)."""
    if hasattr(config, "workerinput"):
        return
    opt = config.option
    report = getattr(opt, "drift_report", None)
    baseline = getattr(opt, "drift_baseline", None)
    fail_on = getattr(opt, "drift_fail_on", "blockers")
    if not report:
        if baseline or fail_on != "blockers":
            flag = "--drift-baseline" if baseline else "--drift-fail-on"
            raise pytest.UsageError(f"{flag} needs --drift-report DIR")
        return
    directory = _resolve(config, report)
    if directory.exists() and not directory.is_dir():
        raise pytest.UsageError(f"--drift-report: {directory} exists and is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise pytest.UsageError(f"--drift-report: cannot create {directory}: {exc.strerror}"
                                ) from None
    if baseline:
        path = _resolve(config, baseline)
        if not path.is_file():
            raise pytest.UsageError(f"--drift-baseline: {path} does not exist")
    else:
        path = directory / "drift.json"
    loaded = baselines.load_baseline(path) if path.is_file() else None
    try:
        lock = atomic.lock_folder(directory)
    except atomic.FolderBusy as exc:
        raise pytest.UsageError(f"--drift-report: {exc}; wait for it to finish or use another "
                                "folder") from None
    except OSError as exc:
        raise pytest.UsageError(f"--drift-report: cannot lock {directory}: {exc.strerror}"
                                ) from None
    config.stash[_STATE] = {
        "dir": directory,
        "fail_on": fail_on,
        "baseline_path": path if path.is_file() else None,
        "baseline": loaded,
        "lock": lock,
    }


def pytest_unconfigure(config: pytest.Config) -> None:
    """Release the report folder."""
    state = config.stash.get(_STATE, None)
    if state and state.get("lock") is not None:
        atomic.unlock_folder(state.pop("lock"))


def _metadata(config: pytest.Config, exitstatus: int) -> dict[str, Any]:
    """Run metadata in the report's shape (refs with commits, duration, suite version)."""
    try:
        meta = report.run_metadata(config)
    except Exception:  # noqa: BLE001 -- the run already reported why; the findings still matter
        meta = {}
    return {
        "envs": list(meta.get("environments") or []),
        "refs": meta.get("refs") or {},
        "duration": meta.get("duration_s"),
        "version": meta.get("suite_version") or releasegate.__version__,
        "started_at": (meta.get("started") or "").replace("+00:00", "Z") or None,
        "markexpr": meta.get("markers") or config.option.markexpr or "",
        "candidate": meta.get("candidate"),
        "environments_file": meta.get("environments_file"),
        "exitstatus": exitstatus,
        "hostname": socket.gethostname(),
    }


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the three files and, with --drift-fail-on new, set the exit code from what is new."""
    config = session.config
    state = config.stash.get(_STATE, None)
    if state is None or hasattr(config, "workerinput"):
        return
    status = int(session.exitstatus)
    if config.option.collectonly:
        state["skipped"] = f"--collect-only runs no check; {state['dir']} keeps the previous report"
        return
    # Still written (a lost report is worse than a partial one), but what the run did not
    # reach stays unchecked instead of counting as resolved.
    incomplete = report.incomplete_reason(session)
    baseline_path = state["baseline_path"]
    doc = document.build(report.records(config), _metadata(config, status), state["baseline"],
                         datetime.now(timezone.utc),
                         baseline_path=str(baseline_path) if baseline_path else None,
                         incomplete=incomplete)
    if state["fail_on"] == "new" and incomplete is None:
        state["original_exitstatus"] = status
        new = (pytest.ExitCode.TESTS_FAILED if doc["summary"]["new_actionable"]
               else pytest.ExitCode.OK)
        doc["run"]["exitstatus"] = int(new)
        session.exitstatus = new
    ident = run_id(config)
    doc["run"]["run_id"] = ident
    if shards.stamp(config) is not None:
        doc["run"]["shard"] = shards.stamp(config)
    doc = clean_obj(redact_obj(doc))
    directory: Path = state["dir"]
    from releasegate.drift import page  # Jinja2, only for a run that writes the page
    # Every file names the run; the manifest (written last) lets a reader tell a complete set.
    stamp = f"<!-- releasegate run {ident} -->\n"
    texts = {"drift.json": document.to_json(doc),
             "drift.md": markdown.render_markdown(doc) + "\n" + stamp,
             "drift.html": page.render(doc) + stamp}
    try:
        directory.mkdir(parents=True, exist_ok=True)
        atomic.write_set(directory, texts, ident)
    except OSError as exc:  # the disk filled up or the volume went away during the run
        kept = ("the previous complete report" if atomic.complete_set(directory)
                else "no complete report")
        state["skipped"] = (f"writing into {directory} failed: {exc.strerror or exc}; "
                            f"nothing was replaced, it keeps {kept}")
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
        return
    state["doc"] = doc


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """One line pointing at the report, and why the exit code is what it is."""
    state = config.stash.get(_STATE, None)
    if not state:
        return
    if "doc" not in state:
        if "skipped" in state:
            terminalreporter.section("releasegate drift report", sep="-")
            terminalreporter.line(f"not written: {state['skipped']}")
        return
    doc = state["doc"]
    s = doc["summary"]
    terminalreporter.section("releasegate drift report", sep="-")
    terminalreporter.line(f"{state['dir'] / 'drift.html'}: {s['new']} new, {s['persisting']} "
                          f"persisting, {s['resolved']} resolved"
                          + (f", {s['unchecked']} unchecked" if s["unchecked"] else "")
                          + (f" (baseline {doc['baseline']['generated_at']})" if doc["baseline"]
                             else " (no baseline: every finding is new)"))
    if doc["run"].get("incomplete"):
        terminalreporter.line(f"incomplete run: {doc['run']['incomplete']}; findings of items it "
                              "did not reach are unchecked, not resolved")
    if "original_exitstatus" in state:
        verdict = (f"{s['new_actionable']} new finding(s) since the baseline: exit 1"
                   if s["new_actionable"] else "nothing new since the baseline: exit 0")
        terminalreporter.line(f"--drift-fail-on new: {verdict}")
