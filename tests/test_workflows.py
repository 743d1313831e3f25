"""GitHub Actions parsing: triggers, matrices, tag templates, and build-matrix parity."""
from __future__ import annotations

import textwrap

import pytest

from releasegate.images import workflows
from releasegate.images.builders import Target, builders, sample_tag
from releasegate.images.matrix import expand_matrix
from releasegate.images.templates import ANY, SHORT, Part, Template
from releasegate.images.triggers import BRANCH, TAG
from releasegate.images.workflow_yaml import WorkflowError

SHA = "0123456789abcdef0123456789abcdef01234567"

CI = """
name: ci
on:
  push:
    branches: [main]
    tags: ["v*.*.*"]
jobs:
  build:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        include:
          - image: api
          - image: worker
    steps:
      - uses: actions/checkout@v4
      - uses: docker/build-push-action@v6
        with:
          push: true
          tags: registry.demo.test/app/${{ matrix.image }}:${{ github.sha }}
"""

TESTING = """
name: testing
on:
  push:
    branches: [testing]
jobs:
  build:
    strategy:
      matrix:
        include:
          - image: api
          - image: agent
    steps:
      - id: vars
        run: echo "short_sha=$(git rev-parse --short=7 HEAD)" >> "$GITHUB_OUTPUT"
      - uses: docker/build-push-action@v6
        with:
          push: true
          tags: registry.demo.test/app/${{ matrix.image }}:${{ steps.vars.outputs.short_sha }}
"""

PRODUCTION = Target(branches=("main",), tags=("v1.4.1",))
TESTING_ENV = Target(branches=("testing",))


def test_demo_workflows_push_and_tag_schemes():
    ci, testing = workflows.parse(CI, ".github/workflows/ci.yml"), workflows.parse(TESTING)
    assert ci.file == "ci.yml" and ci.name == "ci"
    assert [(str(p.image), str(p.tag)) for p in ci.pushes] == [
        ("registry.demo.test/app/api", "<sha>"), ("registry.demo.test/app/worker", "<sha>")]
    assert [(str(p.image), p.tag.describe()) for p in testing.pushes] == [
        ("registry.demo.test/app/api", "short SHA (7)"),
        ("registry.demo.test/app/agent", "short SHA (7)")]
    assert ci.triggers.describe() == "push to main; tags v*.*.*"
    assert testing.triggers.describe() == "push to testing"
    assert ci.builds(BRANCH, "main") and ci.builds(TAG, "v1.4.1")
    assert not ci.builds(BRANCH, "testing") and not ci.builds(TAG, "release-1")
    assert testing.builds(BRANCH, "testing") and not testing.builds(TAG, "v1.4.1")


def _verdict(flows, repository, tag, target):
    found = builders(flows, repository, tag, target)
    return any(b.triggered and b.tag_fits for b in found), found


def test_parity_fails_for_an_image_only_the_short_sha_workflow_builds_then_passes():
    flows = [workflows.parse(CI, "ci.yml"), workflows.parse(TESTING, "testing.yml")]
    ok, found = _verdict(flows, "registry.demo.test/app/agent", SHA, PRODUCTION)
    assert not ok
    assert [b.describe() for b in found] == [
        "testing.yml (on push to testing, tagged short SHA (7))"]
    assert (found[0].triggered, found[0].tag_fits) == (False, False)
    # The testing environment deploys the short SHA of its branch: built, fine.
    assert _verdict(flows, "registry.demo.test/app/agent", SHA[:7], TESTING_ENV)[0]
    # api is built by ci.yml for main and tags with the full SHA.
    assert _verdict(flows, "registry.demo.test/app/api", SHA, PRODUCTION)[0]
    # A full-SHA tag in testing: testing.yml runs but tags short, ci.yml tags full but never runs.
    ok, found = _verdict(flows, "registry.demo.test/app/api", SHA, TESTING_ENV)
    assert not ok and {(b.workflow.file, b.triggered, b.tag_fits) for b in found} == {
        ("ci.yml", False, True), ("testing.yml", True, False)}
    fixed = CI.replace("- image: worker", "- image: worker\n          - image: agent")
    flows[0] = workflows.parse(fixed, "ci.yml")
    assert _verdict(flows, "registry.demo.test/app/agent", SHA, PRODUCTION)[0]


def test_only_the_tag_workflow_counts_for_tags_when_main_does_not_build():
    tags_only = CI.replace("    branches: [main]\n", "")
    flow = workflows.parse(tags_only)
    assert flow.triggers.branches.include is None
    assert _verdict([flow], "registry.demo.test/app/api", SHA, PRODUCTION)[0]
    assert not _verdict([flow], "registry.demo.test/app/api", SHA, Target(branches=("main",)))[0]


@pytest.mark.parametrize("on, fires, silent", [
    ("push", [(BRANCH, "x"), (TAG, "v1")], []),
    ("[push, pull_request]", [(BRANCH, "main")], []),
    ("{push: {tags: ['v*']}}", [(TAG, "v1.2")], [(BRANCH, "main")]),
    ("{push: {branches: ['release/**', '!release/old/**']}}", [(BRANCH, "release/a/b")],
     [(BRANCH, "release/old/x"), (TAG, "v1")]),
    ("{push: {branches: ['feature/*']}}", [(BRANCH, "feature/a")], [(BRANCH, "feature/a/b")]),
    ("{push: {branches-ignore: [testing]}}", [(BRANCH, "main")], [(BRANCH, "testing")]),
    ("{push: {paths: ['server/**']}}", [(BRANCH, "main"), (TAG, "v1")], []),
    ("{release: {types: [published]}}", [(TAG, "v2.0.0")], [(BRANCH, "main")]),
    ("{workflow_dispatch: {}, schedule: [{cron: '0 0 * * *'}]}", [], [(BRANCH, "main")]),
    ("{push: {tags: ['v[0-9]+.[0-9]+.[0-9]+']}}", [(TAG, "v10.2.33")], [(TAG, "v1.2.x")]),
])
def test_triggers(on, fires, silent):
    flow = workflows.parse(f"on: {on}\njobs: {{b: {{steps: []}}}}\n")
    for kind, name in fires:
        assert flow.builds(kind, name), (kind, name)
    for kind, name in silent:
        assert not flow.builds(kind, name), (kind, name)


def test_yaml_11_on_key_and_other_triggers_noted():
    flow = workflows.parse("'on': {schedule: [{cron: x}], push: {}}\njobs: {b: {steps: []}}\n")
    assert flow.builds(BRANCH, "main")
    assert flow.notes == ("other triggers not treated as builds of pushed commits: schedule",)


def test_matrix_expansion_follows_github_rules():
    matrix = {"os": ["linux", "windows"], "svc": ["api", "web"],
              "exclude": [{"os": "windows", "svc": "web"}],
              "include": [{"svc": "api", "extra": "x"}, {"os": "mac", "svc": "cli"}]}
    assert expand_matrix(matrix) == [
        {"os": "linux", "svc": "api", "extra": "x"}, {"os": "linux", "svc": "web"},
        {"os": "windows", "svc": "api", "extra": "x"}, {"os": "mac", "svc": "cli"}]
    assert expand_matrix({"include": [{"a": 1}, {"a": 2}]}) == [{"a": 1}, {"a": 2}]
    assert expand_matrix(None) == [{}]
    assert expand_matrix("${{ fromJSON(needs.plan.outputs.matrix) }}") is None
    assert expand_matrix({"svc": "${{ fromJSON(x) }}"}) is None


def test_dynamic_matrix_is_noted():
    text = """
on: push
jobs:
  b:
    strategy: {matrix: "${{ fromJSON(needs.plan.outputs.matrix) }}"}
    steps:
      - uses: docker/build-push-action@v5
        with: {push: true, tags: "ghcr.io/org/${{ matrix.svc }}:${{ github.sha }}"}
"""
    flow = workflows.parse(text)
    assert flow.notes == ("job b: the matrix is computed at run time; its images are unknown",)
    push, = flow.pushes
    assert push.repository_matches("ghcr.io/org/anything")
    assert not push.repository_matches("quay.io/org/anything")


def test_metadata_action_tags_and_events():
    text = """
on: {push: {branches: [main], tags: ['v*']}}
env:
  IMAGE: ghcr.io/acme/shop
jobs:
  docker:
    steps:
      - id: meta
        uses: docker/metadata-action@v5
        with:
          images: ${{ env.IMAGE }}
          tags: |
            type=sha
            type=sha,format=long,prefix=
            type=ref,event=branch
            type=semver,pattern={{version}}
            type=raw,value=stable
      - uses: docker/build-push-action@v6
        with:
          push: ${{ github.event_name != 'pull_request' }}
          tags: ${{ steps.meta.outputs.tags }}
"""
    flow = workflows.parse(text)
    assert [(str(p.image), p.tag.describe(), sorted(p.events)) for p in flow.pushes] == [
        ("ghcr.io/acme/shop", "'sha-' + short SHA (7)", [BRANCH, TAG]),
        ("ghcr.io/acme/shop", "full SHA", [BRANCH, TAG]),
        ("ghcr.io/acme/shop", "branch or tag name", [BRANCH]),
        ("ghcr.io/acme/shop", "version", [TAG]),
        ("ghcr.io/acme/shop", "'stable'", [BRANCH, TAG])]
    assert flow.pushes[0].tag.matches("sha-0123abc") and not flow.pushes[0].tag.matches("0123abc")
    assert flow.pushes[0].tag.render(SHA) == "sha-0123456"
    assert flow.pushes[3].tag.render(SHA, "v1.4.1") == "1.4.1"
    assert flow.pushes[2].applies(BRANCH, "main") and not flow.pushes[2].applies(TAG, "v1")


def test_run_scripts_with_docker_cli_and_env_files():
    text = r"""
on: {push: {branches: [main]}}
jobs:
  b:
    strategy: {matrix: {svc: [api, worker]}}
    env:
      REGISTRY: registry.demo.test
    steps:
      - run: echo "SHORT=${GITHUB_SHA::8}" >> $GITHUB_ENV
      - run: |
          docker build -f $SVC/Dockerfile \
            -t $REGISTRY/app/${{ matrix.svc }}:$SHORT \
            -t $REGISTRY/app/${{ matrix.svc }}:latest .
          docker push --all-tags $REGISTRY/app/${{ matrix.svc }}
      - run: |
          TAG=$(git rev-parse HEAD)
          docker buildx build --push -t registry.demo.test/tools/${{ matrix.svc }}:$TAG .
      - run: docker build -t registry.demo.test/local/only:${GITHUB_SHA} .
"""
    flow = workflows.parse(text)
    found = sorted((str(p.image), str(p.tag)) for p in flow.pushes)
    assert found == [
        ("registry.demo.test/app/api", "<sha:8>"), ("registry.demo.test/app/api", "latest"),
        ("registry.demo.test/app/worker", "<sha:8>"), ("registry.demo.test/app/worker", "latest"),
        ("registry.demo.test/tools/api", "<sha>"), ("registry.demo.test/tools/worker", "<sha>")]


@pytest.mark.parametrize("condition, events, branches", [
    ("github.ref == 'refs/heads/main'", {BRANCH}, ("main",)),
    ("startsWith(github.ref, 'refs/tags/')", {TAG}, None),
    ("github.event_name == 'push'", {BRANCH, TAG}, None),
])
def test_step_conditions_restrict_pushes(condition, events, branches):
    text = f"""
on: push
jobs:
  b:
    steps:
      - if: {condition}
        uses: docker/build-push-action@v6
        with: {{push: true, tags: "r.test/a:${{{{ github.sha }}}}"}}
"""
    push, = workflows.parse(text).pushes
    assert set(push.events) == events and push.branches == branches


def test_untagged_push_means_latest():
    text = CI.replace(":${{ github.sha }}", "")
    assert {str(p.tag) for p in workflows.parse(text).pushes} == {"latest"}
    local = CI.replace("registry.demo.test/app/${{ matrix.image }}:${{ github.sha }}",
                       "localhost:5000/app/${{ matrix.image }}")
    assert [(str(p.image), str(p.tag)) for p in workflows.parse(local).pushes][0] == (
        "localhost:5000/app/api", "latest")


CALLER = """
on: {push: {branches: [main]}}
jobs:
  images:
    strategy: {matrix: {service: [api, worker]}}
    uses: ./.github/workflows/build.yml
    with:
      image: registry.demo.test/app/${{ matrix.service }}
  remote:
    uses: org/shared/.github/workflows/build.yml@v1
"""

CALLED = """
on:
  workflow_call:
    inputs:
      image: {type: string, required: true}
      suffix: {type: string, default: "-amd64"}
jobs:
  build:
    steps:
      - uses: docker/build-push-action@v6
        with:
          push: true
          tags: ${{ inputs.image }}:${{ github.sha }}${{ inputs.suffix }}
"""


def test_reusable_workflow_with_inputs_is_followed():
    files = {".github/workflows/build.yml": CALLED}
    flow = workflows.parse(CALLER, "ci.yml", read=files.__getitem__)
    assert [(str(p.image), str(p.tag), p.job) for p in flow.pushes] == [
        ("registry.demo.test/app/api", "<sha>-amd64", "images/build"),
        ("registry.demo.test/app/worker", "<sha>-amd64", "images/build")]
    assert flow.notes == ("job remote: calls org/shared/.github/workflows/build.yml@v1, which is "
                          "not read",)
    assert flow.pushes[0].tag.matches(SHA + "-amd64") and not flow.pushes[0].tag.matches(SHA)
    unread = workflows.parse(CALLER, "ci.yml")
    assert unread.pushes == () and "job images: calls ./.github/workflows/build.yml" in \
        unread.notes[0]
    missing = workflows.parse(CALLER, "ci.yml", read={}.__getitem__)
    assert missing.notes[0].startswith("job images: cannot read .github/workflows/build.yml")


def test_build_without_push_pushes_nothing():
    text = CI.replace("push: true", "push: false")
    assert workflows.parse(text).pushes == ()


def test_docker_hub_names_normalise():
    text = CI.replace("registry.demo.test/app/${{ matrix.image }}", "acme/${{ matrix.image }}")
    flow = workflows.parse(text)
    assert flow.pushes_of("docker.io/acme/api")


@pytest.mark.parametrize("text, message", [
    ("on: [push\n", "x.yml:2: not valid YAML"),
    ("- a\n", "x.yml: expected a mapping"),
    ("jobs: {a: {}}\n", "x.yml: no 'on:' trigger"),
    ("on: push\n", "x.yml: no jobs"),
    ("on: 3\njobs: {a: {}}\n", "x.yml: 'on:' must be"),
])
def test_bad_workflow_files(text, message):
    with pytest.raises(WorkflowError) as info:
        workflows.parse(text, "x.yml")
    assert str(info.value).startswith(message)


def test_template_helpers():
    tpl = Template.text("v") + Template((Part(SHORT, length=9),))
    assert tpl.matches("v0123abcd9") and not tpl.matches("v0123abc")
    assert tpl.render(SHA) == "v012345678"
    unknown = Template((Part(ANY, "vars.X"),))
    assert unknown.render(SHA) is None and unknown.unresolved == ("vars.X",)
    assert sample_tag("v*.*.*") == "v1.1.1"
    assert textwrap.dedent("x") == "x"


@pytest.mark.parametrize("text", [
    "on: push\njobs: {a: {runs-on: x}}\n", "a: &x {b: 1}\nc: *x\n",
    "t: 2024-01-01\nf: 1.5\ni: 0o17\nn: ~\nb: yes\nB: true\nts: 2001-12-14t21:59:43.10-05:00\n",
    "x: |\n  line\n   more\n\n", "- 1\n- 2\n", "k: 'q'\n\"on\": [1, 2]\n", "x: !!str 1\n", "",
    "a: [1, {b: c}]\nd: >\n  folded\n  text\n", "1: x\n2.5: y\nnull: z\n"])
def test_workflow_yaml_reads_as_ruamels_safe_loader(text: str) -> None:
    from ruamel.yaml import YAML

    from releasegate.images.workflow_yaml import load_yaml

    got = load_yaml(text, "w.yml")
    assert got == YAML(typ="safe", pure=True).load(text)
    assert all(type(v) in (dict, list, str, int, float, bool, type(None)) or hasattr(v, "year")
               for v in (got.values() if isinstance(got, dict) else got or ()))


def test_workflow_yaml_keeps_an_alias_one_object_and_names_a_duplicate_key() -> None:
    from releasegate.images.workflow_yaml import WorkflowError, load_yaml

    data = load_yaml("a: &x {b: 1}\nc: *x\n", "w.yml")
    assert type(data["a"]) is dict and data["a"] is data["c"]
    with pytest.raises(WorkflowError, match=r"w.yml:2: not valid YAML: found duplicate key"):
        load_yaml("a: 1\na: 2\n", "w.yml")


def test_a_called_workflows_inputs_default_by_type():
    """An input without a default that the caller does not pass is '' for a string, false for a boolean, 0 for a
    number (https://docs.github.com/en/actions/using-workflows/workflow-syntax-for-github-actions#onworkflow_callinputs)."""
    called = CALLED.replace('suffix: {type: string, default: "-amd64"}',
                            "suffix: {type: string}\n      latest: {type: boolean}\n      n: {type: number}")
    called = called.replace("${{ inputs.suffix }}", "${{ inputs.suffix }}${{ inputs.latest && '-latest' || '' }}"
                                                     "${{ inputs.n == 0 && '-zero' || '' }}")
    flow = workflows.parse(CALLER, "ci.yml", read={".github/workflows/build.yml": called}.__getitem__)
    assert [str(p.tag) for p in flow.pushes] == ["<sha>-zero", "<sha>-zero"]  # false is false, not 'false'
    passed = CALLER.replace("      image: registry", "      latest: true\n      image: registry")
    flow = workflows.parse(passed, "ci.yml", read={".github/workflows/build.yml": called}.__getitem__)
    assert [str(p.tag) for p in flow.pushes] == ["<sha>-latest-zero", "<sha>-latest-zero"]


@pytest.mark.parametrize(("uses", "sources", "answer"), [
    ("acme/builds/.github/workflows/b.yml@v1", {"builds": None}, "read"),  # the source named like the repository
    ("acme/builds/.github/workflows/b.yml@v1", {"acme/builds": None}, "read"),  # named owner/repo
    ("acme/builds/.github/workflows/b.yml@v1", {"ci": "https://github.com/Acme/builds.git"}, "read"),  # remote URL
    ("acme/builds/.github/workflows/b.yml@v1", {"ci": "git@github.com:acme/builds"}, "read"),  # scp-like URL
    ("acme/builds/.github/workflows/b.yml@main", {"builds": None}, "read"),  # a branch
    ("acme/builds/.github/workflows/b.yml@v9", {"builds": None},
     "v9 is not in the clone of source builds (fetch it to read the workflow)"),
    ("acme/builds/.github/workflows/other.yml@v1", {"builds": None},
     ".github/workflows/other.yml does not exist at v1 in source builds"),
    ("acme/other/.github/workflows/b.yml@v1", {"builds": "https://github.com/acme/builds"},
     "acme/other is none of the sources (add its clone under sources to read it)"),
    ("acme/builds/.github/workflows/b.yml", {"builds": None},
     "acme/builds/.github/workflows/b.yml is no owner/repo/path@ref reference"),
])
def test_which_source_holds_a_reusable_workflow(tmp_path, uses, sources, answer):
    """{owner}/{repo}/.github/workflows/{filename}@{ref}
    (https://docs.github.com/en/actions/using-workflows/reusing-workflows#calling-a-reusable-workflow): read from
    the source whose name or clone's remote URL names owner/repo, at ref; else one line saying why not."""
    from conftest import tagged_repo
    from releasegate.core.gitrepo import GitRepo
    from releasegate.images.reusable import reader

    repos = [(name, GitRepo(tagged_repo(tmp_path / name.replace("/", "-"), {".github/workflows/b.yml": CALLED},
                                        "v1", url), name)) for name, url in sources.items()]
    got = reader(tuple(repos))(uses)
    if answer == "read":
        assert isinstance(got, tuple) and got[0] == CALLED and got[1] == ".github/workflows/b.yml"
    else:
        assert got == answer
