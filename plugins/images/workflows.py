"""GitHub Actions workflows: which image repositories a workflow pushes, when, and how it tags them.

Read statically from the YAML (never run): the push triggers (branches, tags, their -ignore lists,
release), each job's matrix (axes, include, exclude), and every image push -- the ``tags`` input of
docker/build-push-action (also via docker/metadata-action outputs) and ``docker build -t`` /
``docker push`` in run scripts. Expressions are resolved as far as the file allows: ``matrix.*``,
``env.*``, ``github.sha`` (a full SHA), ``github.ref_name``, and step outputs computed in run
scripts (``git rev-parse --short HEAD``, ``${GITHUB_SHA::7}``...). A tag becomes a Template: parts
that are literal text, a full SHA, a short SHA, a ref name or a version, or unknown.

This module reads the file and its jobs; the pieces live beside it: triggers.py (the ``on:``
filters), matrix.py, expressions.py and run_scripts.py (what a value becomes), push_steps.py (the
pushes of one step), templates.py (Template); builders.py judges pushes against a deploy target.
"""
from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass
from typing import Any, Callable

from releasegate.images import imageref
from releasegate.images.expressions import Scope, render_text
from releasegate.images.matrix import job_combinations
from releasegate.images.push_steps import step_pushes
from releasegate.images.run_scripts import read_run
from releasegate.images.templates import Template
from releasegate.images.triggers import BRANCH, TAG, Triggers, filter_matches, read_triggers
from releasegate.images.workflow_yaml import WorkflowError, load_yaml, mapping


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
    unread: tuple[str, ...] = ()  # reusable workflows a job calls that could not be read (`uses`)

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


def parse(text: str, path: str = "workflow.yml", read: Callable[[str], str] | None = None,
          read_remote: Callable[[str], Any] | None = None) -> Workflow:
    """Read a workflow file's text; raise WorkflowError naming the file for unreadable input.

    ``read(path)`` returns another file of the same repository at the same commit: with it, jobs
    that call a local reusable workflow (``uses: ./.github/workflows/build.yml``) are followed.
    ``read_remote(uses)`` reads another repository's (reusable.reader): (text, path, read) or why not."""
    data = load_yaml(text, path)
    if not isinstance(data, dict):
        raise WorkflowError(f"{path}: expected a mapping at the top, got {type(data).__name__}")
    # YAML 1.1 loaders read the key `on` as True; accept both spellings.
    on = data.get("on", data.get(True))
    if on is None:
        raise WorkflowError(f"{path}: no 'on:' trigger")
    triggers = read_triggers(on, path)
    jobs = data.get("jobs")
    if not isinstance(jobs, dict) or not jobs:
        raise WorkflowError(f"{path}: no jobs")
    notes: list[str] = []
    unread: list[str] = []
    pushes: list[Push] = []
    workflow_env = mapping(data.get("env"))
    for job_id, job in jobs.items():
        if not isinstance(job, dict):
            continue
        if isinstance(job.get("uses"), str):
            pushes.extend(_called_pushes(str(job_id), job, workflow_env, notes, read, read_remote, unread))
        else:
            pushes.extend(_job_pushes(str(job_id), job, workflow_env, notes))
    if triggers.other:
        notes.append(f"other triggers not treated as builds of pushed commits: "
                     f"{', '.join(triggers.other)}")
    return Workflow(path, str(data.get("name") or path.rsplit("/", 1)[-1]), triggers,
                    tuple(pushes), tuple(notes), tuple(dict.fromkeys(unread)))


@functools.lru_cache(maxsize=256)
def at_commit(repo: Any, sha: str, path: str, others: tuple[tuple[str, Any], ...] = ()) -> Workflow:
    """The workflow file `path` of a GitRepo at a commit (local reusable workflows read at the same
    commit, other repositories' from `others`, the (source name, GitRepo) of each source). Raises
    gitrepo.Absent when the file does not exist there, SourceError when it is unreadable."""
    from releasegate.core.gitrepo import SourceError
    from releasegate.images.reusable import reader

    try:
        return parse(repo.show(sha, path), path, read=lambda other: repo.show(sha, other),
                     read_remote=reader(others) if others else None)
    except WorkflowError as exc:
        raise SourceError(f"builds: {repo.name}@{sha[:12]}: {exc}") from None


_EMPTY = {"boolean": "false", "number": "0"}


def _typed(value: Template, kind: Any) -> Any:
    """A boolean or number input as the value `inputs.<name>` gives expressions (not its text)."""
    text = value.literal
    if kind == "boolean" and text in ("true", "false"):
        return text == "true"
    if kind == "number" and text is not None:
        try:
            return float(text)
        except ValueError:
            return value
    return value
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


def _job_pushes(job_id: str, job: dict, workflow_env: dict[str, Any], notes: list[str],
                inputs: dict[str, Template] | None = None) -> list[Push]:
    combos = job_combinations(job_id, job, notes)
    job_events, job_branches = _condition(job.get("if"))
    pushes: dict[tuple, Push] = {}
    for combo in combos:
        env = {**workflow_env, **mapping(job.get("env"))}
        scope = Scope(combo, env, {}, inputs=dict(inputs or {}))
        for index, step in enumerate(job.get("steps") or []):
            if not isinstance(step, dict):
                continue
            step_name = str(step.get("name") or step.get("id") or step.get("uses") or
                            f"step {index + 1}")
            step_scope = dataclasses.replace(scope, env={**scope.env,
                                                         **mapping(step.get("env"))}, shell={})
            events, branches = _condition(step.get("if"))
            events &= job_events
            branches = branches or job_branches
            found = step_pushes(step, step_scope, notes, job_id)
            for image, tag, step_events in found:
                push = Push(image, tag, job_id, step_name, events & step_events, branches)
                pushes.setdefault((image, tag, push.events, branches), push)
            if step.get("run"):
                outputs, env_writes = read_run(str(step["run"]), step_scope)
                if step.get("id"):
                    scope.outputs.setdefault(str(step["id"]), {}).update(outputs)
                scope.env.update(env_writes)
    return list(pushes.values())


def _called_pushes(job_id: str, job: dict, workflow_env: dict[str, Any], notes: list[str],
                   read: Callable[[str], str] | None, read_remote: Callable[[str], Any] | None = None,
                   unread: list[str] | None = None) -> list[Push]:
    """Pushes of a job that calls a reusable workflow, once per matrix combination, with the
    ``with:`` inputs rendered in the caller's scope. One that cannot be read is noted, and
    listed in ``unread``."""
    uses = str(job["uses"])
    missed = unread if unread is not None else []
    if uses.startswith("./") and read is not None:
        path = uses[2:].split("@", 1)[0]
        try:
            text = read(path)
        except Exception as exc:  # noqa: BLE001 - a missing or broken file is a note, not a crash
            notes.append(f"job {job_id}: cannot read {path}: {exc}")
            missed.append(uses)
            return []
    else:
        got = read_remote(uses) if read_remote and not uses.startswith("./") else None
        if not isinstance(got, tuple):
            notes.append(f"job {job_id}: calls {uses}, which is not read" + (f": {got}" if got else ""))
            missed.append(uses)
            return []
        text, path, read = got
    try:
        called = load_yaml(text, path)
    except Exception as exc:  # noqa: BLE001
        notes.append(f"job {job_id}: cannot read {path}: {exc}")
        return []
    if not isinstance(called, dict) or not isinstance(called.get("jobs"), dict):
        notes.append(f"job {job_id}: {path} has no jobs")
        return []
    on = called.get("on", called.get(True))
    declared = mapping(mapping(mapping(on).get("workflow_call")).get("inputs"))
    combos = job_combinations(job_id, job, notes)
    events, branches = _condition(job.get("if"))
    pushes: dict[tuple, Push] = {}
    for combo in combos:
        caller = Scope(combo, {**workflow_env, **mapping(job.get("env"))}, {})
        # An input without a default that the caller does not pass is false, 0 or '' by its type
        # (https://docs.github.com/en/actions/using-workflows/workflow-syntax-for-github-actions#onworkflow_callinputs).
        inputs = {name: render_text(str(mapping(spec).get("default", _EMPTY.get(mapping(spec).get("type"), ""))),
                                    caller) for name, spec in declared.items()}
        inputs.update({name: render_text(str(value), caller)
                       for name, value in mapping(job.get("with")).items()})
        inputs = {name: _typed(value, mapping(declared.get(name)).get("type")) for name, value in inputs.items()}
        for called_id, called_job in called["jobs"].items():
            if not isinstance(called_job, dict):
                continue
            for push in _job_pushes(f"{job_id}/{called_id}", called_job,
                                    mapping(called.get("env")), notes, inputs):
                push = dataclasses.replace(push, events=push.events & events,
                                           branches=push.branches or branches)
                pushes.setdefault((push.image, push.tag, push.events, push.branches), push)
    return list(pushes.values())
