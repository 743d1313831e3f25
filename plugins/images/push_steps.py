"""Which images a workflow step pushes, and with which tags.

docker/build-push-action with ``push: true`` (its ``tags`` input, also via docker/metadata-action
outputs), docker/metadata-action's tag rules, and ``docker build -t`` / ``docker tag`` /
``docker push`` in run scripts.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any

from releasegate.images.expressions import Scope, render_text
from releasegate.images.run_scripts import read_run, run_lines, shell_value
from releasegate.images.templates import ANY, REF, SHA, SHORT, VERSION, Part, Template, split_image
from releasegate.images.triggers import BRANCH, TAG
from releasegate.images.workflow_yaml import mapping

BUILD_PUSH = "docker/build-push-action"
METADATA = "docker/metadata-action"


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value or "").strip().lower()
    return bool(text) and text not in ("false", "0", "no", "off")


def step_pushes(step: dict, scope: Scope, notes: list[str],
                job_id: str) -> list[tuple[Template, Template, frozenset[str]]]:
    """(image, tag, events) of every image the step pushes; a metadata-action step records its
    tags in the scope for a later build step instead."""
    uses = str(step.get("uses") or "")
    inputs = mapping(step.get("with"))
    if uses.startswith(METADATA) and step.get("id"):
        scope.metadata[str(step["id"])] = _metadata_tags(inputs, scope)
        outputs = scope.outputs.setdefault(str(step["id"]), {})
        outputs["version"] = Template((Part(ANY, "metadata version"),))
        return []
    if uses.startswith(BUILD_PUSH):
        if not _truthy(inputs.get("push")):
            return []
        return _tag_list(str(inputs.get("tags") or ""), scope, notes, job_id)
    if step.get("run"):
        return _docker_cli(str(step["run"]), scope)
    return []


def _tag_list(text: str, scope: Scope, notes: list[str],
              job_id: str) -> list[tuple[Template, Template, frozenset[str]]]:
    found = []
    # a comma inside ${{ }} (format('{0}:{1}', ...)) is the expression's, not a list separator
    for entry in re.findall(r"(?:\$\{\{.*?\}\}|\$(?!\{\{)|[^\n,$])+", text, re.S):
        entry = entry.strip()
        if not entry:
            continue
        meta = re.fullmatch(r"\$\{\{\s*steps\.([\w-]+)\.outputs\.tags\s*\}\}", entry)
        if meta and meta[1] in scope.metadata:
            found.extend(scope.metadata[meta[1]])
            continue
        split = split_image(render_text(entry, scope))
        if split is None:
            notes.append(f"job {job_id}: cannot tell the tag of {entry!r}")
            continue
        found.append((*split, frozenset({BRANCH, TAG})))
    return found


def _docker_cli(script: str, scope: Scope) -> list[tuple[Template, Template, frozenset[str]]]:
    """Images tagged by ``docker build -t`` / ``docker tag`` that the script pushes."""
    scope = dataclasses.replace(scope, shell=dict(scope.shell))
    read_run(script, scope)       # shell variables assigned before the docker commands
    lines = run_lines(script)
    pushed_all = any(re.search(r"--push\b", line) for line in lines)
    pushed = [shell_value(m, scope) for line in lines
              for m in re.findall(r"docker\s+(?:image\s+)?push\s+(?:-\S+\s+)*(\S+)", line)]
    found = []
    for line in lines:
        if not re.search(r"docker\s+(?:buildx\s+)?(?:build|tag)\b", line):
            continue
        names = re.findall(r"(?:-t|--tag)[=\s]+(\S+)", line)
        tag_cmd = re.search(r"docker\s+tag\s+\S+\s+(\S+)", line)
        if tag_cmd:
            names.append(tag_cmd[1])
        for name in names:
            template = shell_value(name, scope)
            if pushed_all or template in pushed or any(
                    str(template).startswith(str(p)) for p in pushed):
                split = split_image(template)
                if split:
                    found.append((*split, frozenset({BRANCH, TAG})))
    return found


def _metadata_tags(inputs: dict[str, Any],
                   scope: Scope) -> list[tuple[Template, Template, frozenset[str]]]:
    """docker/metadata-action: every image times every tag rule."""
    images = []
    for line in re.split(r"[\n,]", str(inputs.get("images") or "")):
        line = line.strip()
        if line and not line.startswith(("enable=", "#")):
            images.append(render_text(line.removeprefix("name="), scope))
    rules_text = str(inputs.get("tags") or "type=ref,event=branch\ntype=ref,event=tag")
    tags: list[tuple[Template, frozenset[str]]] = []
    for rule_line in rules_text.splitlines():
        rule = dict(item.partition("=")[::2] for item in rule_line.strip().split(",")
                    if "=" in item)
        kind = rule.get("type", "")
        prefix = Template.text(rule.get("prefix", ""))
        suffix = Template.text(rule.get("suffix", ""))
        if kind == "sha":
            if "prefix" not in rule:
                prefix = Template.text("sha-")
            body = Template((Part(SHA),)) if rule.get("format") == "long" else \
                Template((Part(SHORT, length=7),))
            tags.append((prefix + body + suffix, frozenset({BRANCH, TAG})))
        elif kind == "ref" and rule.get("event") in (BRANCH, TAG):
            tags.append((prefix + Template((Part(REF),)) + suffix,
                         frozenset({rule["event"]})))
        elif kind == "semver":
            tags.append((prefix + Template((Part(VERSION),)) + suffix, frozenset({TAG})))
        elif kind == "raw" and rule.get("value"):
            tags.append((prefix + render_text(rule["value"], scope) + suffix,
                         frozenset({BRANCH, TAG})))
        elif kind == "edge":
            tags.append((prefix + Template.text("edge") + suffix,
                         frozenset({BRANCH})))
    return [(image, tag, events) for image in images for tag, events in tags]
