"""Env var parity against a small real estate: git repositories with tags, a Helm chart rendered by
Helm's engine, sealed secrets, the boot subprocess; then the checks through pytest, and the replay.

The estate (built once per module in a temp folder):
  app:    v1.0.0 (AppSettings reads ENABLE_AUDIT_LOG as bool) -> main (drops it, adds required
          SearchSettings.search_url)
  gitops: g1 chart + values (production runs v1.0.0, staging runs main)
          g2 "chore(prod): drop ENABLE_AUDIT_LOG from production values"  (template still emits it)
          g3 "prod: scale api"
"""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from examples.materialize import git
from releasegate.settings import boot
from releasegate.settings import kubelet_env as container_env
from releasegate.core import deployed
from releasegate.settings import boot_runs, containers, cross_env, finding, parity, secret_keys, targets
from releasegate.settings import sealed
from releasegate.estate import load
from releasegate.core.helm import ChartSource, render
from releasegate.core.gitrepo import GitRepo
from releasegate.core.host import Estatewide
from releasegate.core.manifests import workloads
from releasegate.options import Settings

MAIN = Path(__file__).resolve().parents[1]

SETTINGS_HEAD = """
    from typing import Literal
    from pydantic import BaseModel, Field
    from pydantic_settings import BaseSettings, SettingsConfigDict

    class Flags(BaseModel):
        agent_loops: bool = False

    class AppSettings(BaseSettings):
        model_config = SettingsConfigDict(env_nested_delimiter="__")
        log_format: Literal["json", "text"] = "json"
        smtp_password: str = ""
        feature_flags: Flags = Flags()
"""
APP_V1 = {
    "server/app/settings.py": SETTINGS_HEAD + """
        enable_audit_log: bool = False
        database_url: str = Field("", alias="DATABASE_URL", pattern=r"^postgresql\\+asyncpg://")
        api_key: str = Field("", alias="API_KEY", pattern=r"^ak_[0-9]{8}$")

    def get_settings():
        return AppSettings()
    """,
    "frontend/src/config.ts": """
        export const api = import.meta.env.VITE_API_URL;
        export const mode = import.meta.env.MODE;
    """,
    "frontend/.env.production": "VITE_API_URL=https://api.example.test\n",
}
APP_MAIN = {
    "server/app/settings.py": SETTINGS_HEAD + """
    class SearchSettings(BaseSettings):
        search_url: str = Field(alias="SEARCH_URL")

    def get_settings():
        return AppSettings(), SearchSettings()
    """,
    "frontend/src/config.ts": """
        export const api = import.meta.env.VITE_API_URL;
        export const search = process.env["VITE_SEARCH_URL"];
    """,
}

CHART = {
    "helm/app/Chart.yaml": "apiVersion: v2\nname: app\nversion: 0.1.0\n",
    "helm/app/values.yaml": """
        image: {registry: registry.example.test/app, tag: latest}
        services: [api, worker]
        envNames: [ENABLE_AUDIT_LOG, LOG_FORMAT, SEARCH_URL, FEATURE_FLAGS__AGENT_LOOPS]
        env: {LOG_FORMAT: json}
        common: {REGION: eu}
    """,
    "helm/app/templates/deployments.yaml": """
        {{- range $name := .Values.services }}
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {{ $name }}
        spec:
          selector: {matchLabels: {app: {{ $name }}}}
          template:
            metadata:
              labels: {app: {{ $name }}}
            spec:
              initContainers:
                - name: wait
                  image: docker.io/library/busybox:1.36
              containers:
                - name: {{ $name }}
                  image: "{{ $.Values.image.registry }}/{{ $name }}:{{ $.Values.image.tag }}"
                  envFrom:
                    - configMapRef: {name: common}
                    - secretRef: {name: backend-secrets}
                  env:
                    {{- range $key := $.Values.envNames }}
                    - name: {{ $key }}
                      value: {{ index $.Values.env $key | toJson }}
                    {{- end }}
                    - name: SMTP_PASSWORD
                      valueFrom: {secretKeyRef: {name: mail-secrets, key: smtp-password}}
                    - name: POD_NAMESPACE
                      valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
                    - name: AUDIT_TARGET
                      value: "$(REGION)-audit"
        ---
        {{- end }}
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: common}
        data:
          {{- toYaml .Values.common | nindent 2 }}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: api}
        spec:
          ports: [{name: http, port: 8000}]
    """,
    "argo/app-prod.yaml": """
        apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {name: app-prod}
        spec:
          source:
            path: helm/app
            helm: {valueFiles: [values.yaml, values-production.yaml], releaseName: app}
          destination: {namespace: app-prod}
    """,
    "secrets/prod.yaml": """
        apiVersion: bitnami.com/v1alpha1
        kind: SealedSecret
        metadata: {name: backend-secrets, namespace: app-prod}
        spec:
          encryptedData: {DATABASE_URL: AgB0x, API_KEY: AgB2x}
        ---
        apiVersion: bitnami.com/v1alpha1
        kind: SealedSecret
        metadata: {name: mail-secrets, namespace: app-prod}
        spec:
          encryptedData: {smtp-user: AgB1x}
          template: {data: {smtp-host: mail.example.test}}
    """,
    "secrets/staging.yaml": """
        apiVersion: v1
        kind: Secret
        metadata: {name: backend-secrets}
        stringData: {DATABASE_URL: postgresql://staging}
        ---
        apiVersion: v1
        kind: Secret
        metadata: {name: mail-secrets}
        data: {smtp-password: c2VjcmV0}
    """,
}


def prod_values(audit: str | None, replicas: int = 2) -> str:
    audit_line = f"  ENABLE_AUDIT_LOG: \"{audit}\"\n" if audit is not None else ""
    return (f"image: {{tag: '@@v1@@'}}\nreplicas: {replicas}\nenv:\n  LOG_FORMAT: json\n{audit_line}"
            "  FEATURE_FLAGS__AGENT_LOOPS: \"true\"\n")


STAGING_VALUES = ("image: {tag: '@@main@@'}\nenv:\n  LOG_FORMAT: json\n  ENABLE_AUDIT_LOG: \"false\"\n"
                  "  SEARCH_URL: https://search.staging\n  FEATURE_FLAGS__AGENT_LOOPS: \"false\"\n"
                  "  SENDGRID_REGION: eu\nenvNames: [ENABLE_AUDIT_LOG, LOG_FORMAT, SEARCH_URL, "
                  "FEATURE_FLAGS__AGENT_LOOPS, SENDGRID_REGION]\n")

ENVIRONMENTS = """
    version: 1
    sources:
      app: {path: app, main: main, release_tags: "v*.*.*"}
      gitops: {path: gitops, main: main}
    settings:
      - {kind: pydantic-settings, source: app, path: server/app/settings.py, containers: [api, worker],
         boot: get_settings}
    frontend:
      - {source: app, paths: [frontend/src/config.ts], env_file: frontend/.env.production}
    builds:
      - {kind: github-actions, source: app, workflow: .github/workflows/ci.yml}
    feature_flags: {prefixes: [FEATURE_FLAGS__], staging: staging}
    environments:
      staging:
        deploys: {branch: main}
        gitops: {chart: helm/app, values: [values.yaml, values-staging.yaml], release: app,
                 namespace: app-staging, secrets: [secrets/staging.yaml]}
      production:
        deploys: {tag: "v*.*.*"}
        gitops: {argocd_app: argo/app-prod.yaml, secrets: [secrets/prod.yaml]}
    registries: {skip: [docker.io]}
    network: {timeout_s: 10}
    waivers:
      - {check: "test_env_cross_parity*", environment: production, item: SENDGRID_REGION,
         reason: defaults to eu, expires: 2999-12-31}
"""


def write(root: Path, files: dict[str, str], subst: dict[str, str] | None = None) -> None:
    for rel, text in files.items():
        text = textwrap.dedent(text).lstrip("\n")
        for key, value in (subst or {}).items():
            text = text.replace(key, value)
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def commit(repo: Path, files: dict[str, str], message: str, tag: str | None = None,
           subst: dict[str, str] | None = None) -> str:
    write(repo, files, subst)
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", message)
    if tag:
        git(repo, "tag", "-a", tag, "-m", tag)
    return git(repo, "rev-parse", "HEAD")


def init(repo: Path) -> None:
    repo.mkdir(parents=True)
    git(repo, "init", "--quiet", "--initial-branch=main")
    for key, value in (("user.name", "t"), ("user.email", "t@example.test"), ("commit.gpgsign", "false"),
                       ("tag.gpgsign", "false")):
        git(repo, "config", key, value)


@pytest.fixture(scope="module")
def estate_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("estate")
    init(root / "app")
    v1 = commit(root / "app", APP_V1, "feat: first release", tag="v1.0.0")
    main = commit(root / "app", APP_MAIN, "feat!: search service, audit log always on")
    git(root / "app", "checkout", "--quiet", "-b", "imports-app", "v1.0.0")
    source = "from app.db import engine\n" + textwrap.dedent(APP_V1["server/app/settings.py"])
    commit(root / "app", {"server/app/settings.py": source}, "refactor: settings import the engine")
    git(root / "app", "checkout", "--quiet", "-b", "imports-lib", "v1.0.0")
    source = "import kafka_settings_lib\n" + textwrap.dedent(APP_V1["server/app/settings.py"])
    commit(root / "app", {"server/app/settings.py": source}, "feat: settings of the broker from a library")
    git(root / "app", "checkout", "--quiet", "-b", "boots-app-only", "main")  # SearchSettings: a job's class
    source = textwrap.dedent(APP_MAIN["server/app/settings.py"]).replace("AppSettings(), SearchSettings()",
                                                                        "AppSettings()")
    commit(root / "app", {"server/app/settings.py": source}, "refactor: search settings built by the indexer job")
    git(root / "app", "checkout", "--quiet", "main")
    init(root / "gitops")
    subst = {"@@v1@@": v1, "@@main@@": main[:7]}
    shas = [commit(root / "gitops", {**CHART, "helm/app/values-production.yaml": prod_values("true"),
                                     "helm/app/values-staging.yaml": STAGING_VALUES}, "Chart and values", subst=subst)]
    shas.append(commit(root / "gitops", {"helm/app/values-production.yaml": prod_values(None)},
                       "chore(prod): drop ENABLE_AUDIT_LOG from production values", subst=subst))
    shas.append(commit(root / "gitops", {"helm/app/values-production.yaml": prod_values(None, 4)},
                       "prod: scale api", subst=subst))
    git(root / "gitops", "checkout", "--quiet", "-b", "bad-tag")
    commit(root / "gitops", {"helm/app/values-production.yaml": prod_values(None).replace("@@v1@@", "deadbee")},
           "prod: deploy an image no one built")
    git(root / "gitops", "checkout", "--quiet", "main")
    (root / "environments.yaml").write_text(textwrap.dedent(ENVIRONMENTS))
    (root / "shas.json").write_text(json.dumps({"v1": v1, "main": main, "gitops": shas}))
    return root


@pytest.fixture(scope="module")
def shas(estate_dir: Path) -> dict[str, Any]:
    return json.loads((estate_dir / "shas.json").read_text())


def make_host(estate_dir: Path, env: str, **refs: str) -> Any:
    estate = load(estate_dir / "environments.yaml")
    return Estatewide(estate, Settings(estate_dir / "environments.yaml", None, refs=refs)).host(env)


# -- container env, sealed, deployed -------------------------------------------------------------
KUBERNETES_LINKS = {"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "KUBERNETES_SERVICE_PORT_HTTPS",
                    "KUBERNETES_PORT", "KUBERNETES_PORT_443_TCP", "KUBERNETES_PORT_443_TCP_PROTO",
                    "KUBERNETES_PORT_443_TCP_PORT", "KUBERNETES_PORT_443_TCP_ADDR"}


def prod_envs(estate_dir: Path, gitops_ref: str = "main") -> dict[str, container_env.ContainerEnv]:
    host = make_host(estate_dir, "production")
    return {e.container: e for e in containers.container_envs(host, gitops_ref)}


def test_env_values_null_secret_configmap_field_and_expansion(estate_dir: Path, shas: dict) -> None:
    api = prod_envs(estate_dir)["api"]
    v = api.vars
    assert (v["ENABLE_AUDIT_LOG"].value, v["ENABLE_AUDIT_LOG"].source) == ("", "value")  # null -> ''
    assert v["SEARCH_URL"].value == "" and v["LOG_FORMAT"].value == "json"
    assert (v["REGION"].source, v["REGION"].value) == ("configmap", "eu")  # envFrom of a chart config map
    assert v["AUDIT_TARGET"].value == "eu-audit"  # $(REGION) expanded
    assert (v["POD_NAMESPACE"].value, v["POD_NAMESPACE"].known) == ("app-prod", True)
    assert (v["SMTP_PASSWORD"].secret, v["SMTP_PASSWORD"].known, v["SMTP_PASSWORD"].ref) == (
        True, False, ("mail-secrets", "smtp-password"))
    assert v["DATABASE_URL"].ref == ("backend-secrets", "DATABASE_URL")  # envFrom of a sealed secret
    assert v["API_SERVICE_PORT"].value == "8000" and v["API_PORT"].value == "tcp://10.96.0.10:8000"
    assert "API_PORT" not in api.declared()
    assert [(n.secret, n.key) for n in api.needs] == [("backend-secrets", None), ("mail-secrets", "smtp-password")]
    assert prod_envs(estate_dir)["wait"].vars.keys() == {  # an init container without env: service links
        *KUBERNETES_LINKS, "API_SERVICE_HOST", "API_SERVICE_PORT", "API_SERVICE_PORT_HTTP", "API_PORT", "API_PORT_8000_TCP",
        "API_PORT_8000_TCP_PROTO", "API_PORT_8000_TCP_PORT", "API_PORT_8000_TCP_ADDR"}


def test_env_value_that_is_not_a_string_is_a_problem() -> None:
    manifest = {"kind": "Deployment", "metadata": {"name": "api", "namespace": "ns"},
                "spec": {"template": {"spec": {"containers": [
                    {"name": "api", "image": "x", "env": [{"name": "DEBUG", "value": True},
                                                          {"name": "EMPTY"}]}]}}}}
    (w,) = workloads([manifest])
    env = container_env.container_env(w, w.containers[0], container_env.objects([manifest], sealed.SecretIndex(())))
    assert {k: v for k, v in env.values().items() if k not in KUBERNETES_LINKS} == {"DEBUG": "True", "EMPTY": ""}
    assert env.problems == ("DEBUG: value True is a bool, not a string; the API server rejects the manifest "
                            "(quote it in the template)",)


def test_config_map_refs_prefixes_overrides_and_service_links_off() -> None:
    config = {"kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "ns"}, "data": {"A": "1", "B": None}}
    secret = sealed.SecretIndex(sealed.secret_keys([{"kind": "Secret", "metadata": {"name": "s"},
                                                     "data": {"TOKEN": "eA=="}}], "chart"))
    deployment = {"kind": "Deployment", "metadata": {"name": "api", "namespace": "ns"}, "spec": {"template": {
        "metadata": {"labels": {"tier": "web"}},
        "spec": {"enableServiceLinks": False, "containers": [{
            "name": "api", "image": "x",
            "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}, {"secretRef": {"name": "s"}},
                        {"configMapRef": {"name": "external", "optional": True}}],
            "env": [{"name": "CFG_A", "value": "overridden"},
                    {"name": "FROM_KEY", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "A"}}},
                    {"name": "NO_KEY", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "Z"}}},
                    {"name": "ELSEWHERE", "valueFrom": {"configMapKeyRef": {"name": "other", "key": "K"}}},
                    {"name": "TIER", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['tier']"}}},
                    {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]}]}}}}
    svc = {"kind": "Service", "metadata": {"name": "db", "namespace": "ns"}, "spec": {"ports": [{"port": 5432}]}}
    (w,) = workloads([deployment])
    env = container_env.container_env(w, w.containers[0], container_env.objects([config, svc, deployment], secret))
    v = env.vars
    assert (v["CFG_A"].value, v["CFG_B"].value, v["FROM_KEY"].value) == ("overridden", "", "1")
    assert (v["TOKEN"].secret, v["TOKEN"].ref) == (True, ("s", "TOKEN"))
    assert (v["ELSEWHERE"].known, v["TIER"].value, v["IP"].known) == (False, "web", False)
    assert "DB_SERVICE_HOST" not in v  # enableServiceLinks: false
    assert list(v)[-1] == "IP" and env.problems == (
        "NO_KEY: config map cfg has no key Z", "ELSEWHERE: config map other is not rendered by the chart: the pods "
        "will not start (CreateContainerConfigError) unless it is created another way")


def test_sealed_and_plain_secret_keys_by_name_and_namespace(estate_dir: Path) -> None:
    repo = GitRepo(estate_dir / "gitops")
    from releasegate.core.helm import load_yaml_documents

    prod = sealed.SecretIndex(sealed.secret_keys(load_yaml_documents(repo.show("main", "secrets/prod.yaml"), "p"),
                                                 "secrets/prod.yaml"))
    mail = prod.find("mail-secrets", "app-prod")
    assert (mail.kind, mail.keys) == ("SealedSecret", frozenset({"smtp-user", "smtp-host"}))
    assert prod.find("mail-secrets", "other-ns") is None
    assert [s.namespace for s in prod.others("mail-secrets")] == ["app-prod"]
    staging = sealed.SecretIndex(sealed.secret_keys(
        load_yaml_documents(repo.show("main", "secrets/staging.yaml"), "s"), "secrets/staging.yaml"))
    assert staging.find("mail-secrets", "anywhere").keys == frozenset({"smtp-password"})
    assert staging.find("backend-secrets", "x").keys == frozenset({"DATABASE_URL"})


def test_deployed_commit_full_and_short_sha_and_release_tag(estate_dir: Path, shas: dict) -> None:
    prod = deployed.for_host(make_host(estate_dir, "production"))
    assert (prod.sha, prod.release_tags, prod.problems) == (shas["v1"], ("v1.0.0",), ())
    assert prod.images == tuple(f"registry.example.test/app/{c}:{shas['v1']}" for c in ("api", "worker"))
    staging = deployed.for_host(make_host(estate_dir, "staging"))
    assert (staging.sha, staging.tag, staging.release_tags) == (shas["main"], shas["main"][:7], ())


def test_deployed_commit_unknown_tag(estate_dir: Path, shas: dict) -> None:
    def chart(*tags: str) -> tuple[dict, ...]:
        return tuple({"kind": "Deployment", "metadata": {"name": f"d{i}", "namespace": "n"}, "spec": {"template": {
            "spec": {"containers": [{"name": f"c{i}", "image": f"reg.test/app/c{i}:{t}"}]}}}}
            for i, t in enumerate(tags))

    host = make_host(estate_dir, "production")
    unknown = deployed.for_host(host, manifests=chart("deadbee"))
    assert (unknown.sha, unknown.unresolved) == (None, ("deadbee",))
    mixed = deployed.for_host(host, manifests=chart(shas["v1"], shas["v1"], shas["main"]))
    assert mixed.sha == shas["v1"]


def test_deployed_commit_from_release_versions_sha_first_and_nameless_tags(estate_dir: Path, shas: dict) -> None:
    """Issue 21: a release version names its tag's commit (1.0.0 is v1.0.0 under release_tags v*.*.*) on the
    app's own images (here container api, which settings[0].containers names: plugins/core/own_images.py); on an
    image nothing ties to the app it names nothing (trials: govuk's toolbox v13); a SHA tag wins over versions,
    which may be third-party images' (reg.test/redis:v1.0.0 twice); a moving tag or a digest names no commit:
    not_checked says why and what would let it check."""
    def chart(*images: str, name: str = "c") -> tuple[dict, ...]:
        return tuple({"kind": "Deployment", "metadata": {"name": f"d{i}", "namespace": "n"}, "spec": {"template": {
            "spec": {"containers": [{"name": f"{name}{i or ''}", "image": image}]}}}} for i, image in enumerate(images))

    host = make_host(estate_dir, "production")
    version = deployed.for_host(host, manifests=chart("reg.test/app/a:1.0.0", name="api"))
    assert (version.sha, version.tag, version.release_tags) == (shas["v1"], "1.0.0", ("v1.0.0",))
    foreign = deployed.for_host(host, manifests=chart("reg.test/tools/t:1.0.0"))
    assert (foreign.sha, foreign.unowned) == (None, ("reg.test/tools/t:1.0.0",))
    assert foreign.not_checked and foreign.not_checked.startswith(
        "production: not checked: which commit of app runs: the only tags that look like its releases are on "
        f"images not known to be its own: reg.test/tools/t:1.0.0 (release v1.0.0 of app is {shas['v1'][:12]}): ")
    mixed = deployed.for_host(host, manifests=chart(f"reg.test/app/a:{shas['main']}", "reg.test/redis:v1.0.0",
                                                    "reg.test/redis:v1.0.0"))
    assert mixed.sha == shas["main"]
    latest = deployed.for_host(host, manifests=chart("reg.test/app/a:latest"))
    assert (latest.sha, latest.not_checked) == (None, (
        "production: not checked: image tag latest of reg.test/app/a:latest names no commit of app (no commit SHA, "
        "nor a version of release_tags 'v*.*.*'): pass --ref app=REF to say which commit runs, or deploy release "
        "versions ('v*.*.*')"))
    digest = deployed.for_host(host, manifests=chart("reg.test/app/a@sha256:" + "0" * 64))
    assert digest.not_checked and "names no tag (a digest or the default latest)" in digest.not_checked


def test_chart_renders_through_helms_engine(estate_dir: Path) -> None:
    repo = GitRepo(estate_dir / "gitops", "gitops")
    manifests = render(repo, repo.resolve("main"), ChartSource("helm/app", ("values.yaml",), "app", "ns"))
    assert sorted(m["kind"] for m in manifests) == ["ConfigMap", "Deployment", "Deployment", "Service"]


API_KEY_WARNING = (
    "API_KEY (from secret backend-secrets key API_KEY) may not fit AppSettings.api_key: no stand-in boots (tried "
    "'releasegateStandIn0123456789abcdefghijklmnop', 'ak_[0-9]{8}', '0123456789abcdef0123456789abcdef0123456789"
    "abcdef0123456789abcdef', 'releasegate-sealed-value'); the last failed with: String should match pattern "
    "'^ak_[0-9]{8}$' (string_pattern_mismatch); the value cannot be read here, check it")


def test_a_sealed_value_warns_only_when_no_stand_in_boots(estate_dir: Path, shas: dict) -> None:
    """DATABASE_URL's validator demands postgresql+asyncpg://: the stand-in by name (postgresql://)
    fails, the one from the validator's own message boots, so no warning; API_KEY's pattern fits no
    stand-in: one warning naming every one tried."""
    found = parity.evaluate(make_host(estate_dir, "production"), shas["gitops"][0])
    assert not [f for f in found if f.item == "DATABASE_URL"]
    sealed_ones = [f for f in found if f.item == "API_KEY"]
    assert [(f.severity, f.message) for f in sealed_ones] == [(finding.WARN, (  # one cause, both containers
        f"production: api, worker at app v1.0.0 ({shas['v1'][:12]}): " + API_KEY_WARNING))]
    assert sealed_ones[0].details["containers"] == ["api", "worker"]


def test_settings_importing_their_own_missing_module_is_a_blocker(estate_dir: Path, shas: dict) -> None:
    """The application's own package is on the boot's import path (its tree at that commit): a
    module of it that does not exist there crashes the pod too, so it is a blocker naming the
    module, the exception and the line."""
    found = parity.evaluate(make_host(estate_dir, "production"), shas["gitops"][1], app_ref="imports-app")
    imports = [f for f in found if "importing" in f.message]
    assert [(f.severity, f.message.split(": ", 2)[2]) for f in imports] == [(finding.BLOCK, (
        "importing server/app/settings.py (server/app/settings.py:1) fails at boot: ModuleNotFoundError: No module "
        "named 'app.db'"))]
    assert imports[0].details["containers"] == ["api", "worker"]


def test_settings_importing_a_library_the_boot_lacks_are_not_checked(estate_dir: Path, shas: dict) -> None:
    """A library the boot interpreter does not have is the suite's limit: one "not checked" line
    naming the module and what would let it boot (never a pass); the static checks still run."""
    host = make_host(estate_dir, "production")
    found = parity.evaluate(host, shas["gitops"][1], app_ref="imports-lib")
    notes = [f for f in found if f.severity == finding.SKIPPED]
    assert len(notes) == 1 and notes[0].details == {"missing": "kafka_settings_lib", "check": "test_settings_boot"}
    assert notes[0].message.startswith("production: not checked: server/app/settings.py at app ")
    assert "imports 'kafka_settings_lib', which the boot interpreter does not have (ModuleNotFoundError: No " \
           "module named 'kafka_settings_lib'): set settings[].environment" in notes[0].message
    static = [f.message for f in found if f.item == "ENABLE_AUDIT_LOG"]
    assert len(static) == 1 and static[0].startswith("production: api, worker at app ") and static[0].endswith(
        "ENABLE_AUDIT_LOG='' fails AppSettings.enable_audit_log: Input should be a valid boolean, unable to "
        "interpret input (bool_parsing) (static check)")


# -- the checks through pytest ---------------------------------------------------------------------
CHECKS = MAIN / "checks" / "test_settings.py"


@pytest.fixture
def suite(pytester: pytest.Pytester, estate_dir: Path) -> pytest.Pytester:
    text = textwrap.dedent(ENVIRONMENTS).replace("path: app,", f"path: {estate_dir / 'app'},")
    pytester.makefile(".yaml", environments=text.replace("path: gitops,", f"path: {estate_dir / 'gitops'},"))
    pytester.makeini("[pytest]\naddopts = --strict-markers\n")
    pytester.makeconftest('pytest_plugins = ["releasegate.plugin"]\n')
    pytester.makepyfile(test_settings=CHECKS.read_text())
    return pytester


def run(suite: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, list[dict]]:
    result = suite.runpytest_inprocess("-p", "no:cacheprovider", "--report-json=report.json", "-rA", *args)
    return result, json.loads((suite.path / "report.json").read_text())["records"]


def test_prerelease_production_catches_the_planted_problems(suite: pytest.Pytester, shas: dict) -> None:
    result, records = run(suite, "-m", "prerelease", "--env=production")
    v1, main = f"v1.0.0 ({shas['v1'][:12]})", f"main ({shas['main'][:12]})"
    result.stdout.fnmatch_lines_random([
        f"*production: api, worker at app {v1}: ENABLE_AUDIT_LOG='' fails AppSettings.enable_audit_log: Input "
        "should be a valid boolean, unable to interpret input (bool_parsing)*",
        "*production: SearchSettings.search_url is required (reads SEARCH_URL) and SEARCH_URL is empty for api, "
        f"worker at app {main} (candidate): add SEARCH_URL to helm/app/values-production.yaml*",
        "*production: secret mail-secrets key smtp-password (SMTP_PASSWORD for api, worker) is not in "
        "secrets/prod.yaml: the pods will not start (CreateContainerConfigError); seal the key into "
        "secrets/prod.yaml*",
        f"*production: frontend/src/config.ts reads VITE_SEARCH_URL, which frontend/.env.production at app {main} "
        "does not set: add it*",
    ])
    outcome = {r["nodeid"].split("::")[1]: r["outcome"] for r in records}
    # one cause, one failed item: items are settings classes, the boot function, secret keys
    assert sorted(n for n, o in outcome.items() if o == "failed") == [
        "test_frontend_env[production-frontend/.env.production]",
        "test_secret_keys[production-mail-secrets.smtp-password]",
        "test_settings_boot[production-AppSettings]",
        "test_settings_required_candidate[production-SearchSettings]"]
    assert outcome["test_settings_boot[production-get_settings]"] == "passed"  # builds AppSettings: said once
    assert outcome["test_settings_boot_candidate[production-SearchSettings]"] == "passed"  # missing: said once
    assert outcome["test_settings_required[production-AppSettings]"] == "passed"
    assert outcome["test_secret_keys[production-backend-secrets]"] == "passed"  # envFrom of a whole secret
    assert outcome["test_feature_flags[production]"] == "passed"
    blockers = [r for r in records if r.get("severity") == "blocker"]
    assert len(blockers) == 4
    boot_blocker = next(r for r in blockers if r["item"] == "ENABLE_AUDIT_LOG")
    assert {k: boot_blocker["details"][k] for k in ("containers", "variable", "value", "field", "type")} == {
        "containers": ["api", "worker"], "variable": "ENABLE_AUDIT_LOG", "value": "",
        "field": "AppSettings.enable_audit_log", "type": "bool_parsing"}
    warnings = {(r["check"], r["item"]): r["message"] for r in records
                if r.get("severity") == "warning" and not r.get("waiver")}
    assert warnings == {
        ("test_feature_flags", "FEATURE_FLAGS__AGENT_LOOPS"):
            "production: feature flag FEATURE_FLAGS__AGENT_LOOPS is on (api, worker) but off in staging: "
            "turn it on in staging first",
        ("test_env_cross_parity", "ENABLE_AUDIT_LOG"):
            "production: api, worker get ENABLE_AUDIT_LOG empty, which staging set to a value",
        ("test_env_cross_parity", "SEARCH_URL"): "production: api, worker get SEARCH_URL empty, which staging set "
                                                 "to a value",
        ("test_settings_boot", "API_KEY"): f"production: api, worker at app {v1}: " + API_KEY_WARNING}
    assert not [r for r in records if r.get("severity") == "note"]  # get_settings() builds every class
    waived = [r for r in records if r["item"] == "SENDGRID_REGION"]
    assert [r["nodeid"].split("::")[1] for r in waived] == ["test_env_cross_parity[production-SENDGRID_REGION]"]
    assert waived[0]["waiver"]  # waived in the environments file: matched by the per-variable item
    assert result.ret == 1


def test_replay_by_refs_answers_would_this_commit_have_broken_production(suite: pytest.Pytester,
                                                                           shas: dict) -> None:
    before, _ = run(suite, "--env=production", "-k", "test_settings_boot and not candidate",
                    "--ref", "app=v1.0.0", "--ref", f"gitops={shas['gitops'][0]}")
    before.assert_outcomes(passed=2)  # AppSettings, get_settings
    after, records = run(suite, "--env=production", "-k", "test_settings_boot and not candidate",
                         "--ref", "app=v1.0.0", "--ref", f"gitops={shas['gitops'][1]}")
    after.assert_outcomes(failed=1, passed=1)  # the class fails; get_settings, building it, does not repeat it
    assert {r["nodeid"].split("::")[1] for r in records if r["outcome"] == "failed"} == {
        "test_settings_boot[production-AppSettings]"}


def test_image_tag_that_names_no_commit_is_a_blocker(suite: pytest.Pytester) -> None:
    result, records = run(suite, "--env=production", "-k", "test_settings_required and not candidate",
                          "--ref", "gitops=bad-tag")
    result.assert_outcomes(failed=1)
    assert [r["nodeid"].split("::")[1] for r in records] == ["test_settings_required[production-running-commit]"]
    assert records[0]["message"] == ("production: image tag deadbee is no commit of app: build and deploy a "
                                     "commit that exists")


def test_replay_walk_names_the_commit_that_removed_the_key(estate_dir: Path, shas: dict) -> None:
    g1, g2, g3 = shas["gitops"]
    result = subprocess.run([sys.executable, "-m", "releasegate.replay", "--env", "production", "--range", f"{g1}..{g3}",
                             "--environments", str(estate_dir / "environments.yaml")],
                            capture_output=True, text=True, cwd=MAIN, timeout=120)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "1 blocker(s) already at the base " + g1 + " (not counted):"  # SMTP key, api + worker
    assert lines[1].strip().startswith("production: secret mail-secrets key smtp-password (SMTP_PASSWORD for api, "
                                       "worker) is not in secrets/prod.yaml")
    assert lines[2].startswith(f"FAIL {g2[:12]} chore(prod): drop ENABLE_AUDIT_LOG from production values")
    assert lines[3].strip().startswith("production: api, worker at app v1.0.0")
    assert "ENABLE_AUDIT_LOG='' fails AppSettings.enable_audit_log" in lines[3] and len(lines) == 5
    assert not any(line.startswith(f"ok   {g3[:12]}") for line in lines)  # the walk stops at the first
    assert lines[-1] == (f"first failing commit for production: {g2} "
                         "'chore(prod): drop ENABLE_AUDIT_LOG from production values'")


def test_replay_bad_input_is_a_clear_error(estate_dir: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "releasegate.replay", "--env", "nowhere", "--range", "main",
                             "--environments", str(estate_dir / "environments.yaml")],
                            capture_output=True, text=True, cwd=MAIN, timeout=60)
    assert (result.returncode, result.stderr.strip()) == (
        2, "--env: unknown environment 'nowhere' (known: production, staging)")


def test_replay_option_names_the_commit_and_runs_nothing_else(suite: pytest.Pytester, shas: dict) -> None:
    g1, g2, g3 = shas["gitops"]
    result = suite.runpytest_inprocess("-p", "no:cacheprovider", "--env=production", f"--replay={g1}..{g3}")
    assert result.ret == 1
    result.stdout.fnmatch_lines([f"== replay {g1}..{g3} for production", "1 blocker(s) already at the base*",
                                 f"FAIL {g2[:12]} chore(prod): drop ENABLE_AUDIT_LOG from production values*"])
    assert "passed" not in result.stdout.str()
    clean = suite.runpytest_inprocess("-p", "no:cacheprovider", "--env=production", f"--replay={g2}..{g3}")
    assert clean.ret == 0
    clean.stdout.fnmatch_lines([f"ok   {g3[:12]} prod: scale api", f"no commit of {g2}..{g3} breaks production"])


def test_entry_python_is_the_boot_interpreter(estate_dir: Path, shas: dict, tmp_path: Path) -> None:
    venv_python = tmp_path / "bin" / "python"
    venv_python.parent.mkdir()
    venv_python.write_text("#!/bin/sh\necho 'from settings' >&2\nexit 7\n")  # an interpreter that fails
    venv_python.chmod(0o755)
    estate = load(estate_dir / "environments.yaml")
    entry = estate.settings[0]
    broken = dataclasses.replace(estate, settings=(dataclasses.replace(entry, python=str(venv_python)),))
    host = Estatewide(broken, Settings(estate_dir / "environments.yaml", None)).host("production")
    assert boot_runs.interpreter(host, broken.settings[0]) == str(venv_python)
    target = targets.targets(host, broken.settings[0])["running"]
    with pytest.raises(boot.BootError, match=f"boot interpreter {venv_python} failed: from settings"):
        boot_runs.boot_results(host, broken.settings[0], target)


def test_demo_prerelease_production_is_one_failed_item_per_planted_cause(pytester: pytest.Pytester,
                                                                         demo_env_file: Path) -> None:
    pytester.makeini("[pytest]\naddopts = --strict-markers\n")
    pytester.makeconftest('pytest_plugins = ["releasegate.plugin"]\n')
    pytester.makepyfile(test_settings=CHECKS.read_text())
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", f"--environments={demo_env_file}",
                                          "--report-json=report.json", "-m", "prerelease", "--env=production")
    records = json.loads((pytester.path / "report.json").read_text())["records"]
    failed = sorted({r["nodeid"].split("::")[1] for r in records if r["outcome"] == "failed"})
    assert failed == ["test_secret_keys[production-backend-secrets.SMTP_PASSWORD]",
                      "test_settings_boot[production-AppSettings]",
                      "test_settings_boot[production-ErrorReportingSettings]",
                      "test_settings_boot_candidate[production-ErrorReportingSettings]",
                      "test_settings_containers[production-containers]",
                      "test_settings_required_candidate[production-SearchSettings]"]
    result.assert_outcomes(failed=6, passed=56)
    every = "agent, api, migrate, scheduler, worker, worker-cpu"
    result.stdout.fnmatch_lines_random([
        f"production: SearchSettings.url is required (reads SEARCH_URL) and no variable sets it for {every} at app "
        "main (*) (candidate): add SEARCH_URL to helm/app/values-production.yaml",
        f"production: {every} at app v1.4.1 (*): ENABLE_AUDIT_LOG='' fails AppSettings.enable_audit_log: Input "
        "should be a valid boolean, unable to interpret input (bool_parsing)",
        f"production: secret backend-secrets key SMTP_PASSWORD (SMTP_PASSWORD for {every}) is not in "
        "secrets/sealed-backend-secrets-prod.yaml: *",
        f"production: {every} at app v1.4.1 (*): ErrorReportingSettings fails at boot: Value error, SENTRY_DSN must "
        "be set when SENTRY_ENVIRONMENT is configured (value_error) (optional secret backend-secrets key SENTRY_DSN "
        "is absent: the kubelet leaves SENTRY_DSN unset)",
        "production: settings[0].containers: beat matches no container of production's rendered chart, so it is "
        "not checked (its containers: agent, api, dashboard, directus, migrate, portal, scheduler, worker, "
        "worker-cpu): correct the names",
    ])
    assert len([r for r in records if r.get("severity") == "blocker"]) == 6
    # DATABASE_URL's validator demands postgresql+asyncpg:// or sqlite+aiosqlite://: a stand-in fits, no warning
    assert not [r for r in records if r["item"] == "DATABASE_URL" and r.get("severity")]
    findings = [(r["check"], r["item"]) for r in records if r.get("severity")]
    assert len(findings) == len(set(findings))  # no cause reported twice
    flags = [r for r in records if r["item"] == "FEATURE_FLAGS__AGENT_LOOPS" and r.get("severity") == "warning"]
    assert [r["check"] for r in flags] == ["test_feature_flags"]
    waived = [r for r in records if r["item"] == "SENDGRID_REGION"]
    assert len(waived) == 1 and waived[0]["waiver"] and waived[0]["nodeid"].endswith(
        "test_env_cross_parity[production-SENDGRID_REGION]")
    ids = {r["nodeid"].split("::")[1] for r in records}
    assert {"test_secret_keys[production-directus-secrets]", "test_settings_boot[production-get_settings]",
            "test_env_cross_parity[production-SEARCH_URL]"} <= ids


def _env(container: str, **values: str) -> container_env.ContainerEnv:
    return container_env.ContainerEnv(container, "Deployment", container, "ns",
                                      {k: container_env.EnvVar(k, v, "value") for k, v in values.items()})


def test_cross_parity_is_one_warning_per_variable_naming_containers_and_environments() -> None:
    host = type("Host", (), {"name": "production"})()
    mine = [_env("api", A=""), _env("worker", A="")]
    others = {"staging": [_env("api", A="1", B="x"), _env("worker", A="1", B="x")],
              "testing": [_env("api", B="y")]}
    assert cross_env.cross_variables(mine, others) == ["A", "B"]
    found = cross_env.cross_parity(host, mine, others)
    assert [(f.item, f.message) for f in found] == [
        ("A", "production: api, worker get A empty, which staging set to a value"),
        ("B", "production: api lacks B, which staging, testing set; worker lacks B, which staging set")]
    assert found[1].details == {"containers": ["api", "worker"], "set_in": ["staging", "testing"], "empty_here": []}
    assert cross_env.cross_parity(host, mine, others, "A") == found[:1]


def test_env_entry_problems_shared_by_containers_are_one_item_and_one_finding() -> None:
    manifests = [{"kind": "Deployment", "metadata": {"name": name, "namespace": "ns"},
                  "spec": {"template": {"spec": {"containers": [
                      {"name": name, "image": "x", "env": [{"name": "DEBUG", "value": True}],
                       "envFrom": [{"secretRef": {"name": "gone"}}]}]}}}} for name in ("worker", "api")]
    envs = container_env.environments(workloads(manifests), container_env.objects(manifests, sealed.SecretIndex(())))
    host = type("Host", (), {"name": "production"})()
    assert secret_keys.secret_items(envs) == [secret_keys.ENV_PROBLEMS, "gone"]
    found = secret_keys.secret_findings(host, envs, sealed.SecretIndex(()), secret_keys.ENV_PROBLEMS)
    assert [f.message for f in found] == ["production: api, worker: DEBUG: value True is a bool, not a string; the "
                                          "API server rejects the manifest (quote it in the template)"]
    (missing,) = secret_keys.secret_findings(host, envs, sealed.SecretIndex(()), "gone")
    assert missing.message == ("production: secret gone (envFrom of api, worker) is needed, but no secret gone "
                               "exists in namespace ns: the pods will not start (CreateContainerConfigError)")


def test_container_names_that_match_nothing_are_one_finding_and_change_no_diagnosis(estate_dir: Path,
                                                                                   shas: dict) -> None:
    """Workload-style names where the chart's containers are called otherwise: one finding naming the
    containers that exist; the running commit is still found (no false "no image carries a commit SHA
    tag"), and with one right name the checks go on with it."""
    for names, checked in (("[api-server, worker-scheduler]", []), ("[api, api-server]", ["api"])):
        path = estate_dir / "environments-names.yaml"
        path.write_text(textwrap.dedent(ENVIRONMENTS).replace("containers: [api, worker]", f"containers: {names}"))
        estate = load(path)
        host = Estatewide(estate, Settings(path, None)).host("production")
        entry = estate.settings[0]
        unmatched = [n for n in ("api-server", "worker-scheduler") if n in names]
        found = containers.containers_finding(host, entry, "settings[0].containers")
        assert found is not None and found.severity == finding.BLOCK and found.details == {
            "unmatched": unmatched, "containers": ["api", "wait", "worker"]}
        assert found.message.startswith(f"settings[0].containers: {', '.join(unmatched)} ")
        assert found.message.endswith("no container of production's rendered chart, so "
                                      f"{'they are' if len(unmatched) > 1 else 'it is'} not checked (its containers: "
                                      "api, wait, worker): correct the names")
        assert targets.running(host, None, entry).sha == shas["v1"]
        assert [i for i, _ in containers.settings_containers(host, entry)] == checked
        assert not [f for f in parity.evaluate(host) if "commit SHA tag" in f.message]


def test_only_a_branch_environment_on_another_branch_than_main_gets_main_at_its_next_reset(
        demo_env_file: Path) -> None:
    """Tag environments get the candidate; a shared branch (testing) also main's head; an environment
    on main needs nothing new."""
    estate = load(demo_env_file)
    shared = Estatewide(estate, Settings(demo_env_file, None))
    entry = estate.settings[0]
    roles = {name: sorted(targets.targets(shared.host(name), entry)) for name in ("production", "testing", "echo-next")}
    assert roles == {"production": ["candidate", "running"], "testing": ["reset", "running"],
                     "echo-next": ["running"]}
    main = shared.host("testing").git("app").resolve("main")
    assert targets.targets(shared.host("testing"), entry)["reset"].sha == main
    (found,) = targets.as_reset(shared.host("testing"), [finding.Finding(finding.BLOCK, "testing: X fails", "X")])
    assert (found.severity, found.message) == (finding.WARN, "testing: the next reset of testing to main will not "
                                                            "boot: X fails")


def test_each_class_is_required_only_where_it_is_built(estate_dir: Path, shas: dict) -> None:
    """settings[].classes: the worker builds only AppSettings, so SearchSettings' missing SEARCH_URL
    is the api's alone (the required check and the boot); no "every class" warning for the entry."""
    from releasegate.settings import boot_findings, required

    estate = load(estate_dir / "environments.yaml")
    entry = dataclasses.replace(estate.settings[0], classes={"worker": ("AppSettings",)})
    narrowed = dataclasses.replace(estate, settings=(entry,))
    host = Estatewide(narrowed, Settings(estate_dir / "environments.yaml", None)).host("production")
    candidate = targets.targets(host, entry)["candidate"]
    found = required.required(host, entry, candidate, cls_name="SearchSettings")
    assert [f.details["containers"] for f in found] == [["api"]]
    assert "SEARCH_URL is empty for api at app" in found[0].message
    assert not [f for f in required.reader_warnings(host, entry, candidate) if "every class" in f.message]
    booted = boot_runs.boot_results(host, entry, candidate)
    assert [o.name for o in booted["worker"].outcomes] == ["AppSettings"]
    assert [o.name for o in booted["api"].outcomes] == ["AppSettings", "SearchSettings", "get_settings()"]
    assert not [f for f in boot_findings.boot_findings(host, entry, candidate) if "worker" in f.message]


def test_an_import_failure_is_the_first_items_blocker_and_the_others_are_not_checked(estate_dir: Path) -> None:
    """One cause, one blocker (on the boot function's item); every other item of the module skips
    ("not checked"), never passes: nothing of the module was constructed."""
    from releasegate.settings import boot_findings

    host = make_host(estate_dir, "production")
    entry = host.estate.settings[0]
    sha = host.git(entry.source).resolve("imports-app")
    target = targets.Target("running", sha, sha[:12])
    first = boot_findings.boot_findings(host, entry, target, only=f"{entry.boot}()")
    other = boot_findings.boot_findings(host, entry, target, only="AppSettings")
    assert [f.severity for f in first] == [finding.BLOCK]
    assert [(f.severity, f.message) for f in other] == [(finding.SKIPPED, (
        f"production: not checked: server/app/settings.py does not import at app {sha[:12]} (the blocker is on "
        f"{entry.boot}())"))]


def test_boots_not_isolated_are_said_once(estate_dir: Path, shas: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the sandbox (no bubblewrap, or it cannot start) the run says once why boots are not
    isolated; the findings are otherwise the same."""
    from releasegate.settings import sandbox

    boot.close_all()
    monkeypatch.setattr(sandbox, "ENABLED", False)
    try:
        found = parity.evaluate(make_host(estate_dir, "production"), shas["gitops"][1])
    finally:
        boot.close_all()
    said = [f for f in found if f.item == "sandbox"]
    assert [(f.severity, f.message) for f in said] == [(finding.WARN, (
        "settings boots are not isolated (the sandbox is turned off): the application's settings code runs as the "
        "gate's user, with its files, network and processes in reach (a clean environment, limits, one deadline "
        "per boot and the group kill still apply); install bubblewrap where user namespaces work"))]
