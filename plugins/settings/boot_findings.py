"""Boot results as findings, one per cause naming every container that shares it: blockers on
plain values, warnings on sealed ones (no stand-in boots), static checks where the boot cannot
import the file's modules.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import PurePosixPath
from typing import Any, Mapping

from releasegate.estate import SettingsEntry
from releasegate.settings import app_env, boot, boot_reach
from releasegate.settings.boot_runs import boot_results, interpreter
from releasegate.settings.containers import built_classes, gitops_sha, settings_containers
from releasegate.settings.finding import BLOCK, CONTAINERS, SKIPPED, WARN, Finding, merge
from releasegate.settings.kubelet_env import ContainerEnv, EnvVar
from releasegate.settings.memo import entry_key, first_time, memo
from releasegate.settings.classes import (EnvView, SettingsField, SettingsModel, missing_required, named,
                                      static_value_error)
from releasegate.settings.targets import Target, model


def boot_findings(host: Any, entry: SettingsEntry, target: Target, gitops_ref: str | None = None,
                  only: str | None = None) -> list[Finding]:
    """Turn boot results into findings, one per cause naming every container that shares it.

    Blockers on plain values, warnings on sealed ones. `only` keeps the findings of one settings class
    (or of the boot function, "name()"); an error a class already reported is not repeated by a later
    item (the boot function constructing that class), and a missing required field is left to the
    required-field check.
    """
    _, m = model(host, entry, target.sha)
    envs = settings_containers(host, entry, gitops_ref)
    results = boot_results(host, entry, target, gitops_ref)
    missing = memo(("missing", host.shared, host.name, entry_key(entry), target, gitops_sha(host, gitops_ref)),
                    lambda: {i: {(c.name, f.name) for c, f in missing_required(m, e.values())}
                             for i, e in envs})
    where = f"{host.name}: {CONTAINERS} at app {target.label}: "
    found: list[tuple[str | None, Finding]] = []
    try:
        python = interpreter(host, entry, target.sha)
    except app_env.EnvironmentUnavailable:
        python = None  # said by each boot item
    loose = boot.isolation(python)
    if loose and first_time((host.shared, "isolation", python)):
        found.append((None, Finding(WARN, f"settings boots are not isolated ({loose}): the application's settings "
                                          "code runs as the gate's user, with its files, network and processes in "
                                          "reach (a clean environment, limits, one deadline per boot and the group "
                                          "kill still apply); install bubblewrap where user namespaces work",
                                    "sandbox", {"reason": loose})))
    for item_id, env in envs:
        found += [(item_id if c else None, replace(f, message=where + f.message) if c else f)
                  for c, f in _container_boot(host, entry, target, env, m, results[item_id], missing[item_id], only)]
    return merge(found)


def _container_boot(host: Any, entry: SettingsEntry, target: Target, env: ContainerEnv,
                    m: SettingsModel, result: boot.BootResult, missing: set[tuple[str, str]],
                    only: str | None) -> list[tuple[str | None, Finding]]:
    """(container, finding) pairs of one container's boot; messages leave the container out."""
    first = f"{entry.boot}()" if entry.boot else (m.classes[0].name if m.classes else None)
    if result.unavailable:
        return _static_fallback(host, entry, target, env, m, result, only)
    if result.import_failure:
        if only is not None and only != first:  # one cause: the blocker is on the boot function's item
            return [(None, Finding(SKIPPED, f"{host.name}: not checked: {entry.path} does not import at app "
                                            f"{target.label} (the blocker is on {first})", entry.path))]
        at = result.import_failure.where or ""
        if at.startswith(PurePosixPath(entry.path).name + ":"):  # the file alone in its scratch folder
            at = entry.path + at[at.index(":"):]
        at = f" ({at})" if at else ""
        return [(env.container, _outcome_finding(None, env, result.import_failure, f"importing {entry.path}{at}", m,
                                                      result.tried))]
    out: list[tuple[str | None, Finding]] = []
    seen: set[tuple] = set()
    for outcome in result.outcomes:
        if outcome.ok:
            continue
        cls = m.get(outcome.name)
        mine = only is None or outcome.name == only
        if outcome.limit:  # the boot's own limit, not the application's failure
            if mine:
                out.append((None, Finding(SKIPPED, f"{host.name}: not checked: {outcome.name} at app {target.label} "
                                                   f"{outcome.exception}: the application may need more than the "
                                                   "boot allows (plugins/settings/sandbox.py LIMITS)", outcome.name)))
            continue
        if outcome.exception:
            if mine:
                out.append((env.container, _outcome_finding(cls, env, outcome, outcome.name, m, result.tried)))
            continue
        for error in outcome.errors:
            owner = m.get(str(error.get("title"))) or cls
            key = (error.get("title"), tuple(error.get("loc") or ()), error.get("type"))
            f = owner.field_for(error.get("loc") or ()) if owner else None
            if key in seen or (error.get("type") == "missing" and f and (owner.name, f.name) in missing):
                continue  # already reported (by another class, or by the required-field check)
            seen.add(key)
            if mine:
                out.append((env.container, _error_finding(owner, f, env, error, outcome.name, m, result.tried)))
    return out


def _unset_hint(env: ContainerEnv, m: SettingsModel) -> str:
    """Why variables the settings could read are not set in this container (the kubelet left them out)."""
    why = [reason for name, reason in sorted(env.unset.items()) if m.may_read(name)]
    return f" ({'; '.join(why)})" if why else ""


def _error_finding(owner: Any, f: SettingsField | None, env: ContainerEnv,
                   error: dict, via: str, m: SettingsModel,
                   tried: Mapping[str, tuple[str, ...]] | None = None) -> Finding:
    loc = ".".join(str(p) for p in error.get("loc") or ())
    field_name = f"{owner.name}.{f.name}" if owner and f else (".".join(filter(None, (owner.name, loc))) if owner
                                                               else loc)
    hit = (f.lookup(EnvView(env.values())) if f else None) or named(EnvView(env.values()), error.get("variables") or ())
    var: EnvVar | None = env.vars.get(hit[0]) if hit else None
    context = f" (via {via})" if owner is None or via != owner.name else ""
    details = {"field": field_name, "type": error.get("type"), "pydantic": error.get("msg"),
               "container": env.container}
    reason = f"{error.get('msg')} ({error.get('type')})"
    if var is not None and not var.known:
        source = f"secret {var.ref[0]} key {var.ref[1]}" if var.secret and var.ref else var.source
        details.update(variable=var.name, source=var.source)
        values = (tried or {}).get(var.name) or ()
        details.update(tried=list(values))
        return Finding(WARN, f"{var.name} (from {source}) may not fit {field_name}: no stand-in boots (tried "
                             f"{', '.join(repr(v) for v in values)}); the last failed with: {reason}{context}; "
                             "the value cannot be read here, check it", var.name, details)
    if var is not None:
        details.update(variable=var.name, value=var.value)
        return Finding(BLOCK, f"{var.name}={var.value!r} fails {field_name}: {reason}{context}", var.name, details)
    used = _stand_ins_in(error.get("input"), env, tried or {})
    if used:  # a value built from a stand-in: the cluster's own value may fit, the suite cannot tell
        details.update(variables=used)
        return Finding(WARN, f"{field_name} fails at boot with the stand-in for {', '.join(used)} (the value "
                             f"cannot be read here): {reason}{context}; check it", None, details)
    return Finding(BLOCK, f"{field_name} fails at boot: {reason}{context}{_unset_hint(env, m)}", None, details)


def _stand_ins_in(value: Any, env: ContainerEnv, tried: Mapping[str, tuple[str, ...]]) -> list[str]:
    """The variables whose stand-in (not a value from git) is part of the failing input."""
    text = str(value) if value is not None else ""
    return sorted(name for name, values in tried.items()
                  if values and values[-1] and values[-1] in text and name in env.vars and not env.vars[name].known)


def _outcome_finding(cls: Any, env: ContainerEnv, outcome: boot.Outcome, what: str,
                     m: SettingsModel, tried: Mapping[str, tuple[str, ...]] | None = None) -> Finding:
    if outcome.errors:
        error = outcome.errors[0]
        return _error_finding(cls, cls.field_for(error.get("loc") or ()) if cls else None, env, error, what, m,
                              tried)
    return Finding(BLOCK, f"{what} fails at boot: {outcome.exception}{_unset_hint(env, m)}", None,
                   {"container": env.container, "exception": outcome.exception})


def _static_fallback(host: Any, entry: SettingsEntry, target: Target, env: ContainerEnv,
                     m: SettingsModel, result: boot.BootResult,
                     only: str | None) -> list[tuple[str | None, Finding]]:
    """Not checked by the boot (the interpreter lacks a module the file imports, the suite's limit):
    one skip naming the module and what would let it boot; the static checks still run."""
    how = "settings[].environment (the application's dependencies) or settings[].python (an interpreter that has it)"
    lacks = "is written for pydantic v1" if result.missing == "pydantic<2" else f"imports {result.missing!r}"
    why = (f"{lacks}, which the boot interpreter does not have ({result.unavailable}): set {how} to boot it"
           if result.missing else f"cannot boot: {result.unavailable}")
    out: list[tuple[str | None, Finding]] = [(None, Finding(
        SKIPPED, f"{host.name}: not checked: {entry.path} at app {target.label} {why}; static checks only",
        entry.path, {"missing": result.missing}))]
    values = EnvView(env.values())
    built = built_classes(entry, env.container, boot_reach.inferred(entry, model(host, entry, target.sha)[0],
                                                                    (c.name for c in m.classes)))
    for cls in m.classes:
        if (only is not None and cls.name != only) or (built is not None and cls.name not in built):
            continue
        for top in cls.fields:
            for f in top.walk():
                hit = f.lookup(values)
                var = env.vars.get(hit[0]) if hit else None
                problem = static_value_error(f, hit[1]) if var is not None and var.known else None
                if problem:
                    out.append((env.container, Finding(
                        BLOCK, f"{var.name}={var.value!r} fails {cls.name}.{f.name}: {problem} (static check)",
                        var.name, {"field": f"{cls.name}.{f.name}", "value": var.value})))
    return out
