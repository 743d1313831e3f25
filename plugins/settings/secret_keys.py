"""Secrets and keys the containers need that the environment does not hold: one blocker per
secret key, naming every container that reads it (the pods would not start).
"""
from __future__ import annotations

from typing import Any, Iterable

from releasegate.settings.containers import container_id
from releasegate.settings.finding import BLOCK, CONTAINERS, SKIPPED, Finding, merge
from releasegate.settings.kubelet_env import ContainerEnv, SecretNeed
from releasegate.settings.sealed import SecretIndex


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
    unread = _unread(host)
    found: list[tuple[str | None, Finding]] = []
    for env in envs:
        env_id = container_id(env, envs)
        if item in (None, ENV_PROBLEMS):
            found += [(env_id, Finding(SKIPPED, f"{host.name}: {CONTAINERS}: not checked: {p.split(':')[0]}"
                                                f" may come from a source not rendered here ({unread})",
                                       ENV_PROBLEMS, {"container": env.container}))
                      if unread and "not rendered by the chart" in p else
                      (env_id, Finding(BLOCK, f"{host.name}: {CONTAINERS}: {p}", ENV_PROBLEMS,
                                       {"container": env.container})) for p in env.problems]
        for need in env.needs:
            if (item is not None and need_id(need) != item) or need.optional:
                continue
            finding = _missing_secret(host, env, need, secrets, unread)
            if finding is not None:
                found.append((env_id, finding))
    return merge(found)


def _unread(host: Any) -> str:
    """The sources of the environment's Application not rendered here, as one clause ("": none)."""
    try:
        return "; ".join(getattr(host, "unread_sources", tuple)())
    except Exception:  # noqa: BLE001 - the render's own error is the checks' to report
        return ""


def _missing_secret(host: Any, env: ContainerEnv, need: SecretNeed, secrets: SecretIndex,
                    unread: str = "") -> Finding | None:
    found = secrets.find(need.secret, env.namespace)
    reads = f"{need.variable} for {CONTAINERS}" if need.key else f"envFrom of {CONTAINERS}"
    what = f"secret {need.secret} key {need.key}" if need.key else f"secret {need.secret}"
    if found is None and unread:  # controller/state.go GetRepoObjs: that source may deploy it
        return Finding(SKIPPED, f"{host.name}: not checked: {what} ({reads}) is in no source rendered "
                                f"here; {unread}", need_id(need),
                       {"secret": need.secret, "key": need.key, "container": env.container})
    if found is None:
        elsewhere = ", ".join(sorted({str(s.namespace) for s in secrets.others(need.secret)}))
        hint = f" (it exists in namespace {elsewhere})" if elsewhere else ""
        return Finding(BLOCK, f"{host.name}: {what} ({reads}) is needed, but no secret {need.secret} exists in "
                              f"namespace {env.namespace}{hint}: the pods will not start "
                              "(CreateContainerConfigError)", need_id(need),
                       {"secret": need.secret, "key": need.key, "variable": need.variable,
                        "namespace": env.namespace, "container": env.container})
    if need.key and not found.known:
        return Finding(SKIPPED, f"{host.name}: not checked: keys of secret {need.secret} come from {found.source}; "
                                f"list them under environments.{host.name}.gitops.secret_keys.{need.secret} to "
                                f"check {need.key} ({reads})", need_id(need),
                       {"secret": need.secret, "key": need.key, "source": found.source, "container": env.container})
    if need.key and need.key not in found.keys:
        fix = f"seal the key into {found.origin}" if found.kind in ("Secret", "SealedSecret") else \
            f"add the key to {found.origin}"
        return Finding(BLOCK, f"{host.name}: {what} ({reads}) is not in {found.origin}: the pods will not start "
                              f"(CreateContainerConfigError); {fix}", need_id(need),
                       {"secret": need.secret, "key": need.key, "variable": need.variable, "origin": found.origin,
                        "keys": sorted(found.keys), "container": env.container})
    return None
