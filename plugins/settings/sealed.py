"""Which keys a secret holds, by name and namespace, read from SealedSecret or Secret manifests.

Sealed values cannot be read (that is the point of sealing); only key names are known.
A SealedSecret's keys are its `spec.encryptedData` keys plus any plain `spec.template.data`
keys; a Secret's are its `data` and `stringData` keys.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable


@dataclass(frozen=True)
class SecretKeys:
    """The keys of one secret as an environment will hold it."""

    kind: str
    name: str
    namespace: str | None  # None: created in whatever namespace the manifest is applied to
    keys: frozenset[str]
    origin: str


def secret_keys(documents: Iterable[Any], origin: str) -> list[SecretKeys]:
    """Every SealedSecret/Secret among parsed YAML documents, with its key names."""
    found = []
    for doc in documents:
        if not isinstance(doc, dict) or doc.get("kind") not in ("SealedSecret", "Secret"):
            continue
        meta = doc.get("metadata") or {}
        if doc["kind"] == "SealedSecret":
            spec = doc.get("spec") or {}
            template = spec.get("template") or {}
            keys = set(spec.get("encryptedData") or {}) | set(template.get("data") or {})
        else:
            keys = set(doc.get("data") or {}) | set(doc.get("stringData") or {})
        found.append(SecretKeys(doc["kind"], str(meta.get("name", "")), meta.get("namespace"),
                                frozenset(str(k) for k in keys), origin))
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

    def others(self, name: str) -> list[SecretKeys]:
        """Secrets of that name in any namespace (to explain a namespace mismatch)."""
        return [s for s in self.secrets if s.name == name]
