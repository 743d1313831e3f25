"""Kustomize sources of Argo CD Applications, built by a kustomize engine found on the machine.

Argo CD applies the Application's `kustomize:` settings with `kustomize edit` on the
kustomization in its checkout, then runs `kustomize build` (util/kustomize/kustomize.go
kustomize.Build); the edits are made here on a scratch copy of the repository at the commit under
check (never the checkout), then `kustomize build` or `kubectl kustomize` renders it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from releasegate.core.gitrepo import GitRepo, NotChecked, SourceError

NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_RENDERS: dict[tuple[Any, ...], tuple[dict[str, Any], ...]] = {}


def engine() -> list[str] | None:
    """The kustomize build command: `kustomize build`, else `kubectl kustomize`, else None."""
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


def _image(spec: str) -> dict[str, str]:
    """`kustomize edit set image` arguments: name=newName:tag, name=newName@digest, name:tag,
    name@digest (kustomize/commands/edit/set/setimage.go)."""
    name, _, new = spec.rpartition("=")
    target = new
    entry: dict[str, str] = {}
    if "@" in target:
        target, entry["digest"] = target.split("@", 1)
    elif ":" in target.rsplit("/", 1)[-1]:
        target, entry["newTag"] = target.rsplit(":", 1)
    if name:
        return {"name": name, "newName": target, **entry}
    return {"name": target, **entry}


def apply_settings(kustomization: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """The kustomization as Argo CD's `kustomize edit` calls leave it (kustomize.Build order)."""
    out = dict(kustomization)
    for key, field in (("namePrefix", "namePrefix"), ("nameSuffix", "nameSuffix")):
        if settings.get(key):
            out[field] = settings[key]  # edit set nameprefix/namesuffix: replaces
    for spec in settings.get("images") or ():
        image = _image(str(spec))
        images = [i for i in out.get("images") or () if i.get("name") != image["name"]]
        out["images"] = [*images, image]
    for replica in settings.get("replicas") or ():
        kept = [r for r in out.get("replicas") or () if r.get("name") != replica.get("name")]
        out["replicas"] = [*kept, {"name": replica.get("name"), "count": int(replica.get("count", 0))}]
    if settings.get("commonLabels"):
        out["commonLabels"] = {**(out.get("commonLabels") or {}), **settings["commonLabels"]}
    if settings.get("commonAnnotations"):
        out["commonAnnotations"] = {**(out.get("commonAnnotations") or {}),
                                    **settings["commonAnnotations"]}
    if settings.get("namespace"):
        out["namespace"] = settings["namespace"]
    if settings.get("patches"):
        out["patches"] = [*(out.get("patches") or ()), *settings["patches"]]
    if settings.get("components"):
        out["components"] = [*(out.get("components") or ()), *settings["components"]]
    return out


def render_kustomize(repo: GitRepo, sha: str, path: str, settings_json: str,
                     namespace: str) -> tuple[dict[str, Any], ...]:
    """Build a kustomization of the repository at a commit with Argo CD's settings applied."""
    command = engine()
    where = f"{repo.name}:{path}"
    if command is None:
        raise NotChecked(f"{where}: not checked: a Kustomize source needs `kustomize` or "
                         "`kubectl` on PATH")
    root = repo.object_at(sha, "")
    key = (str(repo.path), root, path, settings_json, namespace)
    if key in _RENDERS:
        return _RENDERS[key]
    settings = json.loads(settings_json or "{}")
    with tempfile.TemporaryDirectory(prefix="releasegate-kustomize-") as scratch:
        tree = repo.export(sha, "", Path(scratch) / "repo")
        folder = tree / path.strip("/")
        found = next((folder / n for n in NAMES if (folder / n).is_file()), None)
        if found is None:
            raise SourceError(f"{where}: no kustomization.yaml at {sha[:12]}")
        if settings:
            kustomization = yaml.safe_load(found.read_text()) or {}
            found.write_text(yaml.safe_dump(apply_settings(kustomization, settings)))
        try:
            result = subprocess.run([*command, str(folder)], capture_output=True, text=True,
                                    timeout=120)
        except subprocess.TimeoutExpired:
            raise SourceError(f"{where}: {' '.join(command)} took over 120 s") from None
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["failed"])[-1]
        raise SourceError(f"{where}: {' '.join(command)} failed: {last}")
    manifests = [d for d in yaml.safe_load_all(result.stdout) if isinstance(d, dict) and d.get("kind")]
    for manifest in manifests:
        manifest.setdefault("metadata", {}).setdefault("namespace", namespace)
    _RENDERS[key] = tuple(manifests)
    return _RENDERS[key]
