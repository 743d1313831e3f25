"""Hostile git (issue 24, items 2 and 6): the demo built with one thing changed each time (the
hotfix's commit subject, its encoding, a tag named like the integration branch, a broken object),
checked as a new user runs it. The planted blockers stay exactly the ones of examples/README.md,
and a broken object is an error naming it, never "the file does not exist at that commit"."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, demo_environments
from examples import materialize
from releasegate.core.gitrepo import GitRepo, Unreadable
from test_demo import PLANTED_GIT_ONLY

HOTFIX = "fix(auth): retry token refresh on clock skew"


def _estate(dest: Path, subject: str | None = None, raw: bytes | None = None,
            encoding: bytes | None = None) -> Path:
    """The demo's two repositories under dest, the hotfix commit's subject replaced: as text
    (through git commit), or as raw bytes with an optional `encoding` header, written with
    git hash-object (git commit would convert a message that is not UTF-8)."""
    steps = tuple(dataclasses.replace(s, message=subject) if subject and s.tag == "v1.4.1" else s
                  for s in materialize.APP_STEPS)
    materialize.build(dest / "app", "app", steps)
    if raw is not None:
        _rewrite_hotfix(dest / "app", raw, encoding)
    materialize.build(dest / "gitops", "gitops", materialize.GITOPS_STEPS,
                      materialize.placeholders(dest / "app"))
    return dest


def _rewrite_hotfix(app: Path, message: bytes, encoding: bytes | None) -> None:
    def git(*args: str, data: bytes | None = None) -> bytes:
        return subprocess.run(["git", "-C", str(app), *args], input=data, capture_output=True,
                              check=True).stdout
    header, _, _ = git("cat-file", "commit", "v1.4.1^{commit}").partition(b"\n\n")
    if encoding:
        header += b"\nencoding " + encoding
    new = git("hash-object", "-t", "commit", "-w", "--stdin",
              data=header + b"\n\n" + message + b"\n").decode().strip()
    git("tag", "-f", "-a", "v1.4.1", "-m", "Release v1.4.1", new)
    git("branch", "-f", "hotfix/1.4.1", new)


def _prerelease(tmp_path: Path, estate: Path) -> tuple[subprocess.CompletedProcess[str],
                                                        dict[str, list[str]]]:
    env_file = tmp_path / "environments.yaml"
    env_file.write_text(demo_environments(estate))
    report = tmp_path / "run.json"
    clean = {k: v for k, v in os.environ.items()
             if k != "PYTEST_DISABLE_PLUGIN_AUTOLOAD" and not k.startswith(("RELEASEGATE_DEMO_",
                                                                            "DEMO_"))}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "prerelease", "--env=production",
         f"--environments={env_file}", f"--report-json={report}", "-p", "no:cacheprovider"],
        cwd=ROOT, env=clean, capture_output=True, text=True, timeout=300)
    failed: dict[str, list[str]] = {}
    for record in json.loads(report.read_text())["records"]:
        if record["outcome"] in ("failed", "error"):
            failed.setdefault(record["nodeid"].split("::", 1)[1], []).append(record["message"])
    return result, failed


@pytest.mark.parametrize("subject, shown", [
    (f"fix(auth):\x1fretry token refresh\x1fon clock skew", "retry token refresh"),
    (f"\x1b[2K\x1b[1Gfix(auth): retry token refresh \x1b[32mOK\x1b[0m", "retry token refresh"),
])
def test_control_characters_in_a_subject_keep_the_hotfix_blocker(
        tmp_path: Path, subject: str, shown: str) -> None:
    """0x1f was the suite's own field separator: the hotfix's record was dropped, and with it the
    blocker. Fields are NUL-separated now (git log -z, %x00)."""
    result, failed = _prerelease(tmp_path, _estate(tmp_path / "estate", subject))
    assert result.returncode == 1, result.stdout[-3000:]
    assert set(failed) == PLANTED_GIT_ONLY, result.stdout[-3000:]
    [message] = failed["test_hotfix_commits_on_main[production]"]
    assert shown in message and "are not on main" in message
    assert "Traceback" not in result.stdout


@pytest.mark.parametrize("raw, encoding, subject", [
    (b"fix(auth): r\xe9essayer le jeton (d\xe9calage)", b"ISO-8859-1",
     "fix(auth): réessayer le jeton (décalage)"),
    (b"fix(auth): retry \xff\xfe token refresh", None, "fix(auth): retry \ufffd\ufffd token refresh"),
    (b"fix(auth): retry \xff\xfe token refresh", b"x-unknown",
     "fix(auth): retry \ufffd\ufffd token refresh"),
])
def test_a_subject_that_is_not_utf8_reads_as_written_not_a_crash(
        tmp_path: Path, raw: bytes, encoding: bytes | None, subject: str) -> None:
    """The commit's `encoding` header says how its message is written: git log --encoding=UTF-8
    re-encodes it; bytes that are still not UTF-8 (no header, or one git cannot convert from) are
    replaced. Before, the unknown encoding's bytes crashed the check (UnicodeDecodeError)."""
    estate = _estate(tmp_path / "estate", raw=raw, encoding=encoding)
    assert GitRepo(estate / "app").log("v1.4.0..v1.4.1")[0].subject == subject
    result, failed = _prerelease(tmp_path, estate)
    assert result.returncode == 1, result.stdout[-3000:]
    assert set(failed) == PLANTED_GIT_ONLY, result.stdout[-3000:]
    assert subject in failed["test_hotfix_commits_on_main[production]"][0]
    assert "Traceback" not in result.stdout


def test_a_tag_named_main_is_not_read_for_the_branch(tmp_path: Path) -> None:
    """git itself reads a bare `main` as refs/tags/main before refs/heads/main; the suite names
    refs in full, so a tag on the oldest commit changes nothing."""
    estate = _estate(tmp_path / "estate")
    subprocess.run(["git", "-C", str(estate / "app"), "tag", "main", "v1.3.0^{commit}"], check=True)
    app = GitRepo(estate / "app")
    assert app.name_of("main") == "refs/heads/main"
    assert app.rev_parse("main") == app.rev_parse("refs/heads/main") != app.rev_parse("refs/tags/main")
    assert app.name_of("v1.4.1") == "refs/tags/v1.4.1"
    result, failed = _prerelease(tmp_path, estate)
    assert result.returncode == 1, result.stdout[-3000:]
    assert set(failed) == PLANTED_GIT_ONLY, result.stdout[-3000:]


@pytest.mark.parametrize("damage", ["delete", "corrupt"])
def test_a_broken_settings_blob_is_an_error_naming_it_not_absent(tmp_path: Path,
                                                                 damage: str) -> None:
    """Before: the unreadable settings file at the candidate was taken for "does not exist at that
    commit", and its checks skipped quietly. git ls-tree lists it: it is there and broken."""
    estate = _estate(tmp_path / "estate")
    app = GitRepo(estate / "app")
    oid = app.object_at("main", "server/app/settings.py")[0]
    loose = estate / "app/.git/objects" / oid[:2] / oid[2:]
    loose.chmod(0o644)
    if damage == "delete":
        loose.unlink()
    else:
        loose.write_bytes(b"not zlib")
    app = GitRepo(estate / "app")
    with pytest.raises(Unreadable) as caught:
        app.show("main", "server/app/settings.py")
    assert str(caught.value).startswith(
        f"app: server/app/settings.py at main cannot be read: blob {oid}: ")
    result, failed = _prerelease(tmp_path, estate)
    assert result.returncode == 1, result.stdout[-3000:]
    named = [m for messages in failed.values() for m in messages if oid in m]
    assert named, result.stdout[-3000:]
    assert all("\n" not in m for m in named)
    assert "server/app/settings.py does not exist at" not in result.stdout
    assert "test_hotfix_commits_on_main[production]" in failed
    assert "Traceback" not in result.stdout


def test_refs_are_read_by_their_full_name_branch_before_tag(tmp_path: Path) -> None:
    """git's own order for a bare name (gitrevisions(7): refs/NAME, refs/tags/NAME,
    refs/heads/NAME, refs/remotes/NAME, ...) reads a tag before the branch; the suite asks for
    the branch, then a remote-tracking branch (origin first), then the tag, by full name."""
    repo = tmp_path / "repo"
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, capture_output=True)

    repo.mkdir()
    git("init", "-q", "-b", "main")
    for n in range(3):
        git("commit", "-q", "--allow-empty", "-m", f"c{n}")
    git("tag", "main", "HEAD~2")
    git("update-ref", "refs/remotes/origin/feature", "HEAD~1")
    git("update-ref", "refs/remotes/upstream/feature", "HEAD")
    git("update-ref", "refs/remotes/upstream/only", "HEAD")
    git("tag", "feature", "HEAD~2")
    read = GitRepo(repo)
    assert {ref: read.name_of(ref) for ref in (
        "main", "main~1", "feature", "only", "upstream/only", "HEAD", "v9", "refs/tags/main")} == {
        "main": "refs/heads/main", "main~1": "refs/heads/main~1",
        "feature": "refs/remotes/origin/feature", "only": "refs/remotes/upstream/only",
        "upstream/only": "refs/remotes/upstream/only", "HEAD": "HEAD", "v9": "v9",
        "refs/tags/main": "refs/tags/main"}
    assert read.count("main..feature") == 0 and read.count("feature..main") == 1
    assert [c.subject for c in read.log("main~1..main")] == ["c2"]
