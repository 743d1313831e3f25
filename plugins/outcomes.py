"""Each check's outcome into records: blockers, warnings, waivers, skips, one-line errors, redaction.

Every check's outcome becomes one or more records
``{check, environment, item, outcome, severity, message, details}``. Records travel inside the test
reports' ``user_properties`` under ``PROPERTY``, so a run split by pytest-xdist yields the same
complete report (releasegate.report collects them).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from releasegate import unrendered
from releasegate.core import locations
from releasegate.core.handle import Unreachable
from releasegate.core.redact import redact, redact_exception, redact_obj
from releasegate.findings import BLOCKER, GATE, NOTE, Finding, Gate, apply_waivers
from releasegate.fixtures import ONE_LINE_ERRORS, READ_LIVE
from releasegate.params import check_param, shared

PROPERTY = "releasegate"
ERROR = "error"


_CONTEXT = pytest.StashKey["tuple[str, str, str | None] | None"]()


def _context(item: pytest.Item) -> tuple[str, str, str | None] | None:
    """(check, environment, item id) of a releasegate check, None for any other test (worked out
    once per check: every report of it asks)."""
    try:
        return item.stash[_CONTEXT]
    except KeyError:
        pass
    param = check_param(item)
    context = None
    if param is not None:
        context = (getattr(item, "originalname", None) or item.name.split("[")[0], param[0], param[2])
    item.stash[_CONTEXT] = context
    return context


def _exception_line(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(excinfo.value).strip()
    first = text.splitlines()[0] if text else excinfo.typename
    return redact(first)


def _finding_record(check: str, env: str, item_id: str | None, outcome: str,
                    finding: Finding, sources: dict[str, Any]) -> dict[str, Any]:
    record = {"check": check, "environment": env, "item": finding.item or item_id,
              "outcome": outcome, "severity": finding.severity, "message": finding.message,
              "details": finding.details}
    if finding.location is not None:
        record["location"] = finding.location.as_dict()
        source = sources.get(finding.location.source or "")
        url = locations.web_link(getattr(source, "web_url", None), finding.location)
        if url:
            record["location"]["url"] = url
    if finding.waiver is not None:
        record["waiver"] = {"reason": finding.waiver.reason,
                            "expires": finding.waiver.expires.isoformat(),
                            "expired": finding.waiver_expired}
    return record


def _redact_exception(call: pytest.CallInfo[None]) -> None:
    """Mask secrets in the exception itself: other plugins (allure) read it, not our report."""
    if call.excinfo is not None:
        redact_exception(call.excinfo.value)


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
            live = item.stash.get(READ_LIVE, False)
            for index, record in enumerate(new):
                record.update(nodeid=report.nodeid, index=index, duration=round(spent, 4))
                if live:
                    record["live"] = True  # it compared live state (releasegate.verdict)
            report.user_properties = [*report.user_properties,
                                      *((PROPERTY, json.dumps(redact_obj(r))) for r in new)]
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
        unrendered = _unrendered(report, base, message)
        if unrendered:
            return unrendered
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
        return _unrendered(report, base, report.longrepr) or \
            [{**base, "outcome": ERROR, "severity": ERROR, "message": report.longrepr}]
    return [{**base, "outcome": "failed", "severity": ERROR,
             "message": f"the check itself crashed: {_exception_line(excinfo)}"}]


def _unrendered(report: pytest.TestReport, base: dict[str, Any],
                message: str) -> list[dict[str, Any]] | None:
    """A chart that did not render: this check is not checked, pointing at the one ERROR line
    the environment gets for it (plugins/unrendered.py), None for any other error."""
    line = unrendered.failure(base["environment"], message)
    if line is None:
        return None
    reason = unrendered.skip_reason(base["environment"])
    report.outcome = "skipped"
    report.longrepr = (report.location[0], (report.location[1] or 0) + 1, f"Skipped: {reason}")
    return [{**base, "outcome": "skipped", "severity": None, "message": reason,
             "details": {unrendered.KEY: line}}]


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
    records = [_finding_record(check, env, item_id, outcome, f, state.estate.sources)
               for f in found.findings]
    if all(f.severity == NOTE for f in found.findings):  # a note is the run's: the item's own record too
        records.insert(0, {**base, "outcome": outcome, "severity": None, "message": ""})
    return records


def _locate(host: Any, check: str, item_id: str | None, item: pytest.Item, found: Gate) -> None:
    """Give every finding the place to change; a location that cannot be worked out is left
    out rather than turning the finding into an error."""
    param = check_param(item)
    value = param[1] if param is not None else None
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
    if report.sections:
        report.sections = [(title, redact(body)) for title, body in report.sections]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Label allure results with environment and item when allure is on."""
    context = _context(item) if getattr(item.config.option, "allure_report_dir", None) else None
    if context is not None:
        import allure

        allure.dynamic.label("environment", context[1])
        if context[2]:
            allure.dynamic.label("item", context[2])
        allure.dynamic.label("check", context[0])
    return (yield)
