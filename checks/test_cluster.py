"""What the cluster will refuse and what never becomes ready, read from git and Helm only.

Every rendered object against the API schema of the cluster's Kubernetes version; objects rendered
twice; changes to fields the API server refuses to update, against the state the cluster runs;
images and charts going back to an older release; HTTP probes against the container's ports and
the application's routes. No cluster is needed: these run in `--static` too.
"""

from __future__ import annotations

from typing import Any, Iterable

import pytest

from releasegate.core import helm
from releasegate.core.gitrepo import SourceError
from releasegate.core.host import EnvHost
from releasegate.findings import Gate
from releasegate.kubernetes import api as api_lists
from releasegate.kubernetes import backwards, conflicts, openapi, probes, routes, running
from releasegate.params import per_env, per_item
from releasegate.settings import targets


def _everywhere(host: EnvHost) -> bool:
    return True


def kinds(host: EnvHost) -> Iterable[tuple[str, Any]]:
    """Every (apiVersion, kind) the environment's chart renders."""
    found = {(str(m.get("apiVersion", "")), str(m.get("kind", ""))) for m in host.manifests}
    return [(f"{api}/{kind}", (api, kind)) for api, kind in sorted(found)]


def _version(host: EnvHost) -> tuple[str, str]:
    wanted = host.spec.kubernetes.version if host.spec.kubernetes else None
    version, note = openapi.pick_version(wanted)
    if version is None:
        pytest.skip(f"{host.name}: not checked: {note}")
    return version, note


@pytest.mark.prerelease
@pytest.mark.smoke
@pytest.mark.drift
@per_item(kinds, applies=_everywhere)
def test_manifest_schema(host: EnvHost, item: tuple[str, str], manifests: tuple[dict[str, Any], ...],
                         gate: Gate) -> None:
    """Every object of this kind is valid for the API server (unknown fields, types, required)."""
    api, kind = item
    version, note = _version(host)
    ref = host.ref(host.gitops_source)
    objects = [m for m in manifests if m.get("apiVersion") == api and m.get("kind") == kind]
    crds: dict = {}
    if openapi.builtin_validator(version, api, kind) is None:
        crds = openapi.crd_schemas(running.crd_documents(host, ref, manifests))
    merged = [openapi.label(o) for o in objects if openapi.merged_documents(o)]
    for obj in objects:
        if openapi.merged_documents(obj):
            continue
        found = openapi.validate(obj, version, crds)
        if found is None:
            others = openapi.served(version, api, kind)
            if others:  # Helm's default capabilities may have picked an old version for the render
                pytest.skip(f"{host.name}: not checked: Kubernetes {version} serves {kind} as "
                            f"{', '.join(others)}, not {api}: the API server refuses {api} unless the "
                            "chart picks it from .Capabilities, which this render does not know")
            pytest.skip(f"{host.name}: not checked: no schema for {api} {kind} (no such kind in "
                        f"Kubernetes {version}, and no CustomResourceDefinition for it in the chart "
                        "or the deployment repository)")
        for problem in found:
            template = running.template_of(host, ref, obj, problem.path.rsplit(".", 1)[-1].split("[")[0])
            where = f" (template {template})" if template else ""
            gate.block(f"{problem.obj}: {problem.path}: {problem.message}{where}; schema of {note}",
                       item=problem.obj, field=problem.path, template=template,
                       kubernetes_version=version)
    if merged and not gate.blockers:
        pytest.skip(f"{host.name}: not checked: {', '.join(merged)} holds a key that starts with "
                    "'---': the render read two YAML documents as one where Helm splits them "
                    "(a `---` followed by a trimmed template line)")


@pytest.mark.prerelease
@pytest.mark.smoke
@pytest.mark.drift
@per_env(_everywhere)
def test_unique_objects(host: EnvHost, manifests: tuple[dict[str, Any], ...], gate: Gate) -> None:
    """No two rendered objects share (API group, kind, namespace, name)."""
    for found in conflicts.duplicates(manifests):
        gate.block(found.message, item=found.obj)


def _unread(host: EnvHost) -> bool:
    try:
        return bool(host.unread_sources())
    except SourceError:  # the render's own error is said by every other check
        return False


@pytest.mark.prerelease
@pytest.mark.smoke
@pytest.mark.drift
@per_env(_unread)
def test_sources_rendered(host: EnvHost) -> None:
    """A source of the environment's multi-source Application that is not rendered here (a
    repository outside the estate, a plugin): what only it deploys is not checked, said once;
    the other sources are rendered and checked (controller/state.go GetRepoObjs renders each)."""
    pytest.skip(f"{host.name}: " + "; ".join(host.unread_sources()))


def _running(host: EnvHost) -> tuple[str, str, tuple[dict[str, Any], ...]]:
    try:
        base = running.running_ref(host)
    except SourceError as exc:
        pytest.skip(f"{host.name}: not checked: the running state cannot be read from git: {exc}")
    if base is None:
        pytest.skip(f"{host.name}: nothing to compare: no earlier commit of {host.gitops_source} "
                    f"(of the {running.MAX_BACK} before) renders this environment differently, or "
                    "the environment starts there")
    try:
        return base[0], base[1], host.render(base[0])
    except SourceError as exc:
        pytest.skip(f"{host.name}: not checked: the running commit {base[1]} does not render: {exc}")


@pytest.mark.prerelease
@pytest.mark.drift
@per_env(_everywhere)
def test_immutable_fields(host: EnvHost, manifests: tuple[dict[str, Any], ...], gate: Gate) -> None:
    """No change the API server refuses on update (selectors, Job templates, StatefulSet claims,
    Service cluster IP, claim specs) between the running commit and the one under check."""
    _, label, before = _running(host)
    for found in conflicts.refused_updates(before, manifests):
        gate.block(f"{found.message} (running: {label})", item=found.obj, field=found.field,
                   rule=found.rule)


def _on_cluster(host: EnvHost) -> bool:
    return host.spec.kubernetes is not None


@pytest.mark.drift
@per_env(_on_cluster)
def test_immutable_fields_live(host: EnvHost, manifests: tuple[dict[str, Any], ...], k8s: Any,
                               gate: Gate) -> None:
    """Git's next sync against what runs (list calls only): workload selectors and Service cluster
    IPs and types, the fields the API server fills in no default for."""
    live = []
    for kind, objects in k8s.live.items():
        api = api_lists.LISTS[kind][0].split("/", 1)[1] if kind in api_lists.LISTS else ""
        live += [{**obj, "kind": kind, "apiVersion": api} for obj in objects]
    for found in conflicts.refused_updates(live, manifests, conflicts.LIVE_FIELDS):
        gate.block(f"{found.message} (running: the live object in {k8s.namespace})", item=found.obj,
                   field=found.field, rule=found.rule)


@pytest.mark.prerelease
@pytest.mark.drift
@per_env(_everywhere)
def test_versions_forward(host: EnvHost, manifests: tuple[dict[str, Any], ...], gate: Gate) -> None:
    """No image tag or chart version goes back to an older release than the one running."""
    sha, label, before = _running(host)
    app = host.git(host.app_source)

    def is_ancestor(a: str, b: str) -> bool | None:
        first, second = app.rev_parse(a), app.rev_parse(b)
        if first is None or second is None:
            return None
        return first != second and app.is_ancestor(first, second)

    def describe(tag: str) -> str:
        sha = app.rev_parse(tag) if backwards.semver(tag) is None else None
        return targets.label(host, sha) if sha and sha.startswith(tag) else tag

    found = backwards.going_back(before, manifests, is_ancestor, describe)
    if not found:
        return
    ref = host.ref(host.gitops_source)
    repo = host.git(host.gitops_source)
    try:
        old_values = helm.merged_values(repo, sha, host.chart_source(sha))
        new_values = helm.merged_values(repo, repo.resolve(ref), host.chart_source(ref))
    except SourceError:
        old_values = new_values = {}
    removed = backwards.removed_keys(old_values, new_values, before, manifests)
    also = f"; the same change removes {', '.join(removed[:12])}" if removed else ""
    for back in found:
        gate.warn(f"{back.message} (running: {label}){also}", item=back.what, running=back.running,
                  candidate=back.candidate, removed=removed)


@pytest.mark.prerelease
@pytest.mark.smoke
@pytest.mark.drift
@per_env(_everywhere)
def test_probe_ports(host: EnvHost, manifests: tuple[dict[str, Any], ...], gate: Gate) -> None:
    """Each HTTP probe's port is a port of its container (a name must exist; a number should)."""
    for probe in probes.http_probes(manifests):
        found = probes.port_problem(probe)
        if found:
            (gate.block if found[0] == "block" else gate.warn)(found[1], item=probe.label)


def _probed(manifests: tuple[dict[str, Any], ...], entry: Any) -> list[probes.Probe]:
    wanted = set(entry.containers)
    return [p for p in probes.http_probes(manifests) if not wanted or p.container in wanted]


def app_items(host: EnvHost) -> Iterable[tuple[str, Any]]:
    """Every settings entry that names its web application object and whose containers have an
    HTTP probe in the environment's chart."""
    return [(entry.app, entry) for entry in host.estate.settings
            if entry.app is not None and _probed(host.manifests, entry)]


def _has_app(host: EnvHost) -> bool:
    return bool(app_items(host))


@pytest.mark.prerelease
@pytest.mark.smoke
@pytest.mark.drift
@per_item(app_items, applies=_has_app)
def test_probe_routes(host: EnvHost, item: Any, manifests: tuple[dict[str, Any], ...],
                      gate: Gate) -> None:
    """Each HTTP probe of the entry's containers asks for a path the running application serves."""
    entry = item
    mine = _probed(manifests, entry)
    target = targets.targets(host, entry).get("running")
    if target is None:
        pytest.skip(f"{host.name}: not checked: the chart's image tags name no commit of "
                    f"{entry.source} (the app commit the containers run is unknown)")
    repo = host.git(entry.source)

    def read(path: str) -> str | None:
        return repo.show(target.sha, path) if repo.exists(target.sha, path) else None

    path, _, variable = entry.app.rpartition(":")
    served = routes.app_routes(read, path, variable)
    if not served.resolved:
        pytest.skip(f"{host.name}: not checked: the routes of {entry.app} at "
                    f"{target.label} cannot all be read statically ({served.unresolved[0]})")
    for probe in mine:
        message = probes.route_problem(probe, served.paths)
        if message:
            gate.block(f"{message} (app {target.label})", item=probe.label, path=probe.path,
                       routes=sorted(served.paths))
