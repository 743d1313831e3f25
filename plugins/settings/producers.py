"""Objects whose documented output is a Secret: which secret each makes, and which keys it holds.

One row per kind, each citing the documentation it follows. A row reads one manifest and gives the
secret's name, its keys when git says them (None: the keys come from a store outside git), and a
few words naming where the values come from. A kind that is not a producer (External Secrets'
`PushSecret` reads a Secret and writes it to a store) has no row. Bank-Vaults injects values into
pods through its webhook (`vault:` references in env), which makes no Secret: no row either.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

Made = tuple[str, "frozenset[str] | None", str]  # (secret name, keys or None, where values come from)


@dataclass(frozen=True)
class Producer:
    """A kind whose controller makes a Secret, and how to read what it makes."""

    kind: str
    group: str  # the apiVersion group ("" for the core group)
    docs: str
    read: Callable[[Mapping[str, Any]], "Made | None"]


def _meta(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    return doc.get("metadata") or {}


def _name(doc: Mapping[str, Any]) -> str:
    return str(_meta(doc).get("name", ""))


def _secret(doc: Mapping[str, Any]) -> Made:
    return _name(doc), frozenset(str(k) for k in (doc.get("data") or {}) | (doc.get("stringData") or {})), "git"


def _sealed(doc: Mapping[str, Any]) -> Made:
    # The controller names the Secret after the SealedSecret itself (the template's metadata gives
    # labels, annotations and type); keys: encryptedData plus the template's plain data.
    spec = doc.get("spec") or {}
    template = spec.get("template") or {}
    keys = set(spec.get("encryptedData") or {}) | set(template.get("data") or {})
    return _name(doc), frozenset(str(k) for k in keys), "git (sealed)"


def _external_spec(spec: Mapping[str, Any], default_name: str, label: str) -> Made | None:
    target = spec.get("target") or {}
    if target.get("creationPolicy") == "None":
        return None  # the operator writes into no Secret of its own
    name = str(target.get("name") or default_name)
    store = spec.get("secretStoreRef") or {}
    where = f"{store.get('kind', 'SecretStore')} {store.get('name', '?')} via {label}"
    data_keys = {str(d.get("secretKey")) for d in spec.get("data") or [] if isinstance(d, dict)}
    template = target.get("template") or {}
    if spec.get("dataFrom") or template.get("templateFrom") or target.get("creationPolicy") == "Merge":
        return name, None, where
    if template.get("data") is not None or template.get("templateFrom") is not None:
        template_keys = {str(k) for k in template.get("data") or {}}
        keys = template_keys | data_keys if template.get("mergePolicy") == "Merge" else template_keys
        return name, frozenset(keys), where
    return name, frozenset(data_keys), where


def _external_secret(doc: Mapping[str, Any]) -> Made | None:
    return _external_spec(doc.get("spec") or {}, _name(doc), f"ExternalSecret {_name(doc)}")


def _cluster_external_secret(doc: Mapping[str, Any]) -> Made | None:
    spec = doc.get("spec") or {}
    es_name = str(spec.get("externalSecretName") or _name(doc))
    return _external_spec(spec.get("externalSecretSpec") or {}, es_name, f"ClusterExternalSecret {_name(doc)}")


def _vso(doc: Mapping[str, Any]) -> Made | None:
    destination = (doc.get("spec") or {}).get("destination") or {}
    if not destination.get("create"):
        return None  # create: false writes into a Secret that must exist already
    spec = doc.get("spec") or {}
    path = spec.get("path") or spec.get("role") or spec.get("commonName") or "?"
    return str(destination.get("name", "")), None, f"Vault {spec.get('mount', '?')}/{path} via {doc['kind']} {_name(doc)}"


def _ricoberger(doc: Mapping[str, Any]) -> Made:
    spec = doc.get("spec") or {}
    keys = spec.get("templates") or spec.get("keys")
    where = f"Vault {spec.get('path', '?')} via VaultSecret {_name(doc)}"
    if spec.get("templates"):
        return _name(doc), frozenset(str(k) for k in spec["templates"]), where
    return _name(doc), frozenset(str(k) for k in keys) if keys else None, where


_KAFKA_USER_KEYS = {"tls": ("ca.crt", "user.crt", "user.key", "user.p12", "user.password"),
                    "scram-sha-512": ("password", "sasl.jaas.config")}


def _kafka_user(doc: Mapping[str, Any]) -> Made | None:
    kind = str(((doc.get("spec") or {}).get("authentication") or {}).get("type", ""))
    if kind not in _KAFKA_USER_KEYS:
        return None  # no authentication, or tls-external: the User Operator makes no credentials Secret
    return _name(doc), frozenset(_KAFKA_USER_KEYS[kind]), f"the Strimzi User Operator via KafkaUser {_name(doc)}"


def _kafka_access(doc: Mapping[str, Any]) -> Made:
    return _name(doc), None, f"the Kafka cluster and user via KafkaAccess {_name(doc)}"


def _certificate(doc: Mapping[str, Any]) -> Made | None:
    spec = doc.get("spec") or {}
    if not spec.get("secretName"):
        return None
    keys = {"tls.crt", "tls.key", "ca.crt"}
    formats = {str(f.get("type")) for f in spec.get("additionalOutputFormats") or [] if isinstance(f, dict)}
    keys |= {"tls-combined.pem"} if "CombinedPEM" in formats else set()
    keys |= {"key.der"} if "DER" in formats else set()
    return str(spec["secretName"]), frozenset(keys), f"cert-manager via Certificate {_name(doc)}"


PRODUCERS: tuple[Producer, ...] = (
    Producer("Secret", "", "https://kubernetes.io/docs/concepts/configuration/secret/", _secret),
    Producer("SealedSecret", "bitnami.com",
             "https://github.com/bitnami-labs/sealed-secrets#sealedsecrets-as-templates-for-secrets", _sealed),
    Producer("ExternalSecret", "external-secrets.io",
             "https://external-secrets.io/latest/api/externalsecret/", _external_secret),
    Producer("ClusterExternalSecret", "external-secrets.io",
             "https://external-secrets.io/latest/api/clusterexternalsecret/", _cluster_external_secret),
    Producer("VaultStaticSecret", "secrets.hashicorp.com",
             "https://developer.hashicorp.com/vault/docs/platform/k8s/vso/api-reference#destination", _vso),
    Producer("VaultDynamicSecret", "secrets.hashicorp.com",
             "https://developer.hashicorp.com/vault/docs/platform/k8s/vso/api-reference#destination", _vso),
    Producer("VaultPKISecret", "secrets.hashicorp.com",
             "https://developer.hashicorp.com/vault/docs/platform/k8s/vso/api-reference#destination", _vso),
    Producer("VaultSecret", "ricoberger.de",
             "https://github.com/ricoberger/vault-secrets-operator#usage", _ricoberger),
    Producer("KafkaUser", "kafka.strimzi.io",
             "https://strimzi.io/docs/operators/latest/configuring.html#type-KafkaUserSpec-reference", _kafka_user),
    Producer("KafkaAccess", "access.strimzi.io",
             "https://github.com/strimzi/kafka-access-operator#using-the-kafka-access-operator", _kafka_access),
    Producer("Certificate", "cert-manager.io",
             "https://cert-manager.io/docs/usage/certificate/#target-secret", _certificate),
)


def producer_of(doc: Any) -> Producer | None:
    """The row for a manifest's kind and apiVersion group, or None when it makes no Secret."""
    if not isinstance(doc, dict):
        return None
    api = str(doc.get("apiVersion") or "")
    group = api.rpartition("/")[0]
    return next((p for p in PRODUCERS if p.kind == doc.get("kind") and (p.group == group or not api)), None)
