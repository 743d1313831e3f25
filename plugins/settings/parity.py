"""Env var parity at one gitops commit, for the replay walk: what the settings code needs against
what each container gets, as findings.

The replay walk (plugins/replay.py) calls `evaluate`; the checks in checks/test_settings.py call
the parts it is made of (containers, targets, required, boot_findings, secret_keys), and cross_env
and frontend beside them. Each returns `Finding`s (severity, one-line message, item, details) and
touches git and helm only, plus the boot subprocess.
"""
from __future__ import annotations

from typing import Any

from releasegate.core.gitrepo import Absent, short
from releasegate.settings.boot_findings import boot_findings
from releasegate.settings.containers import absent_secrets, container_envs, gitops_sha, secret_index, unmatched_containers
from releasegate.settings.finding import SKIPPED, Finding
from releasegate.settings.required import required
from releasegate.settings.secret_keys import secret_findings
from releasegate.settings.targets import Target, label, running


def evaluate(host: Any, gitops_ref: str | None = None, app_ref: str | None = None) -> list[Finding]:
    """Every blocker and warning of the release gate for the running code at one gitops commit.

    Used by the replay walk: required fields, boot and secret keys, for each settings entry. An entry
    with nothing to check at that commit (its containers do not run yet, its module or secret
    manifest does not exist there) gives one SKIPPED finding naming it, and the rest run.
    """
    out: list[Finding] = []
    secrets = secret_index(host, gitops_ref)
    for entry in host.estate.settings:
        if app_ref:
            sha = host.git(host.app_source).resolve(app_ref)
        else:
            if entry.containers and unmatched_containers(host, entry, gitops_ref) == list(entry.containers):
                out.append(Finding(SKIPPED, f"settings {entry.path}: no container {', '.join(entry.containers)} runs "
                                            f"in the chart at gitops {gitops_sha(host, gitops_ref)[:12]}",
                                   f"settings {entry.path}"))
                continue
            deployed = running(host, gitops_ref, entry)
            if deployed.sha is None:  # a moving tag, or a commit since lost to a reset: which code ran is unknown
                lost = " (that commit is not in the clone: lost to a reset or rewrite of its branch, or not fetched)" \
                    if deployed.unresolved else ""
                out += [Finding(SKIPPED, f"settings {entry.path}: {p}{lost}", f"settings {entry.path}")
                        for p in deployed.problems[:1]]
                continue
            sha = deployed.sha
        target = Target("running", sha, label(host, sha))
        try:
            out += _as("test_settings_required", required(host, entry, target, gitops_ref))
            out += _as("test_settings_boot", boot_findings(host, entry, target, gitops_ref))
        except Absent as exc:
            out.append(Finding(SKIPPED, f"settings {entry.path}: {exc.path} does not exist at app {target.label}",
                               f"settings {entry.path}"))
    missing = absent_secrets(host, gitops_ref)
    if missing:
        out += [Finding(SKIPPED, f"gitops.secrets {path}: does not exist at gitops {short(exc.ref)}: "
                                 "secret keys not checked", f"gitops.secrets {path}") for path, exc in missing.items()]
    else:
        out += _as("test_secret_keys", secret_findings(host, container_envs(host, gitops_ref), secrets))
    return out


def _as(check: str, found: list[Finding]) -> list[Finding]:
    """The findings, each naming the check that reports it (the replay's break identity)."""
    return [Finding(f.severity, f.message, f.item, {**f.details, "check": check}) for f in found]
