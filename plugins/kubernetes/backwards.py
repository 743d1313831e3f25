"""Going backwards: an image tag or chart version that moves to an older release than the one running.

Release tags compare as semantic versions (https://semver.org/#spec-item-11: numbers field by
field, a pre-release below its release); an image tag that is a commit compares by ancestry in the
application repository (the new commit is an ancestor of the running one: history going back).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from releasegate.core.manifests import workloads
from releasegate.images import imageref

_SEMVER = re.compile(r"^v?(?P<nums>[0-9]+(?:\.[0-9]+){0,2})(?:-(?P<pre>[0-9A-Za-z.-]+))?"
                     r"(?:\+[0-9A-Za-z.-]+)?$")
_HEX = re.compile(r"^[0-9a-f]{7,40}$")


@dataclass(frozen=True)
class Backwards:
    """One image or chart that moves to an older release."""

    what: str  # container api (image registry.demo.test/api) or chart app
    running: str
    candidate: str
    message: str


def semver(text: str) -> tuple[Any, ...] | None:
    """A sortable key for a version tag ('v1.3.0', '1.2', '2.0.0-rc.1'), None for anything else."""
    match = _SEMVER.match(str(text).strip())
    if not match:
        return None
    nums = [int(n) for n in match["nums"].split(".")] + [0, 0]
    pre = match["pre"]
    # a release sorts above its pre-releases; pre-release identifiers numeric below alphanumeric
    pre_key = (1,) if pre is None else (0, *((0, int(p), "") if p.isdigit() else (1, 0, p)
                                             for p in pre.split(".")))
    return (*nums[:3], pre_key)


def older(candidate: str, running: str) -> bool | None:
    """Whether candidate is an older version than running; None when either is no version."""
    new, old = semver(candidate), semver(running)
    if new is None or old is None:
        return None
    return new < old


def images(manifests: Iterable[dict[str, Any]]) -> dict[tuple[str, str, str], tuple[str, str]]:
    """{(workload kind/name, container, repository): (image, tag)} of rendered manifests."""
    out = {}
    for workload in workloads(manifests):
        for container in workload.containers:
            try:
                ref = imageref.parse(container.image)
            except imageref.InvalidReference:
                continue
            if ref.tag:
                out[(f"{workload.kind}/{workload.name}", container.name, ref.registry + "/" + ref.repository)] = \
                    (container.image, ref.tag)
    return out


def charts(manifests: Iterable[dict[str, Any]]) -> dict[str, str]:
    """{chart name: version} from the `helm.sh/chart: NAME-VERSION` label Helm's charts set."""
    out = {}
    for obj in manifests:
        value = str(((obj.get("metadata") or {}).get("labels") or {}).get("helm.sh/chart") or "")
        name, _, version = value.rpartition("-")
        while name and semver(version) is None and "-" in name:  # 1.2.0-rc.1: the dash is the version's
            name, _, head = name.rpartition("-")
            version = f"{head}-{version}"
        if name and semver(version) is not None:
            out[name] = version
    return out


def going_back(running: Iterable[dict[str, Any]], candidate: Iterable[dict[str, Any]],
               is_ancestor: Callable[[str, str], bool | None] | None = None,
               describe: Callable[[str], str] = str) -> list[Backwards]:
    """Every image and chart whose candidate version is older than the running one.

    `is_ancestor(a, b)` answers for commit-SHA tags whether a is a strict ancestor of b (None:
    unknown commits, not judged); `describe(tag)` names a tag in messages (a commit's release).
    """
    running, candidate = list(running), list(candidate)
    out = []
    before = images(running)
    moves: dict[tuple[str, str], list[str]] = {}  # (running tag, candidate tag) -> containers
    for key, (image, tag) in sorted(images(candidate).items()):
        if key not in before or before[key][1] == tag:
            continue
        was = before[key][1]
        back = older(tag, was)
        if back is None and is_ancestor and _HEX.match(tag) and _HEX.match(was):
            back = is_ancestor(tag, was)
        if back:
            moves.setdefault((was, tag), []).append(f"{key[0]} {key[1]} ({key[2]})")
    for (was, tag), where in sorted(moves.items()):
        more = f" and {len(where) - 3} more" if len(where) > 3 else ""
        out.append(Backwards(f"image tag {tag}", was, tag,
                             f"image tag goes back from {describe(was)} (running) to {describe(tag)}: "
                             f"{', '.join(where[:3])}{more}"))
    old_charts = charts(running)
    for name, version in sorted(charts(candidate).items()):
        was = old_charts.get(name)
        if was and older(version, was):
            out.append(Backwards(f"chart {name}", was, version,
                                 f"chart {name} goes back from {was} (running) to {version}"))
    return out


def leaves(values: Any, prefix: str = "") -> set[str]:
    """Dotted keys of every leaf of a values mapping (lists count as leaves)."""
    if not isinstance(values, dict) or not values:
        return {prefix} if prefix else set()
    out: set[str] = set()
    for key, value in values.items():
        out |= leaves(value, f"{prefix}.{key}" if prefix else str(key))
    return out


def env_names(manifests: Iterable[dict[str, Any]]) -> set[str]:
    """Every variable a container of the manifests sets."""
    return {str(e.get("name")) for w in workloads(manifests) for c in w.containers
            for e in c.env if isinstance(e, dict) and e.get("name")}


def removed_keys(running_values: Any, candidate_values: Any,
                 running: Iterable[dict[str, Any]], candidate: Iterable[dict[str, Any]]) -> list[str]:
    """Configuration the change removes: values keys and container variables, sorted."""
    keys = sorted(leaves(running_values) - leaves(candidate_values))
    variables = sorted(env_names(running) - env_names(candidate))
    return keys + [f"env {v}" for v in variables]
