"""Every subdomain is healthy (DNS, TCP, TLS, HTTP, time) and serves the build git says it should.

All endpoints of the run are fetched concurrently on first use (releasegate.subdomains.plugin.session_probe),
one network.timeout_s bound each; these checks only read the cached results.
"""
from __future__ import annotations

import re
from typing import Any, Iterable

import pytest

from releasegate.core.gitrepo import GitRepo
from releasegate.core.host import EnvHost
from releasegate.params import per_item
from releasegate.subdomains.plugin import marked_where, session_probe
from releasegate.subdomains.probe import (BLOCKER, Target, assess, policy, served_build, subdomain_targets,
                                      version_target)

REVISION = re.compile(r"[0-9A-Za-z][0-9A-Za-z._/+-]{0,127}")


def subdomains(host: EnvHost) -> Iterable[tuple[str, Target]]:
    """Every subdomain the environments file lists for this environment."""
    return subdomain_targets(host.estate, host.spec)


def version_endpoint(host: EnvHost) -> Iterable[tuple[str, Target]]:
    """The endpoint that reports the live build, where the environment declares one."""
    found = version_target(host.estate, host.spec)
    return [(host.spec.version.subdomain, found)] if found else []


@pytest.fixture
def exchange(item: Target, http: Any, request: pytest.FixtureRequest) -> Any:
    """The endpoint's exchange from the run's one concurrent probe. Fetched in a fixture, so that a
    resolver that fails as a whole is an ERROR (infrastructure), not a FAILED check."""
    return session_probe(request.config, http).result(item)


@pytest.mark.smoke
@pytest.mark.drift
@marked_where(lambda env: bool(env.deploys.tag), pytest.mark.prerelease)
@per_item(subdomains, applies=lambda host: bool(host.spec.subdomains and host.spec.domain))
def test_subdomain_healthy(host: EnvHost, item: Target, http: Any, gate: Any, exchange: Any) -> None:
    """DNS, TCP, TLS (chain, SAN, expiry), status, body/JSON expectations and response time."""
    for finding in assess(item, exchange, policy(host.estate), ca_file=http.ca_file):
        record = gate.block if finding.severity == BLOCKER else gate.warn
        record(finding.message, step=finding.step, **finding.details)


def expected_build(host: EnvHost, repo: GitRepo) -> tuple[str, str]:
    """(commit, label) an environment should serve: its branch head, or its release tag."""
    deploys = host.spec.deploys
    if deploys.branch:
        sha = repo.branch_head(deploys.branch) or repo.resolve(deploys.branch)
        return sha, f"{deploys.branch} head"
    tag = host.settings.tag if host.settings.tag and repo.rev_parse(f"refs/tags/{host.settings.tag}") \
        else None
    tags = repo.tags(deploys.tag or "*")
    tag = tag or (tags[-1] if tags else None)
    if tag is None:
        pytest.fail(f"{host.name}: no tag in {repo.name} matches {deploys.tag!r}: cannot tell which "
                    f"build should be live", pytrace=False)
    return repo.resolve(f"refs/tags/{tag}"), tag


def distance(repo: GitRepo, served: str, expected: str, main: str) -> str:
    """How far apart two commits are, in words, relative to the main branch."""
    ahead, behind = repo.count(f"{expected}..{served}"), repo.count(f"{served}..{expected}")
    if behind and not ahead:
        text = f"the live build is {behind} commit(s) behind"
    elif ahead and not behind:
        text = f"the live build is {ahead} commit(s) ahead"
    else:
        text = f"they diverged ({ahead} commit(s) only live, {behind} only expected)"
    head = repo.branch_head(main)
    off_main = [name for name, sha in (("live", served), ("expected", expected))
                if head and not repo.is_ancestor(sha, head)]
    return text + (f"; not on {main}: {', '.join(off_main)}" if off_main else f" on {main}")


@pytest.mark.smoke
@pytest.mark.drift
@per_item(version_endpoint, applies=lambda host: bool(host.spec.version and host.spec.domain))
def test_live_build(host: EnvHost, item: Target, gate: Any, exchange: Any) -> None:
    """The build the environment serves is the commit it should run."""
    spec = host.spec.version
    where = f"{item.url}" + (f" header {spec.header}" if spec.header else f" key {spec.json_key}")
    served, why = served_build(exchange, spec.json_key, spec.header)
    if served is None:
        gate.fail(f"{host.name}: {where} does not tell the live build ({why})", url=item.url)
    source = host.app_source
    repo = host.git(source)
    expected, label = expected_build(host, repo)
    served_sha = repo.rev_parse(served) if REVISION.fullmatch(served) else None
    if served_sha == expected:
        return
    if served_sha is None:
        gate.fail(f"{host.name}: {item.host} serves build {served[:40]!r}, not a commit of {source}; "
                  f"expected {label} {expected[:12]}: check the deploy", served=served, expected=expected)
    main = host.estate.sources[source].main
    gate.fail(f"{host.name}: {item.host} serves {served_sha[:12]} but {label} is {expected[:12]}: "
              f"{distance(repo, served_sha, expected, main)}; check the deploy (sync, image tag)",
              served=served_sha, expected=expected, expected_ref=label)
