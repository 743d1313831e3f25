"""A service whose name does not resolve, on a machine whose resolver answers nothing, is the
resolver's failure: one ERROR naming it per run, the other checks skip pointing at it (issue 21
item 5; plugins/core/resolver_once.py). Real parts: a real UDP nameserver on loopback (RFC 1035 4.1
answers), real getaddrinfo on a `.invalid` name (RFC 6761 6.4: never resolves), the demo's real git
repositories and registry client."""
from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from examples.services import free_port
from examples.services import registry as service
from releasegate.core import resolver_once
from releasegate.core.handle import Unreachable
from releasegate.subdomains import addresses, nameserver
from test_images import run, with_registry, demo_registry  # noqa: F401 (fixtures)
from test_probe import dns_server

EAI_NONAME = "[Errno -2] Name or service not known"  # glibc gai_strerror(EAI_NONAME)
EAI_AGAIN = "[Errno -3] Temporary failure in name resolution"


@pytest.fixture
def resolv_conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """resolv.conf naming 127.0.0.1 only; the test picks the port (nameserver.DNS_PORT)."""
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 127.0.0.1\n")
    monkeypatch.setattr(addresses, "RESOLV_CONF", str(conf))
    resolver_once._silence.cache_clear()
    yield conf
    resolver_once._silence.cache_clear()


@pytest.mark.parametrize(("reason", "rcode", "silent"), [
    (f"reg.rg.invalid: {EAI_NONAME}", 3, True),  # NXDOMAIN even for the root: the resolver knows nothing
    (f"reg.rg.invalid: {EAI_NONAME}", 0, False),  # NOERROR for rg.invalid: the record is to blame
    (EAI_AGAIN, None, True),  # nothing listens on the nameserver's port
    ("No address associated with hostname", 2, True),  # EAI_NODATA; SERVFAIL for the root
    ("[Errno 111] Connection refused", 3, False),  # the name resolved: not a lookup failure
    ("GET /v2/ answered HTTP 503", 3, False),
])
def test_blame(resolv_conf: Path, monkeypatch: pytest.MonkeyPatch, reason: str, rcode: int | None,
               silent: bool) -> None:
    """getaddrinfo's failures as glibc words them (getaddrinfo(3)); the resolver is blamed only when
    no nameserver answers NOERROR about the zone above the name nor the root (nameserver.silent)."""
    with (dns_server(rcode) if rcode is not None else contextlib.nullcontext(free_port())) as port:
        monkeypatch.setattr(nameserver, "DNS_PORT", port)
        found = resolver_once.blame("production", "https://reg.rg.invalid:5000", reason)
    if not silent:
        assert type(found) is Unreachable
        assert str(found) == f"production: https://reg.rg.invalid:5000 unreachable: {reason}"
        return
    assert isinstance(found, resolver_once.ResolverSilent)
    assert str(found).startswith(f"production: the system resolver (nameserver 127.0.0.1 in {resolv_conf}) "
                                 "failed: reg.rg.invalid did not resolve, and no nameserver answers about "
                                 "rg.invalid nor the root (127.0.0.1:")
    assert str(found).endswith("): the resolver answers nothing, so no record is to blame")


@pytest.mark.parametrize("answers", [False, True])
def test_an_unresolvable_registry_is_one_error_when_the_resolver_answers_nothing(
        pytester: pytest.Pytester, demo_env_file: Path, with_registry, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
        resolv_conf: Path, answers: bool) -> None:
    """The demo's registry mirror renamed to a `.invalid` host, two environments: with a resolver
    that answers nothing (nothing listens on its port), one ERROR for the run naming the resolver
    and every other registry check skipped pointing at it (trials: govuk, 3 ERRORs per
    environment); with a resolver that answers NOERROR, the registry is to blame, per check as before."""
    monkeypatch.setenv(service.DEMO_REGISTRY_VAR, "https://registry.rg.invalid:5000")
    with (dns_server(0) if answers else contextlib.nullcontext(free_port())) as port:
        monkeypatch.setattr(nameserver, "DNS_PORT", port)
        result, records = run(pytester, demo_env_file, "--env=testing,production", "-k", "image_present")
    errors = [r for r in records if r["outcome"] == "error"]
    skipped = [r["message"] for r in records if r["outcome"] == "skipped"]
    if answers:
        assert len(errors) == 16 and all("https://registry.rg.invalid:5000 unreachable: " in r["message"]
                                         for r in errors)
        return
    [error] = errors
    assert error["message"].startswith(
        f"production: the system resolver (nameserver 127.0.0.1 in {resolv_conf}) failed: registry.rg.invalid "
        "did not resolve, and no nameserver answers about rg.invalid nor the root (127.0.0.1:")
    first = error["nodeid"].rsplit("::", 1)[-1]
    pointing = [m for m in skipped if m.endswith(f"failed (reported once, at {first})")]
    assert len(pointing) == 15 and {m.split(":", 1)[0] for m in pointing} == {"testing", "production"}
    assert pointing[0].split(": ", 1)[1].startswith(
        f"not checked: the system resolver (nameserver 127.0.0.1 in {resolv_conf}) failed")


@pytest.mark.parametrize("answers", [False, True])
def test_a_database_host_no_resolver_answers_is_the_resolvers(demo_env_file: Path, resolv_conf: Path,
                                                              monkeypatch: pytest.MonkeyPatch, answers: bool) -> None:
    """The same rule for the database: libpq's "could not translate host name ... Name or service not
    known" (real psycopg, real getaddrinfo on a `.invalid` name) is the resolver's when no nameserver
    answers about the zone nor the root; else the database's own ERROR, as before."""
    from releasegate.core.host import Estatewide
    from releasegate.estate import load
    from releasegate.options import Settings
    from releasegate.schema import database

    monkeypatch.setenv("DEMO_TESTING_DATABASE_URL", "postgresql://u:secret@db.rg.invalid:5432/app")
    host = Estatewide(load(demo_env_file), Settings(environments_path=demo_env_file, env_names=None)).host("testing")
    with (dns_server(0) if answers else contextlib.nullcontext(free_port())) as port:
        monkeypatch.setattr(nameserver, "DNS_PORT", port)
        with pytest.raises(Unreachable) as raised:
            database.connect(host)
    assert isinstance(raised.value, resolver_once.ResolverSilent) is not answers
    if answers:
        assert str(raised.value).startswith("testing: database db.rg.invalid:5432/app unreachable: ")
    else:
        assert str(raised.value).startswith(
            f"testing: the system resolver (nameserver 127.0.0.1 in {resolv_conf}) failed: db.rg.invalid did not "
            "resolve, and no nameserver answers about rg.invalid nor the root (127.0.0.1:")
    assert "secret" not in str(raised.value)
