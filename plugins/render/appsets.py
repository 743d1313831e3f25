"""The parameters of ApplicationSet list and git generators and the templating of an
ApplicationSet's template with them, at the commit under check, as Argo CD does.

Rules from argoproj/argo-cd applicationset/: generators/list.go (ListGenerator.GenerateParams),
generators/git.go (generateParamsFromApps, generateParamsFromGitFile, filterApps),
utils/utils.go (Render.Replace: fasttemplate `{{ key }}` or Go templates with goTemplate), and
controllers (a generator's own template merged over spec.template).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import PurePosixPath
from typing import Any, Callable

from releasegate.core.gitrepo import GitRepo, NotChecked, SourceError
from releasegate.core.helm import load_yaml_documents
from releasegate.render.argocd import same_repo

_TEMPLATED = re.compile(r"\{\{.*?\}\}", re.S)


def sanitize_name(name: str) -> str:
    """utils.SanitizeName: lower case, anything but [a-z0-9.-] becomes '-', trimmed of '-'."""
    return re.sub(r"[^a-z0-9.-]", "-", name.lower()).strip("-")[:253]


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Go's path.Match segment rules (`*` and `?` never cross '/'), with doublestar's `**`."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.find("]", i)
            out.append(pattern[i:end + 1] if end > 0 else re.escape(pattern[i:]))
            i = end + 1 if end > 0 else len(pattern)
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _path_params(path: str, go: bool, filename: str | None = None) -> dict[str, Any]:
    base = PurePosixPath(path).name
    if go:
        obj: dict[str, Any] = {"path": path, "basename": base, "basenameNormalized": sanitize_name(base),
                               "segments": path.split("/")}
        if filename is not None:
            obj.update(filename=filename, filenameNormalized=sanitize_name(filename))
        return {"path": obj}
    flat = {"path": path, "path.basename": base, "path.basenameNormalized": sanitize_name(base)}
    if filename is not None:
        flat.update({"path.filename": filename, "path.filenameNormalized": sanitize_name(filename)})
    flat.update({f"path[{i}]": seg for i, seg in enumerate(path.split("/"))})
    return flat


def _flatten(obj: Any, prefix: str = "") -> dict[str, str]:
    """flatten.Flatten DotStyle, each leaf formatted with %v."""
    if isinstance(obj, dict):
        out: dict[str, str] = {}
        for key, value in obj.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(obj, list):
        out = {}
        for i, value in enumerate(obj):
            out.update(_flatten(value, f"{prefix}.{i}" if prefix else str(i)))
        return out
    text = "true" if obj is True else "false" if obj is False else "<nil>" if obj is None else str(obj)
    return {prefix: text}


def list_params(generator: dict[str, Any], go: bool, where: str) -> list[dict[str, Any]]:
    """ListGenerator.GenerateParams: each element; without goTemplate every value must be a
    string (a `values` map becomes values.<key>)."""
    out = []
    for element in generator.get("elements") or ():
        if go:
            out.append(dict(element))
            continue
        params: dict[str, Any] = {}
        for key, value in element.items():
            pairs = [(f"values.{k}", v) for k, v in value.items()] if key == "values" and \
                isinstance(value, dict) else [(key, value)]
            for name, text in pairs:
                if not isinstance(text, str):
                    raise SourceError(f"{where}: list generator element {key}: error parsing "
                                      "value as string (quote it, or set goTemplate: true)")
                params[name] = text
        out.append(params)
    if generator.get("elementsYaml"):
        out.extend(load_yaml_documents(generator["elementsYaml"], f"{where} elementsYaml")[0] or [])
    return out


def git_params(repo: GitRepo, ref: str, generator: dict[str, Any], go: bool,
               where: str) -> list[dict[str, Any]]:
    """The git generator at the commit under check: directories (filterApps: path.Match, any
    exclude wins) or files (each YAML/JSON object, flattened without goTemplate)."""
    own = repo.remote_url()
    if own and not same_repo(str(generator.get("repoURL") or ""), own):
        raise NotChecked(f"{where}: git generator repoURL {generator.get('repoURL')} is not the "
                         f"repository {repo.name} reads ({own}): not checked")
    files = repo.ls_tree(ref)
    out: list[dict[str, Any]] = []
    if generator.get("directories"):
        dirs = sorted({str(PurePosixPath(f).parent) for f in files} - {"."} |
                      {"/".join(f.split("/")[:i]) for f in files for i in range(1, f.count("/"))})
        rules = [(glob_regex(str(d.get("path", ""))), bool(d.get("exclude")))
                 for d in generator["directories"]]
        for path in dirs:
            hits = [exclude for rx, exclude in rules if rx.match(path)]
            if hits and not any(hits):
                out.append(_path_params(path, go))
    include = [glob_regex(str(e.get("path", ""))) for e in generator.get("files") or ()
               if not e.get("exclude")]
    exclude = [glob_regex(str(e.get("path", ""))) for e in generator.get("files") or ()
               if e.get("exclude")]
    for path in sorted(f for f in files if any(rx.match(f) for rx in include)
                       and not any(rx.match(f) for rx in exclude)):
        docs = load_yaml_documents(repo.show(ref, path), f"{repo.name}:{path}")
        objects = docs[0] if docs and isinstance(docs[0], list) else docs[:1] or [{}]
        for obj in objects:
            params = dict(obj) if go else _flatten(obj)
            params.update(_path_params(str(PurePosixPath(path).parent), go,
                                       PurePosixPath(path).name))
            out.append(params)
    return out


def _walk(node: Any, replace: Callable[[str], str]) -> Any:
    if isinstance(node, dict):
        return {replace(k) if isinstance(k, str) else k: _walk(v, replace) for k, v in node.items()}
    if isinstance(node, list):
        return [_walk(v, replace) for v in node]
    return replace(node) if isinstance(node, str) else node


def fasttemplate(text: str, params: dict[str, Any]) -> str:
    """Render.Replace without goTemplate: `{{ key }}` is the string param, else left as written."""
    def one(match: re.Match[str]) -> str:
        value = params.get(match.group(0)[2:-2].strip())
        return value if isinstance(value, str) else match.group(0)
    return _TEMPLATED.sub(one, text)


def go_templates(texts: list[str], params: dict[str, Any], where: str) -> list[str]:
    """Render.Replace with goTemplate: each text as a Go template (sprig functions) over params,
    with Helm's engine (the same text/template and sprig; Argo CD's own normalize and slugify
    are not there, and a missing key renders empty)."""
    import tempfile
    from pathlib import Path

    import helm_python

    with tempfile.TemporaryDirectory(prefix="releasegate-appset-") as scratch:
        chart = Path(scratch) / "appset"
        (chart / "templates").mkdir(parents=True)
        (chart / "Chart.yaml").write_text("apiVersion: v2\nname: appset\nversion: 0.0.0\n")
        for i, text in enumerate(texts):
            (chart / "templates" / f"t{i}.txt").write_text(
                "{{ with .Values.p }}" + text + "{{ end }}")
        try:
            with helm_python.Chart.load(chart) as loaded:
                out = loaded.render({"p": json.loads(json.dumps(params, default=str))})
        except helm_python.HelmError as exc:
            said = " ".join(line.strip() for line in str(exc).splitlines()[1:]) or str(exc)
            said = re.sub(r'executing "appset/templates/t(\d+)\.txt"',
                          lambda m: f"in {texts[int(m[1])]!r}", said)
            raise SourceError(f"{where}: goTemplate: {said or type(exc).__name__}") from None
    return [out.get(f"appset/templates/t{i}.txt", "") for i in range(len(texts))]


def render_template(template: dict[str, Any], params: dict[str, Any], go: bool,
                    where: str) -> dict[str, Any]:
    """RenderTemplateParams: every string of the template (map keys too) rendered with params."""
    if not go:
        return _walk(template, lambda s: fasttemplate(s, params))
    found: list[str] = []
    _walk(template, lambda s: found.append(s) or s if "{{" in s else s)
    rendered = dict(zip(found, go_templates(found, params, where)))
    return _walk(template, lambda s: rendered.get(s, s))


def merge_template(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        return {**base, **{k: merge_template(base.get(k), v) for k, v in over.items()}}
    return copy.deepcopy(over if over not in (None, "", {}, []) else base)
