"""The one timer every benchmark uses: the median wall time of repeated runs."""

from __future__ import annotations

import statistics
import time
from typing import Callable


def median_seconds(fn: Callable[[], object], runs: int, *, warmup: bool = False) -> float:
    """Median wall-clock seconds of ``runs`` calls of fn (after one untimed call with warmup)."""
    if warmup:
        fn()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)
