"""Reports are whole or absent (issue 24): two runs into one folder, SIGTERM mid-run, a full disk,
a baseline with wrong types or nested too deep. Each run is a real pytest process (subprocess) on a
tiny estate with a real git repository; every wait is bounded.
"""
from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from hostile_estate import clean_env, gate_command, make_estate
from releasegate.core import atomic

ENVIRONMENTS = """
version: 1
sources: {app: {path: app, main: main}}
environments:
  production: {deploys: {tag: v1.0.0}, gitops: {chart: chart}}
  testing: {deploys: {branch: main}, gitops: {chart: chart}}
"""
CHECKS = '''
import os
import time
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.mark.drift
def test_image(host, gate):
    gate.block(f"{host.name}: api:abc123 is not in the registry")


@pytest.mark.drift
def test_slow(host, gate):
    """Waits while the test holds the run (a file "hold" exists), saying it started."""
    (HERE / f"started-{host.name}").write_text(str(os.getpid()))
    deadline = time.monotonic() + 60
    while (HERE / "hold").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
'''


@pytest.fixture
def estate(tmp_path: Path) -> Path:
    """A real git repository, an environments file and two checks, in a fresh folder."""
    return make_estate(tmp_path, ENVIRONMENTS, CHECKS)


def run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """One gate run in folder, to its end (bounded)."""
    return subprocess.run(gate_command(*args), cwd=folder, env=clean_env(), capture_output=True,
                          text=True, timeout=120)


def start(folder: Path, *args: str) -> subprocess.Popen[str]:
    """A gate run in folder held inside test_slow (the "hold" file), once it has started it."""
    (folder / "hold").write_text("")
    for old in folder.glob("started-*"):
        old.unlink()
    proc = subprocess.Popen(gate_command(*args), cwd=folder, env=clean_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not list(folder.glob("started-*")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the held run never reached its slow check"
        time.sleep(0.05)
    return proc


def read(folder: Path, name: str) -> str:
    return (folder / name).read_text(encoding="utf-8")


def assert_one_complete_set(folder: Path) -> str:
    """The folder holds one complete set: the manifest matches every file, every file names the
    manifest's run; the run id is returned."""
    manifest = atomic.complete_set(folder)
    assert manifest is not None, sorted(p.name for p in folder.iterdir())
    ident = manifest["run_id"]
    assert set(manifest["files"]) == {"drift.json", "drift.md", "drift.html"}
    assert json.loads(read(folder, "drift.json"))["run"]["run_id"] == ident
    assert read(folder, "drift.md").endswith(f"<!-- releasegate run {ident} -->\n")
    assert read(folder, "drift.html").endswith(f"<!-- releasegate run {ident} -->\n")
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]
    return ident


def test_a_second_run_into_a_locked_folder_fails_at_once_naming_the_holder(estate):
    first = start(estate, "--drift-report=r")
    try:
        began = time.monotonic()
        second = run(estate, "--drift-report=r")
        assert time.monotonic() - began < 30
        assert second.returncode == pytest.ExitCode.USAGE_ERROR
        folder = estate / "r"
        assert second.stderr.strip() == (
            f"ERROR: --drift-report: {folder} is being written by another run "
            f"(pid {first.pid}); wait for it to finish or use another folder")
        assert second.stdout == ""
    finally:
        (estate / "hold").unlink()
        out, err = first.communicate(timeout=120)
    assert first.returncode == pytest.ExitCode.TESTS_FAILED, out + err
    ident = assert_one_complete_set(estate / "r")
    assert json.loads(read(estate / "r", "drift.json"))["run"]["complete"] is True
    # The lock went with its holder: the next run takes the folder and replaces the whole set.
    third = run(estate, "--drift-report=r")
    assert third.returncode == pytest.ExitCode.TESTS_FAILED, third.stdout + third.stderr
    assert assert_one_complete_set(estate / "r") != ident


def test_sigterm_mid_run_writes_every_report_with_the_verdict_interrupted(estate):
    assert run(estate, "--drift-report=r").returncode == pytest.ExitCode.TESTS_FAILED
    before = assert_one_complete_set(estate / "r")
    proc = start(estate, "--drift-report=r", "--report-json=report.json", "--sarif=out.sarif",
                 "--junitxml=junit.xml")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out + err
    ident = assert_one_complete_set(estate / "r")
    assert ident != before  # no stale drift.json from the previous run
    drift = json.loads(read(estate / "r", "drift.json"))
    assert drift["run"]["complete"] is False
    assert drift["run"]["incomplete"] == "interrupted by SIGTERM before every check ran"
    report = json.loads(read(estate, "report.json"))
    assert report["run"]["run_id"] == ident
    assert report["verdict"]["verdict"] == "interrupted" and report["verdict"]["safe"] is False
    assert report["verdict"]["sentence"].startswith(
        "releasegate: interrupted (SIGTERM): production, testing were not fully checked")
    assert out.rstrip().splitlines()[-1] == report["verdict"]["sentence"]
    sarif = json.loads(read(estate, "out.sarif"))
    assert sarif["runs"][0]["properties"] == {"releasegate_run_id": ident}
    assert f'<property name="releasegate_run_id" value="{ident}" />' in read(estate, "junit.xml")
    assert "Traceback" not in err


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 256 KiB tmpfs (real ENOSPC from the kernel); skipped where mounting is not allowed."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                          capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill up ({done.stderr.strip()}): run as root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], timeout=30)


def _fill(mount: Path) -> Path:
    """Take every free byte of the file system."""
    filler = mount / "filler"
    with open(filler, "wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 512)
        except OSError:
            pass
    return filler


def test_a_full_disk_keeps_the_previous_complete_set_and_says_so(estate, small_disk):
    folder = small_disk / "r"
    assert run(estate, f"--drift-report={folder}").returncode == pytest.ExitCode.TESTS_FAILED
    before = assert_one_complete_set(folder)
    old = {name: read(folder, name) for name in ("drift.json", "drift.md", "drift.html")}
    filler = _fill(small_disk)
    full = run(estate, f"--drift-report={folder}")
    assert full.returncode == pytest.ExitCode.INTERNAL_ERROR, full.stdout + full.stderr
    assert (f"not written: writing into {folder} failed: No space left on device; nothing was "
            "replaced, it keeps the previous complete report") in full.stdout.splitlines()
    assert assert_one_complete_set(folder) == before
    assert {name: read(folder, name) for name in old} == old
    filler.unlink()  # room again: the next run replaces the whole set
    assert run(estate, f"--drift-report={folder}").returncode == pytest.ExitCode.TESTS_FAILED
    assert assert_one_complete_set(folder) != before


def test_a_baseline_with_a_wrong_type_stops_the_run_at_start_naming_the_value(estate):
    assert run(estate, "--drift-report=r").returncode == pytest.ExitCode.TESTS_FAILED
    doc = json.loads(read(estate / "r", "drift.json"))
    doc["findings"][0]["first_seen"] = 5
    (estate / "bad.json").write_text(json.dumps(doc))
    result = run(estate, "--drift-report=r2", "--drift-baseline=bad.json")
    assert result.returncode == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.strip() == (
        f"ERROR: --drift-baseline: {estate / 'bad.json'}: $.findings[0].first_seen: 5 is not of "
        "type 'string' (not a drift report this version wrote)")
    assert result.stdout == "" and not (estate / "r2" / "drift.json").exists()


@pytest.mark.parametrize("depth", [40, 100_000])
def test_a_deeply_nested_baseline_is_a_usage_error_not_an_internal_error(estate, depth):
    (estate / "deep.json").write_text("[" * depth + "]" * depth)
    result = run(estate, "--drift-report=r", "--drift-baseline=deep.json")
    assert result.returncode == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.strip() == (f"ERROR: --drift-baseline: {estate / 'deep.json'} nests "
                                     "deeper than 32 levels: not a drift report")
    assert "INTERNALERROR" not in result.stdout + result.stderr
