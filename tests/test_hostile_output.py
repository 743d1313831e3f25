"""Estate text cannot command, and redaction keeps names (issue 24).

A real git repository whose last commit message is hostile (workflow commands mid-line and on a
line of their own, ESC sequences, a Markdown heading, an image, HTML, a link) is read by a check
whose blocker quotes it; the run is a real pytest process on "GitHub Actions" (GITHUB_ACTIONS=true,
a step summary file). Its stdout is then read as the runner reads it, rule by rule from
actions/runner src/Runner.Worker/ActionCommandManager.cs (TryProcessCommand: stop-commands and its
token) and src/Runner.Common/ActionCommand.cs (TryParseV2: a line that starts with "::" after
leading white space; TryParse: "##[" anywhere in a line).
"""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from hostile_estate import clean_env, gate_command, make_estate

DSN = "postgresql://releasegate:prod@127.0.0.1:1/app"  # port 1: refused at once, loopback only
SUBJECT = ("fix: ::add-mask::prod \x1b[2J\x1b]0;pwned\x07 ##[set-output name=x;]y\n"
           "::stop-commands::abc\n"
           "  ::set-env name=A::B\n"
           "# ✅ safe\n"
           "![x](http://evil.example/x.png) <img src=x onerror=alert(1)> [link](http://evil.example)")
ENVIRONMENTS = """
version: 1
sources: {app: {path: app, main: main}}
environments:
  prod: {deploys: {branch: main}, gitops: {chart: chart}, database: {dsn_env: PROD_DSN}}
"""
CHECKS = '''
import os
import subprocess
from pathlib import Path

import pytest

from releasegate.schema.database import connect

HERE = Path(__file__).parent


@pytest.mark.prerelease
def test_a_database(host, gate):
    connect(host)  # registers the DSN's password "prod", then finds nothing listening


@pytest.mark.prerelease
def test_b_dsn(host, gate):
    gate.warn(f"{host.name} uses {os.environ['PROD_DSN']}", db_password="prod")


@pytest.mark.prerelease
def test_c_subject(host, gate):
    message = subprocess.run(["git", "-C", str(HERE / "app"), "log", "-1", "--format=%B"],
                             capture_output=True, text=True, check=True).stdout.strip()
    gate.block(f"{host.name}: hotfix not on main: {message}")
'''


def runner_commands(stdout: str, honour_stop: bool = True) -> list[tuple[str, str]]:
    """The workflow commands a GitHub runner would execute from this output, in order."""
    done: list[tuple[str, str]] = []
    stop: str | None = None
    for line in stdout.split("\n"):
        parsed = None
        trimmed = line.lstrip()
        if trimmed.startswith("::") and trimmed.find("::", 2) > 0:  # TryParseV2
            end = trimmed.find("::", 2)
            parsed = (trimmed[2:end].split(" ", 1)[0], trimmed[end + 2:])
        elif "##[" in line and "]" in line[line.index("##["):]:  # TryParse (legacy)
            start = line.index("##[") + 3
            parsed = (line[start:line.index("]", start)].split(" ", 1)[0], "")
        if parsed is None:
            continue
        name, data = parsed
        if stop is not None and honour_stop:
            if name.lower() == stop.lower():
                stop = None
                done.append(("resume", name))
            continue
        if name == "stop-commands":
            stop = data
        done.append((name, data))
    return done


@pytest.fixture
def github_run(tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One prerelease run of the hostile estate as on GitHub Actions, with every report."""
    estate = make_estate(tmp_path, ENVIRONMENTS, CHECKS, message=SUBJECT)
    env = clean_env(GITHUB_ACTIONS="true", PROD_DSN=DSN, GITHUB_WORKSPACE=str(estate),
                    GITHUB_STEP_SUMMARY=str(estate / "summary.md"))
    result = subprocess.run(
        gate_command("-rA", "-m", "prerelease", "--report-json=report.json", "--sarif=out.sarif",
                     "--drift-report=r"),
        cwd=estate, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout + result.stderr
    return result, estate


def _reports(folder: Path) -> dict[str, str]:
    names = ["report.json", "out.sarif", "summary.md", "r/drift.json", "r/drift.md",
             "r/drift.html"]
    return {name: (folder / name).read_text(encoding="utf-8") for name in names}


def test_estate_text_commands_nothing_on_the_runner(github_run):
    result, _ = github_run
    out = result.stdout
    first = out.split("\n", 1)[0]
    assert re.fullmatch(r"::stop-commands::[0-9a-f]{32}", first)
    done = runner_commands(out)
    names = [name for name, _ in done]
    # Muted from the first line; resumed only for the gate's own annotations; muted again, and
    # given back after the verdict.
    assert names == ["stop-commands", "resume", "error", "warning", "error", "stop-commands",
                     "resume"], done
    tokens = [data for name, data in done if name == "stop-commands"]
    assert done[1] == ("resume", tokens[0]) and done[-1] == ("resume", tokens[1])
    # Even a runner that ignored stop-commands would execute nothing from the estate text.
    unmuted = {name for name, _ in runner_commands(out, honour_stop=False)}
    assert unmuted == {"stop-commands", *tokens, "error", "warning"}
    error = [data for name, data in done if name == "error"][-1]
    assert error == ("prod: hotfix not on main: fix: ::add-mask::prod \\x1b[2J\\x1b]0;pwned\\x07 "
                     "##[set-output name=x;]y ::stop-commands::abc ::set-env name=A::B # ✅ safe "
                     "![x](http://evil.example/x.png) <img src=x onerror=alert(1)> "
                     "[link](http://evil.example)")


def test_control_characters_are_escaped_everywhere(github_run):
    result, folder = github_run
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "\\x1b[2J\\x1b]0;pwned\\x07" in result.stdout
    for name, text in _reports(folder).items():
        assert "\x1b" not in text and "\\u001b" not in text and "\x07" not in text, name
        assert "\\x1b[2J" in text, name


def test_markdown_and_html_from_the_estate_render_as_text(github_run):
    _, folder = github_run
    for name in ("summary.md", "r/drift.md"):
        text = (folder / name).read_text(encoding="utf-8")
        outside = re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "CODE", text)  # code spans removed
        outside = re.sub(r"<!-- releasegate run [0-9TZ]+-[0-9a-f]+ -->\n$", "", outside)
        assert "safe" not in outside.replace("safe to release", ""), name
        for markup in ("![", "](", "<img", "<", "http://"):
            assert markup not in outside, (name, markup)
        assert not any(line.startswith("# ") for line in text.splitlines()), name
    summary = (folder / "summary.md").read_text(encoding="utf-8").splitlines()
    assert summary[0] == ("### ❌ releasegate: prod is NOT safe to release: 1 blocker, "
                          "1 error (a service could not be checked), 1 warning")
    assert summary[4] == (
        "- **blocker** `test_c_subject[prod]`: `prod: hotfix not on main: fix: ::add-mask::prod "
        "\\x1b[2J\\x1b]0;pwned\\x07 ##[set-output name=x;]y ::stop-commands::abc ::set-env "
        "name=A::B # ✅ safe ![x](http://evil.example/x.png) <img src=x onerror=alert(1)> "
        "[link](http://evil.example)`")
    page = (folder / "r" / "drift.html").read_text(encoding="utf-8")
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def test_a_password_equal_to_the_environment_name_keeps_the_name_and_never_shows(github_run):
    result, folder = github_run
    last = result.stdout.rstrip().splitlines()[-2]  # the verdict, then the runner's resume line
    assert last == ("releasegate: prod is NOT safe to release: 1 blocker, 1 error (a service "
                    "could not be checked), 1 warning")
    assert "***" not in last and "test_c_subject[prod]" in result.stdout
    for text in [result.stdout, result.stderr, *_reports(folder).values()]:
        assert "releasegate:prod@" not in text  # the password where it stands: masked
    assert "prod uses postgresql://releasegate:***@127.0.0.1:1/app" in result.stdout
    report = json.loads((folder / "report.json").read_text())
    assert {r["environment"] for r in report["records"]} == {"prod"}
    warning = next(r for r in report["records"] if r["check"] == "test_b_dsn")
    assert warning["details"]["db_password"] == "***"
    assert report["verdict"]["sentence"] == last
    assert json.loads((folder / "r" / "drift.json").read_text())["run"]["envs"] == ["prod"]


class _Writer:
    """A terminal writer's surface as the guard uses it (pytest's TerminalWriter.write)."""

    def __init__(self, hasmarkup: bool = False) -> None:
        self.hasmarkup, self.out = hasmarkup, []

    def write(self, msg: str, **markup: object) -> None:
        self.out.append(msg)


@pytest.mark.parametrize(("chunks", "expected"), [
    # a command on a line of its own, after white space, split over writes, or legacy mid-line
    (["E   x\n", "::add-mask::prod\n"], "E   x\n:\u200b:add-mask::prod\n"),
    (["  ", ":", ":stop-commands::t\n"], "  :\u200b:stop-commands::t\n"),
    (["ok ##[set-output name=a]b\n"], "ok #\u200b#[set-output name=a]b\n"),
    (["test_x.py::test_y PASSED\n"], "test_x.py::test_y PASSED\n"),  # mid-line "::" is no command
    (["\x1b[1A\x1b[2Kerased\r\n"], "\\x1b[1A\\x1b[2Kerased\\x0d\n"),
])
def test_the_guard_makes_every_line_inert(chunks, expected):
    from releasegate.stdout_guard import Guard

    writer = _Writer()
    guard = Guard(writer, github=True)
    for chunk in chunks:
        writer.write(chunk)
    assert "".join(writer.out) == expected
    assert guard.original is not None


def test_the_guard_keeps_its_own_colours_but_no_other_sequence():
    from releasegate.stdout_guard import Guard

    writer = _Writer(hasmarkup=True)
    Guard(writer, github=False)
    writer.write("\x1b[31mred\x1b[0m \x1b]0;title\x07 \x1b[2J")
    assert writer.out == ["\x1b[31mred\x1b[0m \\x1b]0;title\\x07 \\x1b[2J"]


def test_redaction_masks_a_weak_secret_only_where_it_stands():
    from releasegate.core import redact

    redact.register_names(["staging-eu"])
    for weak in ("staging-eu", "short1"):
        redact.register_secret(weak)
    text = "staging-eu: postgresql://u:short1@db/x password=staging-eu short1"
    assert redact.redact(text) == "staging-eu: postgresql://u:***@db/x password=*** short1"
    assert redact.redact_obj({"environment": "staging-eu", "details": {"password": "short1"}}) == \
        {"environment": "staging-eu", "details": {"password": "***"}}
    redact.register_secret("a-long-enough-secret")
    assert redact.redact("x a-long-enough-secret y") == "x *** y"
