"""Env var parity: the settings code the environment runs (or is about to run) against what each
container gets from the chart, the sealed secrets and the front-end env file.

`test_settings_*` check the release running now (the removal gate: does a config change already
merged break what runs?); `test_settings_*_candidate` check the code the environment gets next
(prerelease: is production's config ready for the candidate?); `test_settings_*_reset` check main's
head for an environment on a shared branch that is reset to main (warnings: the next reset).
"""
from __future__ import annotations

from typing import Any, Iterable

import pytest

from releasegate.settings import (boot, boot_findings, boot_runs, class_names, containers, cross_env, finding,
                              frontend, required, secret_keys, targets)
from releasegate.findings import Gate
from releasegate.core.gitrepo import Absent, NotChecked, SourceError
from releasegate.core.host import EnvHost
from releasegate.params import Unavailable, first, nothing_to_check, per_env, per_item


def _settings_items(host: EnvHost, role: str, with_boot: bool) -> Iterable[tuple[str, Any]]:
    many = len(host.estate.settings) > 1
    for index, entry in enumerate(host.estate.settings):
        later = containers.unmatched_containers(host, entry)
        if entry.containers and later == list(entry.containers) and containers.added_later(host, later):
            yield f"{index}.absent", Unavailable(  # the entry's containers came later: nothing to check here
                f"settings {entry.path}: no container {', '.join(later)} runs in the chart at gitops "
                f"{containers.gitops_sha(host)[:12]}: nothing to check there", skip=True)
            continue
        target = targets.targets(host, entry).get(role)
        if target is None:
            if role == "running":  # the chart's image tags name no commit of the application
                found = targets.running(host, None, entry)
                if found.not_checked:  # a moving tag or an untagged version: which code runs is unknown
                    yield "running-commit", Unavailable(found.not_checked.removeprefix(f"{host.name}: "), skip=True)
                    continue
                problems = found.problems
                yield "running-commit", (entry, None, problems[0] if problems else f"{host.name}: commit unknown")
            continue
        try:
            names = targets.units(host, entry, target, with_boot)
        except Absent as exc:  # the settings module was added later (or moved): nothing to check at that commit
            yield f"{index}.absent", nothing_to_check(host, exc, f"settings at app {target.label} ({target.role})")
            continue
        for name in names:
            yield (f"{index}.{name}" if many else name), (entry, target, name)


def entry_items(host: EnvHost) -> Iterable[tuple[str, Any]]:
    """Every settings entry that names containers."""
    many = len(host.estate.settings) > 1
    return [(f"{index}.containers" if many else "containers", (index, entry))
            for index, entry in enumerate(host.estate.settings) if entry.containers]


def running_classes(host: EnvHost) -> Iterable[tuple[str, Any]]:
    """Settings classes of the application commit the environment runs."""
    return _settings_items(host, "running", with_boot=False)


def candidate_classes(host: EnvHost) -> Iterable[tuple[str, Any]]:
    """Settings classes of the application commit the environment gets next."""
    return _settings_items(host, "candidate", with_boot=False)


def running_boot_items(host: EnvHost) -> Iterable[tuple[str, Any]]:
    """Settings classes and the boot function of the application commit the environment runs."""
    return _settings_items(host, "running", with_boot=True)


def candidate_boot_items(host: EnvHost) -> Iterable[tuple[str, Any]]:
    """Settings classes and the boot function of the application commit the environment gets next."""
    return _settings_items(host, "candidate", with_boot=True)


def reset_classes(host: EnvHost) -> Iterable[tuple[str, Any]]:
    """Settings classes of main's head, for an environment on a shared branch that is reset to main."""
    return _settings_items(host, "reset", with_boot=False)


def reset_boot_items(host: EnvHost) -> Iterable[tuple[str, Any]]:
    """Settings classes and the boot function of main's head, for an environment on a shared branch."""
    return _settings_items(host, "reset", with_boot=True)


def secret_items(host: EnvHost) -> Iterable[tuple[str, Any]]:
    """Every secret key (or whole secret, for envFrom) a container of the chart references."""
    return [(item_id, item_id) for item_id in secret_keys.secret_items(containers.container_envs(host))]


def variable_items(host: EnvHost) -> Iterable[tuple[str, Any]]:
    """Every variable the chart sets here or for the same container in another environment."""
    names, broken = cross_env.compared_variables(host)
    yield from ((name, (name, None)) for name in names)
    yield from ((f"compare-{name}", (None, reason)) for name, reason in broken.items())


def frontend_items(host: EnvHost) -> Iterable[tuple[str, Any]]:
    """Front-end entries that name an env file, with the commit whose build the environment gets."""
    for entry in host.estate.frontend:
        if not entry.env_file:
            continue
        ref = host.spec.deploys.branch or host.shared.candidate()
        yield entry.env_file, (entry, host.git(entry.source).resolve(ref), ref)


def _report(gate: Gate, findings: Iterable[finding.Finding]) -> None:
    """Blockers, warnings and notes to the gate; what was not checked skips the check (with its one line)
    unless a blocker fails it."""
    skipped = []
    for f in findings:
        if f.severity == finding.SKIPPED:
            skipped.append(f.message)
            continue
        if f.severity == finding.NOTE:
            gate.note(f.message, item=f.item, **f.details)
            continue
        (gate.block if f.severity == finding.BLOCK else gate.warn)(f.message, item=f.item, **f.details)
    if skipped and not gate.blockers:
        pytest.skip(skipped[0])


@pytest.fixture
def booted(host: EnvHost, item: Any) -> dict[str, boot.BootResult] | None:
    """Boot results of every container that boots this item's settings (identical environments boot once).

    A boot interpreter that cannot run is broken infrastructure: raised here, it shows as ERROR.
    """
    entry, target, _ = item
    if target is None:
        return None
    try:
        return boot_runs.boot_results(host, entry, target)
    except boot.BootError as exc:
        raise SourceError(f"{host.name}: {exc}") from None


def _required(host: EnvHost, item: Any, gate: Gate) -> None:
    entry, target, name = item
    if target is None:
        gate.fail(name)
    wrong, notes = class_names.unknown_names(host, entry, target)
    if wrong:  # the environments file's mistake, once: an error on the first class, the others not checked
        first_class = targets.units(host, entry, target, with_boot=False)[0]
        if name == first_class:
            raise SourceError(wrong)
        pytest.skip(f"{host.name}: not checked: settings {entry.path}: classes names what the file does not "
                    f"define (the error is on {first_class})")
    _report(gate, notes + required.reader_warnings(host, entry, target))
    _report(gate, _next(host, target, required.required(host, entry, target, cls_name=name)))


def _boot(host: EnvHost, item: Any, booted: dict[str, boot.BootResult] | None, gate: Gate) -> None:
    entry, target, name = item
    if target is None or booted is None:
        gate.fail(name)
    only = f"{name}()" if name == entry.boot else name
    _report(gate, _next(host, target, boot_findings.boot_findings(host, entry, target, only=only)))


def _next(host: EnvHost, target: targets.Target, found: list[finding.Finding]) -> list[finding.Finding]:
    """Findings against main's head for a shared branch are warnings about its next reset."""
    return targets.as_reset(host, found) if target.role == "reset" else found


@pytest.mark.prerelease
@pytest.mark.smoke
@pytest.mark.drift
@first
@per_item(entry_items)
def test_settings_containers(host: EnvHost, item: Any, gate: Gate) -> None:
    """Every container name a settings entry lists is a container of this environment's chart."""
    index, entry = item
    found = containers.containers_finding(host, entry, f"settings[{index}].containers")
    if found and containers.added_later(host, found.details["unmatched"]):
        pytest.skip(f"{host.name}: settings[{index}].containers: {', '.join(found.details['unmatched'])} "
                    f"{'runs' if len(found.details['unmatched']) == 1 else 'run'} in the chart only after gitops {containers.gitops_sha(host)[:12]}: nothing to check there")
    _report(gate, [found] if found else [])


@pytest.mark.prerelease
@pytest.mark.smoke
@pytest.mark.drift
@per_item(running_classes)
def test_settings_required(host: EnvHost, item: Any, gate: Gate) -> None:
    """Every required field of this settings class (running release) has a variable in each container."""
    _required(host, item, gate)


@pytest.mark.prerelease
@per_item(candidate_classes)
def test_settings_required_candidate(host: EnvHost, item: Any, gate: Gate) -> None:
    """Every required field of this settings class (candidate) has a variable in each container."""
    _required(host, item, gate)


@pytest.mark.prerelease
@pytest.mark.smoke
@pytest.mark.drift
@per_item(running_boot_items)
def test_settings_boot(host: EnvHost, item: Any, booted: dict[str, boot.BootResult], gate: Gate) -> None:
    """The running release's settings class (or boot function) constructs from what each container gets."""
    _boot(host, item, booted, gate)


@pytest.mark.prerelease
@per_item(candidate_boot_items)
def test_settings_boot_candidate(host: EnvHost, item: Any, booted: dict[str, boot.BootResult],
                                 gate: Gate) -> None:
    """The candidate's settings class (or boot function) constructs from what each container gets."""
    _boot(host, item, booted, gate)


@pytest.mark.prerelease
@pytest.mark.drift
@per_item(reset_classes)
def test_settings_required_reset(host: EnvHost, item: Any, gate: Gate) -> None:
    """Every required field of main's head has a variable in each container of a shared-branch
    environment, which gets main at its next reset (warnings)."""
    _required(host, item, gate)


@pytest.mark.prerelease
@pytest.mark.drift
@per_item(reset_boot_items)
def test_settings_boot_reset(host: EnvHost, item: Any, booted: dict[str, boot.BootResult], gate: Gate) -> None:
    """Main's head constructs its settings from what each container of a shared-branch environment
    gets, as it will at the branch's next reset to main (warnings)."""
    _boot(host, item, booted, gate)


@pytest.mark.prerelease
@pytest.mark.smoke
@pytest.mark.drift
@per_item(secret_items)
def test_secret_keys(host: EnvHost, item: str, gate: Gate) -> None:
    """This secret key, wherever a container reads it, exists in the environment's (sealed) secrets."""
    for exc in containers.absent_secrets(host).values():  # a listed manifest added later: nothing to check here
        absent = nothing_to_check(host, exc, "gitops.secrets")
        if absent.skip:
            pytest.skip(f"{host.name}: {absent.reason}")
        raise SourceError(f"{host.name}: {absent.reason}")
    _report(gate, secret_keys.secret_findings(host, containers.container_envs(host), containers.secret_index(host), item))


@pytest.mark.prerelease
@pytest.mark.drift
@per_item(variable_items)
def test_env_cross_parity(host: EnvHost, item: Any, gate: Gate) -> None:
    """A variable the same containers get in another environment is set here too (warnings)."""
    variable, broken = item
    if variable is None:  # another environment's chart did not render: said once, not per variable
        if isinstance(broken, NotChecked):  # nor can it be rendered here: nothing to compare
            pytest.skip(f"{host.name}: cannot compare with it: {broken}")
        gate.warn(f"{host.name}: cannot compare with it: {broken}")
        return
    _report(gate, cross_env.cross_findings(host, variable))


def _flags_apply(host: EnvHost) -> bool:
    staging = host.estate.feature_flags.staging
    return bool(host.spec.deploys.tag and staging and staging != host.name and host.estate.feature_flags.prefixes)


@pytest.mark.prerelease
@pytest.mark.drift
@per_env(_flags_apply)
def test_feature_flags(host: EnvHost, gate: Gate) -> None:
    """A feature flag on here was on in the staging environment first (warnings)."""
    flags = host.estate.feature_flags
    staging = host.shared.host(str(flags.staging))
    mine = cross_env.flag_values(containers.container_envs(host), flags.prefixes)
    theirs = cross_env.flag_values(containers.container_envs(staging), flags.prefixes)
    _report(gate, cross_env.flag_findings(host, str(flags.staging), mine, theirs))


@pytest.mark.prerelease
@pytest.mark.smoke
@per_item(frontend_items)
def test_frontend_env(host: EnvHost, item: Any, gate: Gate) -> None:
    """Every variable the front end reads is in its env file."""
    entry, sha, ref = item
    _report(gate, frontend.frontend_findings(host, entry, sha, targets.label(host, sha, ref)))
