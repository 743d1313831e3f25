"""Boot the settings at a commit for every container that boots them, each distinct environment
once per session; a stand-in a validator rejects is replaced by the next one and the boot repeated.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import PurePosixPath
from typing import Any

from releasegate.estate import SettingsEntry
from releasegate.settings import app_env, app_tree, boot, boot_reach
from releasegate.settings.containers import built_classes, gitops_sha, settings_containers
from releasegate.settings.kubelet_env import ContainerEnv
from releasegate.settings.memo import MEMO, entry_key, memo
from releasegate.settings.stand_ins import StandIns, boot_env
from releasegate.settings.targets import Target, model

_ROUNDS = 6  # boots per distinct environment at most: each moves every failing stand-in to its next choice
_BOOTED: dict[tuple, boot.BootResult] = {}


def _boot_key(python: str | None, job: boot.BootJob) -> tuple:
    return (python, job.filename, job.source, tuple(sorted(job.env.items())), job.classes, job.boot, job.paths,
            job.dotted)


def _boot_batch(python: str | None, timeout: float, jobs: list[boot.BootJob]) -> dict[str, boot.BootResult]:
    """Boot results by job key; each distinct job runs once per session."""
    todo = [j for j in jobs if _boot_key(python, j) not in _BOOTED]
    for job_key, result in boot.run(todo, python, timeout).items():
        job = next(j for j in todo if j.key == job_key)
        _BOOTED[_boot_key(python, job)] = result
    return {j.key: _BOOTED[_boot_key(python, j)] for j in jobs}


def interpreter(host: Any, entry: SettingsEntry, sha: str | None = None) -> str | None:
    """The boot interpreter of an entry (at an application commit): its `environment` built for that
    commit (app_env.EnvironmentUnavailable when it cannot be), else its `python`: a path relative to
    the environments file, or a name looked up on PATH."""
    python = None
    if entry.python and "/" in entry.python:  # kept as given: a virtual environment's bin/python links to its base
        python = os.path.abspath(host.estate.root / entry.python)
    elif entry.python:
        python = shutil.which(entry.python) or entry.python
    if entry.environment is not None and sha is not None:
        return app_env.build(host.git(entry.source), sha, entry.path, entry.environment, python)
    return python


def boot_results(host: Any, entry: SettingsEntry, target: Target,
                 gitops_ref: str | None = None) -> dict[str, boot.BootResult]:
    """Boot the settings at a commit for each container that boots the entry; {container item id: result}.

    Containers whose environments agree on every variable the file could read (a field reads it,
    or the code names it) share one boot, run with the first such container's whole environment.
    Raises boot.BootError when the boot interpreter cannot run.
    """
    return memo(_memo_key(host, entry, target, gitops_ref),
                lambda: _boot_results(host, entry, target, settings_containers(host, entry, gitops_ref)))


def _memo_key(host: Any, entry: SettingsEntry, target: Target, gitops_ref: str | None = None) -> tuple:
    return ("boot", host.shared, host.name, entry_key(entry), target, gitops_sha(host, gitops_ref))


def _first_round(host: Any, entry: SettingsEntry, target: Target, envs: list[tuple[str, ContainerEnv]]) -> tuple:
    """(settings text and its source tree's import path, model, {group key: the classes it builds},
    {group key: (environment, item ids)}, {key: its stand-ins}): containers that build the same
    classes from the same variables form one group."""
    text, m = model(host, entry, target.sha)
    booted = boot_reach.inferred(entry, text, (c.name for c in m.classes))
    text = (text, app_tree.import_paths(app_tree.export(host.git(entry.source), target.sha), entry.path))
    classes: dict[tuple, tuple[tuple[str, ...], str | None]] = {}
    groups: dict[tuple, tuple[ContainerEnv, list[str]]] = {}
    for item_id, env in envs:
        values = boot_env(env, m)
        built = built_classes(entry, env.container, booted)
        mine = (tuple(c.name for c in m.classes if built is None or c.name in built),
                entry.boot if entry.boot and (built is None or entry.boot in built) else None)
        key = (mine, tuple(sorted((n, v) for n, v in values.items() if m.may_read(n))))
        classes[key] = mine
        groups.setdefault(key, (env, []))[1].append(item_id)
    return text, m, classes, groups, {key: StandIns.of(env, m) for key, (env, _) in groups.items()}


def _jobs(entry: SettingsEntry, text: tuple[str, tuple[tuple[str, ...], str | None]],
          classes: dict[tuple, tuple[tuple[str, ...], str | None]],
          pending: dict[tuple, StandIns]) -> dict[tuple, boot.BootJob]:
    source, (paths, dotted) = text
    return {key: boot.BootJob(str(i), source, PurePosixPath(entry.path).name, stand.values(), *classes[key],
                              paths, dotted)
            for i, (key, stand) in enumerate(pending.items()) if classes[key] != ((), None)}


def boot_ahead(wanted: list[tuple[Any, SettingsEntry, Target]]) -> None:
    """Send the first boots of these (environment, entry, target) triples to the boot interpreter
    now, so that it works while other checks run (boot.send_ahead); what they boot is asked
    again, and answered from that, when the checks need it. An environment whose boots cannot be
    worked out here is left to its checks."""
    by_run: dict[tuple[str | None, float], list[boot.BootJob]] = {}
    for host, entry, target in wanted:
        try:
            python = interpreter(host, entry, target.sha)
            if _memo_key(host, entry, target) in MEMO:
                continue
            text, _, classes, _, pending = _first_round(host, entry, target, settings_containers(host, entry))
        except Exception:  # noqa: BLE001 - only a head start: the check raises it as before
            continue
        by_run.setdefault((python, host.timeout_s), []).extend(
            job for job in _jobs(entry, text, classes, pending).values()
            if _boot_key(python, job) not in _BOOTED)
    for (python, timeout), jobs in by_run.items():
        boot.send_ahead(jobs, python, timeout)


def _boot_results(host: Any, entry: SettingsEntry, target: Target,
                  envs: list[tuple[str, ContainerEnv]]) -> dict[str, boot.BootResult]:
    """Boot each distinct environment; a stand-in a validator rejects is replaced by the next
    plausible one and the boot repeated, so a warning means no stand-in fits."""
    text, m, classes, groups, pending = _first_round(host, entry, target, envs)
    try:
        python = interpreter(host, entry, target.sha)
    except app_env.EnvironmentUnavailable as exc:  # not checked: the line names the package and the file
        return {item_id: boot.BootResult(item_id, str(exc)) for _, ids in groups.values() for item_id in ids}
    results: dict[tuple, boot.BootResult] = {}
    for key in [k for k in pending if classes[k] == ((), None)]:  # containers that build none of them
        results[key] = boot.BootResult(str(key))
        del pending[key]
    for _ in range(_ROUNDS):
        if not pending:
            break
        jobs = _jobs(entry, text, classes, pending)
        booted = _boot_batch(python, host.timeout_s, list(jobs.values()))
        for key, job in jobs.items():
            results[key] = replace(booted[job.key], tried=pending[key].tried())
            if not pending[key].advance(m, results[key]):
                del pending[key]
        if not pending:
            break
    return {item_id: results[key] for key, (_, ids) in groups.items() for item_id in ids}
