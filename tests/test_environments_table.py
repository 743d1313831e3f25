"""Hostile input, as a table: every malformed environments file and every bad option value is one
usage error (exit 4) naming file, line and key exactly, and no traceback anywhere (issue 13)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import demo_environments

CHECK = """
def test_env(host):
    assert host.name
"""

SUB = "      directus: {path: /server/ping, expect_body: pong}\n"
RESOLVE = '    dashboard.testing.demo.test: "127.0.0.11:${RELEASEGATE_DEMO_HTTPS_PORT}"'
MIRROR = '    registry.demo.test: "${RELEASEGATE_DEMO_REGISTRY}"'
REASON = "reason: defaults to eu in the settings; set explicitly next cycle"

# (id, text replaced, replacement, a text on the expected line (None: no line), key, problem)
FILES = [
    ("subdomain-empty-label", SUB, '      "a..b": {}\n', '"a..b"', "environments.testing.subdomains",
     "key 'a..b' is not a host name (Empty Label)"),
    ("subdomain-path", SUB, '      "../../etc": {}\n', '"../../etc"', "environments.testing.subdomains",
     "key '../../etc' is not a host name (Empty Label)"),
    ("subdomain-underscore", RESOLVE, RESOLVE.replace("dashboard.", "dash_board."), "dash_board",
     "network.resolve", "key 'dash_board.testing.demo.test' is not a host name (Codepoint U+005F at "
     "position 5 of 'dash_board' not allowed)"),
    ("domain-empty-label", "domain: testing.demo.test", "domain: testing..demo.test", "testing..demo",
     "environments.testing.domain", "'testing..demo.test' is not a host name (Empty Label)"),
    ("domain-hyphen", "domain: testing.demo.test", 'domain: "-t.demo.test"', "-t.demo",
     "environments.testing.domain",
     "'-t.demo.test' is not a host name (Label must not start or end with a hyphen)"),
    ("domain-number", "domain: testing.demo.test", "domain: 42", "domain: 42",
     "environments.testing.domain", "expected a string, got int 42"),
    ("version-subdomain", "version: {subdomain: api,", 'version: {subdomain: "a..b",', '"a..b"',
     "environments.echo-next.version.subdomain", "'a..b' is not a host name (Empty Label)"),
    ("skip-host", "skip: [docker.io]", 'skip: ["docker..io"]', "docker..io", "registries.skip[0]",
     "'docker..io' is not a host name (Empty Label)"),
    ("mirror-port", MIRROR, MIRROR.replace("registry.demo.test:", '"registry.demo.test:x":'),
     "registry.demo.test:x", "registries.mirrors",
     "key 'registry.demo.test:x': the port must be a number from 1 to 65535"),
    ("mirror-scheme", '"${RELEASEGATE_DEMO_REGISTRY}"', '"ftp://registry"', "ftp://",
     "registries.mirrors.registry.demo.test", "expected an http(s) URL such as https://127.0.0.1:5443"),
    ("resolve-port", "127.0.0.11:${RELEASEGATE_DEMO_HTTPS_PORT}", "127.0.0.11:99999", "99999",
     "network.resolve.dashboard.testing.demo.test",
     "'127.0.0.11:99999': the port must be a number from 1 to 65535"),
    ("resolve-address", "127.0.0.11:${RELEASEGATE_DEMO_HTTPS_PORT}", "bad host:1", "bad host",
     "network.resolve.dashboard.testing.demo.test", "'bad host' is not a host name (Codepoint "
     "U+0020 at position 4 of 'bad host' not allowed)"),
    ("impossible-date", "expires: 2027-03-31", "expires: 2027-02-30", "expires:", "waivers[0].expires",
     "expected a date YYYY-MM-DD, got str '2027-02-30' (day is out of range for month)"),
    ("not-a-date", "expires: 2027-03-31", "expires: soon", "expires:", "waivers[0].expires",
     "expected a date YYYY-MM-DD, got str 'soon'"),
    ("timeout-nan", "timeout_s: 5", "timeout_s: .nan", "timeout_s", "network.timeout_s",
     "expected a finite number, got float nan"),
    ("timeout-inf", "timeout_s: 5", "timeout_s: .inf", "timeout_s", "network.timeout_s",
     "expected a finite number, got float inf"),
    ("timeout-huge", "timeout_s: 5", "timeout_s: 1e308", "timeout_s", "network.timeout_s",
     "expected a number <= 3600, got float 1e+308"),
    ("timeout-zero", "timeout_s: 5", "timeout_s: 0", "timeout_s", "network.timeout_s",
     "expected a positive number, got int 0"),
    ("timeout-bool", "timeout_s: 5", "timeout_s: true", "timeout_s", "network.timeout_s",
     "expected a positive number, got bool True"),
    ("timeout-quoted", "timeout_s: 5", 'timeout_s: "5"', "timeout_s", "network.timeout_s",
     "expected a positive number, got str '5'"),
    ("retries-negative", "timeout_s: 5", "timeout_s: 5\n  retries: -3", "retries", "network.retries",
     "expected a number >= 0, got int -3"),
    ("retries-fraction", "timeout_s: 5", "timeout_s: 5\n  retries: 1.5", "retries",
     "network.retries", "expected a whole number, got float 1.5"),
    ("cert-days-overflow", "timeout_s: 5", "timeout_s: 5\n  cert_blocker_days: 1e400",
     "cert_blocker_days", "network.cert_blocker_days", "expected a finite number, got float inf"),
    ("concurrency-zero", "  platform: linux/amd64", "  concurrency: 0\n  platform: linux/amd64",
     "concurrency", "registries.concurrency", "expected a number >= 1, got int 0"),
    ("platform", "platform: linux/amd64", "platform: amd64", "platform:", "registries.platform",
     "'amd64' is not a platform like linux/amd64"),
    ("expect-json-list", "expect_json: {status: [ok, healthy]}", "expect_json: [status, ok]",
     "expect_json: [status", "environments.testing.subdomains.api.expect_json",
     "expected a mapping of JSON key to allowed value(s), got a list"),
    ("expect-json-scalar", "expect_json: {status: [ok, healthy]}", "expect_json: ok",
     "expect_json: ok", "environments.testing.subdomains.api.expect_json",
     "expected a mapping of JSON key to allowed value(s), got str 'ok'"),
    ("expect-json-nested", "expect_json: {status: [ok, healthy]}", "expect_json: {status: {a: 1}}",
     "expect_json: {status: {a", "environments.testing.subdomains.api.expect_json",
     "'status': expected a scalar or a list of scalars, got a mapping"),
    ("expect-status", "expect_body: pong}\n", "expect_body: pong, expect_status: 700}\n",
     "expect_status: 700", "environments.testing.subdomains.directus.expect_status",
     "expected a number <= 599, got int 700"),
    ("env-name-null", "  testing:\n    deploys", "  ~:\n    deploys", "  ~:", "environments",
     "key expected a name (letters, digits, '.', '_', '-'; up to 63), got nothing "
     "(~ is YAML for nothing)"),
    ("env-name-comma", "  testing:\n    deploys", '  "a,b":\n    deploys', '"a,b"', "environments",
     "key expected a name (letters, digits, '.', '_', '-'; up to 63), got str 'a,b'"),
    ("unclosed-variable", '"${RELEASEGATE_DEMO_REGISTRY}"', '"${RELEASEGATE_DEMO_REGISTRY"',
     "${RELEASEGATE_DEMO_REGISTRY", "registries.mirrors.registry.demo.test",
     "'${RELEASEGATE_DEMO_REGISTRY' is not a variable: write ${NAME} or ${NAME:-default} "
     "(NAME: letters, digits, _)"),
    ("version-2", "version: 1", "version: 2", "version: 2", "version",
     "unsupported version 2 (supported: 1)"),
    ("version-bool", "version: 1", "version: true", "version: true", "version",
     "unsupported version True (supported: 1)"),
    ("branch-range", "deploys: {branch: testing}", "deploys: {branch: main..testing}",
     "main..testing", "environments.testing.deploys.branch",
     "'main..testing' is not a branch name (git check-ref-format)"),
    ("branch-and-tag", "deploys: {branch: testing}", "deploys: {branch: testing, tag: v1}",
     "tag: v1", "environments.testing.deploys", "give exactly one of branch or tag"),
    ("deploys-scalar", "deploys: {branch: testing}", "deploys: testing", "deploys: testing",
     "environments.testing.deploys", "expected a mapping, got str 'testing'"),
    ("namespace", "namespace: app-testing", "namespace: App_Testing", "App_Testing",
     "environments.testing.kubernetes.namespace",
     "'App_Testing' is not a DNS label (lower-case letters, digits, '-'; up to 63)"),
    ("dsn-env", "dsn_env: DEMO_TESTING_DATABASE_URL", "dsn_env: postgres://x", "postgres://x",
     "environments.testing.database.dsn_env",
     "'postgres://x' is not an environment variable name (letters, digits, _)"),
    ("dsn-in-place-of-a-variable", "dsn_env: DEMO_TESTING_DATABASE_URL",
     "dsn_env: postgresql://app:hunter2@db/app", "hunter2", "environments.testing.database.dsn_env",
     "'postgresql://app:***@db/app' is not an environment variable name (letters, digits, _)"),
    ("release-name", "release: app-next", "release: App Next", "App Next",
     "environments.echo-next.gitops.release",
     "'App Next' is not a Helm release name (lower-case DNS name, up to 53)"),
    ("path-escapes", "path: directus/sync/snapshot", "path: ../../etc", "../../etc", "snapshot.path",
     "'../../etc' must be a path inside the source (relative, no '..')"),
    ("path-absolute", "path: server/app/settings.py", "path: /etc/passwd", "/etc/passwd",
     "settings[0].path", "'/etc/passwd' must be a path inside the source (relative, no '..')"),
    ("settings-kind", "kind: pydantic-settings", "kind: dynaconf", "dynaconf", "settings[0].kind",
     "unsupported kind 'dynaconf' (supported: pydantic-settings)"),
    ("container-name", "containers: [api,", "containers: [API,", "[API,",
     "settings[0].containers[0]",
     "'API' is not a DNS label (lower-case letters, digits, '-'; up to 63)"),
    ("unique-string", "unique: true", 'unique: "yes"', "unique:",
     "database_requirements.indexes[0].unique", "expected true or false, got str 'yes'"),
    ("unknown-source", "  - kind: pydantic-settings\n    source: app",
     "  - kind: pydantic-settings\n    source: nope", "source: nope", "settings[0].source",
     "unknown source 'nope' (known: app, gitops)"),
    ("name-is-not-a-key", "  app:\n    path", "  app:\n    name: x\n    path", "name: x",
     "sources.app.name", "unknown key (valid keys: create, images, main, path, release_tags, web_url)"),
    ("source-images-tagged", '    release_tags: "v*.*.*"\n',
     '    release_tags: "v*.*.*"\n    images: [registry.demo.test/app/api:v1]\n', "images:",
     "sources.app.images", "'registry.demo.test/app/api:v1': name the image repository without a tag or digest"),
    ("source-images-invalid", '    release_tags: "v*.*.*"\n',
     '    release_tags: "v*.*.*"\n    images: [registry.demo.test/App]\n', "images:",
     "sources.app.images", "'registry.demo.test/App' is no image repository: repository name must be lowercase"),
    ("settings-mapping", "settings:\n  - kind", "settings: {}\nunused:\n  - kind", "settings: {}",
     "settings", "expected a list, got a mapping"),
    ("no-environments", "environments:\n", "environments: {}\nunused:\n", "environments: {}",
     "environments", "expected a mapping of at least one environment"),
    ("network-list", "network:\n", "network: [1]\nunused:\n", "network: [1]", "network",
     "expected a mapping, got a list"),
    ("reason-empty", REASON, "reason:", "reason:", "waivers[0].reason",
     "expected a string, got nothing"),
    ("staging-unknown", "staging: echo-next", "staging: staging", "staging: staging",
     "feature_flags.staging", "unknown environment 'staging' (known: testing, echo-next, production)"),
    ("url-path-space", "{path: /api/health,", '{path: "/api health",', "/api health",
     "environments.testing.subdomains.api.path",
     "'/api health' is not a URL path (no spaces or control characters)"),
    ("duplicate-key", "  kind: directus", "  kind: directus\n  kind: prisma", "kind: prisma", "",
     "YAML error: found duplicate key \"kind\" with value \"prisma\" (original value: \"directus\")"),
]


def _run(pytester: pytest.Pytester, env_file: Path, *args: str) -> pytest.RunResult:
    pytester.makeconftest('pytest_plugins = ["releasegate.plugin"]')
    pytester.makepyfile(test_checks=CHECK)
    return pytester.runpytest(f"--environments={env_file}", "-p", "no:cacheprovider", *args)


def _usage_error(result: pytest.RunResult, message: str) -> None:
    """Exit 4, the message as one whole line of stderr, no traceback anywhere."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stderr.str()
    assert message in result.stderr.lines, result.stderr.str()
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert "hunter2" not in result.stdout.str() + result.stderr.str()  # the one canary password


@pytest.mark.parametrize(("case", "old", "new", "needle", "key", "problem"), FILES,
                         ids=[case[0] for case in FILES])
def test_malformed_file(pytester: pytest.Pytester, demo_repos: Path, case: str, old: str, new: str,
                        needle: str | None, key: str, problem: str) -> None:
    text = demo_environments(demo_repos)
    assert old in text, case
    bad = text.replace(old, new, 1)
    env_file = pytester.path / "bad.yaml"
    env_file.write_text(bad)
    where = str(env_file)
    if needle is not None:
        where += f":{next(i for i, line in enumerate(bad.splitlines(), 1) if needle in line)}"
    _usage_error(_run(pytester, env_file), f"ERROR: environments file: {where}: "
                                           + (f"{key}: {problem}" if key else problem))


def _bomb(path: Path) -> None:
    lines = ["version: 1", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
    path.write_text("\n".join(lines) + "\n")


# (id, how to make the file, message after "ERROR: environments file: <path>")
WHOLE_FILES = [
    ("not-utf8", lambda p: p.write_bytes(b"version: 1\nsources:\n  app: {path: \xff\xfe}\n"),
     ":3: is not UTF-8 text (byte 0xff at column 15)"),
    ("symlink-loop", lambda p: p.symlink_to(p), ": is a symlink loop"),
    ("dangling-symlink", lambda p: p.symlink_to(p.parent / "nowhere.yaml"),
     ": environments file not found"),  # named by its target: see below
    ("a-folder", lambda p: p.mkdir(), ": is a folder, not an environments file"),
    ("six-megabytes", lambda p: p.write_bytes(b"# padding\n" * 600_000),
     ": is 6000000 bytes: an environments file is at most 2048000 bytes "
     "(the limit grows with --max-environments)"),
    ("sixty-megabytes-sparse", lambda p: os.truncate(p.open("wb").name, 60_000_000),
     ": is 60000000 bytes: an environments file is at most 2048000 bytes "
     "(the limit grows with --max-environments)"),
    ("empty", lambda p: p.write_text("# nothing here\n"), ":1: the file is empty"),
    ("a-list", lambda p: p.write_text("- version: 1\n"), ":1: expected a mapping of keys, got a list"),
    ("alias-bomb", _bomb, ":6: expands to more than 100000 values through repeated aliases (an alias bomb)"),
    ("recursive-alias", lambda p: p.write_text("version: 1\na: &r [x, *r]\n"),
     ":2: an alias refers to the anchor that contains it (a recursive alias)"),
    ("deep-nesting", lambda p: p.write_text("version: " + "[" * 100_000 + "]" * 100_000 + "\n"),
     ": YAML error: RecursionError: nested too deeply"),
    ("control-character", lambda p: p.write_text("version: 1\nsources: \x07\n"),
     ": YAML error: unacceptable character #x0007: special characters are not allowed"),
]


@pytest.mark.parametrize(("case", "make", "message"), WHOLE_FILES, ids=[c[0] for c in WHOLE_FILES])
def test_unusable_file(pytester: pytest.Pytester, case: str, make, message: str) -> None:
    env_file = pytester.path / "envs.yaml"
    make(env_file)
    named = env_file.parent / "nowhere.yaml" if case == "dangling-symlink" else env_file
    _usage_error(_run(pytester, env_file), f"ERROR: environments file: {named}{message}")


def test_a_file_that_fails_to_read(pytester: pytest.Pytester) -> None:
    """A regular file whose read fails (here /proc/self/mem: EIO at offset 0) is one usage error."""
    mem = Path(f"/proc/{os.getpid()}/mem")  # pytester runs in this process
    _usage_error(_run(pytester, mem),
                 f"ERROR: environments file: {mem}: cannot be read (Input/output error)")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file of any mode")
def test_an_unreadable_file(pytester: pytest.Pytester, demo_env_file: Path) -> None:
    demo_env_file.chmod(0)
    _usage_error(_run(pytester, demo_env_file),
                 f"ERROR: environments file: {demo_env_file}: cannot be read (Permission denied)")


TIMEOUT = "is not a number of seconds > 0 and <= 3600"
NAME = "(letters, digits, '.', '_', '-')"
OPTIONS = [
    ("--timeout-s=nan", f"--timeout-s: 'nan' {TIMEOUT}"),
    ("--timeout-s=inf", f"--timeout-s: 'inf' {TIMEOUT}"),
    ("--timeout-s=-inf", f"--timeout-s: '-inf' {TIMEOUT}"),
    ("--timeout-s=1e308", f"--timeout-s: '1e308' {TIMEOUT}"),
    ("--timeout-s=0", f"--timeout-s: '0' {TIMEOUT}"),
    ("--timeout-s=soon", f"--timeout-s: 'soon' {TIMEOUT}"),
    ("--tag=v1.\u0662.3", "--tag: 'v1.\u0662.3' is not a release tag like v1.5.0"),
    ("--tag=v\uff11.2.3", "--tag: 'v\uff11.2.3' is not a release tag like v1.5.0"),
    ("--tag=v1.2.3.4", "--tag: 'v1.2.3.4' is not a release tag like v1.5.0"),
    ("--ref=app=main..testing",
     "--ref: 'main..testing' is a range of commits; name one branch, tag or commit"),
    ("--ref=app=main...testing",
     "--ref: 'main...testing' is a range of commits; name one branch, tag or commit"),
    ("--ref=app=^main", "--ref: '^main' is a range of commits; name one branch, tag or commit"),
    ("--ref=app=", "--ref: 'app=' is not SOURCE=REF (for example app=v1.4.0)"),
    ("--ref=main", "--ref: 'main' is not SOURCE=REF (for example app=v1.4.0)"),
    ("--candidate=main..testing",
     "--candidate: 'main..testing' is a range of commits; name one branch, tag or commit"),
    ("--candidate=--output=x", "--candidate: '--output=x' is not a branch, tag or commit"),
    ("--app-ref=HEAD^@", "--app-ref: 'HEAD^@' is a range of commits; name one branch, tag or commit"),
    ("--gitops-ref=a b", "--gitops-ref: 'a b' is not a branch, tag or commit"),
    ("--max-commits-behind=\u00b2", "--max-commits-behind: '\u00b2' is not a whole number >= 0"),
    ("--max-commits-behind=-1", "--max-commits-behind: '-1' is not a whole number >= 0"),
    ("--env=all,production", "--env: 'all,production' mixes all with names; give one or the other"),
    ("--env=~", f"--env: '~' is not an environment name {NAME}"),
    ("--env=,", "--env: ',' names no environment; use NAME[,NAME...] or all"),
]


@pytest.mark.parametrize(("option", "message"), OPTIONS, ids=[o[0] for o in OPTIONS])
def test_bad_option(pytester: pytest.Pytester, demo_env_file: Path, option: str,
                    message: str) -> None:
    _usage_error(_run(pytester, demo_env_file, option), f"ERROR: {message}")


def test_missing_environments_file_named_by_the_variable(pytester: pytest.Pytester,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """RELEASEGATE_ENVIRONMENTS naming a missing file is the same one line as --environments."""
    missing = pytester.path / "missing.yaml"
    monkeypatch.setenv("RELEASEGATE_ENVIRONMENTS", str(missing))
    pytester.makeconftest('pytest_plugins = ["releasegate.plugin"]')
    pytester.makepyfile(test_checks=CHECK)
    _usage_error(pytester.runpytest("-p", "no:cacheprovider"),
                 f"ERROR: environments file: {missing}: environments file not found")
