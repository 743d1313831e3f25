"""GitHub Actions workflows: which image repositories a workflow pushes, when, and how it tags them.

Read statically from the YAML (never run): the push triggers (branches, tags, their -ignore lists,
release), each job's matrix (axes, include, exclude), and every image push -- the ``tags`` input of
docker/build-push-action (also via docker/metadata-action outputs) and ``docker build -t`` /
``docker push`` in run scripts. Expressions are resolved as far as the file allows: ``matrix.*``,
``env.*``, ``github.sha`` (a full SHA), ``github.ref_name``, and step outputs computed in run
scripts (``git rev-parse --short HEAD``, ``${GITHUB_SHA::7}``...). A tag becomes a Template: parts
that are literal text, a full SHA, a short SHA, a ref name or a version, or unknown.
"""
from __future__ import annotations

import dataclasses
import functools
import itertools
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from plugins.images import imageref

TEXT, SHA, SHORT, REF, VERSION, ANY = "text", "sha", "short", "ref", "version", "any"
BRANCH, TAG = "branch", "tag"
BUILD_PUSH = "docker/build-push-action"
METADATA = "docker/metadata-action"


class WorkflowError(ValueError):
    """A workflow file that cannot be read; str names the file and the problem."""


# ---------------------------------------------------------------------------------------------
# Templates


@dataclass(frozen=True)
class Part:
    """One piece of a rendered string: literal text or a value known only at run time."""

    kind: str
    text: str = ""      # TEXT: the text; ANY: the unresolved expression
    length: int = 7     # SHORT: how many hex digits


_PART_REGEX = {SHA: "[0-9a-f]{40}", REF: r"[A-Za-z0-9_.-]+",
               VERSION: r"v?\d+(?:\.\d+){0,2}(?:[-+][A-Za-z0-9_.-]+)?", ANY: r".+"}


@dataclass(frozen=True)
class Template:
    """A string with run-time holes; ``matches`` tells whether a concrete value fits it."""

    parts: tuple[Part, ...]

    @classmethod
    def text(cls, value: str) -> Template:
        """A template that is just this text."""
        return cls((Part(TEXT, value),) if value else ())

    def __add__(self, other: Template) -> Template:
        merged: list[Part] = []
        for part in (*self.parts, *other.parts):
            if merged and part.kind == TEXT and merged[-1].kind == TEXT:
                merged[-1] = Part(TEXT, merged[-1].text + part.text)
            elif part.kind != TEXT or part.text:
                merged.append(part)
        return Template(tuple(merged))

    @property
    def literal(self) -> str | None:
        """The text when the template has no holes, else None."""
        if all(p.kind == TEXT for p in self.parts):
            return "".join(p.text for p in self.parts)
        return None

    @property
    def unresolved(self) -> tuple[str, ...]:
        """The expressions that could not be resolved statically."""
        return tuple(p.text for p in self.parts if p.kind == ANY)

    def pattern(self) -> re.Pattern[str]:
        """A regex matching every value this template can produce."""
        pieces = [re.escape(p.text) if p.kind == TEXT else
                  f"[0-9a-f]{{{p.length}}}" if p.kind == SHORT else _PART_REGEX[p.kind]
                  for p in self.parts]
        return re.compile("".join(pieces) + r"\Z")

    def matches(self, value: str) -> bool:
        """True if a run of the workflow could produce ``value``."""
        return self.pattern().match(value) is not None

    def render(self, sha: str, ref_name: str | None = None) -> str | None:
        """The value for a commit (and ref name); None if it needs something unknown."""
        out = []
        for part in self.parts:
            if part.kind == TEXT:
                out.append(part.text)
            elif part.kind == SHA:
                out.append(sha)
            elif part.kind == SHORT:
                out.append(sha[:part.length])
            elif part.kind == REF and ref_name:
                out.append(ref_name)
            elif part.kind == VERSION and ref_name:
                out.append(ref_name.removeprefix("v"))
            else:
                return None
        return "".join(out)

    def describe(self) -> str:
        """How a release manager reads the scheme: 'full SHA', 'short SHA (7)', "'testing'"..."""
        if not self.parts:
            return "''"
        names = {SHA: "full SHA", REF: "branch or tag name", VERSION: "version"}
        words = [names.get(p.kind) or (f"short SHA ({p.length})" if p.kind == SHORT else
                                       f"'{p.text}'" if p.kind == TEXT else
                                       f"unknown {p.text}") for p in self.parts]
        return " + ".join(words)

    def __str__(self) -> str:
        marks = {SHA: "<sha>", REF: "<ref>", VERSION: "<version>"}
        return "".join(p.text if p.kind == TEXT else f"<sha:{p.length}>" if p.kind == SHORT else
                       f"<{p.text}>" if p.kind == ANY else marks[p.kind] for p in self.parts)


# ---------------------------------------------------------------------------------------------
# Triggers (GitHub's filter pattern syntax)


def _glob_regex(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char in "?+" and out:
            out.append(char)                      # zero-or-one / one-or-more of the previous char
        elif char == "[":
            end = pattern.find("]", i)
            if end > i:
                out.append(pattern[i:end + 1])
                i = end + 1
                continue
            out.append(re.escape(char))
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out) + r"\Z")


def filter_matches(patterns: Iterable[str], name: str) -> bool:
    """GitHub's branch/tag filter: the last matching pattern wins, ``!`` negates."""
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        if _glob_regex(pattern[1:] if negate else pattern).match(name):
            result = not negate
    return result


@dataclass(frozen=True)
class RefFilter:
    """Which branches (or tags) a push trigger fires for; None patterns: none at all."""

    include: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()

    def fires(self, name: str) -> bool:
        """True if a push of this branch or tag runs the workflow."""
        if self.include is None:
            return False
        if self.ignore and filter_matches(self.ignore, name):
            return False
        return filter_matches(self.include, name)

    def describe(self) -> str:
        """e.g. ``main, release/**``; ``any`` for every name."""
        if self.include is None:
            return ""
        text = "any" if self.include == ("**",) else ", ".join(self.include)
        return text + (f" (except {', '.join(self.ignore)})" if self.ignore else "")


@dataclass(frozen=True)
class Triggers:
    """The events that run a workflow on a pushed commit."""

    branches: RefFilter = field(default_factory=RefFilter)
    tags: RefFilter = field(default_factory=RefFilter)
    manual: bool = False
    other: tuple[str, ...] = ()

    def fires(self, kind: str, name: str) -> bool:
        """True if pushing branch (kind BRANCH) or tag (kind TAG) ``name`` runs the workflow."""
        return (self.branches if kind == BRANCH else self.tags).fires(name)

    def describe(self) -> str:
        """e.g. ``push to main; tags v*.*.*``."""
        parts = []
        if self.branches.include is not None:
            parts.append(f"push to {self.branches.describe()}")
        if self.tags.include is not None:
            parts.append(f"tags {self.tags.describe()}")
        if self.manual:
            parts.append("manual runs")
        return "; ".join(parts) or "no push trigger"


# ---------------------------------------------------------------------------------------------
# The workflow


@dataclass(frozen=True)
class Push:
    """One image a workflow pushes: repository and tag templates, where in the file, and when."""

    image: Template
    tag: Template
    job: str
    step: str
    events: frozenset[str] = frozenset({BRANCH, TAG})
    branches: tuple[str, ...] | None = None       # from an `if: github.ref == ...`

    def repository_matches(self, name: str) -> bool:
        """True if this push targets the normalised repository ``name`` (registry/path)."""
        literal = self.image.literal
        if literal is not None:
            try:
                return imageref.parse(literal).name == name
            except imageref.InvalidReference:
                return literal == name
        return self.image.matches(name)

    def applies(self, kind: str, name: str) -> bool:
        """True if this push happens on a push of branch/tag ``name`` (given the trigger fires)."""
        if kind not in self.events:
            return False
        return self.branches is None or kind != BRANCH or filter_matches(self.branches, name)


@dataclass(frozen=True)
class Workflow:
    """What a workflow file tells about image builds."""

    path: str
    name: str
    triggers: Triggers
    pushes: tuple[Push, ...]
    notes: tuple[str, ...] = ()

    @property
    def file(self) -> str:
        """The file name, as people call the workflow (``ci.yml``)."""
        return self.path.rsplit("/", 1)[-1]

    def pushes_of(self, repository: str) -> list[Push]:
        """The pushes of one normalised repository name."""
        return [p for p in self.pushes if p.repository_matches(repository)]

    def builds(self, kind: str, name: str) -> bool:
        """True if pushing branch/tag ``name`` runs this workflow."""
        return self.triggers.fires(kind, name)


def _load_yaml(text: str, path: str) -> Any:
    yaml = YAML(typ="safe", pure=True)
    try:
        return yaml.load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else path
        raise WorkflowError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None


def parse(text: str, path: str = "workflow.yml",
          read: Callable[[str], str] | None = None) -> Workflow:
    """Read a workflow file's text; raise WorkflowError naming the file for unreadable input.

    ``read(path)`` returns another file of the same repository at the same commit: with it, jobs
    that call a local reusable workflow (``uses: ./.github/workflows/build.yml``) are followed."""
    data = _load_yaml(text, path)
    if not isinstance(data, dict):
        raise WorkflowError(f"{path}: expected a mapping at the top, got {type(data).__name__}")
    # YAML 1.1 loaders read the key `on` as True; accept both spellings.
    on = data.get("on", data.get(True))
    if on is None:
        raise WorkflowError(f"{path}: no 'on:' trigger")
    triggers = _triggers(on, path)
    jobs = data.get("jobs")
    if not isinstance(jobs, dict) or not jobs:
        raise WorkflowError(f"{path}: no jobs")
    notes: list[str] = []
    pushes: list[Push] = []
    workflow_env = _mapping(data.get("env"))
    for job_id, job in jobs.items():
        if not isinstance(job, dict):
            continue
        if isinstance(job.get("uses"), str):
            pushes.extend(_called_pushes(str(job_id), job, workflow_env, notes, read))
        else:
            pushes.extend(_job_pushes(str(job_id), job, workflow_env, notes))
    if triggers.other:
        notes.append(f"other triggers not treated as builds of pushed commits: "
                     f"{', '.join(triggers.other)}")
    return Workflow(path, str(data.get("name") or path.rsplit("/", 1)[-1]), triggers,
                    tuple(pushes), tuple(notes))


@functools.lru_cache(maxsize=256)
def at_commit(repo: Any, sha: str, path: str) -> Workflow:
    """The workflow file `path` of a GitRepo at a commit (local reusable workflows read at the same
    commit). Raises gitrepo.Absent when the file does not exist there, SourceError when it is unreadable."""
    from plugins.core.gitrepo import SourceError

    try:
        return parse(repo.show(sha, path), path, read=lambda other: repo.show(sha, other))
    except WorkflowError as exc:
        raise SourceError(f"builds: {repo.name}@{sha[:12]}: {exc}") from None


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    return (str(value),)


def _mapping(value: Any) -> dict[str, Any]:
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}


def _triggers(on: Any, path: str) -> Triggers:
    events: dict[str, Any]
    if isinstance(on, str):
        events = {on: None}
    elif isinstance(on, list):
        events = {str(e): None for e in on}
    elif isinstance(on, dict):
        events = {str(k): v for k, v in on.items()}
    else:
        raise WorkflowError(f"{path}: 'on:' must be an event, a list or a mapping")
    branches, tags = RefFilter(), RefFilter()
    if "push" in events:
        push = _mapping(events["push"])
        has_branches = "branches" in push or "branches-ignore" in push
        has_tags = "tags" in push or "tags-ignore" in push
        if has_branches or not has_tags:
            branches = RefFilter(_strings(push.get("branches")) or ("**",),
                                 _strings(push.get("branches-ignore")))
        if has_tags or not has_branches:
            tags = RefFilter(_strings(push.get("tags")) or ("**",),
                             _strings(push.get("tags-ignore")))
    if "release" in events and tags.include is None:
        tags = RefFilter(("**",))
    ignored = {"push", "release", "workflow_dispatch", "pull_request", "pull_request_target"}
    return Triggers(branches, tags, "workflow_dispatch" in events,
                    tuple(sorted(e for e in events if e not in ignored)))


def expand_matrix(matrix: Any) -> list[dict[str, Any]] | None:
    """The job's matrix combinations with GitHub's include/exclude rules; None when computed at
    run time (``${{ fromJSON(...) }}``)."""
    if matrix is None:
        return [{}]
    if not isinstance(matrix, dict):
        return None
    axes = {str(k): v for k, v in matrix.items() if k not in ("include", "exclude")}
    if any(not isinstance(v, list) for v in axes.values()):
        return None
    combos = [dict(zip(axes, values)) for values in itertools.product(*axes.values())] \
        if axes else []
    excludes = matrix.get("exclude") or []
    if not isinstance(excludes, list):
        return None
    combos = [c for c in combos if not any(
        isinstance(e, dict) and all(c.get(str(k)) == v for k, v in e.items()) for e in excludes)]
    includes = matrix.get("include") or []
    if not isinstance(includes, list):
        return None
    originals = list(combos)
    for include in includes:
        if not isinstance(include, dict):
            continue
        include = {str(k): v for k, v in include.items()}
        targets = [c for c in originals
                   if all(c.get(k) == v for k, v in include.items() if k in axes)] if axes else []
        for combo in targets:
            combo.update(include)
        if not targets:
            combos.append(dict(include))
    return combos or [{}]


# ---------------------------------------------------------------------------------------------
# Expressions and shell


_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}", re.S)
_SHELL_FORMS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], Part | None]]] = [
    (re.compile(r"\$\(\s*git\s+rev-parse\s+--short(?:=(\d+))?\s+HEAD\s*\)"),
     lambda m: Part(SHORT, length=int(m[1] or 7))),
    (re.compile(r"\$\(\s*git\s+rev-parse\s+HEAD\s*\)"), lambda m: Part(SHA)),
    (re.compile(r"\$\{GITHUB_SHA:(?:0)?:(\d+)\}"), lambda m: Part(SHORT, length=int(m[1]))),
    (re.compile(r"\$\(\s*echo\s+\"?\$\{?GITHUB_SHA\}?\"?\s*\|\s*cut\s+-c\s*1-(\d+)\s*\)"),
     lambda m: Part(SHORT, length=int(m[1]))),
    (re.compile(r"\$\(\s*echo\s+\"?\$\{?GITHUB_SHA\}?\"?\s*\|\s*head\s+-c\s*(\d+)\s*\)"),
     lambda m: Part(SHORT, length=int(m[1]))),
    (re.compile(r"\$\{?GITHUB_SHA\}?"), lambda m: Part(SHA)),
    (re.compile(r"\$\{?GITHUB_REF_NAME\}?|\$\{GITHUB_REF#refs/\*/\}|\$\{GITHUB_REF##\*/\}"),
     lambda m: Part(REF)),
    (re.compile(r"\$\(.*?\)"), lambda m: Part(ANY, m[0])),
    (re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?"), lambda m: None),   # a variable: look it up
]
_OUTPUT_LINE = re.compile(
    r"""echo\s+["']?([A-Za-z_][\w-]*)=(.*?)["']?\s*>>\s*["']?\$\{?GITHUB_(OUTPUT|ENV)\}?["']?""")
_SET_OUTPUT = re.compile(r"""::set-output\s+name=([\w-]+)::(.*?)["']?\s*$""")
_ASSIGNMENT = re.compile(r"""^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$""")


@dataclass
class _Scope:
    """What an expression can see at one step of one job, for one matrix combination."""

    matrix: dict[str, Any]
    env: dict[str, Any]
    outputs: dict[str, dict[str, Template]]       # step id -> output -> template
    shell: dict[str, Template] = field(default_factory=dict)
    metadata: dict[str, list[tuple[Template, Template, frozenset[str]]]] = field(
        default_factory=dict)
    inputs: dict[str, Template] = field(default_factory=dict)   # of a reusable workflow
    depth: int = 0


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def evaluate(expression: str, scope: _Scope) -> Template:
    """One ``${{ }}`` expression as a template (ANY when it cannot be known statically)."""
    expression = expression.strip()
    if "||" in expression:
        for alternative in expression.split("||"):
            value = evaluate(alternative, scope)
            if value.parts and not value.unresolved:
                return value
        return Template((Part(ANY, expression),))
    if expression[:1] in "'\"":
        return Template.text(_unquote(expression))
    if expression in ("github.sha", "github.event.after"):
        return Template((Part(SHA),))
    if expression in ("github.ref_name", "github.event.release.tag_name"):
        return Template((Part(REF),))
    head, _, rest = expression.partition(".")
    if head == "matrix" and rest:
        value: Any = scope.matrix
        for key in rest.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None and not isinstance(value, (dict, list)):
            return _render_text(str(value), scope)
    elif head == "env" and rest in scope.env:
        return _env_value(scope.env[rest], scope)
    elif head == "inputs" and rest in scope.inputs:
        return scope.inputs[rest]
    elif head == "steps":
        step_id, _, output = rest.partition(".outputs.")
        found = scope.outputs.get(step_id, {}).get(output)
        if found is not None:
            return found
    return Template((Part(ANY, expression),))


def _env_value(value: Any, scope: _Scope) -> Template:
    """An env entry: a template written to GITHUB_ENV by a run step, or YAML text."""
    return value if isinstance(value, Template) else _render_text(str(value), scope)


def _render_text(text: str, scope: _Scope) -> Template:
    """Text with ``${{ }}`` expressions in it, as a template."""
    if scope.depth > 8:
        return Template((Part(ANY, text),))
    inner = dataclasses.replace(scope, depth=scope.depth + 1)
    result, position = Template(()), 0
    for match in _EXPRESSION.finditer(text):
        result = result + Template.text(text[position:match.start()]) + evaluate(match[1], inner)
        position = match.end()
    return result + Template.text(text[position:])


def shell_value(text: str, scope: _Scope) -> Template:
    """A shell word as a template: ``$(git rev-parse --short HEAD)``, ``${GITHUB_SHA::7}``..."""
    text = _unquote(text)
    base = _render_text(text, scope)
    result = Template(())
    for part in base.parts:
        if part.kind != TEXT:
            result = result + Template((part,))
            continue
        result = result + _shell_text(part.text, scope)
    return result


def _shell_text(text: str, scope: _Scope) -> Template:
    result, position = Template(()), 0
    while position < len(text):
        best: tuple[int, re.Match[str], Callable[[re.Match[str]], Part | None]] | None = None
        for pattern, make in _SHELL_FORMS:
            match = pattern.search(text, position)
            if match and (best is None or match.start() < best[0]):
                best = (match.start(), match, make)
        if best is None:
            break
        start, match, make = best
        result = result + Template.text(text[position:start])
        part = make(match)
        if part is None:
            name = match[1]
            known = scope.shell.get(name)
            if known is None and name in scope.env:
                known = _env_value(scope.env[name], scope)
            result = result + (known if known is not None else Template((Part(ANY, match[0]),)))
        else:
            result = result + Template((part,))
        position = match.end()
    return result + Template.text(text[position:])


def _run_lines(script: str) -> list[str]:
    """Logical lines of a run script; ``${{ }}`` squeezed so a shell word stays one word."""
    script = _EXPRESSION.sub(lambda m: "${{" + re.sub(r"\s+", "", m[1]) + "}}", script)
    return script.replace("\\\n", " ").splitlines()


def _read_run(script: str, scope: _Scope) -> tuple[dict[str, Template], dict[str, Template]]:
    """Outputs and GITHUB_ENV variables a run script writes, as templates."""
    outputs: dict[str, Template] = {}
    env: dict[str, Template] = {}
    for line in _run_lines(script):
        assignment = _ASSIGNMENT.match(line)
        if assignment and "GITHUB_" not in assignment[1]:
            scope.shell[assignment[1]] = shell_value(assignment[2], scope)
        for match in _OUTPUT_LINE.finditer(line):
            value = shell_value(match[2], scope)
            (outputs if match[3] == "OUTPUT" else env)[match[1]] = value
        legacy = _SET_OUTPUT.search(line)
        if legacy:
            outputs[legacy[1]] = shell_value(legacy[2], scope)
    return outputs, env


def _split_image(template: Template) -> tuple[Template, Template] | None:
    """Split ``name:tag`` at the last ':' of literal text after the last '/' (no tag: latest)."""
    parts = list(template.parts)
    for index in range(len(parts) - 1, -1, -1):
        part = parts[index]
        if part.kind != TEXT:
            continue
        colon = part.text.rfind(":")
        slash = part.text.rfind("/")
        if colon > slash:
            name = Template(tuple(parts[:index])) + Template.text(part.text[:colon])
            tag = Template.text(part.text[colon + 1:]) + Template(tuple(parts[index + 1:]))
            if any(p.kind == TEXT and "/" in p.text for p in tag.parts):
                return None
            return name, tag
        if slash >= 0:
            return template, Template.text("latest")
    return None


# ---------------------------------------------------------------------------------------------
# Jobs and steps


_IF_BRANCH = re.compile(r"github\.ref\s*==\s*'refs/heads/([^']+)'"
                        r"|github\.ref_name\s*==\s*'([^']+)'")
_IF_TAGS = re.compile(r"startsWith\(\s*github\.ref\s*,\s*'refs/tags/")
_IF_HEADS = re.compile(r"startsWith\(\s*github\.ref\s*,\s*'refs/heads/")


def _condition(value: Any) -> tuple[frozenset[str], tuple[str, ...] | None]:
    """Events and branches an ``if:`` restricts a job or step to (simple forms only)."""
    text = str(value or "")
    if not text or "||" in text:
        return frozenset({BRANCH, TAG}), None
    branches = tuple(a or b for a, b in _IF_BRANCH.findall(text))
    if branches and "!=" not in text:
        return frozenset({BRANCH}), branches
    if _IF_TAGS.search(text) and "!" + "startsWith" not in text.replace(" ", ""):
        return frozenset({TAG}), None
    if _IF_HEADS.search(text) and "!" + "startsWith" not in text.replace(" ", ""):
        return frozenset({BRANCH}), None
    return frozenset({BRANCH, TAG}), None


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value or "").strip().lower()
    return bool(text) and text not in ("false", "0", "no", "off")


def _combinations(job_id: str, job: dict, notes: list[str]) -> list[dict[str, Any]]:
    """A job's matrix combinations; one empty one (and a note) when computed at run time."""
    strategy = job.get("strategy") if isinstance(job.get("strategy"), dict) else {}
    combos = expand_matrix(strategy.get("matrix"))
    if combos is None:
        notes.append(f"job {job_id}: the matrix is computed at run time; its images are unknown")
        return [{}]
    return combos


def _job_pushes(job_id: str, job: dict, workflow_env: dict[str, Any], notes: list[str],
                inputs: dict[str, Template] | None = None) -> list[Push]:
    combos = _combinations(job_id, job, notes)
    job_events, job_branches = _condition(job.get("if"))
    pushes: dict[tuple, Push] = {}
    for combo in combos:
        env = {**workflow_env, **_mapping(job.get("env"))}
        scope = _Scope(combo, env, {}, inputs=dict(inputs or {}))
        for index, step in enumerate(job.get("steps") or []):
            if not isinstance(step, dict):
                continue
            step_name = str(step.get("name") or step.get("id") or step.get("uses") or
                            f"step {index + 1}")
            step_scope = dataclasses.replace(scope, env={**scope.env,
                                                         **_mapping(step.get("env"))}, shell={})
            events, branches = _condition(step.get("if"))
            events &= job_events
            branches = branches or job_branches
            found = _step_pushes(step, step_scope, notes, job_id)
            for image, tag, step_events in found:
                push = Push(image, tag, job_id, step_name, events & step_events, branches)
                pushes.setdefault((image, tag, push.events, branches), push)
            if step.get("run"):
                outputs, env_writes = _read_run(str(step["run"]), step_scope)
                if step.get("id"):
                    scope.outputs.setdefault(str(step["id"]), {}).update(outputs)
                scope.env.update(env_writes)
    return list(pushes.values())


def _called_pushes(job_id: str, job: dict, workflow_env: dict[str, Any], notes: list[str],
                   read: Callable[[str], str] | None) -> list[Push]:
    """Pushes of a job that calls a reusable workflow, once per matrix combination, with the
    ``with:`` inputs rendered in the caller's scope."""
    uses = str(job["uses"])
    if not uses.startswith("./") or read is None:
        notes.append(f"job {job_id}: calls {uses}, which is not read")
        return []
    path = uses[2:].split("@", 1)[0]
    try:
        called = _load_yaml(read(path), path)
    except Exception as exc:  # noqa: BLE001 - a missing or broken file is a note, not a crash
        notes.append(f"job {job_id}: cannot read {path}: {exc}")
        return []
    if not isinstance(called, dict) or not isinstance(called.get("jobs"), dict):
        notes.append(f"job {job_id}: {path} has no jobs")
        return []
    on = called.get("on", called.get(True))
    declared = _mapping(_mapping(_mapping(on).get("workflow_call")).get("inputs"))
    combos = _combinations(job_id, job, notes)
    events, branches = _condition(job.get("if"))
    pushes: dict[tuple, Push] = {}
    for combo in combos:
        caller = _Scope(combo, {**workflow_env, **_mapping(job.get("env"))}, {})
        inputs = {name: _render_text(str(_mapping(spec).get("default", "")), caller)
                  for name, spec in declared.items() if "default" in _mapping(spec)}
        inputs.update({name: _render_text(str(value), caller)
                       for name, value in _mapping(job.get("with")).items()})
        for called_id, called_job in called["jobs"].items():
            if not isinstance(called_job, dict):
                continue
            for push in _job_pushes(f"{job_id}/{called_id}", called_job,
                                    _mapping(called.get("env")), notes, inputs):
                push = dataclasses.replace(push, events=push.events & events,
                                           branches=push.branches or branches)
                pushes.setdefault((push.image, push.tag, push.events, push.branches), push)
    return list(pushes.values())


def _step_pushes(step: dict, scope: _Scope, notes: list[str],
                 job_id: str) -> list[tuple[Template, Template, frozenset[str]]]:
    uses = str(step.get("uses") or "")
    inputs = _mapping(step.get("with"))
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


def _tag_list(text: str, scope: _Scope, notes: list[str],
              job_id: str) -> list[tuple[Template, Template, frozenset[str]]]:
    found = []
    for entry in re.split(r"[\n,]", text):
        entry = entry.strip()
        if not entry:
            continue
        meta = re.fullmatch(r"\$\{\{\s*steps\.([\w-]+)\.outputs\.tags\s*\}\}", entry)
        if meta and meta[1] in scope.metadata:
            found.extend(scope.metadata[meta[1]])
            continue
        split = _split_image(_render_text(entry, scope))
        if split is None:
            notes.append(f"job {job_id}: cannot tell the tag of {entry!r}")
            continue
        found.append((*split, frozenset({BRANCH, TAG})))
    return found


def _docker_cli(script: str, scope: _Scope) -> list[tuple[Template, Template, frozenset[str]]]:
    """Images tagged by ``docker build -t`` / ``docker tag`` that the script pushes."""
    scope = dataclasses.replace(scope, shell=dict(scope.shell))
    _read_run(script, scope)       # shell variables assigned before the docker commands
    lines = _run_lines(script)
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
                split = _split_image(template)
                if split:
                    found.append((*split, frozenset({BRANCH, TAG})))
    return found


def _metadata_tags(inputs: dict[str, Any],
                   scope: _Scope) -> list[tuple[Template, Template, frozenset[str]]]:
    """docker/metadata-action: every image times every tag rule."""
    images = []
    for line in re.split(r"[\n,]", str(inputs.get("images") or "")):
        line = line.strip()
        if line and not line.startswith(("enable=", "#")):
            images.append(_render_text(line.removeprefix("name="), scope))
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
            tags.append((prefix + _render_text(rule["value"], scope) + suffix,
                         frozenset({BRANCH, TAG})))
        elif kind == "edge":
            tags.append((prefix + Template.text("edge") + suffix,
                         frozenset({BRANCH})))
    return [(image, tag, events) for image in images for tag, events in tags]


# ---------------------------------------------------------------------------------------------
# Parity: does some workflow build what an environment deploys, tagged the way it deploys it?


@dataclass(frozen=True)
class Target:
    """What an environment deploys, as pushes that build it: branch names and tag names."""

    branches: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    label: str = ""

    def describe(self) -> str:
        """e.g. ``branch testing``, or the label given (``release tags v*.*.* or branch main``)."""
        if self.label:
            return self.label
        parts = [f"branch {b}" for b in self.branches] + [f"tag {t}" for t in self.tags]
        return " or ".join(parts)


@dataclass(frozen=True)
class Builder:
    """One workflow push of a repository, and whether it serves a target."""

    workflow: Workflow
    push: Push
    triggered: bool        # the workflow runs for the commits the target deploys
    tag_fits: bool         # its tag template can produce the deployed tag

    def describe(self) -> str:
        """e.g. ``testing.yml (on push to testing, tagged short SHA (7))``."""
        return (f"{self.workflow.file} (on {self.workflow.triggers.describe()}, tagged "
                f"{self.push.tag.describe()})")


def builders(workflows: Iterable[Workflow], repository: str, tag: str | None,
             target: Target) -> list[Builder]:
    """Every push of ``repository`` in the workflows, judged against a deploy target and tag."""
    out = []
    for workflow in workflows:
        for push in workflow.pushes_of(repository):
            triggered = any(workflow.builds(BRANCH, b) and push.applies(BRANCH, b)
                            for b in target.branches) or \
                any(workflow.builds(TAG, t) and push.applies(TAG, t) for t in target.tags)
            fits = tag is None or push.tag.matches(tag)
            out.append(Builder(workflow, push, triggered, fits))
    return out


def fitting_workflows(workflows: Iterable[Workflow], tag: str | None,
                      target: Target) -> list[Workflow]:
    """Workflows that already push some repository for the target with a tag scheme that fits
    ``tag``: where a missing repository belongs."""
    out = []
    for workflow in workflows:
        for push in workflow.pushes:
            runs = any(workflow.builds(BRANCH, b) and push.applies(BRANCH, b)
                       for b in target.branches) or \
                any(workflow.builds(TAG, t) and push.applies(TAG, t) for t in target.tags)
            if runs and (tag is None or push.tag.matches(tag)):
                out.append(workflow)
                break
    return out


def sample_tag(glob: str) -> str:
    """A tag name that a release-tag glob matches, e.g. v1.0.0 for ``v*.*.*``."""
    return re.sub(r"\*+", "1", glob).replace("?", "")
