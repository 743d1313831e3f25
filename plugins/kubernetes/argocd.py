"""Argo CD: the environment's Application (present, targeting git's revision, Synced, Healthy),
the error conditions it reports, and the commit it last synced against git's."""

from __future__ import annotations

from typing import Any

from releasegate.kubernetes.workloads import Finding


def argocd(declared_app: dict, live_app: dict | None) -> list[Finding]:
    """Argo CD Application: absent (warn), target revision changed, not Synced, not Healthy, an
    error condition."""
    name = declared_app["metadata"]["name"]
    want_rev = ((declared_app.get("spec") or {}).get("source") or {}).get("targetRevision")
    if live_app is None:
        return [Finding("warn", f"Argo CD Application {name} is not in the cluster: nothing "
                                "applies git to this environment", {"application": name})]
    spec, status = live_app.get("spec") or {}, live_app.get("status") or {}
    have_rev = (spec.get("source") or {}).get("targetRevision")
    sync = (status.get("sync") or {}).get("status", "Unknown")
    health_status = (status.get("health") or {}).get("status", "Unknown")
    details = {"application": name, "target_revision": have_rev, "sync": sync,
               "health": health_status, "synced_revision": (status.get("sync") or {}).get("revision")}
    findings = []
    if want_rev is not None and have_rev != want_rev:
        findings.append(Finding("block", (
            f"Argo CD Application {name} targets revision {have_rev}, git declares {want_rev}"),
            details))
    if sync != "Synced":
        findings.append(Finding("block", (
            f"Argo CD Application {name} is {sync} at {have_rev}: the cluster does not match git"),
            details))
    if health_status in ("Progressing", "Suspended"):
        findings.append(Finding("warn", f"Argo CD Application {name} health is {health_status}",
                                details))
    elif health_status != "Healthy":
        findings.append(Finding("block", f"Argo CD Application {name} health is {health_status}: "
                        f"{(status.get('health') or {}).get('message', 'see the Argo CD UI')}",
                                details))
    return findings + argocd_conditions(name, live_app)


def argocd_conditions(name: str, live_app: dict | None) -> list[Finding]:
    """Error conditions Argo CD reports on the Application (ComparisonError when it cannot read
    the repository, InvalidSpecError...): while one stands, git no longer reaches the cluster."""
    found = []
    for cond in ((live_app or {}).get("status") or {}).get("conditions") or ():
        kind = str(cond.get("type") or "")
        if kind.endswith("Error"):
            message = " ".join(str(cond.get("message") or "no message").split())
            found.append(Finding("block", f"Argo CD Application {name} reports {kind}: {message}",
                                 {"application": name, "condition": kind,
                                  "condition_message": message,
                                  "since": cond.get("lastTransitionTime")}))
    return found


def argocd_revision(name: str, live_app: dict | None, repo: Any, expected: str,
                    label: str) -> list[Finding]:
    """The commit Argo CD last synced against the commit git holds now (`expected`, named
    `label`): behind means the newest deployment commits never reached the cluster."""
    synced = (((live_app or {}).get("status") or {}).get("sync") or {}).get("revision")
    if not synced or not isinstance(synced, str) or synced == expected:
        return []
    details = {"application": name, "synced_revision": synced, "expected_revision": expected}
    known = repo.rev_parse(synced)
    if known is None:
        return [Finding("warn", (
            f"Argo CD Application {name} is synced to {synced[:12]}, which the local clone of "
            f"{repo.name} does not have: fetch it to compare with {label}"), details)]
    if known == expected:
        return []
    if repo.is_ancestor(known, expected):
        behind = repo.count(f"{known}..{expected}")
        details["behind"] = behind
        return [Finding("block", (
            f"Argo CD Application {name} is synced to {repo.name} {known[:12]}, {behind} "
            f"commit(s) behind {label} ({expected[:12]}): the cluster does not run what git says; "
            "check the Application's conditions and Argo CD's access to the repository"),
            details)]
    if repo.is_ancestor(expected, known):
        return [Finding("warn", (
            f"Argo CD Application {name} is synced to {known[:12]}, ahead of {label} "
            f"({expected[:12]}) in the local clone of {repo.name}: fetch it"), details)]
    return [Finding("block", (
        f"Argo CD Application {name} is synced to {known[:12]}, which is not on {label} "
        f"({expected[:12]}): the cluster runs a commit git's {label} does not hold"), details)]
