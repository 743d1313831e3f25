"""Docker reference grammar: the normalisation the Docker CLI applies, and clear errors."""
from __future__ import annotations

import pytest

from releasegate.images import imageref
from releasegate.images.imageref import ImageRef, InvalidReference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("text, registry, repository, tag, digest", [
    ("nginx", "docker.io", "library/nginx", "latest", None),
    ("nginx:1.25", "docker.io", "library/nginx", "1.25", None),
    ("bitnami/redis:7", "docker.io", "bitnami/redis", "7", None),
    ("docker.io/nginx", "docker.io", "library/nginx", "latest", None),
    ("index.docker.io/library/nginx:1", "docker.io", "library/nginx", "1", None),
    ("localhost/app", "localhost", "app", "latest", None),
    ("localhost:5000/team/app:dev", "localhost:5000", "team/app", "dev", None),
    ("127.0.0.1:5443/app/api:abc", "127.0.0.1:5443", "app/api", "abc", None),
    ("[::1]:5000/app:1", "[::1]:5000", "app", "1", None),
    ("ghcr.io/org/sub/app:v1.2.3", "ghcr.io", "org/sub/app", "v1.2.3", None),
    ("Registry/app", "Registry", "app", "latest", None),  # upper case first part: a host
    ("registry.demo.test/app/api@" + DIGEST, "registry.demo.test", "app/api", None, DIGEST),
    ("registry.demo.test/app/api:1.0@" + DIGEST, "registry.demo.test", "app/api", "1.0", DIGEST),
    ("a/b__c/d-e.f_g:T_a.g-1", "docker.io", "a/b__c/d-e.f_g", "T_a.g-1", None),
])
def test_parse_normalises_like_docker(text, registry, repository, tag, digest):
    ref = imageref.parse(text)
    found = (ref.registry, ref.repository, ref.tag, ref.digest)
    assert found == (registry, repository, tag, digest)


def test_reference_name_and_str():
    ref = imageref.parse("registry.demo.test:8443/app/api:1.0@" + DIGEST)
    assert ref.name == "registry.demo.test:8443/app/api"
    assert ref.reference == DIGEST
    assert str(ref) == f"registry.demo.test:8443/app/api:1.0@{DIGEST}"
    assert imageref.parse("nginx:1").reference == "1"
    assert imageref.parse("nginx").familiar == "nginx:latest"
    assert imageref.parse("docker.io/bitnami/redis:7").familiar == "bitnami/redis:7"
    retagged = imageref.parse("nginx@" + DIGEST).with_tag("2")
    assert retagged == ImageRef("docker.io", "library/nginx", "2")


@pytest.mark.parametrize("text, reason", [
    ("", "empty"),
    (" nginx", "whitespace"),
    ("nginx :1", "whitespace"),
    ("Nginx", "lowercase"),
    ("docker.io/Library/nginx", "lowercase"),
    ("registry.demo.test/app/API:1", "lowercase"),
    ("app:", "tag ''"),
    ("app:-bad", "tag '-bad'"),
    ("app:" + "x" * 129, "tag"),
    ("app@sha256:1234", "digest"),
    ("app@sha256:" + "AB" * 32, "lowercase hex"),
    ("app@md5", "digest"),
    ("registry.demo.test//app", "path component ''"),
    ("registry.demo.test/app-/x", "path component 'app-'"),
    ("registry.demo.test/_app", "path component"),
    ("-host.test/app", "registry host"),
    ("registry.demo.test:/app", "registry host"),
    (":tag", "no repository name"),
    ("a" * 256, "longer than 255"),
])
def test_parse_rejects_with_reason(text, reason):
    with pytest.raises(InvalidReference) as info:
        imageref.parse(text)
    assert reason in str(info.value)
    assert repr(text) in str(info.value)


def test_parse_rejects_non_string():
    with pytest.raises(InvalidReference, match="not a string"):
        imageref.parse(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("tag, description", [
    ("0123456789abcdef0123456789abcdef01234567", "full SHA"),
    ("3f2a1b9", "short SHA (7)"),
    ("3f2a1b9c0d", "short SHA (10)"),
    ("1234567", "fixed word '1234567'"),
    ("v1.4.1", "version"),
    ("1.4.1-rc.1", "version"),
    ("testing", "fixed word 'testing'"),
    (None, "digest only"),
])
def test_describe_tag(tag, description):
    assert imageref.describe_tag(tag) == description
