"""Cross-environment parity from the estate's index gives exactly the pairwise comparison, and reads
each environment's containers once for the whole estate (plugins/settings/cross_env.py)."""
from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from releasegate.core.gitrepo import SourceError
from releasegate.settings import containers, cross_env
from releasegate.settings.finding import Finding
from releasegate.settings.kubelet_env import ContainerEnv, EnvVar


def _pairwise(host: Any, mine: list[ContainerEnv], others: dict[str, list[ContainerEnv]],
              variable: str | None = None) -> list[Finding]:
    """The comparison as it was written before the index: every container against every other
    environment (the wording of the warnings is cross_env's own)."""
    def matching(envs: list[ContainerEnv], env_id: str) -> ContainerEnv | None:
        return next((e for e in envs if containers.container_id(e, envs) == env_id), None)

    gaps: dict[str, dict[tuple[str, tuple[str, ...]], list[str]]] = {}
    for here in mine:
        env_id = containers.container_id(here, mine)
        declared = here.declared()
        lacking: dict[str, dict[str, list[str]]] = {}
        for other_name, other_envs in sorted(others.items()):
            there = matching(other_envs, env_id)
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
    return cross_env.gap_findings(host, gaps)


def _estate(seed: int) -> dict[str, list[ContainerEnv] | None]:
    """Environments with overlapping containers (a name repeated across workloads too), variables set,
    empty, sealed or absent; None for an environment whose chart does not render."""
    rnd = random.Random(seed)
    out: dict[str, list[ContainerEnv] | None] = {}
    for i in range(rnd.randint(2, 7)):
        if rnd.random() < 0.1:
            out[f"env-{i}"] = None
            continue
        envs = []
        for workload, container in rnd.sample([("api", "api"), ("worker", "worker"), ("cron", "worker"),
                                               ("web", "web"), ("jobs", "api")], rnd.randint(1, 4)):
            values = {}
            for name in rnd.sample("ABCDEFGH", rnd.randint(0, 6)):
                source = "secret" if rnd.random() < 0.15 else "service" if rnd.random() < 0.1 else "value"
                value = rnd.choice(["", "1", "x"])
                values[name] = EnvVar(name, value, source, known=source != "secret")
            envs.append(ContainerEnv(workload, "Deployment", container, "ns", values))
        out[f"env-{i}"] = envs
    return out


class _Estatewide:
    def __init__(self, estate: dict[str, list[ContainerEnv] | None]) -> None:
        self.envs = estate
        self.estate = type("Estate", (), {"environments": dict.fromkeys(estate)})()

    def host(self, name: str) -> Any:
        return type("Host", (), {"name": name, "shared": self, "estate": self.estate})()


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Environments whose containers were read, in order (the chart of a None environment fails)."""
    seen: list[str] = []

    def container_envs(host: Any) -> list[ContainerEnv]:
        seen.append(host.name)
        envs = host.shared.envs[host.name]
        if envs is None:
            raise SourceError(f"{host.name}: chart did not render")
        return envs

    monkeypatch.setattr(cross_env, "container_envs", container_envs)
    monkeypatch.setattr(cross_env, "gitops_sha", lambda host: "0" * 40)
    return seen


@pytest.mark.parametrize("seed", range(40))
def test_estate_index_gives_the_pairwise_comparison(reads: list[str], seed: int) -> None:
    shared = _Estatewide(_estate(seed))
    rendered = {n: e for n, e in shared.envs.items() if e is not None}
    for name, mine in rendered.items():
        host = shared.host(name)
        others = {n: e for n, e in rendered.items() if n != name}
        expected = _pairwise(host, mine, others)
        assert cross_env.cross_parity(host, mine, others) == expected
        names, broken = cross_env.compared_variables(host)
        assert names == cross_env.cross_variables(mine, others)
        assert {f.item for f in expected} <= set(names)
        assert {n: str(e) for n, e in broken.items()} == {n: f"{n}: chart did not render" for n, e in shared.envs.items() if e is None}
        found = [f for variable in names for f in cross_env.cross_findings(host, variable)]
        assert [(f.item, f.message, f.details) for f in found] == [(f.item, f.message, f.details) for f in expected]
        for variable in names:
            assert cross_env.cross_parity(host, mine, others, variable) == _pairwise(host, mine, others, variable)


def test_each_environment_is_read_once_for_the_whole_estate(reads: list[str]) -> None:
    shared = _Estatewide({f"env-{i}": [ContainerEnv("api", "Deployment", "api", "ns",
                                                    {"A": EnvVar("A", str(i % 2), "value")})] for i in range(30)})
    for name in shared.envs:
        host = shared.host(name)
        names, _ = cross_env.compared_variables(host)
        for variable in names:
            cross_env.cross_findings(host, variable)
    # each environment is read twice by its own checks and once for the estate's index, however many
    # environments there are (compared pairwise, each was read by every other environment too)
    assert Counter(reads) == dict.fromkeys(shared.envs, 3)
