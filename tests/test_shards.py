"""--shard K/N, --parity-index, --max-environments and the merge of shards' reports (issue 26).

The demo estate's drift moment (static: no services) runs once whole and as 3 shard processes;
`python -m releasegate.drift.merge` joins the shards' drift reports and --report-json files, and the
merged records, verdict and drift document equal the single run's, normalised as
benchmarks/same_reports.py normalises two runs (durations and dates aside).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from same_reports import normalise  # noqa: E402

from releasegate.estate import loader  # noqa: E402
from releasegate.shards import shard_names, shard_of  # noqa: E402
from tests.conftest import demo_environments  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEMO = ("echo-next", "production", "testing")
DOC_KEYS = ("summary", "matrix", "findings", "resolved", "unchecked")


def run(*args: str, env_file: Path, cwd: Path = ROOT, extra_env: dict | None = None,
        module: str = "pytest") -> subprocess.CompletedProcess:
    """One child process of the suite (pytest, or a module's command line) on env_file."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "RELEASEGATE_", "JOB_COMPLETION_INDEX"))}
    env.update(extra_env or {}, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", PYTHONDONTWRITEBYTECODE="1")
    if module == "pytest":
        cmd = [sys.executable, "-m", "pytest", "-m", "drift", "--env=all", "--static", "-q",
               "-p", "no:cacheprovider", f"--environments={env_file}", *args]
    else:
        cmd = [sys.executable, "-m", module, *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=300)


def drift(folder: Path) -> dict:
    return json.loads((folder / "drift.json").read_text())


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory, demo_repos: Path) -> Path:
    """The demo's environments file, beside the reports of this module's runs."""
    folder = tmp_path_factory.mktemp("shards")
    (folder / "environments.yaml").write_text(demo_environments(demo_repos))
    return folder / "environments.yaml"


@pytest.fixture(scope="module")
def single(demo_file: Path) -> Path:
    """The demo's drift moment as one run: its reports' folder."""
    out = demo_file.parent / "single"
    done = run(f"--drift-report={out}", f"--report-json={out}.json", env_file=demo_file)
    assert done.returncode == 1, done.stdout[-2000:]
    return out


@pytest.fixture(scope="module")
def shards(demo_file: Path) -> list[Path]:
    """The same moment as 3 shards of run `t1`: their reports' folders."""
    outs = []
    for k in (1, 2, 3):
        out = demo_file.parent / f"shard{k}"
        done = run(f"--drift-report={out}", f"--report-json={out}.json", f"--shard={k}/3",
                   "--shard-run=t1", env_file=demo_file)
        assert done.returncode in (0, 1), done.stdout[-2000:] + done.stderr[-2000:]
        assert f"shard {k}/3, run t1" in done.stdout
        outs.append(out)
    return outs


def test_the_shard_of_an_environment_is_its_name_s_alone():
    """sha256 of the name mod N: the same on every machine, whatever else the estate holds."""
    assert [shard_of(name, 3) for name in DEMO] == [1, 2, 1]
    assert shard_names(["production", *DEMO], (2, 3)) == ["production", "production"]
    names = [f"customer-{i:04d}" for i in range(1000)]
    parts = [shard_names(names, (k, 4)) for k in range(1, 5)]
    assert sorted(n for part in parts for n in part) == names  # each once
    assert all(200 < len(part) < 300 for part in parts)         # about a quarter each


def test_merged_shards_equal_one_run(single: Path, shards: list[Path], demo_file: Path):
    merged = demo_file.parent / "merged"
    done = run(str(merged), *map(str, shards), env_file=demo_file, module="releasegate.drift.merge")
    assert done.returncode == 1, done.stderr  # the demo's blockers
    assert "from 3 shards (run t1)" in done.stdout
    one, two = drift(single), drift(merged)
    for key in DOC_KEYS:
        assert normalise(two[key], "") == normalise(one[key], ""), key
    assert two["run"]["shard"] == {"run": "t1", "total": 3, "merged": 3}
    assert two["run"]["envs"] == one["run"]["envs"] == list(DEMO)
    assert (merged / "drift.complete.json").is_file() and "Drift report" in (
        merged / "drift.md").read_text()
    records = run("--records", f"{merged}.json", *(f"{s}.json" for s in shards),
                  env_file=demo_file, module="releasegate.drift.merge")
    assert records.returncode == 1, records.stderr
    a, b = (json.loads(Path(p).read_text()) for p in (f"{single}.json", f"{merged}.json"))
    assert normalise(b["records"], "") == normalise(a["records"], "")
    assert b["verdict"] == a["verdict"] and b["run"]["environments"] == list(DEMO)


def test_every_report_of_a_shard_names_it(shards: list[Path]):
    for k, out in enumerate(shards, start=1):
        for run_section in (drift(out)["run"], json.loads(Path(f"{out}.json").read_text())["run"]):
            assert run_section["shard"] == {"index": k, "total": 3, "run": "t1"}
            assert run_section["run_id"]
    # shard 3 of the demo holds no environment: it ran nothing, exit 0, a report all the same
    assert drift(shards[2])["run"]["envs"] == [] and drift(shards[2])["summary"]["results"] == 0


def test_the_merge_is_computed_against_the_baseline_it_is_given(single: Path,
                                                                 shards: list[Path],
                                                                 demo_file: Path):
    """New/persisting/resolved as one run against the same previous report: all persisting."""
    merged = demo_file.parent / "merged-b"
    done = run(str(merged), *map(str, shards), f"--baseline={single / 'drift.json'}",
               "--fail-on=new", env_file=demo_file, module="releasegate.drift.merge")
    assert done.returncode == 0, done.stderr  # nothing new since the baseline
    s = drift(merged)["summary"]
    assert (s["new"], s["resolved"]) == (0, 0) and s["persisting"] == s["findings"] > 0


def _shard_copy(src: Path, dest: Path, **mark) -> Path:
    """A shard's report folder with its run.shard changed (manifest rewritten to match)."""
    from releasegate.core import atomic

    doc = drift(src)
    doc["run"]["shard"].update(mark)
    dest.mkdir(parents=True)
    atomic.write_set(dest, {"drift.json": json.dumps(doc)}, "x")
    return dest


def test_shards_of_different_runs_are_refused(shards: list[Path], tmp_path: Path,
                                              demo_file: Path):
    other = _shard_copy(shards[1], tmp_path / "other", run="t2")
    cases = {
        "missing": ([shards[0], shards[2]], "merge: run t1: missing shard 2 of 3"),
        "twice": ([shards[0], shards[0], shards[1], shards[2]], "merge: shard 1/3 given twice"),
        "other run": ([shards[0], other, shards[2]],
                      "merge: shards of different runs (t1: 1/3, 3/3; t2: 2/3)"),
        "other N": ([shards[0], _shard_copy(shards[1], tmp_path / "n4", total=4), shards[2]],
                    "merge: shards of run t1 disagree on N (3, 4)"),
        "no token": ([_shard_copy(shards[0], tmp_path / "none", run=None)],
                     "has no run token: give every shard the same --shard-run ID"),
        "not a shard": ([tmp_path / "empty"], "no complete drift report"),
    }
    (tmp_path / "empty").mkdir()
    for name, (given, message) in cases.items():
        done = run(str(tmp_path / "out"), *map(str, given), env_file=demo_file,
                   module="releasegate.drift.merge")
        assert done.returncode == 4, name
        assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr, \
            (name, done.stderr)
    assert not (tmp_path / "out" / "drift.json").exists()


@pytest.mark.parametrize(("value", "message"), [
    ("0/3", "--shard: '0/3': K must be 1..N and N at most 10000"),
    ("4/3", "--shard: '4/3': K must be 1..N and N at most 10000"),
    ("one", "--shard: 'one' is not K/N (1 <= K <= N), auto or auto/N"),
    ("auto/3", "--shard auto/3: JOB_COMPLETION_INDEX is 'not set'; auto runs in a Kubernetes "
               "Indexed Job (else give K/N)"),
])
def test_a_bad_shard_is_a_usage_error_naming_the_option(value: str, message: str,
                                                        demo_file: Path):
    done = run(f"--shard={value}", env_file=demo_file)
    assert done.returncode == 4 and f"ERROR: {message}" in done.stderr.splitlines(), done.stderr


def test_shard_auto_reads_the_indexed_job_s_index(demo_file: Path, tmp_path: Path):
    """An Indexed Job's pod gets JOB_COMPLETION_INDEX (0-based); the total comes from
    $RELEASEGATE_SHARDS (https://kubernetes.io/docs/concepts/workloads/controllers/job/
    #completion-mode); --env and --shard compose."""
    done = run("--shard=auto", "--env=production,testing", f"--report-json={tmp_path}/r.json",
               env_file=demo_file, extra_env={"JOB_COMPLETION_INDEX": "0",
                                              "RELEASEGATE_SHARDS": "3",
                                              "RELEASEGATE_SHARD_RUN": "job-uid"})
    assert done.returncode == 1, done.stdout[-2000:]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["run"]["shard"] == {"index": 1, "total": 3, "run": "job-uid"}
    assert report["run"]["environments"] == ["testing"]
    assert {r["environment"] for r in report["records"]} == {"testing"}


def test_a_shard_reads_the_parity_index_instead_of_rendering_the_estate(demo_file: Path,
                                                                         shards: list[Path],
                                                                         tmp_path: Path):
    index = tmp_path / "parity-index.json"
    done = run(str(index), f"--environments={demo_file}", env_file=demo_file,
               module="releasegate.parity_index")
    assert done.returncode == 0 and "parity index of 3 environments" in done.stdout, done.stderr
    out = tmp_path / "shard2"
    done = run(f"--report-json={out}.json", "--shard=2/3", "--shard-run=t1",
               f"--parity-index={index}", env_file=demo_file)
    assert done.returncode == 1, done.stdout[-2000:]
    with_index = json.loads(Path(f"{out}.json").read_text())["records"]
    without = json.loads(Path(f"{shards[1]}.json").read_text())["records"]
    assert normalise(with_index, "") == normalise(without, "")
    assert any(r["check"] == "test_env_cross_parity" for r in with_index)
    doc = json.loads(index.read_text())
    doc["key"]["commits"]["gitops"] = "0" * 40
    index.write_text(json.dumps(doc))
    done = run("--shard=2/3", f"--parity-index={index}", env_file=demo_file)
    assert done.returncode == 4
    assert (f"ERROR: --parity-index: {index} was written for source gitops at other commits than "
            "this run checks: write it again for this run (remove it first)"
            in done.stderr.splitlines()), done.stderr


def test_the_size_caps_grow_with_max_environments(demo_file: Path):
    assert loader.limits() == (2048000, 100_000)       # default 1000 environments
    assert loader.limits(10) == (512 << 10, 100_000)   # never below the old caps
    assert loader.limits(3000) == (6144000, 300_000)
    done = run("--max-environments=2", env_file=demo_file)
    assert done.returncode == 4
    assert any(line.startswith("ERROR: environments file: ") and line.endswith(
        ": environments: 3 environments, more than 2: raise --max-environments (or ini "
        "releasegate_max_environments)") for line in done.stderr.splitlines()), done.stderr
    done = run("--max-environments=0", env_file=demo_file)
    assert done.returncode == 4 and "--max-environments: '0' is not a whole number >= 1" in done.stderr


def test_xdist_says_once_that_it_is_slower(demo_file: Path):
    done = run("-p", "xdist.plugin", "-n", "1", "--env=testing", env_file=demo_file)
    assert done.returncode == 1, done.stdout[-2000:]
    assert done.stdout.count("-n (pytest-xdist) makes this suite slower") == 1


def test_a_shard_that_stopped_early_makes_the_merge_incomplete(shards: list[Path],
                                                               tmp_path: Path, demo_file: Path):
    """Its findings stay unchecked rather than resolved, as in one run that stopped early."""
    from releasegate.core import atomic

    doc = drift(shards[1])
    doc["run"].update(complete=False, incomplete="interrupted by SIGTERM before every check ran")
    stopped = tmp_path / "stopped"
    stopped.mkdir()
    atomic.write_set(stopped, {"drift.json": json.dumps(doc)}, "x")
    merged = tmp_path / "merged"
    done = run(str(merged), str(shards[0]), str(stopped), str(shards[2]), env_file=demo_file,
               module="releasegate.drift.merge")
    assert done.returncode == 1, done.stderr
    run_section = drift(merged)["run"]
    assert run_section["complete"] is False
    assert run_section["incomplete"] == ("shard 2/3: interrupted by SIGTERM before every check "
                                         "ran")


def test_four_shards_of_a_generated_estate_merge_into_the_serial_run(shared_snapshot: Path,
                                                                    tmp_path: Path):
    """benchmarks/bench_shards.py on 30 generated environments: index + 4 shards + merges give
    the serial run's records, verdict and drift document (normalised)."""
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_shards.py"),
                           "--size=30", "--shards=4", "--parallel=2", f"--keep={tmp_path}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={k: v for k, v in os.environ.items()
                               if not k.startswith(("GITHUB_", "RELEASEGATE_"))})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "merged records equal the serial run's: yes" in done.stdout, done.stdout
    assert all(f"shard {k}/4 exit 1" in done.stdout for k in range(1, 5)), done.stdout
