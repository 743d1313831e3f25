"""Reading the environments file: the demo's file, a file just under the 512 KiB cap (the demo's
plus about 6,000 network.resolve entries), and the refusal of a 6 MB and a 60 MB file (refused from
the file's size, before a byte is read).

    python benchmarks/bench_environments.py [--runs 5]

Writes its files in a temporary folder; no network.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.timing import median_seconds  # noqa: E402
from releasegate.estate.loader import MAX_BYTES, EnvironmentsError, load  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def near_cap(folder: Path) -> Path:
    """The demo's file plus resolve entries up to just under the cap."""
    text = (ROOT / "environments.yaml").read_text()
    text = text.replace("path: examples/.estate/", f"path: {ROOT}/examples/.estate/")
    head, _, tail = text.partition("  resolve:")
    lines, i = [], 0
    while len(head) + sum(map(len, lines)) + len(tail) < MAX_BYTES - 200:
        lines.append(f"    host{i}.env{i % 4000}.demo.test: \"127.0.{i // 250 % 250}.{i % 250 + 1}:8443\"\n")
        i += 1
    path = folder / "near-cap.yaml"
    path.write_text(head + "  resolve:\n" + "".join(lines) + tail.partition("\n")[2])
    return path


def refused(path: Path) -> None:
    """Loading must fail with the size usage error."""
    try:
        load(path)
    except EnvironmentsError as exc:
        assert "at most" in str(exc), exc
    else:
        raise AssertionError(f"{path} loaded")


def main() -> None:
    """Print the median time of each case."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        big = near_cap(folder)
        six, sixty = folder / "six.yaml", folder / "sixty.yaml"
        six.write_bytes(b"# padding\n" * 600_000)
        with open(sixty, "wb") as handle:
            os.truncate(handle.fileno(), 60_000_000)
        print(f"demo environments.yaml       {median_seconds(lambda: load(ROOT / 'environments.yaml'), runs, warmup=True) * 1000:8.1f} ms")
        print(f"{big.stat().st_size:>9} bytes near the cap {median_seconds(lambda: load(big), runs) * 1000:8.1f} ms")
        print(f"6 MB refused                 {median_seconds(lambda: refused(six), runs) * 1000:8.3f} ms")
        print(f"60 MB refused                {median_seconds(lambda: refused(sixty), runs) * 1000:8.3f} ms")


if __name__ == "__main__":
    main()
