"""The verdict: one sentence that ends the run, says what it means for the moment, and counts why.

    releasegate: production is NOT safe to release: 3 blockers, 2 warnings, 19 checks not run (database not configured)
    releasegate: production is safe to release: 2 warnings (listed above)

The same sentence goes into the JSON report (``verdict``) and, on GitHub Actions, into the step
summary ($GITHUB_STEP_SUMMARY). It is computed from the run's records alone, so a run split by
pytest-xdist gets the same one.
"""

from __future__ import annotations

import os
import re
from typing import Any, Iterable

import pytest

from releasegate import unrendered
from releasegate.core.neutral import md_code, md_escape

BLOCKER, WARNING, ERROR = "blocker", "warning", "error"

# (what the moment judges, the adjective when nothing blocks, its negation)
_MOMENTS = {
    "prerelease": ("{envs} {is_} safe to release", "{envs} {is_} NOT safe to release"),
    "smoke": ("the deploy of {envs} {is_} healthy", "the deploy of {envs} {is_} NOT healthy"),
    "drift": ("{envs} {runs} what git says", "{envs} {has} drifted from git"),
    "": ("{envs} {passes} every check", "{envs} {does} NOT pass the gate"),
}

# Why checks did not run, by the first pattern their skip reason matches (the reasons themselves are
# listed above the verdict; the sentence only names the kinds).
_NOT_RUN = (
    (re.compile(r"its chart did not render"), "chart not rendered"),
    # before "registry": a chart or dependency from oci://registry-1... is a cache miss (D8)
    (re.compile(r"\bchart cache\b"), "chart not in the cache"),
    (re.compile(r"Helmfile template"), "Helmfile template"),
    (re.compile(r"--static"), "left out by --static"),
    (re.compile(r"registries\.skip"), "skipped by registries.skip"),
    (re.compile(r"\bdatabase\b|dsn_env"), "database not configured"),
    (re.compile(r"\bkubernetes\b|kubeconfig"), "kubernetes not configured"),
    (re.compile(r"\bregistr(y|ies)\b"), "registry not configured"),
    (re.compile(r"ca_file|network\."), "network not configured"),
    (re.compile(r"only with --|with --\w"), "needs an option"),
)


# Skips that the run chose (--static, an option it was not given, registries.skip) or that had
# nothing to verify: they do not count against a run's being verified.
_CHOSEN = ("left out by --static", "needs an option", "skipped by registries.skip")
_NOTHING = re.compile(r"nothing to (check|compare)")
# A run is verified when at least this share of the checks it could not skip by choice ran
# (README: "a green run that verified little says so"); --require-checked sets another share.
VERIFIED_SHARE = 0.5


def _kind(message: str) -> str:
    return next((label for pattern, label in _NOT_RUN if pattern.search(message)), "other")


def unverified(checked: int, skips: Iterable[str], share: float | None = None) -> bool:
    """True when the checks that ran are less than ``share`` (default VERIFIED_SHARE) of those that
    ran or were not checked for want of something (skips the run chose, or with nothing to check,
    do not count): a run that verified little must not read as safe."""
    missing = sum(1 for m in skips if _kind(m) not in _CHOSEN and not _NOTHING.search(m))
    share = VERIFIED_SHARE if share is None else share
    return checked == 0 or checked < share * (checked + missing)


def moment(markexpr: str) -> str:
    """The moment a ``-m`` expression selects: prerelease, smoke, drift, or '' for none of them."""
    words = set(re.findall(r"[\w-]+", markexpr or ""))
    for name in ("prerelease", "smoke", "drift"):
        if name in words:
            return name
    return ""


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _environments(names: list[str]) -> tuple[str, bool]:
    if not names:
        return "the estate", False
    return ", ".join(names), len(names) > 1


def _reasons(skips: Iterable[str]) -> str:
    counts: dict[str, int] = {}
    for message in skips:
        kind = _kind(message)
        counts[kind] = counts.get(kind, 0) + 1
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if len(ordered) == 1:
        return ordered[0][0]
    return ", ".join(f"{n} {kind}" for kind, n in ordered)


# Outcomes of a check that got its live part and looked at it.
_COMPARED = ("passed", "failed", "xfailed", "xpassed")


def _drift_wording(found: list[dict[str, Any]], environments: list[str], envs: str,
                   verbs: dict[str, str]) -> tuple[str, str, str]:
    """Drift is a comparison with live state: "drifted from git" only for the environments where
    a check read it (its record says ``live``); the others are named "not compared"."""
    compared = sorted({r.get("environment") for r in found
                       if r.get("live") and r["outcome"] in _COMPARED} & set(environments))
    others = [e for e in environments if e not in compared]
    if not compared:
        many = len(environments) > 1
        return envs, (f"{{envs}} {'match' if many else 'matches'} git in what was checked "
                      "(live state not compared)"), \
            (f"{{envs}} {'fail' if many else 'fails'} the git checks (live state not compared)")
    named, many = _environments(compared)
    tail = f" ({', '.join(others)}: live state not compared)" if others else ""
    has, runs = ("have", "run") if many else ("has", "runs")
    return named, f"{{envs}} {runs} what git says{tail}", f"{{envs}} {has} drifted from git{tail}"


def summarize(found: list[dict[str, Any]], environments: list[str], markexpr: str,
              interrupted: str | None = None, require_checked: float | None = None) -> dict[str, Any]:
    """The verdict of a run's records: ``{sentence, safe, moment, blockers, errors, warnings, ...}``;
    a run interrupted (by SIGTERM or Ctrl-C) is never safe and says so first; a run where nothing
    blocks but too little ran (``unverified``) is "NOT VERIFIED", never "safe"."""
    blockers = [r for r in found if r["severity"] == BLOCKER and r["outcome"] == "failed"]
    crashed = [r for r in found if r["severity"] == ERROR and r["outcome"] == "failed"]
    errors = [r for r in found if r["outcome"] == ERROR]
    warnings = [r for r in found if r["severity"] == WARNING and "waiver" not in r]
    waived = [r for r in found if "waiver" in r and not r["waiver"]["expired"]]
    skipped = [r for r in found if r["outcome"] == "skipped"]
    checked = {r["nodeid"] for r in found if r["outcome"] != "skipped"}
    unrendered_ = unrendered.failures(found)  # one error per environment and chart
    safe = not (blockers or crashed or errors or unrendered_)
    name = moment(markexpr)
    envs, many = _environments(environments)
    verbs = {"is_": "are" if many else "is", "runs": "run" if many else "runs",
             "has": "have" if many else "has", "passes": "pass" if many else "passes",
             "does": "do" if many else "does"}
    good, bad = _MOMENTS[name]
    if name == "drift":
        envs, good, bad = _drift_wording(found, environments, envs, verbs)
    parts = []
    if blockers:
        parts.append(_plural(len(blockers), "blocker"))
    if unrendered_:
        named = "; ".join(f"{env}: {unrendered.short(line)}" for env, line, _ in unrendered_)
        parts.append(f"{_plural(len(unrendered_), 'chart')} could not be rendered ({named})")
    if crashed:
        parts.append(f"{_plural(len(crashed), 'check')} crashed")
    if errors:
        parts.append(f"{_plural(len(errors), 'error')} (a service could not be checked)")
    if warnings:
        parts.append(_plural(len(warnings), "warning")
                     + ("" if blockers or errors or unrendered_ else " (listed above)"))
    if waived:
        parts.append(f"{len(waived)} waived")
    if skipped:
        runs = "check" if len(skipped) == 1 else "checks"
        parts.append(f"{len(skipped)} {runs} not run ({_reasons(r['message'] for r in skipped)})")
    verdict = "safe" if safe else "not safe"
    if interrupted:
        head = (f"interrupted ({interrupted}): {envs} {'were' if many else 'was'} not fully "
                f"checked, {_plural(len(checked), 'check')} ran")
        safe, verdict = False, "interrupted"
    elif not checked:
        head = f"{envs} {'were' if many else 'was'} not checked"
        safe, verdict = False, "not safe" if unrendered_ else "not verified"  # a chart failed: an error
    elif safe and unverified(len(checked), (r["message"] for r in skipped), require_checked):
        head = (f"{envs} {verbs['is_']} NOT VERIFIED (only {len(checked)} of "
                f"{len(checked) + len(skipped)} checks ran)")
        safe, verdict = False, "not verified"
    else:
        head = (good if safe else bad).format(envs=envs, **verbs)
    sentence = "releasegate: " + head + (": " + ", ".join(parts) if parts else "")
    return {"sentence": sentence, "safe": safe, "moment": name or None, "verdict": verdict,
            "environments": environments, "blockers": len(blockers), "crashed": len(crashed),
            "errors": len(errors), "unrendered": len(unrendered_), "warnings": len(warnings),
            "waived": len(waived),
            "not_run": len(skipped), "checked": len(checked)}


def step_summary(verdict: dict[str, Any], found: list[dict[str, Any]]) -> str:
    """The Markdown the GitHub step summary gets: the verdict, then one line per blocker and warning.
    Estate text (check ids, messages) goes into code spans: a commit subject "# ✅ safe", an image
    or a link in it renders as the text it is."""
    mark = "✅" if verdict["safe"] else ("⚠️" if verdict.get("verdict") == "not verified" else "❌")
    lines = [f"### {mark} {md_escape(verdict['sentence'])}", ""]
    for env, line, n in unrendered.failures(found):
        lines.append(f"- **error** {md_code(env)}: {md_code(line)} ({_plural(n, 'check')} not checked)")
    for r in found:
        if (r["severity"] == BLOCKER and r["outcome"] == "failed") or \
                (r["severity"] == WARNING and "waiver" not in r) or r["outcome"] == ERROR:
            kind = r["severity"] if r["outcome"] != ERROR else ERROR
            lines.append(f"- **{kind}** {md_code(r['nodeid'].rsplit('::', 1)[-1])}: "
                         f"{md_code(r['message'])}")
    return "\n".join(lines) + "\n"


def write_step_summary(verdict: dict[str, Any], found: list[dict[str, Any]]) -> None:
    """Append the verdict to $GITHUB_STEP_SUMMARY when GitHub Actions provides one."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as out:
            out.write(step_summary(verdict, found))
    except OSError:
        pass  # a summary that cannot be written must not change the verdict


_VERDICT = pytest.StashKey[dict[str, Any]]()


def remember(config: pytest.Config, verdict: dict[str, Any]) -> None:
    """Keep the verdict for the last line of the run."""
    config.stash[_VERDICT] = verdict


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """The run's very last line (after pytest's counts): the verdict."""
    verdict = config.stash.get(_VERDICT, None)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if verdict is None or reporter is None:
        return
    colour = "green" if verdict["safe"] else ("yellow" if verdict.get("verdict") == "not verified"
                                              else "red")
    reporter.write_line(verdict["sentence"], bold=True, **{colour: True})
