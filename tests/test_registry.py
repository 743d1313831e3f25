"""RegistryClient against real docker-registry servers: htpasswd over TLS, and bearer tokens."""
from __future__ import annotations

import base64
import json
import os
import socket
import stat
import time

import pytest

from examples.services import registry as service
from releasegate.core import redact
from releasegate.estate import Unset
from releasegate.images.auth import parse_challenge
from releasegate.images.oci import (DOCKER_LIST, DOCKER_V2, OCI_INDEX, OCI_MANIFEST, content_digest,
                                platform_matches)
from releasegate.images.registry import RegistryClient
from releasegate.images.results import (DENIED, MISSING, NO_PLATFORM, NOT_CONFIGURED, PRESENT, SKIPPED,
                                    RegistryUnreachable)

ALIAS = "registry.rg.test"


def _seed(reg: service.Registry) -> dict[str, str]:
    return {
        "api": reg.push_image("app/api", ["v1", "0123456789abcdef0123456789abcdef01234567"]),
        "oci": reg.push_image("app/oci", ["v1"], oci=True),
        "multi": reg.push_index("app/multi", ["v1"]),
        "armonly": reg.push_index("app/armonly", ["v1"], platforms=["linux/arm64"]),
        "list": reg.push_index("app/list", ["v1"], platforms=["linux/amd64", "linux/arm/v7"],
                               oci=False),
    }


@pytest.fixture(scope="module")
def basic_registry():
    reg = service.start("basic", aliases=[ALIAS])
    try:
        yield reg, _seed(reg)
    finally:
        reg.stop()


@pytest.fixture(scope="module")
def token_registry():
    reg = service.start("token", aliases=[ALIAS])
    try:
        yield reg, _seed(reg)
    finally:
        reg.stop()


@pytest.fixture(params=["basic", "token"])
def seeded(request, basic_registry, token_registry):
    return basic_registry if request.param == "basic" else token_registry


def client_for(reg: service.Registry, **kwargs) -> RegistryClient:
    options = dict(mirrors={ALIAS: reg.url}, ca_file=reg.ca_file, docker_config=reg.docker_config,
                   timeout_s=5.0, skip=("docker.io",))
    options.update(kwargs)
    return RegistryClient(**options)


def test_present_for_every_manifest_kind(seeded):
    reg, digests = seeded
    client = client_for(reg)
    expectations = {
        f"{ALIAS}/app/api:v1": (DOCKER_V2, digests["api"]),
        f"{ALIAS}/app/oci:v1": (OCI_MANIFEST, digests["oci"]),
        f"{ALIAS}/app/multi:v1": (OCI_INDEX, digests["multi"]),
        f"{ALIAS}/app/list:v1": (DOCKER_LIST, digests["list"]),
    }
    for text, (media_type, digest) in expectations.items():
        result = client.check(text)
        assert (result.status, result.media_type, result.digest) == (PRESENT, media_type, digest)
    assert client.check(f"{ALIAS}/app/multi:v1").platforms == ("linux/amd64", "linux/arm64")
    assert client.check(f"{ALIAS}/app/list:v1").platforms == ("linux/amd64", "linux/arm/v7")
    client.close()


def test_registry_address_without_mirror(seeded):
    reg, _ = seeded
    with_address = client_for(reg, mirrors={})
    assert with_address.check(f"{reg.address}/app/api:v1").status == PRESENT


def test_missing_tag_names_the_tags_that_exist(seeded):
    reg, _ = seeded
    result = client_for(reg).check(f"{ALIAS}/app/api:deadbee")
    assert result.status == MISSING
    assert result.detail == "no such tag; the repository has 2 other tag(s): 0123456789ab..., v1"
    assert result.tags == ("0123456789abcdef0123456789abcdef01234567", "v1")


def test_missing_repository(seeded):
    reg, _ = seeded
    result = client_for(reg).check(f"{ALIAS}/app/nothing-here:v1")
    assert (result.status, result.detail) == (MISSING, "the repository does not exist")


def test_index_without_the_platform(seeded):
    reg, _ = seeded
    result = client_for(reg).check(f"{ALIAS}/app/armonly:v1")
    assert result.status == NO_PLATFORM
    assert result.detail == "the index has no linux/amd64 image (it has linux/arm64)"
    arm = client_for(reg, platform="linux/arm64/v8").check(f"{ALIAS}/app/armonly:v1")
    assert arm.status == PRESENT
    assert client_for(reg, platform=None).check(f"{ALIAS}/app/armonly:v1").status == PRESENT


def test_digest_pins(seeded):
    reg, digests = seeded
    client = client_for(reg)
    pinned = client.check(f"{ALIAS}/app/api@{digests['api']}")
    assert (pinned.status, pinned.digest) == (PRESENT, digests["api"])
    both = client.check(f"{ALIAS}/app/multi:v1@{digests['multi']}")
    assert (both.status, both.digest) == (PRESENT, digests["multi"])
    absent = "sha256:" + "0" * 64
    gone = client.check(f"{ALIAS}/app/api@{absent}")
    assert gone.status == MISSING and gone.detail.startswith("no such digest; the repository has")
    # A digest of another repository's manifest is not in this repository.
    assert client.check(f"{ALIAS}/app/oci@{digests['api']}").status == MISSING


def test_skipped_and_unconfigured_registries(seeded):
    reg, _ = seeded
    client = client_for(reg, mirrors={ALIAS: Unset("registries.mirrors.registry.rg.test",
                                                   "RG_TEST_REGISTRY")})
    skipped = client.check("directus/directus:11.13.4")
    assert (skipped.status, skipped.detail) == (SKIPPED, "registry docker.io is in registries.skip")
    unset = client.check(f"{ALIAS}/app/api:v1")
    assert unset.status == NOT_CONFIGURED
    assert "${RG_TEST_REGISTRY} is not set" in unset.detail
    assert client.requests == 0


def _write_config(tmp_path, auths: dict, **extra) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"auths": auths, **extra}))
    return str(path)


def _auth(user: str, password: str) -> dict:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_auth_refused_is_unreachable_and_never_shows_the_password(seeded, tmp_path):
    reg, _ = seeded
    wrong = "not-the-password-" + reg.password[:6]
    config = _write_config(tmp_path, {ALIAS: _auth(reg.username, wrong)})
    client = client_for(reg, docker_config=config)
    with pytest.raises(RegistryUnreachable) as info:
        client.check(f"{ALIAS}/app/api:v1")
    message = str(info.value)
    assert "auth refused" in message and f"auths for {ALIAS}" in message
    assert wrong not in message and reg.password not in message
    assert redact.redact(f"x {wrong} y") == "x *** y"
    # The failure is remembered: a second reference fails at once without new requests.
    sent = client.requests
    with pytest.raises(RegistryUnreachable, match="auth refused"):
        client.check(f"{ALIAS}/app/oci:v1")
    assert client.requests == sent


def test_no_credentials(seeded, tmp_path):
    reg, _ = seeded
    client = client_for(reg, docker_config=_write_config(tmp_path, {}))
    if reg.auth == "basic":
        with pytest.raises(RegistryUnreachable, match="docker config has none for registry.rg"):
            client.check(f"{ALIAS}/app/api:v1")
    else:
        with pytest.raises(RegistryUnreachable, match="token service rejected anonymous access"):
            client.check(f"{ALIAS}/app/api:v1")


def test_credential_helper(seeded, tmp_path, monkeypatch):
    reg, _ = seeded
    bindir = tmp_path / "bin"
    bindir.mkdir()
    helper = bindir / "docker-credential-rgtest"
    calls = tmp_path / "calls"
    helper.write_text("#!/bin/sh\nread server\necho \"$1 $server\" >> " + str(calls) + "\n"
                      f"printf '{{\"ServerURL\": \"%s\", \"Username\": \"{reg.username}\", "
                      f"\"Secret\": \"{reg.password}\"}}' \"$server\"\n")
    helper.chmod(helper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    config = _write_config(tmp_path, {}, credHelpers={ALIAS: "rgtest"})
    result = client_for(reg, docker_config=config).check(f"{ALIAS}/app/api:v1")
    assert result.status == PRESENT
    assert calls.read_text().splitlines() == [f"get {ALIAS}"]


def test_registry_down_is_unreachable_fast(tmp_path):
    port = service.free_port()
    client = RegistryClient(mirrors={ALIAS: f"https://127.0.0.1:{port}"}, timeout_s=2.0,
                            docker_config=_write_config(tmp_path, {}))
    started = time.monotonic()
    with pytest.raises(RegistryUnreachable) as info:
        client.check(f"{ALIAS}/app/api:v1")
    assert time.monotonic() - started < 2.0 * 2  # a refused port fails at once, not per retry
    assert info.value.endpoint == f"https://127.0.0.1:{port}"


def test_registry_that_never_answers_is_bounded_by_the_timeout(tmp_path):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        client = RegistryClient(mirrors={ALIAS: f"https://127.0.0.1:{port}"}, timeout_s=0.5,
                                docker_config=_write_config(tmp_path, {}))
        started = time.monotonic()
        with pytest.raises(RegistryUnreachable, match=r"no complete answer within 0.5s"):
            client.check(f"{ALIAS}/app/api:v1")
        assert time.monotonic() - started < 3.0


def test_untrusted_certificate(basic_registry):
    reg, _ = basic_registry
    with pytest.raises(RegistryUnreachable, match="TLS certificate not trusted"):
        client_for(reg, ca_file=None).check(f"{ALIAS}/app/api:v1")


def test_check_all_batches_tokens_and_shares_requests(token_registry):
    reg, _ = token_registry
    repos = [f"bulk/r{i:02d}" for i in range(45)]
    for repo in repos:
        reg.push_image(repo, ["t1"])
    client = client_for(reg)
    before = len(reg.issuer.requests)
    refs = [f"{ALIAS}/{repo}:t1" for repo in repos] + [f"{ALIAS}/bulk/r00:t1"] * 3
    outcomes = client.check_all(refs)
    assert len(outcomes) == 45
    assert {o.status for o in outcomes.values()} == {PRESENT}
    token_requests = reg.issuer.requests[before:]
    # 45 repositories, 40 per token request: two token requests, one HEAD per reference, one ping.
    assert [len(r["scopes"]) for r in token_requests] == [40, 5]
    assert client.requests == 1 + 2 + 45
    # Results are cached: asking again sends nothing.
    assert client.check(f"{ALIAS}/bulk/r07:t1").status == PRESENT
    assert client.requests == 48


def test_denied_repository_is_a_finding_not_an_error(token_registry, tmp_path):
    reg, _ = token_registry
    original = reg.issuer.token

    def no_access(user, scopes, service=service.SERVICE):
        return original(user, [s for s in scopes if "secret/" not in s], service)

    reg.issuer.token = no_access
    try:
        result = client_for(reg).check(f"{ALIAS}/secret/thing:v1")
    finally:
        reg.issuer.token = original
    assert result.status == DENIED
    assert "refuses to show it" in result.detail


def test_helpers():
    assert parse_challenge('Bearer realm="https://a/token",service="reg",scope="x:y:pull"') == (
        "bearer", {"realm": "https://a/token", "service": "reg", "scope": "x:y:pull"})
    assert parse_challenge('Basic realm="r"') == ("basic", {"realm": "r"})
    assert platform_matches("linux/arm64", "linux/arm64/v8")
    assert platform_matches("linux/arm64/v8", "linux/arm64")
    assert not platform_matches("linux/arm/v7", "linux/arm/v6")
    assert platform_matches("linux/arm", "linux/arm/v7")
    assert not platform_matches("linux/amd64", "windows/amd64")
    assert content_digest(b"x") == ("sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db"
                                    "02258717921a4881")
    assert content_digest(b"x", "sha512:00").startswith("sha512:")
