"""Subdomain probe over 200 loopback HTTPS endpoints, healthy and with 10 black-holed ones,
against a loop of `curl` calls doing the same checks (status, JSON body, cert expiry, budget).

    python benchmarks/bench_http.py [--endpoints 200] [--dead 10] [--timeout 2]

The servers run in a child process (so server work does not share this process's GIL); the
dead endpoints accept TCP and never answer, so each costs a full timeout to whoever waits on it.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from examples.services import https  # noqa: E402
from releasegate.subdomains.webclient import HttpClient  # noqa: E402
from releasegate.subdomains.probe import assess, run, target  # noqa: E402

DOMAIN = "bench.test"
BUDGET_MS = 2000


def _address(i: int) -> str:
    return f"127.0.{3 + i // 250}.{1 + i % 250}"


def _serve(healthy: int, dead: int, conn) -> None:
    specs = [https.EndpointSpec(f"ok{i}.{DOMAIN}", "ok", _address(i)) for i in range(healthy)]
    specs += [https.EndpointSpec(f"dead{i}.{DOMAIN}", "hang", _address(healthy + i)) for i in range(dead)]
    service = https.start(specs)
    conn.send((service.resolve, service.ca_file))
    conn.recv()
    service.stop()


def _targets(hosts: list[str]):
    return [target("bench", h.split(".")[0], DOMAIN, h.split(".")[0],
                   {"path": "/api/health", "expect_json": {"status": ["ok"]}}, BUDGET_MS) for h in hosts]


def releasegate(hosts, resolve, ca_file, timeout):
    """Wall seconds and finding count for one concurrent probe of every host."""
    client = HttpClient(timeout_s=timeout, resolve=resolve, ca_file=ca_file)
    targets = _targets(hosts)
    t0 = time.monotonic()
    results = run(client, targets)
    findings = [f for t in targets for f in assess(t, results[t.key])]
    return time.monotonic() - t0, len(findings)


def curl_loop(hosts, resolve, ca_file, timeout):
    """Wall seconds and finding count for a shell-style loop: one curl per endpoint, same checks."""
    t0 = time.monotonic()
    findings = 0
    now = dt.datetime.now(dt.timezone.utc)
    for host in hosts:
        out = subprocess.run(
            ["curl", "-sS", "--cacert", ca_file, "--connect-to", f"{host}:443:{resolve[host]}",
             "--max-time", str(timeout), "-w", "\n@@%{http_code} %{time_total}\n%{certs}",
             f"https://{host}/api/health"], capture_output=True, text=True)
        body, _, meta = out.stdout.partition("\n@@")
        head, _, certs = meta.partition("\n")
        code, _, total = head.partition(" ")
        expiry = re.search(r"Expire date:(.+? GMT)", certs)
        try:
            healthy = (out.returncode == 0 and code == "200" and json.loads(body).get("status") == "ok"
                       and float(total) * 1000 <= BUDGET_MS and expiry is not None
                       and (dt.datetime.strptime(expiry.group(1).strip(), "%b %d %H:%M:%S %Y %Z")
                            .replace(tzinfo=dt.timezone.utc) - now).days >= 21)
        except ValueError:
            healthy = False
        findings += not healthy
    return time.monotonic() - t0, findings


def main() -> None:
    """Probe N endpoints (some dead) with releasegate and with a curl loop; print both."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=200)
    parser.add_argument("--dead", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args()
    if not shutil.which("curl"):
        sys.exit("curl is not installed: the comparison needs it")
    n, dead, timeout = args.endpoints, args.dead, args.timeout

    ours, theirs = multiprocessing.Pipe()
    server = multiprocessing.Process(target=_serve, args=(n, dead, theirs), daemon=True)
    server.start()
    resolve, ca_file = ours.recv()
    try:
        healthy = [f"ok{i}.{DOMAIN}" for i in range(n)]
        mixed = healthy[: n - dead] + [f"dead{i}.{DOMAIN}" for i in range(dead)]
        releasegate(healthy[:5], resolve, ca_file, timeout)  # warm-up: imports, first handshakes
        rows = [
            ("releasegate (concurrent)", n, 0, *releasegate(healthy, resolve, ca_file, timeout)),
            ("releasegate (concurrent)", n, dead, *releasegate(mixed, resolve, ca_file, timeout)),
            ("curl loop", n, 0, *curl_loop(healthy, resolve, ca_file, timeout)),
            ("curl loop", n, dead, *curl_loop(mixed, resolve, ca_file, timeout)),
        ]
    finally:
        ours.send("stop")
        server.join(15)

    print(f"timeout_s={timeout:g}; each endpoint: DNS (network.resolve), TCP, TLS chain + SAN + expiry,"
          f" GET /api/health, JSON status, budget {BUDGET_MS} ms")
    print(f"{'tool':<26}{'endpoints':>10}{'dead':>6}{'wall s':>9}{'findings':>10}")
    for tool, count, nd, wall, found in rows:
        print(f"{tool:<26}{count:>10}{nd:>6}{wall:>9.2f}{found:>10}")
    ours_h, ours_d, curl_h, curl_d = (r[3] for r in rows)
    print(f"dead endpoints cost releasegate {ours_d - ours_h:.2f}s extra (timeout {timeout:g}s); "
          f"curl loop {curl_d - curl_h:.2f}s extra")
    print(f"speed-up vs curl loop: healthy x{curl_h / ours_h:.1f}, with {dead} dead x{curl_d / ours_d:.1f}")


if __name__ == "__main__":
    main()
