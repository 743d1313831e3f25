"""The run's report: the records every check produced, what was not checked, --report-json.

Records are made by releasegate.outcomes and travel in the test reports' ``user_properties``; this
module collects them (on the xdist controller they arrive serialized), sums up what the run did not
verify, and writes --report-json once, on the controller.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

import releasegate
from releasegate import unrendered
from releasegate import verdict as verdicts
from releasegate.core.atomic import write_file
from releasegate.core.neutral import clean_obj
from releasegate.core.redact import install_log_redaction, redact_obj, register_names
from releasegate.lifecycle import run_id, stopped_by
from releasegate.findings import NOTE, WARNING
from releasegate.options import settings
from releasegate.outcomes import PROPERTY
from releasegate.params import selected, shared
from releasegate.settings import boot
from releasegate.shards import XDIST_NOTE, stamp, xdist_slower

_RECORDS = pytest.StashKey[list[dict[str, Any]]]()
# Notes (how a check read the estate) belong to the run, not to the environment whose check
# happened to say them first: kept apart, so that shards merge into the serial run's records.
_NOTES = pytest.StashKey[list[dict[str, Any]]]()
_STARTED = pytest.StashKey[float]()
_REPORT_FAILED = pytest.StashKey[str]()


def records(config: pytest.Config) -> list[dict[str, Any]]:
    """Every record of this run, in a stable order (complete on the xdist controller)."""
    return sorted(config.stash.get(_RECORDS, []),
                  key=lambda r: (r["nodeid"], r.get("index", 0)))


def run_metadata(config: pytest.Config) -> dict[str, Any]:
    """What the run checked: refs, environments, duration, suite version."""
    state = shared(config)
    refs = {}
    for name, repo in state.repos.items():
        ref = state.ref(name)
        refs[name] = {"ref": ref, "commit": repo.rev_parse(ref)}
    started = config.stash.get(_STARTED, time.time())
    return {
        "suite_version": releasegate.__version__,
        "environments_file": str(state.estate.path),
        "environments": selected(config),
        "refs": refs,
        "candidate": state.candidate(),
        "markers": config.option.markexpr or "",
        "started": dt.datetime.fromtimestamp(started, dt.timezone.utc).isoformat(timespec="seconds"),
        "duration_s": round(time.time() - started, 3),
    }


class _Collector:
    """Collects records from every report (on the xdist controller they arrive serialized)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for entry in report.user_properties:
            if entry[0] == PROPERTY:
                record = json.loads(entry[1])
                kept = _NOTES if record.get("severity") == NOTE else _RECORDS
                self.config.stash[kept].append(record)


# tryfirst: before allure's own pytest_configure, which fails with an INTERNALERROR on a bad path.
@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Start the record list and the clock; mask secrets in every log record; a report path
    (--report-json, --junitxml, --alluredir) that cannot be written stops the run now (exit 4)
    rather than after every check has run."""
    config.stash[_RECORDS] = []
    config.stash[_NOTES] = []
    config.stash[_STARTED] = time.time()
    config.pluginmanager.register(_Collector(config), "releasegate-records")
    install_log_redaction()
    if hasattr(config, "workerinput"):
        return
    invoked = Path(config.invocation_params.dir)
    reports = [("--report-json", settings(config).report_json, False),
               ("--junitxml", getattr(config.option, "xmlpath", None), False),
               ("--alluredir", getattr(config.option, "allure_report_dir", None), True)]
    for flag, path, is_dir in reports:
        if path:
            path = invoked / os.path.expanduser(str(path))
            problem = (writable_dir_problem if is_dir else writable_problem)(path)
            if problem:
                raise pytest.UsageError(f"{flag}: cannot write {path}: {problem}")


def writable_problem(path: Path) -> str | None:
    """Why a report file at path could not be written (None if it can), creating no file."""
    if path.is_dir():
        return "it is a directory"
    problem = writable_dir_problem(path.parent)
    if problem is None and path.exists() and not os.access(path, os.W_OK):
        return "permission denied"
    return problem


def writable_dir_problem(path: Path) -> str | None:
    """Why files could not be written into a report folder at path (None if they can); the
    folder is created when missing, as the report writers would."""
    if path.exists() and not path.is_dir():
        return f"{path} is a file, not a folder"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create {path}: {exc.strerror}"
    if not os.access(path, os.W_OK | os.X_OK):
        return "permission denied"
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The checks' names (and their parameter ids) are shown as they are: a secret equal to one
    is masked only where it stands as a credential's value."""
    names: set[str] = set()
    for item in items:
        names.add(getattr(item, "originalname", item.name))
        callspec = getattr(item, "callspec", None)
        if callspec is not None:
            names.update(str(v) for v in callspec.params.values() if isinstance(v, str))
    register_names(names)


def incomplete_reason(session: pytest.Session) -> str | None:
    """Why the run stopped before reaching every check (Ctrl-C, -x, --maxfail, an internal
    error), or None for a run that finished."""
    signal_name = stopped_by(session)
    if signal_name:
        return f"interrupted by {signal_name} before every check ran"
    status = int(session.exitstatus)
    if status in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) and not (
            session.shouldstop or session.shouldfail):
        return None
    why = session.shouldstop or session.shouldfail
    return (f"the run stopped early (exit code {status}"
            + (f": {why}" if isinstance(why, str) and why else "") + ")")


def _label(record: dict[str, Any]) -> str:
    """The check's name as its node id spells it, so the line can be rerun as it is printed."""
    return record["nodeid"].rsplit("::", 1)[-1]


def not_checked(found: list[dict[str, Any]], limit: int = 12) -> list[str]:
    """One line per distinct skip reason, most frequent first: what this run did not verify."""
    counts: dict[str, int] = {}
    for r in found:
        if r["outcome"] == "skipped":
            counts[r["message"]] = counts.get(r["message"], 0) + 1
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    lines = [f"{n} check{'s' if n > 1 else ''}: {message}" for message, n in ordered[:limit]]
    if len(ordered) > limit:
        lines.append(f"... and {len(ordered) - limit} more reasons (-rs lists every skip)")
    return lines


def notes(config: pytest.Config) -> list[str]:
    """The run's notes (how checks read the estate, defaults they applied), each once, in order:
    informational, never counted as warnings, and no record of any environment."""
    said = sorted(config.stash.get(_NOTES, []), key=lambda r: (r["nodeid"], r.get("index", 0)))
    return list(dict.fromkeys(r["message"] for r in said))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """List what was not checked, the notes, warnings and waived blockers: they change no exit code."""
    found = records(config)
    skipped = not_checked(found)
    if skipped:
        # A release gate that skipped half its checklist must say so where the verdict is read.
        terminalreporter.section("releasegate not checked", sep="-")
        for line in skipped:
            terminalreporter.line(line)
    if found and xdist_slower(config):  # said where checks ran, not in a run of other tests
        terminalreporter.line(f"note: {XDIST_NOTE}", yellow=True)
    said = notes(config)
    if said:
        terminalreporter.section("releasegate notes", sep="-")
        for line in said:
            terminalreporter.line(f"NOTE {line}")
    failed_renders = unrendered.failures(found)
    if failed_renders:  # one line per environment and chart, however many checks needed it
        terminalreporter.section("releasegate errors", sep="-", red=True)
        for env, line, n in failed_renders:
            terminalreporter.line(f"ERROR {env}: {line} ({n} check{'s' if n > 1 else ''} not "
                                  "checked)", red=True)
    warnings = [r for r in found if r["severity"] == WARNING and "waiver" not in r]
    waived = [r for r in found if "waiver" in r and not r["waiver"]["expired"]]
    if warnings:
        terminalreporter.section("releasegate warnings", sep="-", yellow=True)
        for r in warnings:
            terminalreporter.line(f"WARNING {_label(r)}: {r['message']}")
    if waived:
        terminalreporter.section("releasegate waivers", sep="-")
        for r in waived:
            terminalreporter.line(f"WAIVED {_label(r)} until {r['waiver']['expires']}: "
                                  f"{r['waiver']['reason']}")
    if _REPORT_FAILED in config.stash:
        terminalreporter.line(f"ERROR {config.stash[_REPORT_FAILED]}", red=True)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write --report-json once, on the controller."""
    config = session.config
    if hasattr(config, "workerinput"):
        return
    found = records(config)
    verdict = None
    interrupted = stopped_by(session)
    if found or interrupted:
        require = settings(config).require_checked
        verdict = verdicts.summarize(found, sorted({r["environment"] for r in found}),
                                     config.option.markexpr or "", interrupted=interrupted,
                                     require_checked=require)
        verdicts.remember(config, verdict)
        if verdict["unrendered"] and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # an error, though its checks skipped
        verdicts.write_step_summary(verdict, found)
        if require is not None and verdict["verdict"] == "not verified" and \
                session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # asked for: too little ran
    path = settings(config).report_json
    if path is None:
        return
    payload: dict[str, Any] = {"releasegate": releasegate.__version__, "records": found,
                               "verdict": verdict}
    try:
        payload["run"] = run_metadata(config)
    except pytest.UsageError:
        payload["run"] = {}
    payload["run"]["run_id"] = run_id(config)
    if stamp(config) is not None:
        payload["run"]["shard"] = stamp(config)
    payload["run"]["notes"] = notes(config)
    # Like the drift report: what an interrupted run did not reach is unchecked, not passing.
    incomplete = incomplete_reason(session)
    payload["run"]["complete"] = incomplete is None
    if incomplete:
        payload["run"]["incomplete"] = incomplete
    boot.close_all()  # every boot has ended (its process groups killed) before the report is written
    try:
        write_file(path, json.dumps(clean_obj(redact_obj(payload)), indent=2, sort_keys=True) + "\n")
    except OSError as exc:  # the disk filled up or the folder went away during the run
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
        config.stash[_REPORT_FAILED] = f"--report-json: could not write {path}: {exc.strerror}"
