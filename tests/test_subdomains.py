"""checks/test_subdomains.py end to end: real TLS servers, a real git repo, pytester runs.

Each planted endpoint problem must give exactly its own finding and nothing else.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from examples.services import https

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]
CHECK = REPO / "checks" / "test_subdomains.py"
TIMEOUT = 1.5
PROD_CASES = {  # subdomain -> (behaviour, subdomain entry, expected severity, words in the message)
    "ok": ("ok", {"path": "/api/health", "expect_json": {"status": ["ok", "healthy"]}}, None, []),
    "expired": ("expired", {}, "blocker", ["certificate expired on", "renew it"]),
    "expiring": ("expiring", {}, "blocker", ["certificate expires in 3 days", "blocker under 7 days"]),
    "wrong-host": ("wrong-host", {}, "blocker", ["not valid for this name", "wrong-host.wrong-host.prod.test"]),
    "self-signed": ("self-signed", {}, "blocker", ["serves a self-signed certificate"]),
    "slow": ("slow", {"budget_ms": 300}, "warning", ["over its budget of 300 ms"]),
    "bad-gateway": ("http-502", {}, "blocker", ["answered HTTP 502 after 3 attempts, expected 200"]),
    "directus": ("wrong-body", {"path": "/server/ping", "expect_body": "pong"}, "blocker",
                 ["body 'maintenance' does not match expect_body (expected 'pong')"]),
    "api": ("degraded", {"path": "/api/health", "expect_json": {"status": ["ok"]}}, "blocker",
            ["JSON status='degraded', expected one of ok"]),
    "hang": ("hang", {}, "blocker", ["gave no answer within 1.5s during TLS: it accepts TCP but never completes the TLS handshake"]),
    "hang-b": ("hang", {}, "blocker", ["gave no answer within 1.5s during TLS"]),
    "closed": ("closed", {}, "blocker", ["refuses connections after 3 attempts"]),
}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> dict[str, str]:
    """An app repo: five commits on main, v1.0.0 on the 2nd, v1.1.0 on the 3rd."""
    repo = tmp_path_factory.mktemp("app")
    git(repo, "init", "-q", "-b", "main")
    shas = []
    for i in range(5):
        (repo / "f.txt").write_text(f"{i}\n")
        git(repo, "add", "f.txt")
        git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", f"c{i}")
        shas.append(git(repo, "rev-parse", "HEAD"))
    git(repo, "tag", "v1.0.0", shas[1])
    git(repo, "tag", "v1.1.0", shas[2])
    gitops = tmp_path_factory.mktemp("gitops")
    git(gitops, "init", "-q", "-b", "main")
    git(gitops, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty",
        "-m", "init")
    return {"path": str(repo), "gitops": str(gitops), "v1.1.0": shas[2], "main": shas[4],
            "main~2": shas[2], "main~1": shas[3]}


@pytest.fixture(scope="module")
def service(app):
    specs = [https.EndpointSpec(f"{name}.prod.test", behaviour, f"127.0.0.{60 + i}", delay_s=0.8)
             for i, (name, (behaviour, *_)) in enumerate(PROD_CASES.items())]
    specs += [  # live build endpoints
        https.EndpointSpec("version.prod.test", "ok", "127.0.0.90", version=app["v1.1.0"]),
        https.EndpointSpec("api.staging.test", "ok", "127.0.0.91", version=app["main~2"]),
        https.EndpointSpec("api.next.test", "ok", "127.0.0.92", version=app["main"]),
        https.EndpointSpec("api.stray.test", "ok", "127.0.0.93", version="not-a-build"),
    ]
    svc = https.start(specs)
    yield svc
    svc.stop()


def environments(tmp: Path, app, service, ca_file: str | None = None) -> Path:
    """An environments file for the planted endpoints (JSON is YAML)."""
    env = lambda deploys, domain, subdomains=None, version=None: {  # noqa: E731
        "deploys": deploys, "gitops": {"chart": "helm/app", "values": ["values.yaml"]},
        "domain": domain, "subdomains": subdomains or {}, **({"version": version} if version else {})}
    api_version = {"subdomain": "api", "path": "/api/version", "json_key": "build_version"}
    data = {
        "version": 1,
        "sources": {"app": {"path": app["path"], "main": "main", "release_tags": "v*.*.*"},
                    "gitops": {"path": app["gitops"], "main": "main"}},
        "builds": [{"kind": "github-actions", "source": "app", "workflow": ".github/workflows/ci.yml"}],
        "environments": {
            "production": env({"tag": "v*.*.*"}, "prod.test",
                              {name: entry for name, (_, entry, *_) in PROD_CASES.items()},
                              {"subdomain": "version", "path": "/api/version", "json_key": "build_version"}),
            "staging": env({"branch": "main"}, "staging.test", version=api_version),
            "next": env({"branch": "main"}, "next.test", version={**api_version, "json_key": None,
                                                                   "header": "X-Build-Version"}),
            "stray": env({"branch": "main"}, "stray.test", version=api_version),
        },
        "network": {"timeout_s": TIMEOUT, "resolve": service.resolve,
                    "ca_file": ca_file or service.ca_file},
    }
    path = tmp / "environments.yaml"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture(autouse=True)
def only_releasegate_plugins(monkeypatch):
    """Inner runs load releasegate's plugins only (the root conftest): autoloads cost seconds."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


def run(pytester, estate: Path, *args: str):
    report = pytester.path / "report.json"
    result = pytester.runpytest_inprocess(str(CHECK), "-p", "no:cacheprovider", "--assert=plain",
                                          f"--environments={estate}", f"--report-json={report}", *args)
    records = json.loads(report.read_text())["records"] if report.exists() else []
    return result, records


def by_item(records, check="test_subdomain_healthy"):
    found: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        if r["check"] == check:
            found.setdefault((r["environment"], r["item"]), []).append(r)
    return found


@pytest.fixture(scope="module")
def production_run(app, service, tmp_path_factory):
    pytester_dir = tmp_path_factory.mktemp("run")
    return environments(pytester_dir, app, service)


def test_each_planted_problem_gives_exactly_its_finding(pytester, production_run):
    result, records = run(pytester, production_run, "--env=production", "-k", "test_subdomain_healthy")
    found = by_item(records)
    assert sorted(i for _, i in found) == sorted(PROD_CASES)
    for name, (_, _, severity, words) in PROD_CASES.items():
        (record,) = found[("production", name)]
        assert record["severity"] == severity, (name, record["message"])
        assert record["outcome"] == ("failed" if severity == "blocker" else "passed"), name
        for word in words:
            assert word in record["message"], (name, record["message"])
        if severity:
            assert record["message"].startswith("production: "), record["message"]
    failed = sum(1 for *_, s, _ in PROD_CASES.values() if s == "blocker")
    result.assert_outcomes(failed=failed, passed=len(PROD_CASES) - failed)
    # Two black-holed endpoints among twelve cost one timeout together, not one each.
    spent = sum({r["nodeid"]: r["duration"] for r in records}.values())
    assert TIMEOUT <= spent < 2 * TIMEOUT
    result.stdout.fnmatch_lines(["*_ test_subdomain_healthy?production-expiring? _*",
                                 "production: expiring.prod.test certificate expires in 3 days (*"])


def test_live_build_matches_expected_commit(pytester, production_run, app):
    result, records = run(pytester, production_run, "-k", "test_live_build")
    found = by_item(records, "test_live_build")
    assert {k: [r["severity"] for r in v] for k, v in found.items()} == {
        ("production", "version"): [None], ("next", "api"): [None],
        ("staging", "api"): ["blocker"], ("stray", "api"): ["blocker"]}
    staging = found[("staging", "api")][0]["message"]
    assert staging == (f"staging: api.staging.test serves {app['main~2'][:12]} but main head is "
                       f"{app['main'][:12]}: the live build is 2 commit(s) behind on main; "
                       f"check the deploy (sync, image tag)")
    assert "serves build 'not-a-build', not a commit of app; expected main head" in \
        found[("stray", "api")][0]["message"]
    result.assert_outcomes(failed=2, passed=2)


def test_live_build_for_a_tag_environment_follows_the_release_tag(pytester, production_run, app):
    result, records = run(pytester, production_run, "-k", "test_live_build", "--env=production",
                          "--tag=v1.0.0")
    (record,) = by_item(records, "test_live_build")[("production", "version")]
    assert record["message"].startswith(
        f"production: version.prod.test serves {app['v1.1.0'][:12]} but v1.0.0 is ")
    assert "the live build is 1 commit(s) ahead on main" in record["message"]


def test_markers_prerelease_only_for_the_tag_environment(pytester, production_run):
    result, _ = run(pytester, production_run, "-m", "prerelease", "--collect-only", "-q")
    ids = [line for line in result.stdout.lines if "::" in line]
    assert len(ids) == len(PROD_CASES)
    assert all("test_subdomain_healthy[production-" in line for line in ids)
    result, _ = run(pytester, production_run, "-m", "smoke and drift", "--collect-only", "-q")
    assert len([line for line in result.stdout.lines if "::" in line]) == len(PROD_CASES) + 4


@pytest.mark.parametrize("field", ["ca_file", "resolve"])
def test_unset_variable_skips_naming_it(pytester, app, service, tmp_path, field):
    estate = environments(tmp_path, app, service)
    data = json.loads(estate.read_text())
    if field == "ca_file":
        data["network"]["ca_file"] = "${RG_TEST_UNSET_VAR}"
    else:
        data["network"]["resolve"]["ok.prod.test"] = "127.0.0.60:${RG_TEST_UNSET_VAR}"
    estate.write_text(json.dumps(data))
    result, records = run(pytester, estate, "--env=staging", "-k", "test_live_build")
    result.assert_outcomes(skipped=1)
    (record,) = records
    assert record["message"].startswith(f"staging: network.{field}")
    assert "${RG_TEST_UNSET_VAR} is not set" in record["message"]


def test_missing_ca_file_is_a_usage_error(pytester, app, service, tmp_path):
    estate = environments(tmp_path, app, service, ca_file=str(tmp_path / "nope.pem"))
    result, _ = run(pytester, estate, "--env=staging")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*network.ca_file: file {tmp_path / 'nope.pem'} does not exist"])


@pytest.mark.parametrize("thresholds, severity", [
    ({"cert_warning_days": 30, "cert_blocker_days": 2}, "warning"),
    ({"cert_warning_days": 2, "cert_blocker_days": 1}, None),
])
def test_expiry_thresholds_from_the_environments_file(pytester, app, service, tmp_path, thresholds, severity):
    estate = environments(tmp_path, app, service)
    data = json.loads(estate.read_text())
    data["network"].update(thresholds)
    estate.write_text(json.dumps(data))
    _, records = run(pytester, estate, "--env=production", "-k", "healthy and expiring")
    (record,) = records
    assert record["severity"] == severity and record["outcome"] == "passed"
    if severity:
        assert "expires in 3 days" in record["message"] and "warning under 30 days" in record["message"]


def test_a_resolver_that_answers_no_name_is_one_error_per_run(pytester, app, tmp_path):
    """Issue 11 item 5: every lookup of the run failing the same way (names under .invalid
    never resolve, RFC 6761) is one ERROR naming the resolver; the other endpoints skip,
    pointing at it, instead of one 'fix the DNS record' blocker per record."""
    env = lambda: {"deploys": {"branch": "main"},  # noqa: E731
                   "gitops": {"chart": "helm/app", "values": ["values.yaml"]},
                   "domain": "rg.invalid", "subdomains": {"api": {}, "portal": {}}}
    data = {"version": 1,
            "sources": {"app": {"path": app["path"], "main": "main"},
                        "gitops": {"path": app["gitops"], "main": "main"}},
            "environments": {"staging": env(), "testing": env()},
            "network": {"timeout_s": TIMEOUT}}
    estate = tmp_path / "environments.yaml"
    estate.write_text(json.dumps(data))
    result, records = run(pytester, estate, "--env=all", "-k", "test_subdomain_healthy")
    result.assert_outcomes(errors=1, skipped=3)
    errors = [r for r in records if r["outcome"] == "error"]
    assert len(errors) == 1 and errors[0]["message"].startswith(
        "staging: the system resolver (")
    assert "failed: every one of the 4 lookups of this run failed the same way (" \
        in errors[0]["message"]
    skipped = sorted(r["message"] for r in records if r["outcome"] == "skipped")
    assert skipped[0].startswith("staging: portal.rg.invalid not checked: the system resolver (")
    assert all(m.endswith("(reported once, at staging-api)") for m in skipped)
    assert "fix the DNS record" not in result.stdout.str()


def test_one_lookup_on_a_resolver_that_answers_nothing_is_one_error(pytester, app, tmp_path, monkeypatch):
    """Issue 21 item 5: a prerelease with ONE subdomain whose name does not resolve, on a machine whose
    resolver answers nothing (resolv.conf names a loopback port where nothing listens): one ERROR
    naming the resolver, not a "fix the DNS record" blocker (plugins/subdomains/nameserver.py)."""
    from examples.services import free_port
    from releasegate.subdomains import addresses, nameserver

    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 127.0.0.1\n")
    monkeypatch.setattr(addresses, "RESOLV_CONF", str(conf))
    monkeypatch.setattr(nameserver, "DNS_PORT", free_port())
    data = {"version": 1,
            "sources": {"app": {"path": app["path"], "main": "main"},
                        "gitops": {"path": app["gitops"], "main": "main"}},
            "environments": {"staging": {"deploys": {"branch": "main"},
                                         "gitops": {"chart": "helm/app", "values": ["values.yaml"]},
                                         "domain": "rg.invalid", "subdomains": {"api": {}}}},
            "network": {"timeout_s": TIMEOUT}}
    estate = tmp_path / "environments.yaml"
    estate.write_text(json.dumps(data))
    result, records = run(pytester, estate, "--env=staging", "-k", "test_subdomain_healthy")
    result.assert_outcomes(errors=1)
    [error] = [r for r in records if r["outcome"] == "error"]
    assert error["message"].startswith(f"staging: the system resolver (nameserver 127.0.0.1 in {conf}) failed: "
                                       "api.rg.invalid did not resolve, and no nameserver answers about rg.invalid "
                                       "nor the root (127.0.0.1:")
    assert "fix the DNS record" not in result.stdout.str()
