"""The history sweep's break identity (plugins/breaks.py) and its walk over a real history (issue 27).

The field trials' false breaks came from keying a break on its message: a commit SHA, a values
line number or a template line:col inside the message made every commit a "new" break; the commit
that created the chart was called a fix. One row per normalisation, then a real git history walked
by `python -m releasegate.replay --keep-going`, rendered with Helm's engine and checked with the kept
Kubernetes schemas.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from releasegate import breaks
from releasegate.breaks import Blocker

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("a, b", [
    # the running commit and its release label
    ("production: api at app v1.4.1 (de1f397b2304): X fails", "production: api at app v1.5.0 (0123456789ab): X fails"),
    ("image tag 4940688d4cd956a8bbeaaec1124bf11a50c7d23f is no commit", "image tag de1f397 is no commit"),
    # file:line and template line:col
    ("values-production.yaml:12 sets ENABLE_AUDIT_LOG=''", "values-production.yaml:14 sets ENABLE_AUDIT_LOG=''"),
    ("helm could not render helm/app: template: app/templates/x.yaml:12:5: nil pointer",
     "helm could not render helm/app: template: app/templates/x.yaml:40:17: nil pointer"),
    ("parse error at line 3", "parse error at line 9"),
    # container and workload lists
    ("production: agent, api, migrate at app v1 (abcdef0): SENTRY_DSN must be set",
     "production: api, worker at app v1 (abcdef0): SENTRY_DSN must be set"),
    ("production: api at app v1.4.1 (abcdef0123ab): X", "production: api, worker at app v1.4.1 (abcdef0123ab): X"),
    ("key SMTP_PASSWORD (SMTP_PASSWORD for agent, api) is not in s.yaml",
     "key SMTP_PASSWORD (SMTP_PASSWORD for api) is not in s.yaml"),
    ("X (optional secret s key K is absent: unset)", "X"),
])
def test_same_cause(a, b):
    assert breaks.cause(a) == breaks.cause(b)
    assert breaks.identity("prod", Blocker("c", "i", a)) == breaks.identity("prod", Blocker("c", "i", b))


@pytest.mark.parametrize("a, b", [
    ("production: api at app v1 (abcdef0): SENTRY_DSN must be set", "production: api at app v1 (abcdef0): SEARCH_URL is required"),
    ("Deployment/ns/api: spec.selector changed", "Deployment/ns/worker: spec.selector changed"),
    ("port 'http'", "port 'web'"),
])
def test_different_cause(a, b):
    assert breaks.cause(a) != breaks.cause(b)


def test_identity_keeps_environment_check_and_item_apart():
    one = Blocker("test_settings_boot", "ENABLE_AUDIT_LOG", "m")
    assert breaks.identity("a", one) != breaks.identity("b", one)
    assert breaks.identity("a", one) != breaks.identity("a", Blocker("test_secret_keys", "ENABLE_AUDIT_LOG", "m"))
    assert breaks.identity("a", one) != breaks.identity("a", Blocker("test_settings_boot", "X", "m"))


@pytest.mark.parametrize("start, end, took", [
    ("2026-09-21T14:00:00+00:00", "2026-09-21T14:12:00+00:00", "12m"),
    ("2026-09-21T14:00:00+00:00", "2026-09-21T16:05:00+00:00", "2h 5m"),
    ("2026-09-21T14:00:00+00:00", "2026-09-24T18:00:00+00:00", "3d 4h"),
    ("", "2026-09-24T18:00:00+00:00", "-"),
])
def test_time_to_fix(start, end, took):
    assert breaks.duration(start, end) == took


GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"]
INGRESS = """
    apiVersion: networking.k8s.io/v1
    kind: Ingress
    metadata: {name: web}
    spec:
      rules:
        - http:
            paths:
              - path: /
                pathType: Prefix
                backend: %s
"""
OLD_BACKEND = "{serviceName: web, servicePort: 80}"
NEW_BACKEND = "{service: {name: web, port: {number: 80}}}"
DEPLOYMENT = """
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: %s}
    spec:
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers: [{name: web, image: "registry.example.test/web:{{ .Values.tag }}"}]
"""
BAD = "kind: ConfigMap\napiVersion: v1\nmetadata: {name: x}\ndata: {a: {{ .Values.nope.deeper | quote }}}\n"
APP = """
    apiVersion: argoproj.io/v1alpha1
    kind: Application
    metadata: {name: web-prod, namespace: argocd}
    spec:
      source: {repoURL: https://git.example.test/gitops.git, path: chart, targetRevision: main,
               helm: {valueFiles: [values.yaml]}}
      destination: {namespace: web}
"""


def _commit(repo: Path, index: int, message: str, files: dict[str, str | None]) -> str:
    for name, text in files.items():
        path = repo / name
        if text is None:
            subprocess.run([*GIT, "-C", str(repo), "rm", "-q", name], check=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    date = f"@{1_790_000_000 + index * 3600} +0000"
    env = {**os.environ, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    subprocess.run([*GIT, "-C", str(repo), "add", "-A"], check=True)
    subprocess.run([*GIT, "-C", str(repo), "commit", "-q", "-m", message], check=True, env=env)
    return subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def history(tmp_path: Path) -> tuple[Path, list[str]]:
    """c0 no environment; c1 creates it with a v1beta1 Ingress backend (a break at creation); c2
    bumps a tag; c3 fixes the Ingress; c4 renders a Deployment twice; c5 deletes the Application
    (not present: no fix); c6 brings it back with the duplicate; c7 removes the duplicate; c8 breaks
    a template (nothing renders); c9 moves the broken line (the same break: not checked there);
    c10 fixes it."""
    for name in ("app", "gitops"):
        (tmp_path / name).mkdir()
        subprocess.run(["git", "init", "-q", "-b", "main", str(tmp_path / name)], check=True)
    _commit(tmp_path / "app", 0, "app", {"README.md": "app\n"})
    repo = tmp_path / "gitops"
    chart = {"chart/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
             "chart/values.yaml": "tag: '1.0.0'\n", "chart/templates/web.yaml": DEPLOYMENT % "web",
             "chart/templates/ingress.yaml": INGRESS % OLD_BACKEND, "argo/app-prod.yaml": APP}
    shas = [_commit(repo, 0, "readme", {"README.md": "gitops\n"}),
            _commit(repo, 1, "create web", chart),
            _commit(repo, 2, "bump web", {"chart/values.yaml": "tag: '1.1.0'\n"}),
            _commit(repo, 3, "fix the ingress", {"chart/templates/ingress.yaml": INGRESS % NEW_BACKEND}),
            _commit(repo, 4, "copy web", {"chart/templates/copy.yaml": DEPLOYMENT % "web"}),
            _commit(repo, 5, "retire prod", {"argo/app-prod.yaml": None}),
            _commit(repo, 6, "restore prod", {"argo/app-prod.yaml": APP}),
            _commit(repo, 7, "drop the copy", {"chart/templates/copy.yaml": None}),
            _commit(repo, 8, "break the template", {"chart/templates/bad.yaml": BAD}),
            _commit(repo, 9, "move the broken line", {"chart/templates/bad.yaml": "# moved\n" + BAD}),
            _commit(repo, 10, "fix the template", {"chart/templates/bad.yaml": None})]
    (tmp_path / "environments.yaml").write_text(textwrap.dedent("""
        version: 1
        sources:
          app: {path: app, main: main}
          gitops: {path: gitops, main: main}
        environments:
          production:
            deploys: {tag: "v*.*.*"}
            gitops: {argocd_app: argo/app-prod.yaml}
    """))
    return tmp_path, shas


def test_the_walk_names_each_break_where_it_begins_and_ends(history):
    root, c = history
    result = subprocess.run([sys.executable, "-m", "releasegate.replay", "--env", "production", "--range",
                             f"{c[0]}..{c[10]}", "--keep-going", "--environments", str(root / "environments.yaml")],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 1, result.stderr
    verdicts = [line.split()[:2] for line in result.stdout.splitlines() if line[:4] in ("FAIL", "FIX ", "ok  ", "n/c ")]
    assert verdicts == [["FAIL", c[1][:12]],  # created broken: introduced at creation, never a "fix"
                        ["ok", c[2][:12]],  # a tag bump changes nothing of the break
                        ["FIX", c[3][:12]],
                        ["FAIL", c[4][:12]],
                        ["ok", c[5][:12]],  # the environment is gone: not present, not fixed
                        ["ok", c[6][:12]],  # back with the same duplicate: the same break, not a new one
                        ["FIX", c[7][:12]],
                        ["FAIL", c[8][:12]],  # the chart does not render: Argo CD cannot sync it either
                        ["n/c", c[9][:12]],  # still broken (another line:col): the same break, nothing checked
                        ["FIX", c[10][:12]]]
    lines = result.stdout.splitlines()
    rows = lines[lines.index(f"breaks of production ({c[0]}..{c[10]}):") + 2:-3]
    assert [row.split()[:3] for row in rows] == [[c[1][:12], c[3][:12], "2h"]] * 2 + [
        [c[4][:12], c[7][:12], "3h"], [c[8][:12], c[10][:12], "2h"]]
    assert "test_manifest_schema[networking.k8s.io/v1/Ingress]" in rows[0]
    assert "test_unique_objects: Deployment/web/web is rendered 2 times" in rows[2]
    assert " render: production: helm could not render chart: web/templates/bad.yaml:" in rows[3]
    assert lines[-3:-1] == ["1 commit(s) of 10 not checked: the chart does not render there",
                            "3 commit(s) of 10 add a blocker for production"]
