"""Secrets made by operators: which Secret each kind makes and which keys it holds (producers.PRODUCERS),
then the secret-keys check over them: known keys are checked, unknown keys are "not checked", and a
secret nothing in git makes stays a blocker.

Each row follows the operator's documentation (cited per case below and in plugins/settings/producers.py).
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from releasegate.core.manifests import workloads
from releasegate.settings import finding, sealed
from releasegate.settings.kubelet_env import environments, objects
from releasegate.settings.producers import producer_of
from releasegate.settings.secret_keys import secret_findings

ES = "external-secrets.io/v1beta1"
STORE = {"secretStoreRef": {"kind": "ClusterSecretStore", "name": "vault"}}


def _doc(api: str, kind: str, name: str, spec: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": "app"},
            **({"spec": spec} if spec is not None else {}), **top}


# (case, manifest, (secret name, keys or None) or None: makes no Secret, words of the source)
CASES = [
    # https://kubernetes.io/docs/concepts/configuration/secret/: data and stringData keys
    ("secret", _doc("v1", "Secret", "s", data={"A": "eA=="}, stringData={"B": "b"}), ("s", {"A", "B"}), "git"),
    # https://github.com/bitnami-labs/sealed-secrets: the Secret is named after the SealedSecret;
    # keys: encryptedData plus the template's plain data
    ("sealed", _doc("bitnami.com/v1alpha1", "SealedSecret", "s", {
        "encryptedData": {"A": "Ag..."}, "template": {"metadata": {"name": "ignored"}, "data": {"B": "b"}}}),
     ("s", {"A", "B"}), "git (sealed)"),
    # https://external-secrets.io/latest/api/externalsecret/: target.name defaults to metadata.name;
    # data[].secretKey are the keys
    ("es data", _doc(ES, "ExternalSecret", "db", {**STORE, "data": [
        {"secretKey": "DATABASE_URL", "remoteRef": {"key": "db", "property": "url"}}]}),
     ("db", {"DATABASE_URL"}), "ClusterSecretStore vault via ExternalSecret db"),
    ("es target name", _doc(ES, "ExternalSecret", "db", {**STORE, "target": {"name": "app-db"}, "data": [
        {"secretKey": "PASSWORD", "remoteRef": {"key": "db"}}]}), ("app-db", {"PASSWORD"}), "ExternalSecret db"),
    # dataFrom extracts every key of a remote secret: the keys live in the store
    ("es dataFrom", _doc(ES, "ExternalSecret", "db", {**STORE, "dataFrom": [{"extract": {"key": "db"}}]}),
     ("db", None), "ClusterSecretStore vault via ExternalSecret db"),
    # https://external-secrets.io/latest/guides/templating/: mergePolicy Replace (default) keeps only the
    # template's keys, Merge adds them to data's
    ("es template replace", _doc(ES, "ExternalSecret", "db", {**STORE, "target": {"template": {
        "data": {"DSN": "postgres://{{ .user }}"}}}, "data": [{"secretKey": "user", "remoteRef": {"key": "u"}}]}),
     ("db", {"DSN"}), "ExternalSecret db"),
    ("es template merge", _doc(ES, "ExternalSecret", "db", {**STORE, "target": {"template": {
        "mergePolicy": "Merge", "data": {"DSN": "x"}}}, "data": [{"secretKey": "user", "remoteRef": {"key": "u"}}]}),
     ("db", {"DSN", "user"}), "ExternalSecret db"),
    # target.creationPolicy None: the operator makes no Secret; Merge: into one whose other keys git does not say
    ("es creation none", _doc(ES, "ExternalSecret", "db", {**STORE, "target": {"creationPolicy": "None"}}), None, ""),
    ("es creation merge", _doc(ES, "ExternalSecret", "db", {**STORE, "target": {"creationPolicy": "Merge"}, "data": [
        {"secretKey": "A", "remoteRef": {"key": "a"}}]}), ("db", None), "ExternalSecret db"),
    # https://external-secrets.io/latest/api/clusterexternalsecret/: externalSecretName defaults to the name
    ("ces", _doc(ES, "ClusterExternalSecret", "shared", {"externalSecretSpec": {**STORE, "data": [
        {"secretKey": "TOKEN", "remoteRef": {"key": "t"}}]}}), ("shared", {"TOKEN"}), "ClusterExternalSecret shared"),
    # https://external-secrets.io/latest/api/pushsecret/: reads a Secret, writes a store: makes none
    ("push secret", _doc("external-secrets.io/v1alpha1", "PushSecret", "p", {"selector": {"secret": {"name": "s"}}}),
     None, ""),
    # https://developer.hashicorp.com/vault/docs/platform/k8s/vso/api-reference#destination: destination.name,
    # made only with create: true; the keys are Vault's
    ("vso static", _doc("secrets.hashicorp.com/v1beta1", "VaultStaticSecret", "v", {
        "mount": "kv", "path": "app/db", "destination": {"name": "app-db", "create": True}}),
     ("app-db", None), "Vault kv/app/db via VaultStaticSecret v"),
    ("vso dynamic no create", _doc("secrets.hashicorp.com/v1beta1", "VaultDynamicSecret", "v", {
        "mount": "db", "path": "creds/app", "destination": {"name": "app-db"}}), None, ""),
    ("vso pki", _doc("secrets.hashicorp.com/v1beta1", "VaultPKISecret", "v", {
        "mount": "pki", "role": "app", "destination": {"name": "tls", "create": True}}), ("tls", None), "VaultPKISecret v"),
    # https://github.com/ricoberger/vault-secrets-operator#usage: the Secret is named after the VaultSecret;
    # spec.keys picks keys (else every key of the Vault secret)
    ("ricoberger keys", _doc("ricoberger.de/v1alpha1", "VaultSecret", "creds", {"path": "kv/creds", "keys": ["user"]}),
     ("creds", {"user"}), "Vault kv/creds via VaultSecret creds"),
    ("ricoberger all", _doc("ricoberger.de/v1alpha1", "VaultSecret", "creds", {"path": "kv/creds"}),
     ("creds", None), "VaultSecret creds"),
    # https://strimzi.io/docs/operators/latest/configuring.html (KafkaUser authentication): a Secret named after
    # the user; tls: ca.crt user.crt user.key user.p12 user.password; scram-sha-512: password sasl.jaas.config
    ("kafka user tls", _doc("kafka.strimzi.io/v1beta2", "KafkaUser", "u", {"authentication": {"type": "tls"}}),
     ("u", {"ca.crt", "user.crt", "user.key", "user.p12", "user.password"}), "KafkaUser u"),
    ("kafka user scram", _doc("kafka.strimzi.io/v1beta2", "KafkaUser", "u", {"authentication": {
        "type": "scram-sha-512"}}), ("u", {"password", "sasl.jaas.config"}), "KafkaUser u"),
    ("kafka user none", _doc("kafka.strimzi.io/v1beta2", "KafkaUser", "u", {}), None, ""),
    # https://github.com/strimzi/kafka-access-operator: a Secret named after the KafkaAccess
    ("kafka access", _doc("access.strimzi.io/v1alpha1", "KafkaAccess", "a", {"kafka": {"name": "k"}}),
     ("a", None), "KafkaAccess a"),
    # https://cert-manager.io/docs/usage/certificate/#target-secret: spec.secretName; tls.crt, tls.key, ca.crt,
    # plus additionalOutputFormats (CombinedPEM: tls-combined.pem, DER: key.der)
    ("certificate", _doc("cert-manager.io/v1", "Certificate", "c", {"secretName": "c-tls",
                                                                   "additionalOutputFormats": [{"type": "DER"}]}),
     ("c-tls", {"tls.crt", "tls.key", "ca.crt", "key.der"}), "cert-manager via Certificate c"),
    ("other group", _doc("example.test/v1", "Certificate", "c", {"secretName": "x"}), None, ""),
]


@pytest.mark.parametrize(("manifest", "made", "source"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_what_each_kind_makes(manifest: dict[str, Any], made: tuple[str, set[str] | None] | None,
                              source: str) -> None:
    found = sealed.secret_keys([manifest], "chart")
    if made is None:
        assert found == []
        return
    [one] = found
    name, keys = made
    assert (one.name, one.namespace, one.known) == (name, "app", keys is not None)
    assert one.keys == frozenset(keys or ())
    assert source in one.source


def test_every_row_cites_its_documentation() -> None:
    from releasegate.settings.producers import PRODUCERS

    assert all(p.docs.startswith("https://") for p in PRODUCERS)
    assert producer_of({"kind": "Secret"}) is not None  # a manifest without apiVersion: by kind


def _pod(*env: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": "app"},
            "spec": {"template": {"spec": {"containers": [{"name": "api", "image": "r.test/api:1", "env": list(env)}]}}}}


def _ref(var: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


MAKERS = [CASES[2][1], CASES[4][1], CASES[14][1]]  # ExternalSecret db (data), db (dataFrom), VaultSecret creds


@pytest.mark.parametrize(("maker", "ref", "listed", "severity", "words"), [
    (0, ("DATABASE_URL", "db", "DATABASE_URL"), {}, None, ""),  # a key the ExternalSecret names
    (0, ("PASSWORD", "db", "PASSWORD"), {}, finding.BLOCK,
     "secret db key PASSWORD (PASSWORD for api) is not in chart (ExternalSecret db): the pods will not start "
     "(CreateContainerConfigError); add the key to chart (ExternalSecret db)"),
    (1, ("PASSWORD", "db", "PASSWORD"), {}, finding.SKIPPED,
     "prod: not checked: keys of secret db come from ClusterSecretStore vault via ExternalSecret db; list them "
     "under environments.prod.gitops.secret_keys.db to check PASSWORD (PASSWORD for api)"),
    (1, ("PASSWORD", "db", "PASSWORD"), {"db": ("PASSWORD",)}, None, ""),  # the keys listed: checked, present
    (1, ("PASSWORD", "db", "PASSWORD"), {"db": ("USER",)}, finding.BLOCK, "is not in chart (ExternalSecret db)"),
    (2, ("USER", "creds", "user"), {}, None, ""),  # VaultSecret spec.keys
    (2, ("TOKEN", "nothing", "token"), {}, finding.BLOCK,  # nothing in git makes it: still a blocker
     "prod: secret nothing key token (TOKEN for api) is needed, but no secret nothing exists in namespace app"),
])
def test_secret_keys_over_operator_secrets(maker: int, ref: tuple[str, str, str], listed: dict[str, tuple[str, ...]],
                                           severity: str | None, words: str) -> None:
    """Known keys are checked; unknown keys are "not checked" naming the store, the kind and what would let it
    check (gitops.secret_keys); a secret that nothing in git makes stays a blocker."""
    manifests = [MAKERS[maker], _pod(_ref(*ref))]
    index = sealed.SecretIndex(sealed.secret_keys(manifests, "chart")).with_keys(listed)
    envs = environments(workloads(manifests), objects(manifests, index))
    found = secret_findings(SimpleNamespace(name="prod"), envs, index)
    if severity is None:
        assert found == []
        return
    [one] = found
    assert one.severity == severity and words in one.message, one.message


def test_env_from_a_secret_whose_keys_live_in_a_store_is_opaque() -> None:
    """envFrom of an ExternalSecret with dataFrom: which variables it sets is unknown, so the container's
    environment says so (the required-fields check then says "not checked" instead of "no variable sets it")."""
    pod = _pod()
    pod["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [{"secretRef": {"name": "db"}}]
    manifests = [CASES[4][1], pod]
    index = sealed.SecretIndex(sealed.secret_keys(manifests, "chart"))
    [env] = environments(workloads(manifests), objects(manifests, index))
    assert env.opaque == ("envFrom of secret db, whose keys come from ClusterSecretStore vault via ExternalSecret db",)
    known = [CASES[2][1], pod]
    [env] = environments(workloads(known), objects(known, sealed.SecretIndex(sealed.secret_keys(known, "chart"))))
    assert env.opaque == () and "DATABASE_URL" in env.vars


EXTERNAL = """apiVersion: external-secrets.io/v1beta1
kind: ExternalSecret
metadata:
  name: backend-secrets
  namespace: app-prod
spec:
  secretStoreRef: {kind: ClusterSecretStore, name: vault}
  {body}
---
"""


@pytest.mark.parametrize(("body", "listed", "outcome", "words"), [
    ("dataFrom: [{extract: {key: app/backend}}]", "", "skipped",
     "production: not checked: keys of secret backend-secrets come from ClusterSecretStore vault via ExternalSecret "
     "backend-secrets; list them under environments.production.gitops.secret_keys.backend-secrets to check "
     "SMTP_PASSWORD"),
    ("dataFrom: [{extract: {key: app/backend}}]", "{backend-secrets: [DATABASE_URL, JWT_SECRET, SMTP_PASSWORD]}",
     "passed", ""),
    ("dataFrom: [{extract: {key: app/backend}}]", "{backend-secrets: [DATABASE_URL, JWT_SECRET]}", "failed",
     "keys as gitops.secret_keys lists them"),
    ("data: [{secretKey: DATABASE_URL, remoteRef: {key: db}}, {secretKey: JWT_SECRET, remoteRef: {key: jwt}}]", "",
     "failed", "is not in secrets/sealed-backend-secrets-prod.yaml (ExternalSecret backend-secrets): the pods will "
               "not start (CreateContainerConfigError); add the key to"),
    ("data: [{secretKey: SMTP_PASSWORD, remoteRef: {key: smtp}}]", "", "passed", ""),
])
def test_the_demo_secret_made_by_an_external_secret(pytester: pytest.Pytester, estate_copy, body: str, listed: str,
                                                    outcome: str, words: str) -> None:
    """The demo's planted SMTP_PASSWORD blocker with production's backend-secrets made by an ExternalSecret
    (a gitops.secrets manifest) instead of a SealedSecret: known keys are checked, dataFrom keys are not
    checked unless gitops.secret_keys lists them."""
    import json
    import shutil
    import subprocess

    from conftest import ROOT, demo_environments

    gitops = estate_copy / "gitops"
    manifest = gitops / "secrets/sealed-backend-secrets-prod.yaml"
    text = manifest.read_text()
    manifest.write_text(EXTERNAL.replace("{body}", body) + text[text.index("---\n") + 4:])
    subprocess.run(["git", "-C", str(gitops), "-c", "user.name=t", "-c", "user.email=t@t.test", "commit", "-qam",
                    "prod: backend secrets from vault"], check=True)
    environments = demo_environments(estate_copy)
    if listed:
        line = "      secrets: [secrets/sealed-backend-secrets-prod.yaml]\n"
        environments = environments.replace(line, line + f"      secret_keys: {listed}\n")
    (pytester.path / "environments.yaml").write_text(environments)
    pytester.makeconftest('pytest_plugins = ["releasegate.plugin"]')
    shutil.copy(ROOT / "checks" / "test_settings.py", pytester.path / "test_settings.py")
    report = pytester.path / "run.json"
    pytester.runpytest("-p", "no:cacheprovider", f"--report-json={report}", "--env=production", "-m", "prerelease",
                       "-k", "test_secret_keys and SMTP_PASSWORD")
    [record] = [r for r in json.loads(report.read_text())["records"] if r["check"] == "test_secret_keys"]
    assert record["outcome"] == outcome, record["message"]
    assert words in record["message"]
