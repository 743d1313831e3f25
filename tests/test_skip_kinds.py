"""The verdict files each "not checked" line under one kind (plugins/verdict.py _NOT_RUN): a chart
or chart dependency missing from the chart cache is "chart not in the cache", even when the line
names a registry URL (field trial D8: oci://registry-1.docker.io was filed "registry not
configured"). Rule: `helm dependency build` / `helm pull` fetch from the dependency's repository
(helm pkg/downloader/manager.go Build); with no network the suite reads only charts/ and the chart
cache (plugins/render/charts.py build_dependencies, remote_chart)."""

from __future__ import annotations

import pytest

from releasegate import verdict
from releasegate.render.charts import cache_dir

DEP = ("production: gitops:helm/app/Chart.yaml: not checked: chart helm/app depends on redis 18.1.0 "
       "from oci://registry-1.docker.io/bitnamicharts, which cannot be fetched here; vendor it (helm "
       f"dependency build, commit charts/) or put the package in the chart cache {cache_dir()} "
       "($RELEASEGATE_CHART_CACHE)")
REMOTE = ("production: argo/app.yaml: not checked: cannot fetch podinfo@6.5.0 from "
          "oci://ghcr.io/stefanprodan/charts here (no network); put it in the chart cache: helm pull "
          "podinfo --repo oci://ghcr.io/stefanprodan/charts --version 6.5.0 --destination /c")


@pytest.mark.parametrize("skips, said", [
    ([DEP] * 19 + ["x: only with --images"], "19 chart not in the cache, 1 needs an option"),
    ([REMOTE, DEP], "chart not in the cache"),
    (["production: no registry credentials for ghcr.io (registries.docker_config)"],
     "registry not configured"),
    (["production: not checked: its chart did not render (the ERROR production line names the "
      "chart)"], "chart not rendered"),
])
def test_each_skip_is_filed_under_its_kind(skips: list[str], said: str) -> None:
    assert verdict._reasons(skips) == said


def test_a_run_of_chart_cache_skips_is_not_verified() -> None:
    """Not a choice of the run: 2 of 22 checks ran is NOT VERIFIED (the D8' headline)."""
    assert verdict.unverified(2, [DEP] * 20)
