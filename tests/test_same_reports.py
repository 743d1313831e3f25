"""benchmarks/same_reports.py: what the normalisation drops, and that a difference is reported."""

from __future__ import annotations

from benchmarks.same_reports import normalise, verdict

CHECKOUT = "/tmp/same-reports-x/after"


def report(message: str = "production: agent is waiting with ImagePullBackOff") -> dict:
    return {"releasegate": "0.1.0",
            "run": {"started": "2026-12-02T01:00:00+00:00", "duration_s": 12.5,
                    "environments_file": f"{CHECKOUT}/environments.yaml", "markers": "prerelease"},
            "records": [{"check": "test_workload_healthy", "message": message, "duration": 0.25,
                         "details": {"elapsed_ms": 3.1, "steps": [{"step": "dns", "ms": 0.4}]},
                         "location": {"path": f"{CHECKOUT}/examples/.estate/gitops/values.yaml"}}]}


def test_normalise_drops_only_timings_and_the_checkout_path():
    assert normalise(report(), CHECKOUT) == {
        "releasegate": "0.1.0",
        "run": {"environments_file": "<checkout>/environments.yaml", "markers": "prerelease"},
        "records": [{"check": "test_workload_healthy",
                     "message": "production: agent is waiting with ImagePullBackOff",
                     "details": {"steps": [{"step": "dns"}]},
                     "location": {"path": "<checkout>/examples/.estate/gitops/values.yaml"}}]}


def test_a_changed_message_is_a_difference_and_shown(capsys):
    same = {"exit": 1, "tail": ["1 failed"], "report": normalise(report(), CHECKOUT)}
    other = {"exit": 1, "tail": ["1 failed"], "report": normalise(report("reworded"), CHECKOUT)}
    assert verdict("smoke", same, dict(same)) is True
    assert verdict("smoke", same, other) is False
    out = capsys.readouterr().out
    assert "identical: yes" in out and "identical: NO" in out
    assert '+   "message": "reworded"' in out


def test_a_different_exit_code_is_a_difference():
    before = {"exit": 1, "tail": [], "report": normalise(report(), CHECKOUT)}
    assert verdict("prerelease", before, {**before, "exit": 0}) is False
