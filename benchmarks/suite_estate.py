"""The whole-suite benchmark's estate: the demo's repositories with the shared snapshot and a
500-field settings module, environments files of any size over them, and the local services
that serve every environment (benchmarks/bench_suite.py times the suite on these)."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT.parent / "shared" / "fixtures" / "directus-snapshot"
KINDS = ("testing", "echo-next", "production")
BENCH_SETTINGS = "server/app/bench_settings.py"
BENCH_SNAPSHOT = "directus/bench-snapshot"


def materialize_estate(dest: Path, overlay_root: Path) -> None:
    """Build the demo's two git repositories under dest from the overlay folders in overlay_root."""
    from examples import materialize

    saved = materialize.ESTATE
    materialize.ESTATE = overlay_root
    try:
        materialize.materialize(dest)
    finally:
        materialize.ESTATE = saved


# -- the estate ---------------------------------------------------------------------------------

def settings_module(classes: int, fields: int, kinds: tuple[str, ...], name: str = "Bench",
                    prefix: str = "B") -> str:
    """A pydantic-settings module of `classes` classes of `fields` fields (annotations from kinds,
    round robin) and a get_settings() constructing every class."""
    out = ["from typing import Literal", "from pydantic_settings import BaseSettings, SettingsConfigDict", ""]
    for c in range(classes):
        out += [f"class {name}{c}(BaseSettings):", f"    model_config = SettingsConfigDict(env_prefix='{prefix}{c}_')"]
        out += [f"    f{f}: {kinds[f % len(kinds)]}" for f in range(fields)]
        out.append("")
    out += ["def get_settings():", f"    return [globals()[f'{name}{{i}}']() for i in range({classes})]", ""]
    return "\n".join(out)


def settings_source(classes: int = 50, fields: int = 10) -> str:
    """A settings module of 500 fields, all with defaults (a bigger model, not more findings)."""
    kinds = ("str = 'x'", "int = 1", "bool = False", "Literal['a', 'b'] = 'a'", "float = 0.5")
    return settings_module(classes, fields, kinds)


def env_names(size: int) -> list[tuple[str, str]]:
    """(name, kind) of each environment: the demo's three first, then numbered copies."""
    return [(KINDS[i % 3] if i < 3 else f"{KINDS[i % 3]}-{i:03d}", KINDS[i % 3]) for i in range(size)]


def environment_block(name: str, kind: str, index: int) -> tuple[str, dict[str, str]]:
    """The environments-file lines of one environment, and its host -> address routes."""
    deploys = {"testing": "{branch: testing}", "echo-next": "{branch: main}",
               "production": '{tag: "v*.*.*"}'}[kind]
    values = {"testing": "[values.yaml, values-testing.yaml]",
              "echo-next": "[values.yaml, values-extended-env.yaml]",
              "production": "[values.yaml, values-production.yaml]"}[kind]
    secret = {"testing": "testing", "echo-next": "dev", "production": "prod"}[kind]
    domain = {"testing": "testing.demo.test", "echo-next": "echo-next.demo.test",
              "production": "demo.test"}[kind] if index < 3 else f"{name}.demo.test"
    namespace = {"testing": "app-testing", "echo-next": "app-next", "production": "app-prod"}[kind] \
        if index < 3 else name
    version = "    version: {subdomain: api, path: /api/version, json_key: build_version}\n" \
        if kind != "testing" else ""
    text = (f"  {name}:\n    deploys: {deploys}\n"
            f"    gitops: {{chart: helm/app, values: {values}, release: app-{name}, namespace: {namespace}, "
            f"secrets: [secrets/sealed-backend-secrets-{secret}.yaml]}}\n"
            f"    domain: {domain}\n"
            "    subdomains:\n      dashboard: {}\n      portal: {}\n"
            "      directus: {path: /server/ping, expect_body: pong}\n"
            "      api: {path: /api/health, expect_json: {status: [ok, healthy]}}\n"
            f"{version}"
            f"    database: {{dsn_env: BENCH_DB_{kind.replace('-', '_').upper()}}}\n"
            f"    kubernetes: {{context: demo, namespace: {namespace}, "
            'kubeconfig: "${RELEASEGATE_DEMO_KUBECONFIG}"}\n')
    routes = {f"{sub}.{domain}": f"127.{1 + index // 250}.{index % 250 + 1}.{n + 1}:"
              "${RELEASEGATE_DEMO_HTTPS_PORT}" for n, sub in enumerate(("dashboard", "portal", "directus", "api"))}
    return text, routes


def write_estate(root: Path, size: int, repos: Path) -> Path:
    """The environments file of a size-environment estate over the repositories in repos."""
    blocks, routes = [], {}
    for index, (name, kind) in enumerate(env_names(size)):
        text, more = environment_block(name, kind, index)
        blocks.append(text)
        routes.update(more)
    resolve = "".join(f"    {host}: \"{addr}\"\n" for host, addr in sorted(routes.items()))
    path = root / f"environments-{size}.yaml"
    path.write_text(
        "version: 1\nsources:\n"
        f"  app: {{path: {repos / 'app'}, main: main, release_tags: 'v*.*.*'}}\n"
        f"  gitops: {{path: {repos / 'gitops'}, main: main}}\n"
        "settings:\n"
        "  - {kind: pydantic-settings, source: app, path: server/app/settings.py, "
        "containers: [api, migrate, worker, worker-cpu, agent, scheduler], boot: get_settings}\n"
        f"  - {{kind: pydantic-settings, source: app, path: {BENCH_SETTINGS}, containers: [api, worker], "
        "boot: get_settings}\n"
        "frontend:\n  - {source: app, paths: [frontend/src/config.ts], env_file: frontend/.env.production}\n"
        "builds:\n  - {kind: github-actions, source: app, workflow: .github/workflows/ci.yml}\n"
        "  - {kind: github-actions, source: app, workflow: .github/workflows/testing.yml}\n"
        f"snapshot: {{kind: directus, source: app, path: {BENCH_SNAPSHOT}}}\n"
        "feature_flags: {prefixes: [FEATURE_FLAGS__], staging: echo-next}\n"
        "environments:\n" + "".join(blocks) +
        "registries:\n  platform: linux/amd64\n"
        '  mirrors: {registry.demo.test: "${RELEASEGATE_DEMO_REGISTRY}"}\n'
        '  ca_file: "${RELEASEGATE_DEMO_REGISTRY_CA}"\n'
        '  docker_config: "${RELEASEGATE_DEMO_DOCKER_CONFIG}"\n  skip: [docker.io]\n'
        "network:\n  timeout_s: 5\n  resolve:\n" + resolve + '  ca_file: "${RELEASEGATE_DEMO_CA}"\n')
    return path


def build_repos(scratch: Path) -> Path:
    """The demo repositories with the shared snapshot and the 500-field module in every commit."""
    overlay = scratch / "overlay"
    shutil.copytree(ROOT / "examples" / "estate", overlay)
    first = overlay / "app" / "1-v1.3.0"
    shutil.copytree(SNAPSHOT, first / BENCH_SNAPSHOT)
    (first / BENCH_SETTINGS).write_text(settings_source())
    materialize_estate(scratch / "repos", overlay)
    return scratch / "repos"


# -- services -----------------------------------------------------------------------------------

def start_services(path: Path, workdir: Path) -> tuple[dict[str, str], list[Any]]:
    """Start Postgres (one database per environment kind), registry, HTTPS, Kubernetes emulator."""
    from examples.services import https, kube, postgres, registry
    from releasegate.estate import load
    from releasegate.core.gitrepo import GitRepo
    from releasegate.schema.snapshot import load_ref

    running: list[Any] = []
    env: dict[str, str] = {}
    try:
        estate = load(path)
        cluster = postgres.start(0)
        running.append(cluster)
        app = estate.sources["app"]
        repo = GitRepo(app.path, app.name)
        for kind in KINDS:
            dsn = postgres.create_database(cluster.dsn(), "bench_" + kind.replace("-", "_"))
            snap = load_ref(repo, postgres.demo_ref(estate, estate.environments[kind]), BENCH_SNAPSHOT)
            import psycopg

            with psycopg.connect(dsn) as conn:
                postgres.build(conn, snap)
            env[f"BENCH_DB_{kind.replace('-', '_').upper()}"] = dsn
        for start in (lambda: registry.demo(path, port=0),
                      lambda: https.demo(path, workdir=workdir / "https"),
                      lambda: kube.start(workdir / "kube", environments=path, history=False)):
            service = start()
            running.append(service)
            env.update({k: str(v) for k, v in service.env.items()})
            os.environ.update(env)
    except Exception:
        stop_services(running)
        raise
    return env, running


def stop_services(running: list[Any]) -> None:
    """Stop what start_services started, newest first."""
    for service in reversed(running):
        try:
            service.stop()
        except Exception as exc:  # noqa: BLE001 - stop the others anyway
            print(f"# stop failed: {exc}", file=sys.stderr)
