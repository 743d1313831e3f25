"""Env var parity: what the settings code needs against what each container gets, as findings.

The checks in checks/test_settings.py and the replay walk (plugins/replay.py) both call these
functions; each returns `Finding`s (severity, one-line message, item, details) and touches git and
helm only, plus the boot subprocess. Results are cached by content (commit SHAs), so a session
renders and boots each (environment, gitops commit, app commit) once.

One cause is one finding: what several containers share (a missing field, a failing value, a
missing secret key, a variable another environment sets) is reported once, naming the containers.
The checks take a whole environment's findings, computed once per session, and keep their item's.
"""
from __future__ import annotations

import functools
import re
import shutil
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from typing import Any, Callable, Iterable, Mapping

from plugins.settings import boot
from plugins.settings import reader as settings_model
from plugins.settings.kubelet_env import ContainerEnv, EnvVar, SecretNeed, environments, objects
from plugins.core.deployed import Deployed, for_host
from plugins.estate import FrontendEntry, SettingsEntry
from plugins.core.gitrepo import Absent, SourceError, short
from plugins.core.helm import load_yaml_documents
from plugins.core.manifests import workloads
from plugins.settings.sealed import SecretIndex, secret_keys

BLOCK, WARN = "blocker", "warning"
SKIPPED = "skipped"  # replay: an entry with nothing to check at a commit (one line, never a blocker)
CONTAINERS = "{containers}"  # stands for the containers a cause affects, until merge() names them
_TRUE = {"1", "on", "t", "true", "y", "yes"}
_FRONTEND_READ = re.compile(r"""(?:import\.meta\.env|process\.env)(?:\.([A-Za-z_][A-Za-z0-9_]*)"""
                            r"""|\[\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\])""")
_FRONTEND_BUILTINS = {"MODE", "DEV", "PROD", "SSR", "BASE_URL", "NODE_ENV"}
_ANNOUNCED: set[tuple] = set()  # (session, what, file, commit): said once per session
_MEMO: dict[tuple, Any] = {}  # (what, session, environment, commits...): whole-environment results


def _memo(key: tuple, compute: Callable[[], Any]) -> Any:
    """A whole-environment result computed once per session; checks take their item's share of it."""
    if key not in _MEMO:
        _MEMO[key] = compute()
    return _MEMO[key]


def _entry_key(entry: SettingsEntry) -> tuple:
    return (entry.source, entry.path, tuple(entry.containers), entry.boot, entry.python)


@dataclass(frozen=True)
class Finding:
    """One thing a parity check found."""

    severity: str
    message: str
    item: str | None = None
    details: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Target:
    """An application commit an environment's config is checked against."""

    role: str  # running | candidate | reset
    sha: str
    label: str  # "v1.4.1 (0123456789ab)"


# -- what each environment holds -------------------------------------------------------------------
def gitops_sha(host: Any, gitops_ref: str | None = None) -> str:
    """The deployment repository commit under test (or the one given)."""
    return host.git(host.gitops_source).resolve(gitops_ref or host.ref(host.gitops_source))


def secret_index(host: Any, gitops_ref: str | None = None) -> SecretIndex:
    """Secrets the environment holds: the chart's own plus the secret manifests it lists."""
    return _secret_index(host, gitops_sha(host, gitops_ref))


# Per environment and commit: a bound below the estate's size turns other_envs' cyclic pass over
# every environment into all misses (quadratic at 300 environments), so it is well above it.
_PER_ENV = 4096


@functools.lru_cache(maxsize=_PER_ENV)
def _secret_index(host: Any, sha: str) -> SecretIndex:
    repo = host.git(host.gitops_source)
    found = secret_keys(host.render(sha), "chart")
    for path in host.spec.gitops.secrets:
        if path not in absent_secrets(host, sha):  # a manifest added later holds nothing at this commit
            found += secret_keys(load_yaml_documents(repo.show(sha, path), f"{repo.name}:{path}"), path)
    return SecretIndex(found)


def absent_secrets(host: Any, gitops_ref: str | None = None) -> dict[str, Absent]:
    """The secret manifests the environment lists that do not exist at a gitops commit, by path:
    the secret keys check has nothing to check there."""
    repo, sha = host.git(host.gitops_source), gitops_sha(host, gitops_ref)
    return {p: Absent(repo.name, p, sha) for p in host.spec.gitops.secrets if not repo.exists(sha, p)}


def container_envs(host: Any, gitops_ref: str | None = None) -> list[ContainerEnv]:
    """The environment of every container the chart runs for `host` at a gitops commit."""
    return _container_envs(host, gitops_sha(host, gitops_ref))


@functools.lru_cache(maxsize=_PER_ENV)
def _container_envs(host: Any, sha: str) -> list[ContainerEnv]:
    manifests = host.render(sha)
    return environments(workloads(manifests), objects(manifests, secret_index(host, sha)))


def container_id(env: ContainerEnv, all_envs: Iterable[ContainerEnv]) -> str:
    """The item id of a container: its name, or workload.container when the name repeats."""
    same = [e for e in all_envs if e.container == env.container]
    return env.container if len(same) <= 1 else f"{env.workload}.{env.container}"


def settings_containers(host: Any, entry: SettingsEntry,
                        gitops_ref: str | None = None) -> list[tuple[str, ContainerEnv]]:
    """(item id, environment) of every container that boots the settings entry."""
    envs = container_envs(host, gitops_ref)
    return [(container_id(e, envs), e) for e in envs if e.container in entry.containers]


def chart_containers(host: Any, gitops_ref: str | None = None) -> list[str]:
    """Every container name (init containers too) of the environment's rendered chart, sorted."""
    return sorted({e.container for e in container_envs(host, gitops_ref)})


def unmatched_containers(host: Any, entry: SettingsEntry, gitops_ref: str | None = None) -> list[str]:
    """Names in the entry's `containers` that match no container of the rendered chart."""
    there = set(chart_containers(host, gitops_ref))
    return [name for name in entry.containers if name not in there]


def added_later(host: Any, names: Iterable[str]) -> bool:
    """Whether container names that match nothing at the gitops commit under check all run in the
    chart at the deployment repository's integration branch: the estate gained them since, so at
    this commit the entry has nothing to check (not a misnaming)."""
    main = host.estate.sources[host.gitops_source].main
    if gitops_sha(host) == gitops_sha(host, main):
        return False
    return set(names) <= set(chart_containers(host, main))


def containers_finding(host: Any, entry: SettingsEntry, where: str) -> Finding | None:
    """A blocker naming the entry's container names that match nothing here, and the names that exist."""
    missing = unmatched_containers(host, entry)
    if not missing:
        return None
    return Finding(BLOCK, f"{where}: {', '.join(missing)} {_verb(missing, 'matches', 'match')} no container "
                          f"of {host.name}'s rendered chart, so {_verb(missing, 'it is', 'they are')} not checked "
                          f"(its containers: {', '.join(chart_containers(host))}): correct the names",
                   "containers", {"unmatched": missing, "containers": chart_containers(host)})


def values_file(host: Any, gitops_ref: str | None = None) -> str:
    """The environment's most specific values file (where a missing variable should be added)."""
    source = host.chart_source(gitops_sha(host, gitops_ref))
    if not source.values:
        return f"{source.chart}/values.yaml"
    return _normal(f"{source.chart}/{source.values[-1]}")


def _normal(path: str) -> str:
    parts: list[str] = []
    for part in PurePosixPath(path).parts:
        if part == "..":
            parts = parts[:-1]
        elif part not in (".", ""):
            parts.append(part)
    return "/".join(parts)


# -- which code ------------------------------------------------------------------------------------
def running(host: Any, gitops_ref: str | None = None, entry: SettingsEntry | None = None) -> Deployed:
    """Which application commit the environment runs (from its rendered chart at a gitops ref).

    Only the entry's containers that exist count; names that match nothing are reported on their
    own (containers_finding) and never change which commit is found.
    """
    names = [n for n in entry.containers if n not in unmatched_containers(host, entry, gitops_ref)] \
        if entry and entry.containers else None
    return for_host(host, gitops_ref, names or None)


def label(host: Any, sha: str, ref: str | None = None) -> str:
    """A commit as a release manager reads it: its release tag (or the ref named) and the short SHA."""
    app = host.git(host.app_source)
    tags = app.tags_at(sha, host.estate.sources[host.app_source].release_tags)
    name = tags[-1] if tags else (ref if ref and not sha.startswith(ref) else None)
    return f"{name} ({sha[:12]})" if name else sha[:12]


def targets(host: Any, entry: SettingsEntry, gitops_ref: str | None = None) -> dict[str, Target]:
    """The application commits to check the environment's config against.

    `running`: an explicit --ref for the application, else what the chart deploys.
    `candidate`: the code the environment gets next (--candidate or the application's main for an
    environment that deploys tags, the branch head for one that deploys a branch); left out when it
    is the running commit.
    `reset`: main's head, for an environment that deploys another branch (a shared branch reset to
    main after use); left out when it is the running or candidate commit.
    """
    app = host.git(host.app_source)
    out: dict[str, Target] = {}
    explicit = host.settings.refs.get(host.app_source)
    run_sha = app.resolve(explicit) if explicit else running(host, gitops_ref, entry).sha
    if run_sha:
        out["running"] = Target("running", run_sha, label(host, run_sha))
    ref = host.spec.deploys.branch if host.spec.deploys.branch and not explicit else host.shared.candidate()
    cand = app.resolve(ref)
    if cand != run_sha:
        out["candidate"] = Target("candidate", cand, label(host, cand, ref))
    main = reset_branch(host)
    if main and not explicit:
        head = app.resolve(main)
        if head not in (run_sha, cand):
            out["reset"] = Target("reset", head, label(host, head, main))
    return out


def reset_branch(host: Any) -> str | None:
    """The application's main branch, for an environment that deploys another (shared) branch: it
    gets main's head at its next reset. None when the environment deploys tags or main itself."""
    branch = host.spec.deploys.branch
    main = host.estate.sources[host.app_source].main
    return main if branch and branch != main else None


def as_reset(host: Any, found: Iterable[Finding]) -> list[Finding]:
    """Findings against main's head for a shared-branch environment: warnings that say the next reset fails."""
    lead = f"{host.name}: the next reset of {host.spec.deploys.branch} to {reset_branch(host)} will not boot: "
    return [replace(f, severity=WARN, message=lead + f.message.removeprefix(f"{host.name}: ")) for f in found]


@functools.lru_cache(maxsize=256)
def _model(repo: Any, sha: str, path: str) -> tuple[str, settings_model.SettingsModel]:
    text = repo.show(sha, path)
    return text, settings_model.read(text, path)


def model(host: Any, entry: SettingsEntry, sha: str) -> tuple[str, settings_model.SettingsModel]:
    """(source text, model) of a settings entry at an application commit."""
    return _model(host.git(entry.source), sha, entry.path)


def units(host: Any, entry: SettingsEntry, target: Target, with_boot: bool) -> list[str]:
    """The settings classes of an entry at a commit (and its boot function, `with_boot`): one item each."""
    _, m = model(host, entry, target.sha)
    return [c.name for c in m.classes] + ([entry.boot] if with_boot and entry.boot else [])


# -- checks ----------------------------------------------------------------------------------------
def reader_warnings(host: Any, entry: SettingsEntry, target: Target) -> list[Finding]:
    """What the static reader could not follow in the settings file: warnings, once per file and commit."""
    key = (host.shared, "reader", entry.path, target.sha)
    if key in _ANNOUNCED:
        return []
    _ANNOUNCED.add(key)
    _, m = model(host, entry, target.sha)
    return [Finding(WARN, f"{w} (app {target.label})", entry.path) for w in m.warnings]


def required(host: Any, entry: SettingsEntry, target: Target, gitops_ref: str | None = None,
             cls_name: str | None = None) -> list[Finding]:
    """Required fields that no variable sets, one blocker per field naming every container that lacks it.

    `cls_name` keeps only the fields of that settings class.
    """
    key = ("required", host.shared, host.name, _entry_key(entry), target, gitops_sha(host, gitops_ref))
    found = _memo(key, lambda: _required(host, entry, target, gitops_ref))
    return [f for f in found if cls_name is None or f.details["class"] == cls_name]


def _required(host: Any, entry: SettingsEntry, target: Target, gitops_ref: str | None) -> list[Finding]:
    envs = settings_containers(host, entry, gitops_ref)
    _, m = model(host, entry, target.sha)
    where = values_file(host, gitops_ref)
    unset: dict[tuple, dict[str, list[str]]] = {}  # (class, field) -> {"": lacking, NAME: empty}
    fields: dict[tuple, tuple] = {}
    for env_id, env in envs:
        values = settings_model.EnvView(env.values())
        for cls, f in settings_model.missing_required(m, values):
            hit = f.lookup(values)
            fields.setdefault((cls.name, f.name), (cls, f))
            unset.setdefault((cls.name, f.name), {}).setdefault(hit[0] if hit else "", []).append(env_id)
    out = []
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


def merge(found: Iterable[tuple[str | None, Finding]]) -> list[Finding]:
    """One finding per cause: findings that differ only by container become one naming them all.

    `found` holds (container, finding) pairs whose message says `{containers}` where the containers go.
    """
    groups: dict[tuple, tuple[Finding, list[str]]] = {}
    for container, f in found:
        first, containers = groups.setdefault((f.severity, f.message, f.item), (f, []))
        if container is not None and container not in containers:
            containers.append(container)
    out = []
    for f, containers in groups.values():
        if not containers:
            out.append(f)
            continue
        details = {k: v for k, v in f.details.items() if k != "container"}
        containers.sort()
        out.append(Finding(f.severity, f.message.replace(CONTAINERS, ", ".join(containers)), f.item,
                           {**details, "containers": containers}))
    return out


def _verb(names: list[str], one: str, many: str) -> str:
    return one if len(names) == 1 else many


_ROUNDS = 6  # boots per distinct environment at most: each moves every failing stand-in to its next choice


def boot_env(env: ContainerEnv, m: settings_model.SettingsModel) -> dict[str, str]:
    """The container's environment with the first stand-in for each value only the cluster knows."""
    return _StandIns.of(env, m).values()


@dataclass
class _StandIns:
    """The stand-ins tried for each value only the cluster knows, and the one in use."""

    env: ContainerEnv
    options: dict[str, list[str]]
    chosen: dict[str, int]

    @classmethod
    def of(cls, env: ContainerEnv, m: settings_model.SettingsModel) -> "_StandIns":
        options = {name: boot.stand_ins(m.annotation_for(name), name, None if var.secret else var.value)
                   for name, var in env.vars.items() if not var.known}
        return cls(env, options, {name: 0 for name in options})

    def values(self) -> dict[str, str]:
        values = self.env.values()
        values.update({name: options[self.chosen[name]] for name, options in self.options.items()})
        return values

    def tried(self) -> dict[str, tuple[str, ...]]:
        return {name: tuple(options[:self.chosen[name] + 1]) for name, options in self.options.items()}

    def advance(self, m: settings_model.SettingsModel, result: boot.BootResult) -> bool:
        """Move every stand-in a validator rejected to its next choice (adding what the validator's
        message names); False when none is left to try."""
        values = settings_model.EnvView(self.values())
        failing: dict[str, str] = {}
        for outcome in result.outcomes:
            for error in outcome.errors:
                name = _error_variable(m, outcome, error, values)
                if name in self.options:
                    failing.setdefault(name, str(error.get("msg") or ""))
        moved = False
        for name, message in failing.items():
            options, at = self.options[name], self.chosen[name]
            options[at + 1:at + 1] = [v for v in boot.stand_ins_from_message(message) if v not in options]
            if at + 1 < len(options):
                self.chosen[name] = at + 1
                moved = True
        return moved


def _error_variable(m: settings_model.SettingsModel, outcome: boot.Outcome, error: dict,
                    values: settings_model.EnvView) -> str | None:
    """The variable a pydantic error's field reads, if any."""
    owner = m.get(str(error.get("title"))) or m.get(outcome.name)
    f = owner.field_for(error.get("loc") or ()) if owner else None
    hit = f.lookup(values) if f else None
    return hit[0] if hit else None


_BOOTED: dict[tuple, boot.BootResult] = {}


def _boot_key(python: str | None, job: boot.BootJob) -> tuple:
    return (python, job.filename, job.source, tuple(sorted(job.env.items())), job.classes, job.boot)


def _boot_batch(python: str | None, timeout: float, jobs: list[boot.BootJob]) -> dict[str, boot.BootResult]:
    """Boot results by job key; each distinct job runs once per session."""
    todo = [j for j in jobs if _boot_key(python, j) not in _BOOTED]
    for job_key, result in boot.run(todo, python, timeout).items():
        job = next(j for j in todo if j.key == job_key)
        _BOOTED[_boot_key(python, job)] = result
    return {j.key: _BOOTED[_boot_key(python, j)] for j in jobs}


def interpreter(host: Any, entry: SettingsEntry) -> str | None:
    """The entry's `python`: a path relative to the environments file, or a name looked up on PATH."""
    if not entry.python:
        return None
    if "/" in entry.python:
        return str((host.estate.root / entry.python).resolve())
    return shutil.which(entry.python) or entry.python


def boot_results(host: Any, entry: SettingsEntry, target: Target,
                 gitops_ref: str | None = None) -> dict[str, boot.BootResult]:
    """Boot the settings at a commit for each container that boots the entry; {container item id: result}.

    Containers whose environments agree on every variable the file could read (a field reads it,
    or the code names it) share one boot, run with the first such container's whole environment.
    Raises boot.BootError when the boot interpreter cannot run.
    """
    key = ("boot", host.shared, host.name, _entry_key(entry), target, gitops_sha(host, gitops_ref))
    return _memo(key, lambda: _boot_results(host, entry, target, settings_containers(host, entry, gitops_ref)))


def _boot_results(host: Any, entry: SettingsEntry, target: Target,
                  envs: list[tuple[str, ContainerEnv]]) -> dict[str, boot.BootResult]:
    """Boot each distinct environment; a stand-in a validator rejects is replaced by the next
    plausible one and the boot repeated, so a warning means no stand-in fits."""
    text, m = model(host, entry, target.sha)
    classes = tuple(c.name for c in m.classes)
    groups: dict[tuple, tuple[ContainerEnv, list[str]]] = {}
    for item_id, env in envs:
        values = boot_env(env, m)
        key = tuple(sorted((n, v) for n, v in values.items() if m.may_read(n)))
        groups.setdefault(key, (env, []))[1].append(item_id)
    pending = {key: _StandIns.of(env, m) for key, (env, _) in groups.items()}
    results: dict[tuple, boot.BootResult] = {}
    for _ in range(_ROUNDS):
        jobs = {key: boot.BootJob(str(i), text, PurePosixPath(entry.path).name, stand.values(), classes, entry.boot)
                for i, (key, stand) in enumerate(pending.items())}
        booted = _boot_batch(interpreter(host, entry), host.timeout_s, list(jobs.values()))
        for key, job in jobs.items():
            results[key] = replace(booted[job.key], tried=pending[key].tried())
            if not pending[key].advance(m, results[key]):
                del pending[key]
        if not pending:
            break
    return {item_id: results[key] for key, (_, ids) in groups.items() for item_id in ids}


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
    missing = _memo(("missing", host.shared, host.name, _entry_key(entry), target, gitops_sha(host, gitops_ref)),
                    lambda: {i: {(c.name, f.name) for c, f in settings_model.missing_required(m, e.values())}
                             for i, e in envs})
    where = f"{host.name}: {CONTAINERS} at app {target.label}: "
    found: list[tuple[str | None, Finding]] = []
    for item_id, env in envs:
        found += [(item_id if c else None, replace(f, message=where + f.message) if c else f)
                  for c, f in _container_boot(host, entry, target, env, m, results[item_id], missing[item_id], only)]
    return merge(found)


def _container_boot(host: Any, entry: SettingsEntry, target: Target, env: ContainerEnv,
                    m: settings_model.SettingsModel, result: boot.BootResult, missing: set[tuple[str, str]],
                    only: str | None) -> list[tuple[str | None, Finding]]:
    """(container, finding) pairs of one container's boot; messages leave the container out."""
    first = f"{entry.boot}()" if entry.boot else (m.classes[0].name if m.classes else None)
    if result.unavailable:
        return _static_fallback(host, entry, target, env, m, result.unavailable, only)
    if result.import_failure:
        if only is not None and only != first:
            return []  # one cause: reported by the boot function's item (or the first class's)
        return [(env.container, _outcome_finding(None, env, result.import_failure, f"importing {entry.path}", m))]
    out: list[tuple[str | None, Finding]] = []
    seen: set[tuple] = set()
    for outcome in result.outcomes:
        if outcome.ok:
            continue
        cls = m.get(outcome.name)
        mine = only is None or outcome.name == only
        if outcome.exception:
            if mine:
                out.append((env.container, _outcome_finding(cls, env, outcome, outcome.name, m)))
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


def _unset_hint(env: ContainerEnv, m: settings_model.SettingsModel) -> str:
    """Why variables the settings could read are not set in this container (the kubelet left them out)."""
    why = [reason for name, reason in sorted(env.unset.items()) if m.may_read(name)]
    return f" ({'; '.join(why)})" if why else ""


def _error_finding(owner: Any, f: settings_model.SettingsField | None, env: ContainerEnv,
                   error: dict, via: str, m: settings_model.SettingsModel,
                   tried: Mapping[str, tuple[str, ...]] | None = None) -> Finding:
    loc = ".".join(str(p) for p in error.get("loc") or ())
    field_name = f"{owner.name}.{f.name}" if owner and f else (".".join(filter(None, (owner.name, loc))) if owner
                                                               else loc)
    hit = f.lookup(settings_model.EnvView(env.values())) if f else None
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
    return Finding(BLOCK, f"{field_name} fails at boot: {reason}{context}{_unset_hint(env, m)}", None, details)


def _outcome_finding(cls: Any, env: ContainerEnv, outcome: boot.Outcome, what: str,
                     m: settings_model.SettingsModel) -> Finding:
    if outcome.errors:
        error = outcome.errors[0]
        return _error_finding(cls, cls.field_for(error.get("loc") or ()) if cls else None, env, error, what, m)
    return Finding(BLOCK, f"{what} fails at boot: {outcome.exception}{_unset_hint(env, m)}", None,
                   {"container": env.container, "exception": outcome.exception})


def _static_fallback(host: Any, entry: SettingsEntry, target: Target, env: ContainerEnv,
                     m: settings_model.SettingsModel, reason: str,
                     only: str | None) -> list[tuple[str | None, Finding]]:
    out: list[tuple[str | None, Finding]] = []
    key = (host.shared, "fallback", entry.path, target.sha)
    if key not in _ANNOUNCED:
        _ANNOUNCED.add(key)
        out.append((None, Finding(WARN, f"{entry.path} at {target.label} imports modules the boot check does not "
                                        f"have ({reason}): static checks only for this file", entry.path)))
    values = settings_model.EnvView(env.values())
    for cls in m.classes:
        if only is not None and cls.name != only:
            continue
        for top in cls.fields:
            for f in top.walk():
                hit = f.lookup(values)
                var = env.vars.get(hit[0]) if hit else None
                problem = settings_model.static_value_error(f, hit[1]) if var is not None and var.known else None
                if problem:
                    out.append((env.container, Finding(
                        BLOCK, f"{var.name}={var.value!r} fails {cls.name}.{f.name}: {problem} (static check)",
                        var.name, {"field": f"{cls.name}.{f.name}", "value": var.value})))
    return out


def need_id(need: SecretNeed) -> str:
    """The item id of a secret reference: `secret.key`, or `secret` for a whole secret (envFrom)."""
    return f"{need.secret}.{need.key}" if need.key else need.secret


ENV_PROBLEMS = "env-entries"  # item id of container env entries the API server or kubelet rejects


def secret_items(envs: Iterable[ContainerEnv]) -> list[str]:
    """Every secret (and key) any container references, plus ENV_PROBLEMS when an env entry is broken."""
    envs = list(envs)
    ids = {need_id(n) for e in envs for n in e.needs}
    return sorted(ids | ({ENV_PROBLEMS} if any(e.problems for e in envs) else set()))


def secret_findings(host: Any, envs: Iterable[ContainerEnv], secrets: SecretIndex,
                    item: str | None = None) -> list[Finding]:
    """Secrets and keys containers need that the environment does not hold: one blocker per secret key.

    `item` keeps one secret reference (a `need_id`) or ENV_PROBLEMS.
    """
    envs = list(envs)
    found: list[tuple[str | None, Finding]] = []
    for env in envs:
        env_id = container_id(env, envs)
        if item in (None, ENV_PROBLEMS):
            found += [(env_id, Finding(BLOCK, f"{host.name}: {CONTAINERS}: {p}", ENV_PROBLEMS,
                                       {"container": env.container})) for p in env.problems]
        for need in env.needs:
            if (item is not None and need_id(need) != item) or need.optional:
                continue
            finding = _missing_secret(host, env, need, secrets)
            if finding is not None:
                found.append((env_id, finding))
    return merge(found)


def _missing_secret(host: Any, env: ContainerEnv, need: SecretNeed, secrets: SecretIndex) -> Finding | None:
    found = secrets.find(need.secret, env.namespace)
    reads = f"{need.variable} for {CONTAINERS}" if need.key else f"envFrom of {CONTAINERS}"
    what = f"secret {need.secret} key {need.key}" if need.key else f"secret {need.secret}"
    if found is None:
        elsewhere = ", ".join(sorted({str(s.namespace) for s in secrets.others(need.secret)}))
        hint = f" (it exists in namespace {elsewhere})" if elsewhere else ""
        return Finding(BLOCK, f"{host.name}: {what} ({reads}) is needed, but no secret {need.secret} exists in "
                              f"namespace {env.namespace}{hint}: the pods will not start "
                              "(CreateContainerConfigError)", need_id(need),
                       {"secret": need.secret, "key": need.key, "variable": need.variable,
                        "namespace": env.namespace, "container": env.container})
    if need.key and need.key not in found.keys:
        return Finding(BLOCK, f"{host.name}: {what} ({reads}) is not in {found.origin}: the pods will not start "
                              f"(CreateContainerConfigError); seal the key into {found.origin}", need_id(need),
                       {"secret": need.secret, "key": need.key, "variable": need.variable, "origin": found.origin,
                        "keys": sorted(found.keys), "container": env.container})
    return None


def _matching(envs: list[ContainerEnv], env_id: str) -> ContainerEnv | None:
    return next((e for e in envs if container_id(e, envs) == env_id), None)


def cross_variables(mine: list[ContainerEnv], others: dict[str, list[ContainerEnv]]) -> list[str]:
    """Every variable the chart sets for a container here or for the same container elsewhere, sorted."""
    names = {n for e in mine for n in e.declared()}
    for other_envs in others.values():
        for e in mine:
            there = _matching(other_envs, container_id(e, mine))
            names |= set(there.declared()) if there is not None else set()
    return sorted(names)


def other_envs(host: Any) -> tuple[dict[str, list[ContainerEnv]], dict[str, str]]:
    """Container environments of every other environment, and why those whose chart did not render failed."""
    others, broken = {}, {}
    for name in sorted(host.estate.environments):
        if name == host.name:
            continue
        try:
            others[name] = container_envs(host.shared.host(name))
        except SourceError as exc:
            broken[name] = str(exc)
    return others, broken


def cross_findings(host: Any, variable: str) -> list[Finding]:
    """`cross_parity` of the environment against every other one, for one variable (computed once)."""
    def compute() -> dict[str, list[Finding]]:
        by_name: dict[str, list[Finding]] = {}
        for f in cross_parity(host, container_envs(host), other_envs(host)[0]):
            by_name.setdefault(str(f.item), []).append(f)
        return by_name

    return _memo(("cross", host.shared, host.name, gitops_sha(host)), compute).get(variable, [])


def cross_parity(host: Any, mine: list[ContainerEnv], others: dict[str, list[ContainerEnv]],
                 variable: str | None = None) -> list[Finding]:
    """Variables the same containers get elsewhere but not here (or only empty here): one warning each.

    `variable` keeps one variable.
    """
    gaps: dict[str, dict[tuple[str, tuple[str, ...]], list[str]]] = {}  # name -> (how, envs) -> containers
    for here in mine:
        env_id = container_id(here, mine)
        declared = here.declared()
        lacking: dict[str, dict[str, list[str]]] = {}
        for other_name, other_envs in sorted(others.items()):
            there = _matching(other_envs, env_id)
            for name, var in (there.declared() if there is not None else {}).items():
                if variable is not None and name != variable:
                    continue
                if name not in declared:
                    lacking.setdefault(name, {}).setdefault("lack", []).append(other_name)
                elif declared[name].known and declared[name].value == "" and var.value != "":
                    lacking.setdefault(name, {}).setdefault("empty", []).append(other_name)
        for name, hows in lacking.items():
            for how, envs in hows.items():
                gaps.setdefault(name, {}).setdefault((how, tuple(envs)), []).append(env_id)
    out = []
    for name, groups in sorted(gaps.items()):
        said = []
        for (how, envs), cs in groups.items():
            cs = sorted(cs)
            if how == "lack":
                said.append(f"{', '.join(cs)} {_verb(cs, 'lacks', 'lack')} {name}, which {', '.join(envs)} set")
            else:
                said.append(f"{', '.join(cs)} {_verb(cs, 'gets', 'get')} {name} empty, which {', '.join(envs)} "
                            "set to a value")
        empty = sorted({c for (how, _), cs in groups.items() if how == "empty" for c in cs})
        out.append(Finding(WARN, f"{host.name}: {'; '.join(said)}", name,
                           {"containers": sorted({c for cs in groups.values() for c in cs}),
                            "set_in": sorted({e for _, envs in groups for e in envs}), "empty_here": empty}))
    return out


def flag_values(envs: Iterable[ContainerEnv], prefixes: Iterable[str]) -> dict[str, dict[str, str]]:
    """{flag: {container: value}} for every plain variable under a feature-flag prefix."""
    out: dict[str, dict[str, str]] = {}
    prefixes = tuple(prefixes)
    for env in envs:
        for name, var in env.declared().items():
            if prefixes and name.startswith(prefixes) and var.known:
                out.setdefault(name, {})[env.container] = var.value
    return out


def flag_findings(host: Any, staging: str, mine: dict[str, dict[str, str]],
                  theirs: dict[str, dict[str, str]]) -> list[Finding]:
    """Flags on here that the staging environment does not have on: warnings."""
    out = []
    for flag, values in sorted(mine.items()):
        on_here = sorted(c for c, v in values.items() if v.strip().lower() in _TRUE)
        if not on_here:
            continue
        on_there = any(v.strip().lower() in _TRUE for v in theirs.get(flag, {}).values())
        if not on_there:
            state = "off" if flag in theirs else "not set"
            out.append(Finding(WARN, f"{host.name}: feature flag {flag} is on ({', '.join(on_here)}) but {state} "
                                     f"in {staging}: turn it on in {staging} first", flag,
                               {"containers": on_here, "staging": staging}))
    return out


def frontend_reads(text: str) -> set[str]:
    """Variables a front-end source reads through import.meta.env or process.env."""
    return {a or b for a, b in _FRONTEND_READ.findall(text)} - _FRONTEND_BUILTINS


def dotenv_names(text: str) -> dict[str, str]:
    """{name: value} of a .env file (comments, blank lines and `export` prefixes allowed)."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.removeprefix("export ").partition("=")
        out[name.strip()] = value.strip().strip("'\"")
    return out


def frontend_findings(host: Any, entry: FrontendEntry, sha: str, ref_label: str) -> list[Finding]:
    """Front-end variables the env file does not provide: blockers (one per variable)."""
    if not entry.env_file:
        return []
    repo = host.git(entry.source)
    provided = dotenv_names(repo.show(sha, entry.env_file))
    readers: dict[str, list[str]] = {}  # variable -> files that read it
    for path in entry.paths:
        files = [p for p in repo.ls_tree(sha, path)] if not repo.exists(sha, path) or path.endswith("/") \
            else [path]
        if not files:
            raise SourceError(f"{repo.name}: {path} does not exist at {ref_label}")
        for file in files:
            for name in sorted(frontend_reads(repo.show(sha, file)) - set(provided)):
                readers.setdefault(name, []).append(file)
    return [Finding(BLOCK, f"{host.name}: {', '.join(files)} {_verb(files, 'reads', 'read')} {name}, which "
                           f"{entry.env_file} at app {ref_label} does not set: add it", name,
                    {"files": files, "env_file": entry.env_file}) for name, files in sorted(readers.items())]


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
            out += required(host, entry, target, gitops_ref)
            out += boot_findings(host, entry, target, gitops_ref)
        except Absent as exc:
            out.append(Finding(SKIPPED, f"settings {entry.path}: {exc.path} does not exist at app {target.label}",
                               f"settings {entry.path}"))
    missing = absent_secrets(host, gitops_ref)
    if missing:
        out += [Finding(SKIPPED, f"gitops.secrets {path}: does not exist at gitops {short(exc.ref)}: "
                                 "secret keys not checked", f"gitops.secrets {path}") for path, exc in missing.items()]
    else:
        out += secret_findings(host, container_envs(host, gitops_ref), secrets)
    return out
