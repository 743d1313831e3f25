"""The plugin's behaviour, end to end through pytester: selection, ids, findings, waivers, reports."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import psycopg  # imported here, so that in-process runs share one copy of its error classes
import pytest

from conftest import demo_environments

CANARY = "canary-Zq7xW3pL9"

CHECKS = """
import os
import pytest
from releasegate.params import per_item

def containers(host):
    for w in host.workloads:
        for c in w.containers:
            if not c.init:
                yield f"{w.name}-{c.name}" if w.name != c.name else c.name, c

@pytest.mark.smoke
@per_item(containers)
def test_container_named(host, item, gate):
    assert item.image

@pytest.mark.prerelease
@pytest.mark.drift
def test_blocker(host, gate):
    if host.name == "production":
        gate.block("production: first blocker: do this")
        gate.block("production: second blocker: do that", detail=1)

@pytest.mark.drift
def test_warning(host, gate):
    gate.warn(f"{host.name}: something to look at", item="VAR_A")

@pytest.mark.prerelease
def test_env_cross_parity_waived(host, gate):
    gate.block(f"{host.name}: SENDGRID_REGION differs", item="SENDGRID_REGION")

@pytest.mark.drift
def test_leaks_secret(host, gate):
    dsn = os.environ.get("LEAKY_DSN", "")
    print("connecting to", dsn)
    gate.fail(f"{host.name}: cannot use {dsn}")
"""


@pytest.fixture
def suite(pytester: pytest.Pytester, estate_copy: Path) -> tuple[pytest.Pytester, Path]:
    """A pytester dir with the plugin, the checks above and an environments file for the demo."""
    env_file = pytester.path / "environments.yaml"
    env_file.write_text(demo_environments(estate_copy))
    pytester.makeconftest('pytest_plugins = ["releasegate.plugin"]')
    pytester.makepyfile(test_checks=CHECKS)
    pytester.makeini("[pytest]\naddopts = --strict-markers -p no:cacheprovider\n")
    return pytester, env_file


def test_ids_are_sorted_env_item_pairs(suite: tuple[pytest.Pytester, Path]) -> None:
    pytester, _ = suite
    result = pytester.runpytest("--collect-only", "-q", "-m", "smoke", "--env=production,testing")
    ids = [line.split("[", 1)[1].rstrip("]") for line in result.outlines
           if line.startswith("test_checks.py::test_container_named[")]
    assert ids == sorted(ids, key=lambda i: (i.split("-", 1)[0] != "production", i))
    assert "production-api" in ids and "testing-agent" in ids and "production-directus" in ids
    assert not any(i.startswith("echo-next") for i in ids)
    # one pair per container and environment: 8 workloads' main containers, 2 environments
    assert len(ids) == 2 * 8


def test_markers_select_the_moment(suite: tuple[pytest.Pytester, Path]) -> None:
    pytester, _ = suite
    result = pytester.runpytest("-m", "prerelease", "--env=production", "-rA")
    result.assert_outcomes(failed=1, xfailed=1)
    result.stdout.fnmatch_lines([
        "*_ test_blocker[[]production] _*",
        "production: first blocker: do this",
        "production: second blocker: do that",
    ])
    out = result.stdout.str()
    assert "test_container_named" not in out


def test_waiver_turns_blocker_into_xfail_with_reason(suite: tuple[pytest.Pytester, Path]) -> None:
    pytester, _ = suite
    result = pytester.runpytest("-k", "waived", "--env=all", "-rxX")
    # the demo file waives SENDGRID_REGION in production only
    result.assert_outcomes(failed=2, xfailed=1)
    result.stdout.fnmatch_lines(["*XFAIL*production*waived: defaults to eu in the settings*"])


def test_expired_waiver_fails_and_says_so(suite: tuple[pytest.Pytester, Path]) -> None:
    pytester, env_file = suite
    env_file.write_text(env_file.read_text().replace("expires: 2027-03-31", "expires: 2020-01-31"))
    result = pytester.runpytest("-k", "waived", "--env=production")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*SENDGRID_REGION differs (waiver expired 2020-01-31: *"])


def test_warnings_are_listed_and_strict_makes_them_fail(
        suite: tuple[pytest.Pytester, Path]) -> None:
    pytester, _ = suite
    result = pytester.runpytest("-k", "test_warning", "--env=production")
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    # labelled with the node id (rerunnable as printed), not with the finding's own item
    result.stdout.fnmatch_lines(["*releasegate warnings*",
                                 "WARNING test_warning[[]production]: production: something*"])
    result.stdout.fnmatch_lines(["releasegate: production passes every check: 1 warning (listed above)"])
    assert result.outlines[-1] == "releasegate: production passes every check: 1 warning (listed above)"
    strict = pytester.runpytest("-k", "test_warning", "--env=production", "--strict-warnings")
    strict.assert_outcomes(failed=1)
    strict.stdout.fnmatch_lines(["*warning (strict): production: something to look at*"])


def test_json_report_records(suite: tuple[pytest.Pytester, Path]) -> None:
    pytester, _ = suite
    report = pytester.path / "out" / "run.json"
    pytester.runpytest("-m", "prerelease or drift", "--env=production",
                       f"--report-json={report}", "-k", "not leaks")
    data = json.loads(report.read_text())
    records = data["records"]
    blockers = [r for r in records if r["check"] == "test_blocker"]
    assert [(r["environment"], r["outcome"], r["severity"], r["message"]) for r in blockers] == [
        ("production", "failed", "blocker", "production: first blocker: do this"),
        ("production", "failed", "blocker", "production: second blocker: do that"),
    ]
    assert blockers[1]["details"] == {"detail": 1}
    waived = next(r for r in records if r["check"] == "test_env_cross_parity_waived")
    assert waived["outcome"] == "xfailed" and waived["item"] == "SENDGRID_REGION"
    assert waived["waiver"]["reason"].startswith("defaults to eu")
    warning = next(r for r in records if r["check"] == "test_warning")
    assert (warning["outcome"], warning["severity"], warning["item"]) == ("passed", "warning",
                                                                          "VAR_A")
    assert data["run"]["refs"]["app"]["ref"] == "main"
    assert len(data["run"]["refs"]["app"]["commit"]) == 40
    assert set(records[0]) >= {"check", "environment", "item", "outcome", "severity", "message",
                               "details"}


def test_report_path_that_cannot_be_written_stops_the_run_up_front(
        suite: tuple[pytest.Pytester, Path]) -> None:
    pytester, _ = suite
    (pytester.path / "taken").write_text("a file where a folder should be\n")
    result = pytester.runpytest("--env=production", f"--report-json={pytester.path}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: --report-json: cannot write {pytester.path}: it is a "
                                 "directory"])
    result = pytester.runpytest("--env=production", "--report-json=taken/run.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --report-json: cannot write */taken/run.json: */taken "
                                 "is a file, not a folder"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    result = pytester.runpytest("--env=production", "--junitxml=taken/junit.xml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --junitxml: cannot write */taken/junit.xml: */taken is "
                                 "a file, not a folder"])
    result = pytester.runpytest("--env=production", "-p", "allure_pytest.plugin",
                                "--alluredir=taken")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --alluredir: cannot write */taken: */taken is a file, "
                                 "not a folder"])
    if Path("/proc/self").is_dir():  # /proc takes no new folder, even from root
        result = pytester.runpytest("--env=production", "--junitxml=/proc/rg/junit.xml")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["ERROR: --junitxml: cannot write /proc/rg/junit.xml: "
                                     "cannot create /proc/rg: *"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize("stop", ["-x", "ctrl-c"])
def test_an_interrupted_run_marks_the_json_report_incomplete(suite: tuple[pytest.Pytester, Path],
                                                             stop: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    pytester, _ = suite
    pytester.makepyfile(test_stop="""
        def test_a(host):
            if host.name == "production":
                raise KeyboardInterrupt if __import__("os").environ.get("RG_CTRL_C") else \\
                    AssertionError("production: stops the run")
        def test_b(host): pass
    """)
    report = pytester.path / "run.json"
    args = ["test_stop.py", "--env=all", f"--report-json={report}"]
    if stop == "-x":
        result = pytester.runpytest(*args, "-x")
    else:  # in a subprocess: an in-process run hands the KeyboardInterrupt on to this test
        monkeypatch.setenv("RG_CTRL_C", "1")
        monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parent.parent))
        result = pytester.runpytest_subprocess(*args, timeout=120)
        monkeypatch.delenv("RG_CTRL_C")
    run = json.loads(report.read_text())["run"]
    assert run["complete"] is False
    assert run["incomplete"] == ("the run stopped early (exit code 1: stopping after 1 failures)"
                                 if stop == "-x" else
                                 "interrupted by SIGINT before every check ran")
    assert result.ret == (1 if stop == "-x" else 2)
    full = pytester.runpytest("test_stop.py", "--env=testing", f"--report-json={report}")
    assert full.ret == 0 and json.loads(report.read_text())["run"]["complete"] is True


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_report_write_that_fails_at_the_end_is_an_error_line_not_a_traceback(
        suite: tuple[pytest.Pytester, Path]) -> None:
    pytester, _ = suite
    # /proc accepts no new files, even from root: the write fails only when the run ends.
    result = pytester.runpytest("--env=production", "-k", "test_warning",
                                "--report-json=/proc/releasegate-report.json")
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stdout.fnmatch_lines(["ERROR --report-json: could not write "
                                 "/proc/releasegate-report.json: *"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_secrets_never_appear_in_any_output(suite: tuple[pytest.Pytester, Path],
                                            monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    """Canary secrets in a printed DSN, a DSN whose password holds an unencoded '@' (libpq ends
    the user info at the first '@', so the tail would show in its host name), and a registry
    mirror URL with user info (httpx logs each request's URL; the fixture error lands in
    allure's *-container.json): none reaches the terminal, live logging, the log file, the
    JSON, JUnit, drift or allure outputs."""
    import faults

    pytester, _ = suite
    tail = "tail-Hk4vR8mQ2"
    monkeypatch.setenv("LEAKY_DSN", f"postgresql://app:{CANARY}@{tail}@127.0.0.1:1/app")
    monkeypatch.setenv("DEMO_PRODUCTION_DATABASE_URL",
                       f"postgresql://app:{CANARY}@{tail}@127.0.0.1:1/x")
    registry = faults.serve({"GET /v2/": faults.reply(500, {"errors": []})}, tls=True)
    docker_config = tmp_path / "docker.json"
    docker_config.write_text("{}")
    monkeypatch.setenv("RELEASEGATE_DEMO_REGISTRY",
                       registry.url.replace("https://", f"https://reg:{CANARY}@"))
    monkeypatch.setenv("RELEASEGATE_DEMO_REGISTRY_CA", str(registry.ca_file))
    monkeypatch.setenv("RELEASEGATE_DEMO_DOCKER_CONFIG", str(docker_config))
    pytester.makepyfile(test_db="""
        import os
        import pytest

        def test_db(host, db):
            pass

        @pytest.fixture
        def answer(host, registry):
            from releasegate.core.handle import Unreachable
            from releasegate.images.results import RegistryUnreachable

            ref = "registry.demo.test/app/api:v1"
            outcome = registry.check_all([ref])[ref]  # the registry is asked per reference
            if isinstance(outcome, RegistryUnreachable):
                raise Unreachable(host.name, outcome.endpoint, outcome.reason)
            return outcome

        def test_registry(host, answer):
            pass

        @pytest.fixture
        def dsn_in_error():
            raise RuntimeError("cannot use " + os.environ["LEAKY_DSN"])

        def test_leaks_from_a_fixture(host, dsn_in_error):
            pass
    """)
    out = pytester.path / "out"
    with registry:
        result = pytester.runpytest("--env=production", "-k", "leaks or test_db", "-rA",
                                    "-p", "allure_pytest.plugin", f"--alluredir={out / 'allure'}",
                                    f"--drift-report={out / 'drift'}",
                                    f"--report-json={out / 'run.json'}",
                                    f"--junitxml={out / 'junit.xml'}", "--timeout-s=2",
                                    "-o", "log_cli=true", "--log-cli-level=DEBUG",
                                    f"--log-file={out / 'log.txt'}", "--log-file-level=DEBUG")
    result.assert_outcomes(failed=1, errors=3)
    assert ("GET", "/v2/") in registry.requests
    texts = [result.stdout.str(), result.stderr.str()]
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {"run.json", "junit.xml", "drift.json", "drift.md", "drift.html", "log.txt"} <= {
        p.name for p in files}
    allure_results = [json.loads(p.read_text()) for p in files if p.name.endswith("-result.json")]
    labels = {(label["name"], label["value"]) for r in allure_results for label in r["labels"]}
    assert {("environment", "production"), ("check", "test_leaks_secret")} <= labels
    containers = [p.read_text() for p in files if p.name.endswith("-container.json")]
    assert any("statusDetails" in c and "unreachable" in c for c in containers)
    assert any("cannot use postgresql://app:***@127.0.0.1:1/app" in c for c in containers)
    texts += [p.read_text() for p in files]
    for text in texts:
        assert CANARY not in text and tail not in text
    joined = "\n".join(texts)
    assert "postgresql://app:***@127.0.0.1:1/app" in joined
    assert "HTTP Request: GET https://reg:***@127.0.0.1:" in joined  # httpx's line, masked
    # the host libpq would be given is named as the DSN means it, and the fix is said
    assert ("production: database 127.0.0.1:1/x unreachable: the DSN in "
            "DEMO_PRODUCTION_DATABASE_URL has an unencoded '@' in its user info") in joined


def test_unreachable_database_is_an_error_naming_env_and_endpoint(
        suite: tuple[pytest.Pytester, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    pytester, _ = suite
    # A listening socket that never answers: TCP connects, the server never speaks.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    monkeypatch.setenv("DEMO_PRODUCTION_DATABASE_URL", f"postgresql://u@127.0.0.1:{port}/db")
    pytester.makepyfile(test_db="""
        def test_one(host, db): pass
        def test_two(host, db): pass
    """)
    started = time.monotonic()
    result = pytester.runpytest("--env=production", "test_db.py", "--timeout-s=1")
    elapsed = time.monotonic() - started
    sock.close()
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines([f"*production: database 127.0.0.1:{port}/db unreachable: *"])
    assert "Traceback" not in result.stdout.str()
    # the failure is cached per environment: two checks cost one timeout, not two
    assert elapsed < 6


ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
DB_CHECKS = """
    def test_one(host, db): db.execute("SELECT count(*) FROM {table}")
    def test_two(host, db): db.execute("SELECT count(*) FROM {table}")
    def test_three(host, db): db.execute("SELECT 1")
"""


def test_a_locked_database_costs_one_timeout_and_every_later_check_errors_at_once(
        suite: tuple[pytest.Pytester, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """A catalog or table read blocked by a lock: one statement timeout, then the same line."""
    pytester, _ = suite
    table = f"releasegate_locked_{os.getpid()}"
    monkeypatch.setenv("DEMO_PRODUCTION_DATABASE_URL", ADMIN_DSN)
    pytester.makepyfile(test_db=DB_CHECKS.format(table=table))
    report = pytester.path / "run.json"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f"CREATE TABLE {table} (id int)")
        try:
            with psycopg.connect(ADMIN_DSN) as locker:
                locker.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
                started = time.monotonic()
                result = pytester.runpytest("--env=production", "test_db.py", "--timeout-s=1",
                                            f"--report-json={report}")
                elapsed = time.monotonic() - started
        finally:
            admin.execute(f"DROP TABLE {table}")
    result.assert_outcomes(failed=1, errors=2)
    line = ("production: database 127.0.0.1:5432/postgres failed: exceeded the 1 s statement "
            "timeout (canceling statement due to statement timeout)")
    records = json.loads(report.read_text())["records"]
    assert [(r["check"], r["outcome"], r["message"]) for r in records] == [
        (name, "error", line) for name in ("test_one", "test_three", "test_two")]
    assert sorted(r["duration"] for r in records)[:2] < [0.5, 0.5]  # no second timeout
    assert elapsed < 1 + 8  # one timeout plus collection and headroom
    assert "Traceback" not in result.stdout.str()


def test_a_database_lost_mid_run_is_one_line_not_a_psycopg_traceback(
        suite: tuple[pytest.Pytester, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    pytester, _ = suite
    monkeypatch.setenv("DEMO_PRODUCTION_DATABASE_URL", ADMIN_DSN)
    pytester.makepyfile(test_db=f"""
        import psycopg

        def test_a_kill(host, db):
            with psycopg.connect({ADMIN_DSN!r}, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", [db.info.backend_pid])

        def test_b(host, db): db.execute("SELECT 1")
        def test_c(host, db): db.execute("SELECT 1")
    """)
    result = pytester.runpytest("--env=production", "test_db.py", "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1, errors=1)
    out = result.stdout.str()
    # one line each for test_b and test_c (the short summary may repeat them, by pytest version)
    lines = result.stdout.lines
    assert sum(line.startswith("production: database 127.0.0.1:5432/postgres unreachable: ")
               for line in lines) == 2
    assert "Traceback" not in out and "psycopg.OperationalError" not in out


def test_missing_dsn_skips_naming_the_variable(suite: tuple[pytest.Pytester, Path],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    pytester, _ = suite
    monkeypatch.delenv("DEMO_PRODUCTION_DATABASE_URL", raising=False)
    pytester.makepyfile(test_db="def test_db(host, db): pass")
    result = pytester.runpytest("--env=production", "test_db.py", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        ["*production: database.dsn_env DEMO_PRODUCTION_DATABASE_URL is not set*"])


@pytest.mark.parametrize("parallel", [(), ("-p", "xdist", "-n", "2")], ids=["serial", "xdist"])
def test_what_was_not_checked_is_summed_up_by_reason(suite: tuple[pytest.Pytester, Path],
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     parallel: tuple[str, ...]) -> None:
    pytester, _ = suite
    monkeypatch.delenv("DEMO_PRODUCTION_DATABASE_URL", raising=False)
    monkeypatch.delenv("DEMO_TESTING_DATABASE_URL", raising=False)
    pytester.makepyfile(test_db="""
        import pytest
        def test_one(host, db): pass
        def test_two(host, db): pass
        def test_three(host): pytest.skip("only with --hotfix")
    """)
    result = pytester.runpytest("--env=production,testing", "test_db.py", *parallel)
    result.assert_outcomes(skipped=6)
    result.stdout.fnmatch_lines([
        "*-- releasegate not checked --*",
        "2 checks: only with --hotfix",
        "2 checks: production: database.dsn_env DEMO_PRODUCTION_DATABASE_URL is not set",
        "2 checks: testing: database.dsn_env DEMO_TESTING_DATABASE_URL is not set",
    ])


def test_database_is_read_only_with_timeout(suite: tuple[pytest.Pytester, Path],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    pytester, _ = suite
    monkeypatch.setenv("DEMO_PRODUCTION_DATABASE_URL",
                       "postgresql://postgres@127.0.0.1:5432/postgres")
    pytester.makepyfile(test_db="""
        import psycopg, pytest

        def test_write_fails(host, db):
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                db.execute("CREATE TABLE releasegate_must_not_exist (id int)")
            db.rollback()

        def test_timeout_set(host, db):
            assert db.execute("SHOW statement_timeout").fetchone()[0] == "2s"
            assert db.execute("SHOW transaction_read_only").fetchone()[0] == "on"
    """)
    result = pytester.runpytest("--env=production", "test_db.py", "--timeout-s=2")
    result.assert_outcomes(passed=2)


def test_collection_never_touches_the_network(suite: tuple[pytest.Pytester, Path],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    pytester, _ = suite
    monkeypatch.setenv("DEMO_PRODUCTION_DATABASE_URL", "postgresql://u@127.0.0.1:1/db")
    pytester.makeconftest("""
        import socket
        import pytest
        pytest_plugins = ["releasegate.plugin"]

        def _refuse(*args, **kwargs):
            raise AssertionError("network used during collection")

        @pytest.hookimpl(wrapper=True)
        def pytest_collection(session):
            saved = socket.socket.connect, socket.create_connection, socket.getaddrinfo
            socket.socket.connect = socket.create_connection = socket.getaddrinfo = _refuse
            try:
                return (yield)
            finally:
                socket.socket.connect, socket.create_connection, socket.getaddrinfo = saved
    """)
    result = pytester.runpytest("--collect-only", "-q", "--env=all")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*tests collected*"])


def test_refs_replay_history_without_touching_checkouts(suite: tuple[pytest.Pytester, Path],
                                                        estate_copy: Path) -> None:
    pytester, _ = suite
    app = estate_copy / "app"
    status_before = subprocess.run(["git", "-C", str(app), "status", "--porcelain", "-b"],
                                   capture_output=True, text=True).stdout
    head_before = (app / ".git" / "HEAD").read_text()
    pytester.makepyfile(test_refs="""
        def test_settings_at_ref(host):
            text = host.git("app").show(host.ref("app"), "server/app/settings.py")
            assert ('alias="ENABLE_AUDIT_LOG"' in text) == (host.ref("app") == "v1.4.0")
            assert "SearchSettings" not in text or host.ref("app") == "main"
    """)
    pytester.runpytest("--env=production", "test_refs.py").assert_outcomes(passed=1)
    pytester.runpytest("--env=production", "test_refs.py", "--app-ref=v1.4.0").assert_outcomes(
        passed=1)
    pytester.runpytest("--env=production", "test_refs.py", "--ref=app=v1.4.0").assert_outcomes(
        passed=1)
    assert (app / ".git" / "HEAD").read_text() == head_before
    assert subprocess.run(["git", "-C", str(app), "status", "--porcelain", "-b"],
                          capture_output=True, text=True).stdout == status_before


def test_xdist_gives_the_same_json_report(suite: tuple[pytest.Pytester, Path],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    pytester, _ = suite
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parent.parent))

    def outcomes(path: Path) -> list[dict[str, object]]:
        records = json.loads(path.read_text())["records"]
        return [{k: v for k, v in r.items() if k != "duration"} for r in records]

    serial, parallel = pytester.path / "serial.json", pytester.path / "parallel.json"
    args = ("--env=all", "-k", "not leaks")
    pytester.runpytest(*args, f"--report-json={serial}")
    result = pytester.runpytest_subprocess(*args, "-p", "xdist", "-n", "2",
                                           f"--report-json={parallel}",
                                           timeout=180)
    assert "2 workers" in result.stdout.str()
    assert outcomes(parallel) == outcomes(serial)
    assert len(outcomes(serial)) > 30


def test_unrenderable_chart_is_an_error_not_a_crash(suite: tuple[pytest.Pytester, Path],
                                                    estate_copy: Path) -> None:
    pytester, _ = suite
    gitops = estate_copy / "gitops"
    template = gitops / "helm/app/templates/hpa.yaml"
    template.write_text(template.read_text() + "\n{{ .Values.nope.missing }}\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", "-C", str(gitops), "commit", "-qam", "break the chart"], check=True,
                   env=env)
    result = pytester.runpytest("-m", "smoke", "--env=production")
    # one ERROR line for the environment; its check is not checked, pointing at it (f1)
    result.assert_outcomes(skipped=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines([
        "ERROR production: helm could not render helm/app: app/templates/hpa.yaml:*"
        "nil pointer evaluating interface {}.missing (1 check not checked)",
        "releasegate: production was not checked: 1 chart could not be rendered (production: "
        "helm/app: template error in app/templates/hpa.yaml:*), 1 check not run (chart not rendered)"])
    assert "Traceback" not in result.stdout.str()


def test_check_that_applies_nowhere_is_deselected(suite: tuple[pytest.Pytester, Path]) -> None:
    pytester, _ = suite
    pytester.makepyfile(test_scope="""
        from releasegate.params import per_env

        @per_env(lambda host: host.spec.deploys.tag is not None)
        def test_tag_envs_only(host):
            assert host.name == "production"
    """)
    result = pytester.runpytest("test_scope.py", "--env=echo-next,testing")
    result.assert_outcomes()
    result.stdout.fnmatch_lines(["*1 deselected*"])
    result = pytester.runpytest("test_scope.py", "--env=all", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_tag_envs_only[[]production] PASSED*"])


def test_app_and_gitops_refs_follow_the_roles_not_the_names(
        suite: tuple[pytest.Pytester, Path]) -> None:
    pytester, env_file = suite
    text = env_file.read_text().replace("  app:\n", "  monorepo:\n", 1)
    text = text.replace("source: app", "source: monorepo").replace("  gitops:\n", "  deploy:\n", 1)
    env_file.write_text(text)
    pytester.makepyfile(test_roles="""
        def test_roles(host):
            assert host.app_source == "monorepo" and host.gitops_source == "deploy"
            assert (host.ref("monorepo"), host.ref("deploy")) == ("v1.4.0", "main~1")
    """)
    result = pytester.runpytest("test_roles.py", "--env=production", "--app-ref=v1.4.0",
                                "--gitops-ref=main~1")
    result.assert_outcomes(passed=1)
