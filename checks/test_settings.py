"""Env var parity: the settings code the environment runs (or is about to run) against what each
container gets from the chart, the sealed secrets and the front-end env file.

`test_settings_*` check the release running now (the removal gate: does a config change already
merged break what runs?); `test_settings_*_candidate` check the code the environment gets next
(prerelease: is production's config ready for the candidate?).
"""
from __future__ import annotations

from typing import Any, Iterable

import pytest

from plugins import boot, parity
from plugins.findings import Gate
from plugins.gitrepo import SourceError
from plugins.host import EnvHost
from plugins.params import per_env, per_item


def _settings_items(host: EnvHost, role: str) -> Iterable[tuple[str, Any]]:
    many = len(host.estate.settings) > 1
    for index, entry in enumerate(host.estate.settings):
        target = parity.targets(host, entry).get(role)
        if target is None:
            if role == "running":  # the chart's image tags name no commit of the application
                problems = parity.running(host, None, entry).problems
                yield "running-commit", (entry, None, problems[0] if problems else f"{host.name}: commit unknown")
            continue
        for item_id, env in parity.settings_containers(host, entry):
            yield (f"{index}.{item_id}" if many else item_id), (entry, target, env)


def running_items(host: EnvHost) -> Iterable[tuple[str, Any]]:
    """Containers that boot a settings entry, with the application commit the environment runs."""
    return _settings_items(host, "running")


def candidate_items(host: EnvHost) -> Iterable[tuple[str, Any]]:
    """Containers that boot a settings entry, with the application commit the environment gets next."""
    return _settings_items(host, "candidate")


def container_items(host: EnvHost) -> Iterable[tuple[str, Any]]:
    """Every container of the rendered chart (init containers too)."""
    envs = parity.container_envs(host)
    return [(parity.container_id(e, envs), e) for e in envs]


def frontend_items(host: EnvHost) -> Iterable[tuple[str, Any]]:
    """Front-end entries that name an env file, with the commit whose build the environment gets."""
    for entry in host.estate.frontend:
        if not entry.env_file:
            continue
        ref = host.spec.deploys.branch or host.shared.candidate()
        yield entry.env_file, (entry, host.git(entry.source).resolve(ref), ref)


def _report(gate: Gate, findings: Iterable[parity.Finding]) -> None:
    for f in findings:
        (gate.block if f.severity == parity.BLOCK else gate.warn)(f.message, item=f.item, **f.details)


@pytest.fixture
def booted(host: EnvHost, item: Any) -> boot.BootResult | None:
    """The boot of this item's settings with this container's environment (one batch per host)."""
    entry, target, env = item
    if target is None:
        return None
    envs = parity.settings_containers(host, entry)
    try:
        results = parity.boot_results(host, entry, target, envs)
    except boot.BootError as exc:
        raise SourceError(f"{host.name}: {exc}") from None
    return next(results[item_id] for item_id, e in envs if e == env)


def _required(host: EnvHost, item: Any, gate: Gate) -> None:
    entry, target, env = item
    if target is None:
        gate.fail(env)
    _report(gate, parity.reader_warnings(host, entry, target))
    _report(gate, parity.required(host, entry, target, env))


def _boot(host: EnvHost, item: Any, booted: boot.BootResult | None, gate: Gate) -> None:
    entry, target, env = item
    if target is None or booted is None:
        gate.fail(env)
    _report(gate, parity.boot_findings(host, entry, target, env, booted))


@pytest.mark.prerelease
@pytest.mark.smoke
@pytest.mark.drift
@per_item(running_items)
def test_settings_required(host: EnvHost, item: Any, gate: Gate) -> None:
    """Every required settings field of the running release has a variable in this container."""
    _required(host, item, gate)


@pytest.mark.prerelease
@per_item(candidate_items)
def test_settings_required_candidate(host: EnvHost, item: Any, gate: Gate) -> None:
    """Every required settings field of the candidate has a variable in this container."""
    _required(host, item, gate)


@pytest.mark.prerelease
@pytest.mark.smoke
@pytest.mark.drift
@per_item(running_items)
def test_settings_boot(host: EnvHost, item: Any, booted: boot.BootResult, gate: Gate) -> None:
    """The running release's settings construct from exactly what this container gets."""
    _boot(host, item, booted, gate)


@pytest.mark.prerelease
@per_item(candidate_items)
def test_settings_boot_candidate(host: EnvHost, item: Any, booted: boot.BootResult, gate: Gate) -> None:
    """The candidate's settings construct from exactly what this container gets."""
    _boot(host, item, booted, gate)


@pytest.mark.prerelease
@pytest.mark.smoke
@pytest.mark.drift
@per_item(container_items)
def test_secret_keys(host: EnvHost, item: Any, gate: Gate) -> None:
    """Every secret and key the container reads exists in the environment's (sealed) secrets."""
    _report(gate, parity.secret_findings(host, item, parity.secret_index(host)))


@pytest.mark.prerelease
@pytest.mark.drift
@per_item(container_items)
def test_env_cross_parity(host: EnvHost, item: Any, gate: Gate) -> None:
    """Variables the same container gets in another environment are set here too (warnings)."""
    others = {}
    for name in sorted(host.estate.environments):
        if name == host.name:
            continue
        try:
            others[name] = parity.container_envs(host.shared.host(name))
        except SourceError as exc:
            gate.warn(f"{host.name}: cannot compare with {name}: {exc}")
    envs = parity.container_envs(host)
    _report(gate, parity.cross_parity(host, parity.container_id(item, envs), others, envs))


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
    mine = parity.flag_values(parity.container_envs(host), flags.prefixes)
    theirs = parity.flag_values(parity.container_envs(staging), flags.prefixes)
    _report(gate, parity.flag_findings(host, str(flags.staging), mine, theirs))


@pytest.mark.prerelease
@pytest.mark.smoke
@per_item(frontend_items)
def test_frontend_env(host: EnvHost, item: Any, gate: Gate) -> None:
    """Every variable the front end reads is in its env file."""
    entry, sha, ref = item
    _report(gate, parity.frontend_findings(host, entry, sha, parity.label(host, sha, ref)))
