"""Every client against the fault servers of tests/faults.py: outcome, message, time and memory.

Each case asserts the one-line error (naming the endpoint, and the cap for an oversize body),
that it came within one timeout plus headroom for a loaded CI machine, and, for the 2 GB bodies,
the peak resident memory of a fresh interpreter that ran the client (resource.getrusage).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import faults
from examples.services import kube as emu
from releasegate.kubernetes import api as kube
from releasegate.estate import KubeSpec
from releasegate.core.handle import Unreachable
from releasegate.subdomains.probe import assess, target
from releasegate.images.oci import OCI_INDEX
from releasegate.images.registry import RegistryClient
from releasegate.images.results import RegistryUnreachable
from releasegate.subdomains.webclient import HttpClient

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 1.0
HEADROOM = 2.0          # a loaded CI machine
PEAK_MB = 300
NS = "app-prod"
REF = "registry.rg.test/app/api:v1"
LIST = f"/apis/apps/v1/namespaces/{NS}/deployments"
INDEX_HEAD = faults.reply(200, b"", {"Content-Type": OCI_INDEX,
                                     "Docker-Content-Digest": "sha256:" + "0" * 64})


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.monotonic() - self.start


def registry_routes(fault: str) -> dict:
    """A registry that pings fine and lists the index, then breaks on the manifest's body."""
    return {"GET /v2/": faults.reply(200, {}), "HEAD /v2/app/": INDEX_HEAD, "GET /v2/app/": fault}


def registry_client(server: faults.FaultServer, tmp_path: Path) -> RegistryClient:
    config = tmp_path / "docker.json"
    config.write_text("{}")
    return RegistryClient(mirrors={"registry.rg.test": server.url}, ca_file=server.ca_file,
                          docker_config=str(config), timeout_s=TIMEOUT)


REGISTRY_CASES = {  # name -> (routes or behaviour, tls, state, words of the reason)
    "black-hole": ("black-hole", False, "unreachable", "no complete answer within 1s"),
    "black-hole-tls": ("black-hole", True, "unreachable", "no complete answer within 1s"),
    "stall-after-tls": ("stall", True, "unreachable", "no complete answer within 1s"),
    "trickle": (registry_routes("trickle"), True, "unreachable", "no complete answer within 1s"),
    "trickle-headers": (registry_routes("trickle-headers"), False, "unreachable",
                        "no complete answer within 1s"),
    "huge": (registry_routes("huge"), False, "failed",
             "GET /v2/app/api/manifests/v1: the answer is larger than the 4 MiB cap"),
    "chunked": (registry_routes("chunked"), True, "failed",
                "GET /v2/app/api/manifests/v1: the answer is larger than the 4 MiB cap"),
    "malformed": (registry_routes("malformed"), False, "failed",
                  "GET /v2/app/api/manifests/v1 answered malformed JSON"),
    "500": (registry_routes("500"), False, "unreachable", "server error HTTP 500"),
}


@pytest.mark.parametrize("case", sorted(REGISTRY_CASES))
def test_registry_client_under_faults(case: str, tmp_path: Path) -> None:
    routes, tls, state, words = REGISTRY_CASES[case]
    with faults.serve(routes, tls=tls) as server, Timer() as took:
        client = registry_client(server, tmp_path)
        with pytest.raises(RegistryUnreachable) as exc:
            client.check(REF)
    assert took.elapsed < TIMEOUT + HEADROOM
    assert str(exc.value).startswith(f"{server.url} {state}: {words}")
    # asked once: the next check of it, and of another image of that registry, fails at once
    with Timer() as again:
        with pytest.raises(RegistryUnreachable) as second:
            client.check(REF)
    assert again.elapsed < 0.1 and str(second.value) == str(exc.value)
    client.close()


def test_malformed_index_is_an_error_not_a_missing_platform(tmp_path: Path) -> None:
    """The registry answering {"manifests": "x"} says nothing about the image's platforms."""
    routes = registry_routes(faults.reply(200, {"manifests": "x"}, {"Content-Type": OCI_INDEX}))
    with faults.serve(routes) as server:
        client = registry_client(server, tmp_path)
        with pytest.raises(RegistryUnreachable, match="answered malformed JSON .no manifests list"):
            client.check(REF)
        client.close()


def kube_host(server: faults.FaultServer, tmp_path: Path) -> SimpleNamespace:
    path = emu.write_kubeconfig(tmp_path / "kubeconfig", server.url, {"prod": NS}, "t0ken-x")
    if server.ca_file:
        config = json.loads(path.read_text())
        config["clusters"][0]["cluster"]["certificate-authority"] = server.ca_file
        path.write_text(json.dumps(config))
    return SimpleNamespace(
        name="production", namespace=NS, timeout_s=TIMEOUT,
        spec=SimpleNamespace(kubernetes=KubeSpec(context=None, namespace=NS, kubeconfig=str(path))),
        estate=SimpleNamespace(root=tmp_path, network=SimpleNamespace(timeout_s=TIMEOUT), raw={}))


KUBE_CASES = {  # name -> (behaviour, tls, state, words of the reason)
    "black-hole": ("black-hole", False, "unreachable", f"GET {LIST}: no complete answer within 1s"),
    "black-hole-tls": ("black-hole", True, "unreachable", f"GET {LIST}: no complete answer"),
    "stall-after-tls": ("stall", True, "unreachable", f"GET {LIST}: no complete answer"),
    "trickle": ("trickle", True, "unreachable", f"GET {LIST}: no complete answer within 1s"),
    "trickle-headers": ("trickle-headers", False, "unreachable", f"GET {LIST}: no complete"),
    "huge": ("huge", False, "failed", f"GET {LIST}: the answer is larger than the 32 MiB cap"),
    "chunked": ("chunked", True, "failed", f"GET {LIST}: the answer is larger than the 32 MiB cap"),
    "malformed": ("malformed", False, "failed", f"GET {LIST} answered malformed JSON"),
    "500": ("500", False, "unreachable", f"GET {LIST} answered 500 Error: internal error"),
}


@pytest.mark.parametrize("case", sorted(KUBE_CASES))
def test_kubernetes_client_under_faults(case: str, tmp_path: Path) -> None:
    behaviour, tls, state, words = KUBE_CASES[case]
    with faults.serve(behaviour, tls=tls) as server, Timer() as took:
        with pytest.raises(Unreachable) as exc:
            kube.connect(kube_host(server, tmp_path))
    assert took.elapsed < TIMEOUT + HEADROOM
    assert str(exc.value).startswith(f"production: {server.url} {state}: {words}")
    assert "t0ken-x" not in str(exc.value)


def test_kubernetes_list_with_items_that_are_not_objects_is_an_error(tmp_path: Path) -> None:
    with faults.serve(faults.reply(200, {"kind": "List", "items": ["x"]})) as server:
        with pytest.raises(Unreachable, match=r"failed: GET .* answered malformed JSON \(items"):
            kube.connect(kube_host(server, tmp_path))


def test_kubernetes_lists_are_read_in_pages(tmp_path: Path) -> None:
    """limit/continue: a second page is asked for with the token the first one gave."""
    async def paged(reader, writer, method, path):
        more = "continue=" not in path and "/deployments" in path
        body = {"kind": "List", "metadata": {"continue": "tok2"} if more else {},
                "items": [{"metadata": {"name": "page2" if "continue=tok2" in path else "a"}}]}
        await faults.reply(200, body)(reader, writer, method, path)

    with faults.serve({"": paged}) as server:
        client = kube.connect(kube_host(server, tmp_path))
        names = [d["metadata"]["name"] for d in client.live["Deployment"]]
        client.close()
    assert names == ["a", "page2"]
    lists = [p for _, p in server.requests if "/deployments" in p]
    assert all("limit=500" in p for p in lists) and "continue=tok2" in lists[1]


def probe(server: faults.FaultServer, path: str = "/", **spec) -> list:
    client = HttpClient(timeout_s=TIMEOUT, ca_file=server.ca_file, backoff_s=0.05)
    item = dataclasses.replace(target("production", "api", "invalid", "api", spec),
                               url=server.url + path)
    return assess(item, client.get(item.url), ca_file=server.ca_file)


HTTP_CASES = {  # name -> (behaviour, tls, words of the one finding)
    "black-hole-tls": ("black-hole", True, "gave no answer within 1s during TLS"),
    "stall-after-tls": ("stall", True, "gave no answer within 1s during HTTP"),
    "trickle": ("trickle", True, "gave no answer within 1s during HTTP"),
    "trickle-headers": ("trickle-headers", True, "gave no answer within 1s during HTTP"),
    "huge": ("huge", True, "answered more than the 1 MiB cap"),
    "chunked": ("chunked", True, "answered more than the 1 MiB cap"),
    "malformed": ("malformed", True, "did not answer JSON"),
    "500": ("500", True, "answered HTTP 500"),
}


@pytest.mark.parametrize("case", sorted(HTTP_CASES))
def test_http_client_under_faults(case: str) -> None:
    behaviour, tls, words = HTTP_CASES[case]
    with faults.serve(behaviour, tls=tls) as server, Timer() as took:
        found = probe(server, expect_json={"status": ["ok"]})
    assert took.elapsed < TIMEOUT + HEADROOM
    assert len(found) == 1 and words in found[0].message, [f.message for f in found]
    assert found[0].message.startswith("production: ")


MEMORY_SCRIPT = """
import json, resource, sys, tempfile, time
from pathlib import Path
sys.path[:0] = [{root!r}, {tests!r}]
import faults, test_faults
server = faults.serve({routes}, tls=True)
tmp = Path(tempfile.mkdtemp())
start = time.monotonic()
try:
    outcome = str({call})
except Exception as exc:
    outcome = str(exc)
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"outcome": outcome, "peak_mb": peak_mb, "s": time.monotonic() - start}}))
"""
MEMORY_CASES = {  # client -> (routes, the call, words of its outcome)
    "registry": ("test_faults.registry_routes('chunked')",
                 "test_faults.registry_client(server, tmp).check(test_faults.REF)",
                 "larger than the 4 MiB cap"),
    "kubernetes": ("'chunked'", "test_faults.kube.connect(test_faults.kube_host(server, tmp))",
                   "larger than the 32 MiB cap"),
    "http": ("'chunked'", "test_faults.probe(server, expect_json={'status': ['ok']})[0].message",
             "answered more than the 1 MiB cap"),
}


@pytest.mark.parametrize("client", sorted(MEMORY_CASES))
def test_a_2_gb_chunked_body_costs_bounded_memory(client: str) -> None:
    routes, call, words = MEMORY_CASES[client]
    script = MEMORY_SCRIPT.format(root=str(ROOT), tests=str(ROOT / "tests"), routes=routes,
                                  call=call)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert words in result["outcome"]
    assert result["s"] < TIMEOUT + HEADROOM
    assert result["peak_mb"] < PEAK_MB, result


HUNG_RESOLVER_SCRIPT = """
import json, socket, threading, time
hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
hole.bind(("127.0.0.9", 53))  # a nameserver that reads every query and answers none
threading.Thread(target=lambda: [hole.recvfrom(512) for _ in iter(int, 1)], daemon=True).start()
from releasegate.images.registry import RegistryClient
from releasegate.images.results import RegistryUnreachable
open({config!r}, "w").write("{{}}")
client = RegistryClient(mirrors={{"r.test": "http://hung.example:5000"}}, docker_config={config!r},
                        timeout_s=1.0)
start = time.monotonic()
try:
    client.check("r.test/app:v1")
    outcome = "no error"
except RegistryUnreachable as exc:
    outcome = str(exc)
print(json.dumps({{"outcome": outcome, "s": time.monotonic() - start}}))
"""


def test_a_hung_resolver_costs_the_registry_client_one_timeout(tmp_path: Path) -> None:
    """getaddrinfo takes no timeout: with a nameserver that never answers (a private network
    and mount namespace, glibc told to wait 5 s twice) the lookup is still bounded by the
    request's deadline."""
    conf = tmp_path / "resolv.conf"
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1) here (util-linux)")
    conf.write_text("nameserver 127.0.0.9\noptions timeout:5 attempts:2\n")
    script = tmp_path / "hung.py"
    script.write_text(HUNG_RESOLVER_SCRIPT.format(config=str(tmp_path / "docker.json")))
    command = (f"ip link set lo up && mount --bind {conf} /etc/resolv.conf && cd {ROOT} && "
               f"PYTHONPATH={ROOT} exec {sys.executable} {script}")
    started = time.monotonic()
    done = subprocess.run(["unshare", "-r", "-m", "-n", "sh", "-c", command],
                          capture_output=True, text=True, timeout=60)
    if done.returncode != 0 and "Traceback" not in done.stderr:  # the namespace, not Python
        pytest.skip(f"no private namespaces here: {done.stderr.strip()[:200]}")
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["outcome"] == "http://hung.example:5000 unreachable: no complete answer within 1s"
    assert result["s"] < TIMEOUT + HEADROOM
    assert time.monotonic() - started < 8  # the hung lookup never held the interpreter's exit
