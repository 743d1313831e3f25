"""The probe against real TLS servers on loopback: each planted problem gives exactly its finding."""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import socket
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from examples.services import free_port, https
from releasegate.subdomains.probe import (BLOCKER, WARNING, Policy, SessionProbe, Target, assess, resolver_failure,
                           run, served_build, target)
from releasegate.subdomains import nameserver
from releasegate.subdomains.addresses import parse_address
from releasegate.subdomains.webclient import HttpClient

ROOT = Path(__file__).resolve().parent.parent

DOMAIN = "probe.test"
TIMEOUT = 1.5
GOOD_SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def service():
    specs = [https.EndpointSpec(f"{b}.{DOMAIN}", b, f"127.0.0.{40 + i}", version=GOOD_SHA, delay_s=0.6)
             for i, b in enumerate(https.BEHAVIOURS)]
    svc = https.start(specs)
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def client(service):
    return HttpClient(timeout_s=TIMEOUT, resolve=service.resolve, ca_file=service.ca_file, backoff_s=0.05)


def check(client, behaviour, budget_ms=2000, **spec):
    spec.setdefault("path", "/api/health")
    spec.setdefault("expect_json", {"status": ["ok", "healthy"]})
    t = target("production", behaviour, DOMAIN, behaviour, spec, default_budget_ms=budget_ms)
    ex = client.get(t.url, follow_redirects=t.follow_redirects)
    return assess(t, ex, ca_file=client.ca_file)


def only(findings):
    assert len(findings) == 1, [f.message for f in findings]
    return findings[0]


def test_healthy_endpoint_has_no_finding(client):
    assert check(client, "ok") == []
    assert check(client, "ok", path="/server/ping", expect_json={}, expect_body="pong") == []


@pytest.mark.parametrize("behaviour, severity, step, words", [
    ("expired", BLOCKER, "tls", ["production: expired.probe.test certificate expired on", "2 days ago"]),
    ("expiring", BLOCKER, "tls", ["certificate expires in 3 days", "blocker under 7 days"]),
    ("wrong-host", BLOCKER, "tls", ["not valid for this name", "covers wrong-host.wrong-host.probe.test"]),
    ("self-signed", BLOCKER, "tls", ["self-signed.probe.test serves a self-signed certificate"]),
    ("slow", WARNING, "time", ["https://slow.probe.test/api/health took", "over its budget of 300 ms"]),
    ("http-502", BLOCKER, "http", ["answered HTTP 502 after 3 attempts, expected 200"]),
    ("degraded", BLOCKER, "json", ["JSON status='degraded', expected one of ok, healthy"]),
    ("hang", BLOCKER, "tls", ["gave no answer within 1.5s during TLS: it accepts TCP but never completes the TLS handshake"]),
    ("closed", BLOCKER, "tcp", ["refuses connections after 3 attempts", "nothing listens"]),
])
def test_each_problem_gives_exactly_its_finding(client, behaviour, severity, step, words):
    finding = only(check(client, behaviour, budget_ms=300 if behaviour == "slow" else 2000))
    assert (finding.severity, finding.step) == (severity, step)
    assert finding.message.startswith("production: ")
    for word in words:
        assert word in finding.message
    assert "\n" not in finding.message


def test_wrong_body_exact_and_regex(client):
    finding = only(check(client, "wrong-body", path="/server/ping", expect_json={}, expect_body="pong"))
    assert (finding.severity, finding.step) == (BLOCKER, "body")
    assert "body 'maintenance' does not match expect_body (expected 'pong')" in finding.message
    assert check(client, "wrong-body", path="/server/ping", expect_json={}, expect_body="re:^main") == []
    finding = only(check(client, "wrong-body", path="/server/ping", expect_json={}, expect_body="re:p[o]+ng"))
    assert "regex 'p[o]+ng'" in finding.message


def test_json_missing_key_and_not_json(client):
    assert "JSON has no key 'checks.db'" in only(check(client, "ok", expect_json={"checks.db": ["up"]})).message
    assert "did not answer JSON" in only(check(client, "ok", path="/server/ping")).message


def test_expiry_thresholds_are_configurable(client):
    t = target("production", "expiring", DOMAIN, "expiring", {})
    ex = client.get(t.url)
    assert only(assess(t, ex, Policy(cert_warning_days=21, cert_blocker_days=2))).severity == WARNING
    assert assess(t, ex, Policy(cert_warning_days=2, cert_blocker_days=1)) == []
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=20)
    healthy = client.get(target("production", "ok", DOMAIN, "ok", {}).url)
    assert assess(t, healthy, now=later) == []  # a year-long cert is fine 20 days from now


def test_redirects_followed_or_not_per_endpoint(client):
    assert check(client, "ok", path="/moved", expect_json={}) == []
    finding = only(check(client, "ok", path="/moved", expect_json={}, follow_redirects=False))
    assert "answered HTTP 302 -> / , expected 200".replace(" ,", ",") in finding.message
    assert check(client, "ok", path="/moved", expect_json={}, follow_redirects=False, expect_status=302) == []


def test_system_store_does_not_trust_the_test_ca(service):
    plain = HttpClient(timeout_s=TIMEOUT, resolve=service.resolve)
    finding = only(check(plain, "ok"))
    assert "certificate is not trusted" in finding.message and "system trust store" in finding.message


def test_unresolvable_name_fails_at_dns(client):
    t = target("testing", "api", "nowhere.invalid", "api", {})
    finding = only(assess(t, client.get(t.url)))
    assert finding.step == "dns"
    assert finding.message.startswith("testing: api.nowhere.invalid does not resolve")


def test_black_holed_endpoints_cost_one_timeout_together(client, service):
    targets = [target("production", f"hang{i}", DOMAIN, "hang", {}) for i in range(5)]
    targets += [target("production", f"ok{i}", DOMAIN, "ok", {}) for i in range(20)]
    t0 = time.monotonic()
    results = run(client, targets)
    elapsed = time.monotonic() - t0
    # five hung endpoints probed one after another would cost 5 x TIMEOUT
    assert TIMEOUT <= elapsed < 2 * TIMEOUT + 0.5
    assert sum(1 for ex in results.values() if ex.failure and ex.failure.kind == "timeout") == 5
    assert all(results[t.key].attempts == 1 for t in targets)  # a timeout is never retried


def test_session_probe_runs_once_and_caches(client):
    targets = [target("production", b, DOMAIN, b, {}) for b in ("ok", "expiring")]
    probe = SessionProbe(client, targets)
    first = probe.result(targets[0])
    assert probe.result(targets[0]) is first
    assert probe.result(targets[1]).cert is not None  # probed in the same first round


def test_served_build_from_json_key_and_header(client):
    ex = client.get(f"https://ok.{DOMAIN}/api/version")
    assert served_build(ex, json_key="build_version") == (GOOD_SHA, "")
    assert served_build(ex, header="X-Build-Version") == (GOOD_SHA, "")
    assert served_build(ex, json_key="nope") == (None, "JSON has no key 'nope'")
    assert served_build(client.get(f"https://http-502.{DOMAIN}/api/version"), "build_version")[1] == "answered HTTP 502"


@pytest.mark.parametrize("value, expected", [
    ("10.0.0.1", ("10.0.0.1", 443)), ("10.0.0.1:8443", ("10.0.0.1", 8443)),
    ("[::1]:8443", ("::1", 8443)), ("::1", ("::1", 443)),
])
def test_parse_address(value, expected):
    assert parse_address(value, 443) == expected


def test_resolve_accepts_host_and_host_port_keys():
    c = HttpClient(resolve={"A.example": "127.0.0.9", "b.example:8443": "127.0.0.8:9443"})
    assert c.override("a.example", 443) == ("127.0.0.9", 443)
    assert c.override("b.example", 8443) == ("127.0.0.8", 9443)
    assert c.override("b.example", 443) is None


def test_retries_only_for_idempotent_requests(client):
    from releasegate.subdomains.webclient import run_sync

    post = run_sync(client.fetch(f"https://closed.{DOMAIN}/", method="POST"))
    get = client.get(f"https://closed.{DOMAIN}/")
    assert (post.failure.kind, post.attempts) == ("refused", 1)
    assert (get.failure.kind, get.attempts) == ("refused", 3)


def test_one_bad_host_name_fails_only_its_own_endpoint(client):
    """`a..b` or `../../etc` in one environment: that endpoint fails at DNS saying why, the
    others are probed as usual (the IDNA codec once crashed every subdomain check)."""
    targets = [target("production", "dots", DOMAIN, "a..b", {}),
               target("production", "path", DOMAIN, "../../etc", {}),
               target("testing", "ok", DOMAIN, "ok", {})]
    results = run(client, targets)
    assert assess(targets[2], results[targets[2].key]) == []
    dots = only(assess(targets[0], results[targets[0].key]))
    assert (dots.step, dots.severity) == ("dns", BLOCKER)
    assert dots.message.startswith("production: https://a..b.probe.test/ names the host "
                                   "'a..b.probe.test', which is not a valid host name: IDNA")
    path = only(assess(targets[1], results[targets[1].key]))
    assert "names the host '..', which is not a valid host name: label '' is not" in path.message


def test_every_lookup_failing_the_same_way_is_the_resolver_not_the_records():
    """RFC 6761: no name under .invalid ever resolves, with any resolver; three of them failing
    alike and nothing else looked up is what a resolver that answers nothing looks like."""
    client = HttpClient(timeout_s=TIMEOUT)
    names = [target("production", n, "rg.invalid", n, {}) for n in ("api", "portal", "admin")]
    why = resolver_failure(run(client, names).values())
    assert why and why.startswith("every one of the 3 lookups of this run failed the same way (")
    with dns_server(0) as port:  # one record, and a resolver that knows the root: the record's blocker
        assert resolver_failure(run(client, names[:1]).values(),
                                lambda host: nameserver.silent(host, [("127.0.0.1", port)])) is None


def test_a_name_that_does_not_resolve_while_others_do_stays_a_blocker():
    client = HttpClient(timeout_s=TIMEOUT, retries=0)
    found = run(client, [target("production", "gone", "rg.invalid", "gone", {}),
                         target("production", "gone2", "rg.invalid", "gone2", {}),
                         Target("production", "local", f"https://localhost:{free_port()}/")])
    assert resolver_failure(found.values()) is None  # localhost was looked up and resolved
    finding = only(assess(target("production", "gone", "rg.invalid", "gone", {}),
                          found[("production", "gone")]))
    assert finding.message == ("production: gone.rg.invalid does not resolve (Name or service "
                               "not known); fix the DNS record or network.resolve")


RESOLVER_SCRIPT = """
import json
from releasegate.subdomains.probe import resolver_failure, run, target
from releasegate.subdomains.webclient import HttpClient
found = run(HttpClient(timeout_s=3), [target("production", "api", "example.org", "api", {})])
ex = found[("production", "api")]
print(json.dumps({"kind": ex.failure.kind, "reason": ex.failure.reason,
                  "resolver": resolver_failure(found.values())}))
"""


def test_no_nameserver_answering_is_one_resolver_failure(tmp_path):
    """A real glibc resolver whose only nameserver does not answer (a private mount namespace
    binds a resolv.conf naming a loopback address where nothing listens): EAI_AGAIN, which is
    the resolver's failure even for a single name."""
    conf = tmp_path / "resolv.conf"
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1) here (util-linux)")
    conf.write_text("nameserver 127.0.0.9\noptions timeout:1 attempts:1\n")
    script = tmp_path / "lookup.py"
    script.write_text(RESOLVER_SCRIPT)
    command = (f"mount --bind {conf} /etc/resolv.conf && cd {ROOT} && "
               f"PYTHONPATH={ROOT} exec {sys.executable} {script}")
    done = subprocess.run(["unshare", "-r", "-m", "sh", "-c", command], capture_output=True,
                          text=True, timeout=60)
    if done.returncode != 0 and "Traceback" not in done.stderr:  # the namespace, not Python
        pytest.skip(f"no private mount namespace here: {done.stderr.strip()[:200]}")
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["kind"] == "resolver"
    assert result["reason"] == ("api.example.org could not be looked up: the system resolver "
                                "(nameserver 127.0.0.9 in /etc/resolv.conf) failed (Temporary "
                                "failure in name resolution)")
    assert result["resolver"] == ("no nameserver answered (Temporary failure in name "
                                  "resolution); no subdomain could be checked")


@contextlib.contextmanager
def dns_server(rcode: int) -> Iterator[int]:
    """A real UDP nameserver on loopback that answers every question with `rcode` (RFC 1035 4.1.1:
    QR set, the query's ID and question echoed); yields its port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                query, peer = sock.recvfrom(512)
            except (TimeoutError, OSError):
                continue
            flags = 0x8180 | rcode  # QR, RD, RA + RCODE
            sock.sendto(query[:2] + flags.to_bytes(2, "big") + query[4:], peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        sock.close()


@pytest.mark.parametrize(("rcode", "listening", "blamed"), [
    (0, True, None),  # NOERROR for the parent zone: the resolver works, the record is to blame
    (3, True, "127.0.0.1:{port} NXDOMAIN for rg.invalid SOA; 127.0.0.1:{port} NXDOMAIN for . SOA"),
    (5, True, "127.0.0.1:{port} REFUSED for rg.invalid SOA; 127.0.0.1:{port} REFUSED for . SOA"),
    (2, True, "127.0.0.1:{port} SERVFAIL for rg.invalid SOA; 127.0.0.1:{port} SERVFAIL for . SOA"),
    (None, False, "127.0.0.1:{port} Connection refused for rg.invalid SOA; 127.0.0.1:{port} Connection "
                  "refused for . SOA"),  # nothing listens (ICMP port unreachable on loopback)
])
def test_one_lookup_blames_the_resolver_only_when_it_answers_nothing(rcode, listening, blamed):
    """Issue 21 item 5: before blaming the record of a single name that did not resolve, ask each
    nameserver about the zone above it and the root (RFC 1035 4.1 message; every recursive resolver
    knows the root, RFC 1034 5.3.3): NOERROR means the resolver answers, so the record is to blame;
    NXDOMAIN/SERVFAIL/REFUSED even for the root, or no answer at all, is the resolver's failure."""
    client = HttpClient(timeout_s=TIMEOUT, retries=0)
    found = run(client, [target("production", "api", "rg.invalid", "api", {})])
    with (dns_server(rcode) if listening else contextlib.nullcontext(free_port())) as port:
        why = resolver_failure(found.values(), lambda host: nameserver.silent(host, [("127.0.0.1", port)], 0.5))
    if blamed is None:
        assert why is None
    else:
        assert why == (f"api.rg.invalid did not resolve, and no nameserver answers about rg.invalid nor the root "
                       f"({blamed.format(port=port)}): the resolver answers nothing, so no record is to blame")


def test_a_nameserver_that_never_answers_times_out() -> None:
    """A UDP socket that reads questions and never replies: "no answer within" the bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        server = ("127.0.0.1", sink.getsockname()[1])
        assert nameserver.ask(server, ".", 0.2) == "no answer within 0.2s"


def test_the_question_is_an_rfc1035_soa_query() -> None:
    """Header (ID, RD, QDCOUNT 1), QNAME as length-prefixed labels ending in the root, QTYPE SOA (6), QCLASS IN (1)."""
    assert nameserver.question("demo.test", 0x1234) == (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
                                                        b"\x04demo\x04test\x00\x00\x06\x00\x01")
    assert nameserver.question(".", 1).endswith(b"\x00\x00\x06\x00\x01")
    assert (nameserver.parent("api.demo.test"), nameserver.parent("localhost")) == ("demo.test", ".")
