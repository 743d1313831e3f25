"""The generators of an ApplicationSet, combined as Argo CD combines them, and the Applications
they generate.

Rules from argoproj/argo-cd applicationset/: generators/matrix.go (MatrixGenerator.GenerateParams:
two generators, the second rendered with each parameter set of the first; without goTemplate
utils.CombineStringMaps refuses a key with two values, with it the first generator's values
win), generators/merge.go (MergeGenerator: the first generator's sets, each overridden by the
sets of the others with the same mergeKeys values; a merge key repeated in the base is an error),
generators/generator_spec_processor.go (a generator's `selector` keeps the sets whose params
match; its own `template` merged over spec.template).
"""

from __future__ import annotations

import json
from typing import Any

from releasegate.core.gitrepo import GitRepo, NotChecked, SourceError
from releasegate.render.appsets import git_params, list_params, merge_template, render_template

_OWN = ("template", "selector")


def _kind(generator: dict[str, Any]) -> str:
    return next((k for k in generator if k not in _OWN), "?")


def _lookup(params: dict[str, Any], key: str) -> Any:
    if key in params:
        return params[key]
    node: Any = params
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _selected(params: list[dict[str, Any]], selector: dict[str, Any], key: str) -> list[dict[str, Any]]:
    if selector.get("matchExpressions"):
        raise NotChecked(f"{key}.selector.matchExpressions is not applied here: not checked")
    labels = selector.get("matchLabels") or {}
    return [p for p in params if all(str(_lookup(p, k)) == str(v) for k, v in labels.items())]


def generator_params(repo: GitRepo, ref: str, generator: dict[str, Any], go: bool, key: str,
                     outer: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The parameter sets of one generator (interpolated with a matrix's outer set first)."""
    kind = _kind(generator)
    key = f"{key}.{kind}" if not key.endswith(kind) else key
    if outer:
        generator = render_template(generator, outer, go, key)
    body = generator.get(kind) or {}
    if kind == "list":
        params = list_params(body, go, key)
    elif kind == "git":
        params = git_params(repo, ref, body, go, key)
    elif kind == "matrix":
        params = _matrix(repo, ref, body, go, key)
    elif kind == "merge":
        params = _merge(repo, ref, body, go, key)
    else:
        raise NotChecked(f"{key}: the {kind} generator is not rendered here: not checked "
                         "(list, git, matrix and merge generators are)")
    return _selected(params, generator["selector"], key) if generator.get("selector") else params


def _children(body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    children = body.get("generators") or []
    return [json.loads(c) if isinstance(c, str) else c for c in children]  # nested: JSON text


def _matrix(repo: GitRepo, ref: str, body: dict[str, Any], go: bool, key: str) -> list[dict[str, Any]]:
    children = _children(body, key)
    if len(children) != 2:
        raise SourceError(f"{key}: a matrix generator takes exactly two generators")
    out = []
    for a in generator_params(repo, ref, children[0], go, f"{key}.generators[0]"):
        for b in generator_params(repo, ref, children[1], go, f"{key}.generators[1]", a):
            if go:
                out.append(merge_template(b, a))
                continue
            clash = next((k for k in a if k in b and a[k] != b[k]), None)
            if clash is not None:
                raise SourceError(f"{key}: found duplicate key {clash} with different value, "
                                  f"a: {a[clash]} ,b: {b[clash]}")
            out.append({**a, **b})
    return out


def _merge(repo: GitRepo, ref: str, body: dict[str, Any], go: bool, key: str) -> list[dict[str, Any]]:
    keys = list(body.get("mergeKeys") or ())
    children = _children(body, key)
    if not keys or not children:
        raise SourceError(f"{key}: a merge generator needs mergeKeys and generators")
    sets = [generator_params(repo, ref, c, go, f"{key}.generators[{i}]") for i, c in enumerate(children)]

    def merge_key(params: dict[str, Any]) -> str:
        return json.dumps({k: _lookup(params, k) for k in keys}, sort_keys=True, default=str)

    base: dict[str, dict[str, Any]] = {}
    for params in sets[0]:
        if merge_key(params) in base:
            raise SourceError(f"{key}: non-unique merge key {merge_key(params)} in the first generator")
        base[merge_key(params)] = dict(params)
    for others in sets[1:]:
        by_key = {merge_key(p): p for p in others}
        for mkey, params in base.items():
            if mkey in by_key:
                base[mkey] = merge_template(params, by_key[mkey]) if go else {**params, **by_key[mkey]}
    return list(base.values())


def generate(repo: GitRepo, ref: str, appset: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """Every Application an ApplicationSet generates at a ref."""
    spec = appset.get("spec") or {}
    go = bool(spec.get("goTemplate"))
    if spec.get("templatePatch"):
        raise NotChecked(f"{where}: spec.templatePatch is not applied here: not checked")
    apps = []
    for index, generator in enumerate(spec.get("generators") or ()):
        key = f"{where} spec.generators[{index}]"
        params = generator_params(repo, ref, generator, go, key)
        kind = _kind(generator)
        template = merge_template(spec.get("template") or {}, (generator.get(kind) or {}).get("template") or {})
        for one in params:
            app = render_template(template, one, go, f"{key}.{kind}")
            apps.append({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", **app})
    return apps
