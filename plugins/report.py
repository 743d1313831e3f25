"""Outcomes into records: blockers, warnings, waivers, one-line errors, redaction, --report-json.

Every check's outcome becomes one or more records
``{check, environment, item, outcome, severity, message, details}``. Records travel inside the test
reports' ``user_properties``, so a run split by pytest-xdist yields the same complete report.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

import plugins
from plugins import verdict as verdicts
from plugins.core import locations
from plugins.findings import BLOCKER, GATE, WARNING, Finding, Gate, apply_waivers
from plugins.fixtures import ONE_LINE_ERRORS
from plugins.core.handle import Unreachable
from plugins.options import settings
from plugins.params import shared
from plugins.core.redact import install_log_redaction, redact, redact_exception, redact_obj

_PROPERTY = "releasegate"
_RECORDS = pytest.StashKey[list[dict[str, Any]]]()
_STARTED = pytest.StashKey[float]()
_REPORT_FAILED = pytest.StashKey[str]()
ERROR = "error"


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
        "suite_version": plugins.__version__,
        "environments_file": str(state.estate.path),
        "environments": sorted(state.settings.env_names or state.estate.environments),
        "refs": refs,
        "candidate": state.candidate(),
        "markers": config.option.markexpr or "",
        "started": dt.datetime.fromtimestamp(started, dt.timezone.utc).isoformat(timespec="seconds"),
        "duration_s": round(time.time() - started, 3),
    }


def _context(item: pytest.Item) -> tuple[str, str, str | None] | None:
    """(check, environment, item id) of a releasegate check, None for any other test."""
    callspec = getattr(item, "callspec", None)
    param = callspec.params.get("host") if callspec else None
    if not isinstance(param, tuple) or len(param) != 3:
        return None
    check = getattr(item, "originalname", None) or item.name.split("[")[0]
    return check, param[0], param[2]


class _Collector:
    """Collects records from every report (on the xdist controller they arrive serialized)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for entry in report.user_properties:
            if entry[0] == _PROPERTY:
                self.config.stash[_RECORDS].append(json.loads(entry[1]))


# tryfirst: before allure's own pytest_configure, which fails with an INTERNALERROR on a bad path.
@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Start the record list and the clock; mask secrets in every log record; a report path
    (--report-json, --junitxml, --alluredir) that cannot be written stops the run now (exit 4)
    rather than after every check has run."""
    config.stash[_RECORDS] = []
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


def incomplete_reason(session: pytest.Session) -> str | None:
    """Why the run stopped before reaching every check (Ctrl-C, -x, --maxfail, an internal
    error), or None for a run that finished."""
    status = int(session.exitstatus)
    if status in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) and not (
            session.shouldstop or session.shouldfail):
        return None
    why = session.shouldstop or session.shouldfail
    return (f"the run stopped early (exit code {status}"
            + (f": {why}" if isinstance(why, str) and why else "") + ")")


def _exception_line(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(excinfo.value).strip()
    first = text.splitlines()[0] if text else excinfo.typename
    return redact(first)


def _finding_record(check: str, env: str, item_id: str | None, outcome: str,
                    finding: Finding) -> dict[str, Any]:
    record = {"check": check, "environment": env, "item": finding.item or item_id,
              "outcome": outcome, "severity": finding.severity, "message": finding.message,
              "details": finding.details}
    if finding.location is not None:
        record["location"] = finding.location.as_dict()
    if finding.waiver is not None:
        record["waiver"] = {"reason": finding.waiver.reason,
                            "expires": finding.waiver.expires.isoformat(),
                            "expired": finding.waiver_expired}
    return record


def _redact_exception(call: pytest.CallInfo[None]) -> None:
    """Mask secrets in the exception itself: other plugins (allure) read it, not our report."""
    if call.excinfo is not None:
        redact_exception(call.excinfo.value)


# trylast: innermost, so that allure's wrapper, which writes fixture errors into its
# *-container.json (befores[].statusDetails), sees the exception already masked.
@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_fixture_setup(fixturedef: Any, request: Any) -> Any:
    """Mask secrets in a fixture's exception before any other plugin reads it."""
    try:
        return (yield)
    except BaseException as exc:
        redact_exception(exc)
        raise


_SETUP_S = pytest.StashKey[float]()


# trylast: the innermost wrapper, so that the exception is redacted before outer wrappers read it.
@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Any:
    """Turn gate findings, waivers and infrastructure errors into outcomes and records."""
    _redact_exception(call)
    report = yield
    context = _context(item)
    if call.when == "setup":  # a check's cost includes its fixtures (the probe runs in one)
        item.stash[_SETUP_S] = report.duration
    if context is not None:
        check, env, item_id = context
        new = _outcome(item, call, report, check, env, item_id)
        if new:
            spent = report.duration + (item.stash.get(_SETUP_S, 0.0) if call.when != "setup" else 0)
            for index, record in enumerate(new):
                record.update(nodeid=report.nodeid, index=index, duration=round(spent, 4))
            report.user_properties = [*report.user_properties,
                                      *((_PROPERTY, json.dumps(redact_obj(r))) for r in new)]
    _redact_report(report)
    return report


def _skip_reason(report: pytest.TestReport) -> str:
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    return reason.removeprefix("Skipped: ")


def _outside_call(call: pytest.CallInfo[None], report: pytest.TestReport,
                  base: dict[str, Any]) -> list[dict[str, Any]]:
    """Setup and teardown: a skip names the missing setting, broken infrastructure is an error."""
    if report.skipped:
        return [{**base, "outcome": "skipped", "severity": None, "message": _skip_reason(report)}]
    if not report.failed or call.excinfo is None:
        return []
    message = _exception_line(call.excinfo)
    if report.when == "setup" and isinstance(call.excinfo.value, (Unreachable, *ONE_LINE_ERRORS)):
        report.longrepr = message
    if report.when != "setup":
        message = f"{report.when}: {message}"
    return [{**base, "outcome": ERROR, "severity": ERROR, "message": message}]


def _exception_outcome(call: pytest.CallInfo[None], report: pytest.TestReport, found: Gate,
                       base: dict[str, Any]) -> list[dict[str, Any]] | None:
    """A check that raised: an assert becomes a blocker, broken infrastructure an error, anything
    else a crash of the check itself. None when the gate already holds the reason."""
    excinfo = call.excinfo
    if excinfo is None:
        return None
    if excinfo.errisinstance(pytest.fail.Exception) and \
            any(f.severity == BLOCKER for f in found.findings):
        return None
    if isinstance(excinfo.value, AssertionError) or excinfo.errisinstance(pytest.fail.Exception):
        found.findings.append(Finding(BLOCKER, _exception_line(excinfo)))
        return None
    if isinstance(excinfo.value, (Unreachable, *ONE_LINE_ERRORS)):
        report.longrepr = _exception_line(excinfo)
        return [{**base, "outcome": ERROR, "severity": ERROR, "message": report.longrepr}]
    return [{**base, "outcome": "failed", "severity": ERROR,
             "message": f"the check itself crashed: {_exception_line(excinfo)}"}]


def _decide(report: pytest.TestReport, found: Gate, strict_warnings: bool) -> str:
    """Set the report's outcome from the findings (waivers applied); return the record outcome."""
    blockers, warnings = found.blockers, found.warnings
    waived = [f for f in found.findings if f.waiver is not None and not f.waiver_expired]
    if blockers:
        lines = [f.message + (f" (waiver expired {f.waiver.expires}: {f.waiver.reason})"
                              if f.waiver_expired and f.waiver else "") for f in blockers]
        report.outcome, report.longrepr = "failed", "\n".join(lines)
        return "failed"
    if warnings and strict_warnings:
        report.outcome = "failed"
        report.longrepr = "\n".join(f"warning (strict): {f.message}" for f in warnings)
        return "failed"
    if any(f.severity == BLOCKER for f in waived):
        reasons = sorted({f.waiver.reason for f in waived if f.waiver})
        report.outcome, report.longrepr = "skipped", None
        report.wasxfail = "waived: " + "; ".join(reasons)
        return "xfailed"
    if report.failed:  # a gate.fail whose blockers were all waived
        report.outcome, report.longrepr = "passed", None
    return "passed"


def _outcome(item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport,
             check: str, env: str, item_id: str | None) -> list[dict[str, Any]]:
    base = {"check": check, "environment": env, "item": item_id, "details": {}}
    if report.when != "call":
        return _outside_call(call, report, base)
    if report.skipped:
        return [{**base, "outcome": "skipped", "severity": None, "message": _skip_reason(report)}]
    found: Gate = item.stash.get(GATE, None) or Gate()
    early = _exception_outcome(call, report, found, base)
    if early is not None:
        return early
    for finding in found.findings:
        # Every line says where: a message that does not start with its environment gets it.
        if not finding.message.startswith(env):
            finding.message = f"{env}: {finding.message}"
    state = shared(item.config)
    _locate(state.host(env), check, item_id, item, found)
    apply_waivers(found, state.estate.waivers, check, env, item_id)
    outcome = _decide(report, found, state.settings.strict_warnings)
    if not found.findings:
        return [{**base, "outcome": outcome, "severity": None, "message": ""}]
    return [_finding_record(check, env, item_id, outcome, f) for f in found.findings]


def _locate(host: Any, check: str, item_id: str | None, item: pytest.Item, found: Gate) -> None:
    """Give every finding the place to change; a location that cannot be worked out is left
    out rather than turning the finding into an error."""
    value = item.callspec.params["host"][1] if hasattr(item, "callspec") else None
    for finding in found.findings:
        if finding.location is None:
            try:
                finding.location = locations.locate(host, check, item_id, value, finding)
            except Exception:  # noqa: BLE001 - a location is extra information, never a verdict
                finding.location = None


def _redact_report(report: pytest.TestReport) -> None:
    if report.longrepr is not None:
        text = str(report.longrepr)
        clean = redact(text)
        if clean != text:
            report.longrepr = clean
    report.sections = [(title, redact(body)) for title, body in report.sections]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Label allure results with environment and item when allure is on."""
    context = _context(item)
    if context is not None and getattr(item.config.option, "allure_report_dir", None):
        import allure

        allure.dynamic.label("environment", context[1])
        if context[2]:
            allure.dynamic.label("item", context[2])
        allure.dynamic.label("check", context[0])
    return (yield)


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


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """List what was not checked, warnings and waived blockers: they change no exit code."""
    found = records(config)
    skipped = not_checked(found)
    if skipped:
        # A release gate that skipped half its checklist must say so where the verdict is read.
        terminalreporter.section("releasegate not checked", sep="-")
        for line in skipped:
            terminalreporter.line(line)
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
    if found:
        verdict = verdicts.summarize(found, sorted({r["environment"] for r in found}),
                                     config.option.markexpr or "")
        verdicts.remember(config, verdict)
        verdicts.write_step_summary(verdict, found)
    path = settings(config).report_json
    if path is None:
        return
    payload: dict[str, Any] = {"releasegate": plugins.__version__, "records": found,
                               "verdict": verdict}
    try:
        payload["run"] = run_metadata(config)
    except pytest.UsageError:
        payload["run"] = {}
    # Like the drift report: what an interrupted run did not reach is unchecked, not passing.
    incomplete = incomplete_reason(session)
    payload["run"]["complete"] = incomplete is None
    if incomplete:
        payload["run"]["incomplete"] = incomplete
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(redact_obj(payload), indent=2, sort_keys=True) + "\n")
    except OSError as exc:  # the disk filled up or the folder went away during the run
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
        config.stash[_REPORT_FAILED] = f"--report-json: could not write {path}: {exc.strerror}"
