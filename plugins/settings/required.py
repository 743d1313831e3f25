"""Required fields no variable sets, read statically from the settings source: one blocker per
field naming every container that lacks it, and the reader's own warnings.
"""
from __future__ import annotations

from typing import Any

from releasegate.estate import SettingsEntry
from releasegate.settings.containers import built_classes, gitops_sha, settings_containers, values_file
from releasegate.settings import boot_reach
from releasegate.settings.finding import BLOCK, NOTE, SKIPPED, WARN, Finding, verb
from releasegate.settings.memo import entry_key, first_time, memo
from releasegate.settings.classes import EnvView, missing_required
from releasegate.settings.targets import Target, model


def reader_warnings(host: Any, entry: SettingsEntry, target: Target) -> list[Finding]:
    """What the static reader could not follow in the settings file: warnings, once per file and
    commit; and notes (informational, never counted as warnings): once per entry, that every class
    is required in every container where nothing says which container builds which, and once per
    entry and commit, which classes the boot function builds where that leaves some out."""
    text, m = model(host, entry, target.sha)
    booted = boot_reach.inferred(entry, text, (c.name for c in m.classes))
    out = []
    calling = sorted({e.container for _, e in settings_containers(host, entry) if e.container not in entry.classes})
    if booted is None and len(calling) > 1 and len(m.classes) > 1 and \
            first_time((host.shared, "every class", entry_key(entry))):
        out.append(Finding(NOTE, f"settings {entry.path}: every class is checked in every container "
                                 f"({', '.join(calling)}): where a container builds only some of them (a worker, "
                                 "a migration job), list them in settings[].classes", entry.path))
    left = [c.name for c in m.classes if booted is not None and c.name not in booted]
    if calling and left and first_time((host.shared, "boot classes", entry_key(entry), target.sha)):
        out.append(Finding(NOTE, (
            f"settings {entry.path} at app {target.label}: {entry.boot}() builds "
            f"{', '.join(c.name for c in m.classes if c.name in booted)}, so {', '.join(left)} "
            f"{verb(left, 'is', 'are')} not required in {', '.join(calling)}; list the classes a container "
            "builds in settings[].classes where this reading is wrong"), entry.path,
            {"boot": entry.boot, "builds": sorted(booted - {entry.boot}), "not_built": left, "containers": calling}))
    if first_time((host.shared, "reader", entry.path, target.sha)):
        out += [Finding(WARN, f"{w} (app {target.label})", entry.path) for w in m.warnings]
    return out


def required(host: Any, entry: SettingsEntry, target: Target, gitops_ref: str | None = None,
             cls_name: str | None = None) -> list[Finding]:
    """Required fields that no variable sets, one blocker per field naming every container that lacks it.

    `cls_name` keeps only the fields of that settings class.
    """
    key = ("required", host.shared, host.name, entry_key(entry), target, gitops_sha(host, gitops_ref))
    found = memo(key, lambda: _required(host, entry, target, gitops_ref))
    return [f for f in found if cls_name is None or f.details["class"] == cls_name]


def _required(host: Any, entry: SettingsEntry, target: Target, gitops_ref: str | None) -> list[Finding]:
    envs = settings_containers(host, entry, gitops_ref)
    text, m = model(host, entry, target.sha)
    booted = boot_reach.inferred(entry, text, (c.name for c in m.classes))
    where = values_file(host, gitops_ref)
    unset: dict[tuple, dict[str, list[str]]] = {}  # (class, field) -> {"": lacking, NAME: empty}
    fields: dict[tuple, tuple] = {}
    out = []
    for env_id, env in envs:
        values = EnvView(env.values())
        built = built_classes(entry, env.container, booted)
        for cls, f in missing_required(m, values):
            if built is not None and cls.name not in built:
                continue
            if env.opaque and not f.lookup(values):  # it may come from a secret whose keys live in a store
                out.append(Finding(SKIPPED, f"{host.name}: not checked: {f.path} (reads {' or '.join(f.env_names)}) "
                                            f"for {env_id} may come from {env.opaque[0]}" + (
                                                f"; list that secret's keys under environments.{host.name}"
                                                ".gitops.secret_keys to check it"
                                                if "whose keys come from" in env.opaque[0] else ""),
                                   f.env_names[0], {"class": cls.name, "field": f.name}))
                continue
            hit = f.lookup(values)
            fields.setdefault((cls.name, f.name), (cls, f))
            unset.setdefault((cls.name, f.name), {}).setdefault(hit[0] if hit else "", []).append(env_id)
    for key, (cls, f) in fields.items():
        how = unset[key]
        said = [f"no variable sets it for {', '.join(sorted(how['']))}"] if "" in how else []
        said += [f"{name} is empty for {', '.join(sorted(cs))}" for name, cs in how.items() if name]
        containers = sorted({c for cs in how.values() for c in cs})
        out.append(Finding(BLOCK, (
            f"{host.name}: {f.path} is required (reads {' or '.join(f.env_names)}) and {'; '.join(said)} "
            f"at app {target.label} ({target.role}): add {f.env_names[0]} to {where}"), f.env_names[0],
            {"class": cls.name, "field": f.name, "accepted": list(f.env_names), "values_file": where,
             "containers": containers, "empty": {n: cs for n, cs in how.items() if n}, "app": target.sha,
             "annotation": f.annotation}))
    return out
