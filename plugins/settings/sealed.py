"""Which keys a secret holds, by name and namespace, read from every manifest that makes a Secret.

Sealed values cannot be read (that is the point of sealing); only key names are known.
A SealedSecret's keys are its `spec.encryptedData` keys plus any plain `spec.template.data`
keys; a Secret's are its `data` and `stringData` keys; an operator's object (External Secrets,
Vault operators, Strimzi, cert-manager) gives the Secret its documentation says it makes
(producers.PRODUCERS), with its keys when git names them, else keys unknown.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable

from releasegate.settings.producers import producer_of


@dataclass(frozen=True)
class SecretKeys:
    """The keys of one secret as an environment will hold it."""

    kind: str
    name: str
    namespace: str | None  # None: created in whatever namespace the manifest is applied to
    keys: frozenset[str]
    origin: str
    known: bool = True  # False: the keys come from a store outside git (`source` says which)
    source: str = "git"  # where the values come from, e.g. "ClusterSecretStore vault via ExternalSecret db"


def secret_keys(documents: Iterable[Any], origin: str) -> list[SecretKeys]:
    """Every Secret that a manifest among parsed YAML documents makes, with its key names."""
    found = []
    for doc in documents:
        producer = producer_of(doc)
        made = producer.read(doc) if producer else None
        if made is None:
            continue
        name, keys, source = made
        what = origin if producer.kind in ("Secret", "SealedSecret") else f"{origin} ({producer.kind} {name})"
        found.append(SecretKeys(producer.kind, name, (doc.get("metadata") or {}).get("namespace"),
                                keys if keys is not None else frozenset(), what, keys is not None, source))
    return found


class SecretIndex:
    """Secrets an environment holds, looked up by name within a namespace."""

    def __init__(self, secrets: Iterable[SecretKeys]) -> None:
        self.secrets = list(secrets)

    def find(self, name: str, namespace: str) -> SecretKeys | None:
        """The secret called `name` in `namespace` (a manifest without namespace matches any)."""
        exact = [s for s in self.secrets if s.name == name and s.namespace == namespace]
        loose = [s for s in self.secrets if s.name == name and not s.namespace]
        return (exact or loose or [None])[0]

    def with_keys(self, listed: dict[str, tuple[str, ...]]) -> SecretIndex:
        """The index with the keys the environments file lists (gitops.secret_keys) for secrets whose
        keys come from a store outside git."""
        if not listed:
            return self
        return SecretIndex(replace(s, keys=frozenset(listed[s.name]), known=True,
                                   origin=f"{s.origin}, keys as gitops.secret_keys lists them")
                           if not s.known and s.name in listed else s for s in self.secrets)

    def others(self, name: str) -> list[SecretKeys]:
        """Secrets of that name in any namespace (to explain a namespace mismatch)."""
        return [s for s in self.secrets if s.name == name]
