"""Drift report: cost of comparing with the baseline and writing drift.json/md/html, against
writing the bare records as JSON (what --report-json costs), for estates from demo size to large;
plus the time headless Chromium needs to load and lay out drift.html (--dump-dom, browser start
subtracted) to show the page stays usable.

    python benchmarks/bench_drift.py [--runs 5] [--no-browser]

Synthetic records, 15% of them findings; everything local, no network.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.timing import median_seconds  # noqa: E402
from releasegate.drift import document as dr, markdown as drift_md, page as drift_page  # noqa: E402

ENVS = ["echo-next", "production", "testing"]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]


def records(n: int, night: int) -> list[dict]:
    """n results over 3 environments and 20 checks; findings move a little from night to night."""
    out = []
    for i in range(n):
        env, check, item = ENVS[i % 3], f"test_check_{i % 20:02}", f"item-{i // 60:05}"
        broken = (i * 7 + night * (i % 5 == 0)) % 100 < 15
        out.append({"check": check, "environment": env, "item": item,
                    "outcome": "failed" if broken else "passed",
                    "severity": ("blocker" if i % 2 else "warning") if broken else None,
                    "message": f"{item} drifted in {env} (night {night})" if broken else "",
                    "details": {"expected": "a" * 20, "actual": "b" * 20} if broken else {},
                    "nodeid": f"checks/test_x.py::{check}[{env}-{item}]", "duration": 0.01})
    return out


def dump_dom_seconds(url: str, runs: int) -> float:
    """Median seconds for headless Chromium to load and render the page at url."""
    chromium = shutil.which("chromium")
    with tempfile.TemporaryDirectory() as profile:
        def load():
            subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                            "--dump-dom", url], capture_output=True, check=True, timeout=120)
        return median_seconds(load, runs)


def main() -> None:
    """Time the drift report at three sizes against the plain JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    browser = not args.no_browser and shutil.which("chromium") is not None
    meta = {"envs": ENVS, "refs": {"app": "main"}, "duration": 1.0, "version": "bench"}
    now = datetime(2026, 11, 27, 3, tzinfo=timezone.utc)
    tmp = Path(tempfile.mkdtemp(prefix="bench-drift-"))
    blank = tmp / "blank.html"
    blank.write_text("<!DOCTYPE html><title>x</title>")
    start_cost = dump_dom_seconds(blank.as_uri(), args.runs) if browser else 0.0
    print(f"{'results':>8} {'findings':>8} {'report-json':>11} {'drift (all 3)':>13} {'ratio':>6} "
          f"{'html KiB':>8} {'md lines':>8} {'chromium load':>13}")
    for n in (200, 2_000, 20_000):
        night1, night2 = records(n, 1), records(n, 2)
        baseline = json.loads(dr.to_json(dr.build(night1, meta, None, now - timedelta(days=1))))
        plain = median_seconds(lambda: json.dumps({"records": night2}, indent=2, sort_keys=True), args.runs)

        def drift():
            doc = dr.build(night2, meta, baseline, now)
            return dr.to_json(doc), drift_md.render_markdown(doc), drift_page.render(doc)

        full = median_seconds(drift, args.runs)
        text_json, text_md, text_html = drift()
        page = tmp / f"drift-{n}.html"
        page.write_text(text_html, encoding="utf-8")
        load = (dump_dom_seconds(page.as_uri(), max(1, args.runs // 2)) - start_cost
                if browser else float("nan"))
        findings = len(json.loads(text_json)["findings"])
        print(f"{n:>8} {findings:>8} {plain * 1000:>9.1f}ms {full * 1000:>11.1f}ms "
              f"{full / plain:>5.1f}x {len(text_html.encode()) / 1024:>8.0f} "
              f"{len(text_md.splitlines()):>8} {load * 1000:>11.0f}ms")
    shutil.rmtree(tmp)
    print(f"(chromium start + blank page {start_cost * 1000:.0f} ms subtracted; medians of "
          f"{args.runs} runs)")


if __name__ == "__main__":
    main()
