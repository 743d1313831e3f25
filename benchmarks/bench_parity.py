"""Env var parity: a settings file of 50 classes / 500 fields against a chart of 10 containers in 3
environments (git history, Helm rendering, container environments, required fields, the real boot
of every class, secret keys, cross-environment parity and feature flags), against what one would
otherwise script: a fresh `python` per container that imports the settings and constructs every
class (no rendering, no comparison at all).

    python benchmarks/bench_parity.py [--runs 3]

Builds its git repositories in a temporary folder; no network.
"""
from __future__ import annotations

import argparse
import os
import re
from importlib import metadata
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import runtime  # noqa: E402
from benchmarks.suite_estate import settings_module  # noqa: E402
from benchmarks.timing import median_seconds  # noqa: E402
from examples.materialize import git  # noqa: E402
from releasegate.core import helm
from releasegate.settings import (app_env, boot, boot_findings, boot_runs, containers, cross_env, finding, memo,
                              required, sandbox, secret_keys, targets)
from releasegate.settings import reader as settings_model  # noqa: E402
from releasegate.estate import load  # noqa: E402
from releasegate.core.host import Estatewide  # noqa: E402
from releasegate.options import Settings  # noqa: E402

CLASSES, FIELDS, CONTAINERS, ENVS = 50, 10, 10, ("alpha", "beta", "gamma")
KINDS = ("str", "int = 1", "bool = False", "Literal['a', 'b'] = 'a'", "str = 'x'")
VALUES = ("v", "7", "true", "b", "w")


def settings_source() -> str:
    """A settings module of CLASSES BaseSettings classes with FIELDS fields between them."""
    return settings_module(CLASSES, FIELDS, KINDS, "Section", "S")


def chart() -> dict[str, str]:
    """A chart whose containers all get every settings variable from values or secrets."""
    template = """{{- range $name := .Values.containers }}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: {{ $name }}}
spec:
  template:
    spec:
      containers:
        - name: {{ $name }}
          image: "registry.bench.test/app/{{ $name }}:{{ $.Values.tag }}"
          env:
            {{- range $key, $value := $.Values.env }}
            - {name: {{ $key }}, value: {{ $value | quote }}}
            {{- end }}
            - {name: QUEUE, value: {{ $name | quote }}}
            - name: POD_NAME
              valueFrom: {fieldRef: {fieldPath: metadata.name}}
            - name: S0_F0
              valueFrom: {secretKeyRef: {name: app-secrets, key: S0_F0}}
{{- end }}
"""
    plain = {f"S{c}_F{f}": VALUES[f % 5] for c in range(CLASSES) for f in range(FIELDS) if (c, f) != (0, 0)}
    values = "containers: [" + ", ".join(f"c{i}" for i in range(CONTAINERS)) + "]\nenv:\n"
    values += "".join(f"  {k}: {v!r}\n" for k, v in sorted(plain.items()))
    files = {"chart/Chart.yaml": "apiVersion: v2\nname: bench\nversion: 0.1.0\n",
             "chart/templates/deployments.yaml": template, "chart/values.yaml": values}
    for index, env in enumerate(ENVS):
        files[f"chart/values-{env}.yaml"] = f"tag: '@@TAG@@'\nenv:\n  S1_F1: '{index}'\n  ONLY_{env.upper()}: x\n"
        files[f"secrets/{env}.yaml"] = ("apiVersion: v1\nkind: Secret\nmetadata: {name: app-secrets}\n"
                                        "stringData: {S0_F0: sealed}\n")
    return files


def build(root: Path) -> tuple[Path, str]:
    """Commit the app and gitops repositories under root; return the environments file and the settings source."""
    for name in ("app", "gitops"):
        (root / name).mkdir()
        git(root / name, "init", "--quiet", "--initial-branch=main")
        git(root / name, "config", "user.email", "b@bench.test")
        git(root / name, "config", "user.name", "bench")
    (root / "app/settings.py").write_text(settings_source())
    (root / "app/requirements.txt").write_text(  # the app's own environment: what the suite runs, pinned
        "".join(f"{name}=={metadata.version(name)}\n" for name in ("pydantic", "pydantic-settings")))
    git(root / "app", "add", "--all")
    git(root / "app", "commit", "--quiet", "-m", "settings")
    git(root / "app", "tag", "v1.0.0")
    sha = git(root / "app", "rev-parse", "HEAD")
    for rel, text in chart().items():
        (root / "gitops" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "gitops" / rel).write_text(text.replace("@@TAG@@", sha))
    git(root / "gitops", "add", "--all")
    git(root / "gitops", "commit", "--quiet", "-m", "chart")
    envs = "".join(f"  {e}:\n    deploys: {{tag: 'v*'}}\n    gitops: {{chart: chart, values: [values.yaml, "
                   f"values-{e}.yaml], namespace: {e}, secrets: [secrets/{e}.yaml]}}\n" for e in ENVS)
    containers = ", ".join(f"c{i}" for i in range(CONTAINERS))
    (root / "environments.yaml").write_text(
        f"version: 1\nsources:\n  app: {{path: app}}\n  gitops: {{path: gitops}}\nsettings:\n"
        f"  - {{kind: pydantic-settings, source: app, path: settings.py, containers: [{containers}], "
        f"boot: get_settings}}\nbuilds: [{{kind: github-actions, source: app, workflow: ci.yml}}]\n"
        f"feature_flags: {{prefixes: [ONLY_], staging: alpha}}\nenvironments:\n{envs}")
    return root / "environments.yaml", settings_source()


def clear_caches() -> None:
    """Forget everything a previous run cached, so every run renders and boots from scratch."""
    helm.clear_cache()
    for fn in (containers._secret_index, containers._container_envs, containers._envs,
               containers._held, containers._secret_file, targets._model):
        fn.cache_clear()
    boot_runs._BOOTED.clear()
    memo.MEMO.clear()
    memo.ANNOUNCED.clear()
    app_env._built.cache_clear()  # an environment built before is found on disk again
    boot.close_all()  # each run starts its boot interpreter, as every pytest run does


def parity_run(path: Path) -> dict[str, int]:
    """What the checks do for every environment and container; returns finding counts."""
    clear_caches()
    shared = Estatewide(load(path), Settings(path, None))
    hosts = {name: shared.host(name) for name in ENVS}
    counts = {"blocker": 0, "warning": 0}
    envs = {name: containers.container_envs(host) for name, host in hosts.items()}
    for name, host in hosts.items():
        entry = host.estate.settings[0]
        found: list[finding.Finding] = []
        for target in targets.targets(host, entry).values():
            found += required.required(host, entry, target)
            found += boot_findings.boot_findings(host, entry, target)
        others = {n: e for n, e in envs.items() if n != name}
        found += secret_keys.secret_findings(host, envs[name], containers.secret_index(host))
        found += cross_env.cross_parity(host, envs[name], others)
        for f in found:
            counts[f.severity] += 1
    return counts


def boot_run(path: Path) -> None:
    """The boot alone: every distinct container environment of every environment and target."""
    clear_caches()
    shared = Estatewide(load(path), Settings(path, None))
    for name in ENVS:
        host = shared.host(name)
        entry = host.estate.settings[0]
        for target in targets.targets(host, entry).values():
            boot_runs.boot_results(host, entry, target)


def boot_costs(path: Path, runs: int) -> list[tuple[str, float | str]]:
    """The boot's cost sandboxed, not isolated, and in the application's own environment (built
    once with uv, then cached): rows for the table."""
    rows: list[tuple[str, float | str]] = []
    for enabled, label in ((True, "the boot alone, sandboxed (bubblewrap)"),
                           (False, "the boot alone, not isolated (no bubblewrap)")):
        sandbox.ENABLED = enabled
        why = sandbox.isolation(sys.executable)
        rows.append((label, f"not measured: {why}" if enabled and why else median_seconds(lambda: boot_run(path), runs)))
    sandbox.ENABLED = True
    own = path.with_name("environments-own.yaml")
    own.write_text(path.read_text().replace("boot: get_settings}", "boot: get_settings, environment: requirements.txt}"))
    os.environ["RELEASEGATE_CACHE"] = str(path.parent / "cache")
    try:
        first = median_seconds(lambda: boot_run(own), 1)
        rows.append(("the boot alone, app's own environment (first: uv builds it)", first))
        rows.append(("the boot alone, app's own environment (cached)", median_seconds(lambda: boot_run(own), runs)))
    except app_env.EnvironmentUnavailable as exc:
        rows.append(("the boot alone, app's own environment", f"not measured: {exc}"))
    return rows


def naive_run(source: str, envs: list[dict[str, str]]) -> None:
    """What a user would script: a fresh interpreter per container, constructing every class."""
    with tempfile.TemporaryDirectory() as scratch:
        Path(scratch, "settings.py").write_text(source)
        code = f"import settings\nfor i in range({CLASSES}): getattr(settings, f'Section{{i}}')()\n"
        for env in envs:
            subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {scratch!r})\n{code}"],
                           env=env, check=True, capture_output=True)


def script_run(path: Path) -> None:
    """The library run as a script would do it: a fresh interpreter that imports the suite's
    libraries, reads the environments file and runs parity once (what pytest's run also pays:
    its interpreter's start and the imports)."""
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "--script-of", str(path)],
                   check=True, capture_output=True, env=runtime.child_env())


def pytest_run(path: Path) -> int:
    """The same through pytest: collection, every settings check of every environment, reporting;
    returns the number of checks that ran."""
    root = Path(__file__).resolve().parents[1]
    env = runtime.child_env()  # as a user's installation runs it: runtime plugins only
    result = subprocess.run([sys.executable, "-m", "pytest", *runtime.pytest_args(),
                             str(root / "checks" / "test_settings.py"), "-q",
                             "-p", "no:cacheprovider", "--env=all", f"--environments={path}"],
                            cwd=root, capture_output=True, text=True, env=env)
    if "passed" not in result.stdout:
        raise SystemExit(f"pytest run failed: {result.stdout[-500:]}")
    return sum(int(n) for n in re.findall(r"(\d+) (?:passed|failed|skipped|xfailed)", result.stdout.splitlines()[-2]))


def main() -> None:
    """Time the parity run against a naive fresh-python-per-container script."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--script-of", type=Path, help=argparse.SUPPRESS)  # script_run's child
    args = parser.parse_args()
    if args.script_of:
        parity_run(args.script_of)
        return
    with tempfile.TemporaryDirectory(prefix="bench-parity-") as scratch:
        path, source = build(Path(scratch))
        counts = parity_run(path)
        model = settings_model.read(source, "settings.py")
        fields = sum(len(c.fields) for c in model.classes)
        shared = Estatewide(load(path), Settings(path, None))
        envs = [e.values() for n in ENVS for e in containers.container_envs(shared.host(n))]
        read_s = median_seconds(lambda: settings_model.read(source, "settings.py"), args.runs)
        ours = median_seconds(lambda: parity_run(path), args.runs)
        script = median_seconds(lambda: script_run(path), args.runs, warmup=True)
        checks = pytest_run(path)  # untimed: the bytecode caches, and how many checks run
        through_pytest = median_seconds(lambda: pytest_run(path), args.runs)
        alone = runtime.pytest_alone(checks, Path(scratch) / "pytest-alone", args.runs)
        naive = median_seconds(lambda: naive_run(source, envs), 1)
        boots = boot_costs(path, args.runs)
    print(f"settings: {len(model.classes)} classes, {fields} fields; {CONTAINERS} containers x {len(ENVS)} "
          f"environments ({len(envs)} container environments); findings per run: {counts}")
    print(f"{'step':58} {'median s':>9}")
    print(f"{'static read of the settings file (ast)':58} {read_s:9.3f}")
    print(f"{'whole parity run (render, envs, required, boot, secrets, parity)':58} {ours:9.3f}")
    print(f"{'the same, as a script in a fresh interpreter (+ imports)':58} {script:9.3f}")
    print(f"{'the same checks through pytest (startup, collection, report)':58} {through_pytest:9.3f}")
    print(f"{f'pytest by itself, {checks} checks that do nothing':58} {alone:9.3f}")
    print(f"{'fresh python per container, construct every class (naive)':58} {naive:9.3f}")
    for label, value in boots:
        print(f"{label:58} {value:9.3f}" if isinstance(value, float) else f"{label:58} {value}")
    print(f"ratio naive / ours: {naive / ours:.1f}x (the naive run compares nothing)")
    print(f"through pytest / library: {through_pytest / ours:.2f}x; / the script: "
          f"{through_pytest / script:.2f}x; the suite's own cost beyond the script and pytest "
          f"by itself: {through_pytest - script - alone:.3f} s ({(through_pytest - script - alone) / checks * 1000:.2f} ms "
          f"a check over {checks} checks)")


if __name__ == "__main__":
    main()
