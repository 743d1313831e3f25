"""Benchmark: image presence for 500 references, RegistryClient vs `skopeo inspect` per reference.

Both ask the same local docker-registry (htpasswd over TLS, on loopback) about the same
references, in the same run: 50 repositories x 10 tags, one in ten an OCI index, 4% missing.

    python benchmarks/bench_registry.py [--refs 500] [--skopeo-sample 100] [--no-skopeo]

skopeo runs one process per reference; to keep the run under two minutes it inspects an evenly
spread sample (every 5th reference by default; --skopeo-sample 0 for all) and the table compares
per-reference rates (refs/s), all measured in the same run against the same registry.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from examples.services import registry as service  # noqa: E402
from releasegate.images.registry import RegistryClient  # noqa: E402
from releasegate.images.results import PRESENT  # noqa: E402

REPOSITORIES = 50
SKOPEO = shutil.which("skopeo")


def seed(reg: service.Registry, count: int) -> list[str]:
    """Push count references (10 tags per repository); returns them plus the missing ones."""
    per_repo = max(1, count // REPOSITORIES)

    def one_repo(index: int) -> list[str]:
        repo, refs = f"bench/svc{index:02d}", []
        for tag_index in range(per_repo):
            tag = f"{index:02d}{tag_index:02d}abcdef0"
            if tag_index == per_repo - 1 and index % 12 == 0:
                pass                                         # left missing on purpose
            elif tag_index == 0 and index % 10 == 0:
                reg.push_index(repo, [tag], label=tag)
            else:
                reg.push_image(repo, [tag], label=tag)
            refs.append(f"{reg.address}/{repo}:{tag}")
        return refs

    with ThreadPoolExecutor(max_workers=8) as pool:
        batches = list(pool.map(one_repo, range(REPOSITORIES)))
    return [ref for batch in batches for ref in batch][:count]


def run_client(reg: service.Registry, refs: list[str], concurrency: int) -> tuple[float, int, int]:
    """Seconds, present count, requests sent by a fresh client checking every reference."""
    client = RegistryClient(ca_file=reg.ca_file, docker_config=reg.docker_config,
                            concurrency=concurrency, timeout_s=30)
    started = time.perf_counter()
    outcomes = client.check_all(refs)
    elapsed = time.perf_counter() - started
    client.close()
    present = sum(1 for o in outcomes.values() if getattr(o, "status", None) == PRESENT)
    return elapsed, present, client.requests


def run_skopeo(reg: service.Registry, refs: list[str], raw: bool) -> tuple[float, int]:
    """Seconds and present count for one `skopeo inspect` process per reference."""
    certs = Path(reg.workdir, "skopeo-certs")
    certs.mkdir(exist_ok=True)
    shutil.copy(reg.ca_file, certs / "ca.crt")
    present = 0
    started = time.perf_counter()
    for ref in refs:
        done = subprocess.run([SKOPEO, "inspect", *(["--raw"] if raw else []), "--authfile",
                               reg.docker_config, "--cert-dir", str(certs), f"docker://{ref}"],
                              capture_output=True, timeout=60)
        present += done.returncode == 0
    return time.perf_counter() - started, present


def main(argv: list[str] | None = None) -> int:
    """Check N references with releasegate and a sample with skopeo inspect; print refs/s."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refs", type=int, default=500)
    parser.add_argument("--skopeo-sample", type=int, default=100,
                        help="references skopeo inspects (0: all)")
    parser.add_argument("--no-skopeo", action="store_true", help="only time RegistryClient")
    args = parser.parse_args(argv)
    reg = service.start("basic")
    try:
        started = time.perf_counter()
        refs = seed(reg, args.refs)
        print(f"seeded {len(refs)} references in {time.perf_counter() - started:.1f}s "
              f"(docker-registry {reg.url}, htpasswd over TLS)\n")
        rows = []
        for concurrency in (16, 1):
            seconds, present, requests = run_client(reg, refs, concurrency)
            rows.append((f"RegistryClient.check_all (concurrency {concurrency})", len(refs),
                         seconds, present, str(requests)))
        if SKOPEO and not args.no_skopeo:
            step = max(1, len(refs) // args.skopeo_sample) if args.skopeo_sample else 1
            sample = refs[::step]
            for raw in (False, True):
                seconds, present = run_skopeo(reg, sample, raw)
                label = "skopeo inspect" + (" --raw" if raw else "") + " per reference"
                rows.append((label, len(sample), seconds, present, "-"))
        baseline = next((r[1] / r[2] for r in rows if r[0].startswith("skopeo inspect per")),
                        None)
        print(f"{'method':<46} {'refs':>5} {'present':>8} {'seconds':>8} {'refs/s':>8} "
              f"{'requests':>9} {'speed-up':>9}")
        for label, count, seconds, present, requests in rows:
            rate = count / seconds
            ratio = f"{rate / baseline:.0f}x" if baseline else "-"
            print(f"{label:<46} {count:>5} {present:>8} {seconds:>8.2f} {rate:>8.0f} "
                  f"{requests:>9} {ratio:>9}")
        print(f"\nmachine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
              "speed-up = refs/s against `skopeo inspect` per reference, same run")
    finally:
        reg.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
