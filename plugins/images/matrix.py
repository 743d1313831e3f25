"""A job's matrix: its combinations under GitHub's include/exclude rules."""
from __future__ import annotations

import itertools
from typing import Any


def expand_matrix(matrix: Any) -> list[dict[str, Any]] | None:
    """The job's matrix combinations with GitHub's include/exclude rules; None when computed at
    run time (``${{ fromJSON(...) }}``)."""
    if matrix is None:
        return [{}]
    if not isinstance(matrix, dict):
        return None
    axes = {str(k): v for k, v in matrix.items() if k not in ("include", "exclude")}
    if any(not isinstance(v, list) for v in axes.values()):
        return None
    combos = [dict(zip(axes, values)) for values in itertools.product(*axes.values())] \
        if axes else []
    excludes = matrix.get("exclude") or []
    if not isinstance(excludes, list):
        return None
    combos = [c for c in combos if not any(
        isinstance(e, dict) and all(c.get(str(k)) == v for k, v in e.items()) for e in excludes)]
    includes = matrix.get("include") or []
    if not isinstance(includes, list):
        return None
    originals = list(combos)
    for include in includes:
        if not isinstance(include, dict):
            continue
        include = {str(k): v for k, v in include.items()}
        targets = [c for c in originals
                   if all(c.get(k) == v for k, v in include.items() if k in axes)] if axes else []
        for combo in targets:
            combo.update(include)
        if not targets:
            combos.append(dict(include))
    return combos or [{}]


class RunTimeMatrix(dict):
    """The combination of a matrix computed at run time (``fromJSON(needs...)``): nothing known."""


def job_combinations(job_id: str, job: dict, notes: list[str]) -> list[dict[str, Any]]:
    """A job's matrix combinations; one empty one (and a note) when computed at run time."""
    strategy = job.get("strategy") if isinstance(job.get("strategy"), dict) else {}
    combos = expand_matrix(strategy.get("matrix"))
    if combos is None:
        notes.append(f"job {job_id}: the matrix is computed at run time; its images are unknown")
        return [RunTimeMatrix()]
    return combos
