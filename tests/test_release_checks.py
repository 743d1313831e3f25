"""Release-process checks against the demo's real git history, altered per case."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, demo_environments

GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "Test Person", "GIT_AUTHOR_EMAIL": "t@demo.test",
           "GIT_COMMITTER_NAME": "Test Person", "GIT_COMMITTER_EMAIL": "t@demo.test"}


def git(repo: Path, *args: str) -> str:
    """Run git in a test's private copy of a demo repository."""
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=GIT_ENV).stdout.strip()


@pytest.fixture
def release(pytester: pytest.Pytester, estate_copy: Path) -> pytest.Pytester:
    """A pytester dir with the release checks and the demo copy's environments file."""
    (pytester.path / "environments.yaml").write_text(demo_environments(estate_copy))
    pytester.makeconftest('pytest_plugins = ["releasegate.plugin"]')
    shutil.copy(ROOT / "checks" / "test_release.py", pytester.path / "test_release.py")
    return pytester


def outcomes(pytester: pytest.Pytester, *args: str) -> dict[str, tuple[str, str]]:
    """{check[env]: (outcome, messages joined by ' | ')} of a run, from the JSON report."""
    report = pytester.path / "run.json"
    pytester.runpytest("-p", "no:cacheprovider", f"--report-json={report}", *args)
    found: dict[str, tuple[str, str]] = {}
    for r in json.loads(report.read_text())["records"]:
        key = f"{r['check']}[{r['environment']}]"
        previous = found.get(key, (r["outcome"], ""))[1]
        found[key] = (r["outcome"], " | ".join(m for m in (previous, r["message"]) if m))
    return found


def test_demo_release_findings(release: pytest.Pytester, estate_copy: Path) -> None:
    hotfix = git(estate_copy / "app", "rev-parse", "v1.4.1^{commit}")
    found = outcomes(release, "-m", "prerelease", "--env=all")
    failed = {k for k, (o, _) in found.items() if o == "failed"}
    assert failed == {"test_hotfix_commits_on_main[production]"}
    message = found["test_hotfix_commits_on_main[production]"][1]
    assert "production runs v1.4.1" in message and hotfix[:12] in message
    assert "cherry-pick them onto main" in message
    outcome, warning = found["test_shared_branch_in_flight[testing]"]
    assert outcome == "passed" and "testing is 1 commit(s) ahead of main" in warning
    assert "Riley Chen" in warning and "wip: ranking experiment" in warning


def test_cherry_picked_hotfix_passes(release: pytest.Pytester, estate_copy: Path) -> None:
    app = estate_copy / "app"
    git(app, "checkout", "-q", "main")
    git(app, "cherry-pick", "v1.4.1")  # a new hash: only the patch id matches
    found = outcomes(release, "-m", "prerelease", "--env=production")
    assert found["test_hotfix_commits_on_main[production]"][0] == "passed"


def test_next_tag_must_be_new_and_greater(release: pytest.Pytester) -> None:
    found = outcomes(release, "-k", "next_tag", "--env=production", "--tag=v1.4.0")
    outcome, message = found["test_next_tag[production]"]
    assert outcome == "failed" and "tag v1.4.0 already exists in app" in message
    found = outcomes(release, "-k", "next_tag", "--env=production", "--tag=v1.3.9")
    outcome, message = found["test_next_tag[production]"]
    assert outcome == "failed"
    assert "next tag v1.3.9 is not greater than existing release tag(s) v1.4.0, v1.4.1" in message
    found = outcomes(release, "-k", "next_tag", "--env=production")
    assert found["test_next_tag[production]"][0] == "passed"  # the default: v1.4.2


def test_candidate_off_main_is_a_blocker(release: pytest.Pytester) -> None:
    found = outcomes(release, "-k", "candidate", "--env=production",
                     "--candidate=hotfix/1.4.1")
    outcome, message = found["test_candidate_on_main[production]"]
    assert outcome == "failed" and "is not on main" in message and "--hotfix" in message


def test_hotfix_mode(release: pytest.Pytester, estate_copy: Path) -> None:
    found = outcomes(release, "-k", "hotfix", "--env=production", "--hotfix",
                     "--candidate=hotfix/1.4.1")
    assert found["test_hotfix_candidate[production]"][0] == "passed"
    assert found["test_hotfix_commits_on_main[production]"][0] == "skipped"
    app = estate_copy / "app"
    main = git(app, "rev-parse", "main")
    git(app, "checkout", "-q", "-b", "hotfix/bad", "v1.4.1")
    git(app, "merge", "-q", "--no-edit", "main")  # drags unreleased work into the hotfix
    found = outcomes(release, "-k", "hotfix", "--env=production", "--hotfix",
                     "--candidate=hotfix/bad")
    outcome, message = found["test_hotfix_candidate[production]"]
    assert outcome == "failed" and "carries unreleased commit(s) of main" in message
    assert main[:12] in message


def test_production_must_deploy_a_release(release: pytest.Pytester, estate_copy: Path) -> None:
    gitops, app = estate_copy / "gitops", estate_copy / "app"
    values = gitops / "helm/app/values-production.yaml"
    main = git(app, "rev-parse", "main")
    values.write_text(values.read_text().replace(git(app, "rev-parse", "v1.4.1^{commit}"), main))
    git(gitops, "commit", "-qam", "prod: deploy main by hand")
    found = outcomes(release, "-k", "deployed_commit", "--env=production")
    outcome, message = found["test_deployed_commit_is_release[production]"]
    assert outcome == "failed"
    assert f"production deploys {main[:12]}" in message and "carries no release tag" in message


def test_staging_far_behind_main_warns(release: pytest.Pytester, estate_copy: Path) -> None:
    app = estate_copy / "app"
    git(app, "checkout", "-q", "main")
    for n in range(3):
        (app / f"change{n}.txt").write_text(str(n))
        git(app, "add", ".")
        git(app, "commit", "-qm", f"change {n}")
    found = outcomes(release, "-k", "tracks_branch", "--env=echo-next",
                     "--max-commits-behind=2")
    outcome, message = found["test_branch_env_tracks_branch[echo-next]"]
    assert outcome == "passed" and "3 commits behind main" in message
    found = outcomes(release, "-k", "tracks_branch", "--env=echo-next")
    assert found["test_branch_env_tracks_branch[echo-next]"] == ("passed", "")


def test_shared_branch_after_reset(release: pytest.Pytester, estate_copy: Path) -> None:
    found = outcomes(release, "-m", "smoke", "-k", "reset", "--env=testing", "--after-reset")
    outcome, message = found["test_shared_branch_reset[testing]"]
    assert outcome == "failed" and "does not equal main" in message
    git(estate_copy / "app", "branch", "-f", "testing", "main")
    found = outcomes(release, "-m", "smoke", "-k", "reset", "--env=testing", "--after-reset")
    assert found["test_shared_branch_reset[testing]"][0] == "passed"


# -- release-version tags (issue 21) ------------------------------------------------------------------
def _deploy_tag(estate: Path, tag: str | None, template_default: bool = False) -> None:
    """Production's values name `tag` instead of the v1.4.1 commit SHA (None: an empty tag, which
    leaves it to the chart); `template_default` makes the chart's image helper read
    `{{ .Values.image.tag | default .Chart.AppVersion }}`, as `helm create` scaffolds it."""
    gitops, app = estate / "gitops", estate / "app"
    values = gitops / "helm/app/values-production.yaml"
    sha = git(app, "rev-parse", "v1.4.1^{commit}")
    line = f'  tag: "{sha}"\n'
    values.write_text(values.read_text().replace(line, f'  tag: "{tag or ""}"\n'))
    if template_default:
        helper = gitops / "helm/app/templates/_helpers.tpl"
        helper.write_text(helper.read_text().replace(
            "{{ .root.Values.image.tag }}", "{{ .root.Values.image.tag | default .root.Chart.AppVersion }}"))
    git(gitops, "commit", "-qam", f"prod: deploy {tag}")


@pytest.mark.parametrize(("tag", "template_default"), [
    ("v1.4.1", False),  # the release tag as git names it
    ("1.4.1", False),  # without the v: the release tag v1.4.1 matches release_tags v*.*.*
    (None, True),  # the values leave the tag to the chart: Chart.yaml appVersion "1.4.1"
])
def test_a_release_version_tag_names_its_release(release: pytest.Pytester, estate_copy: Path, tag: str | None,
                                                 template_default: bool) -> None:
    """An image tag equal to a release tag (with or without `v`, per the source's release_tags), or
    to the chart's appVersion when the values leave the tag to the chart
    (https://helm.sh/docs/chart_template_guide/builtin_objects/: `.Chart.AppVersion`), names that
    tag's commit: the checks that need the running commit find v1.4.1, as with the SHA tag."""
    _deploy_tag(estate_copy, tag, template_default)
    found = outcomes(release, "-m", "prerelease", "--env=production")
    outcome, message = found["test_hotfix_commits_on_main[production]"]
    assert outcome == "failed" and "production runs v1.4.1" in message
    assert found["test_deployed_commit_is_release[production]"] == ("passed", "")


@pytest.mark.parametrize(("tag", "template_default", "why"), [
    ("latest", False, "no commit SHA, nor a version of release_tags 'v*.*.*'"),
    ("0.0.1", False, "no commit SHA, and no release tag v0.0.1 in app"),
    ("v9.9.9", False, "no commit SHA, and no release tag v9.9.9 in app"),  # 9.9.9 is no v*.*.* name
])
def test_a_tag_that_names_no_commit_is_not_checked(release: pytest.Pytester, estate_copy: Path, tag: str,
                                                   template_default: bool, why: str) -> None:
    """A moving tag or a version never tagged names no commit: the checks that need the running
    commit skip with one line (why, and what would let them check); the tag environment deploying a
    non-release tag is a warning, never a blocker or an ERROR."""
    _deploy_tag(estate_copy, tag, template_default)
    found = outcomes(release, "-m", "prerelease", "--env=production")
    outcome, message = found["test_hotfix_commits_on_main[production]"]
    assert outcome == "skipped", found
    assert message.startswith(f"production: not checked: image tag {tag} of registry.demo.test/app/")
    assert why in message and "pass --ref app=REF to say which commit runs" in message
    outcome, message = found["test_deployed_commit_is_release[production]"]
    assert outcome == "passed" and "production deploys release tags ('v*.*.*'), and this is none" in message
    assert not [k for k, (o, _) in found.items() if o in ("failed", "error")]


def test_the_chart_app_version_is_named_when_it_is_no_release(release: pytest.Pytester, estate_copy: Path) -> None:
    """The chart's appVersion (1.4.1 in the demo) with the release tag deleted: the line says the
    tag came from the chart's appVersion."""
    _deploy_tag(estate_copy, None, template_default=True)
    git(estate_copy / "app", "tag", "-d", "v1.4.1")
    found = outcomes(release, "-m", "prerelease", "--env=production", "-k", "hotfix_commits")
    outcome, message = found["test_hotfix_commits_on_main[production]"]
    assert outcome == "skipped"
    assert "image tag 1.4.1 (the chart's appVersion) of" in message and "or tag that release v1.4.1" in message


def test_ref_app_satisfies_the_running_commit_and_keeps_the_candidate(release: pytest.Pytester,
                                                                      estate_copy: Path) -> None:
    """--ref app=REF says which commit runs: every check that needs the running commit uses it (no
    advice printed again), and the candidate stays the application's main (README: `--candidate`
    defaults to the app's integration branch)."""
    _deploy_tag(estate_copy, "latest")
    report = release.path / "run.json"
    found = outcomes(release, "-m", "prerelease", "--env=production", "--ref=app=v1.4.1")
    outcome, message = found["test_hotfix_commits_on_main[production]"]
    assert outcome == "failed" and "production runs v1.4.1" in message
    assert found["test_deployed_commit_is_release[production]"] == ("passed", "")
    assert found["test_candidate_on_main[production]"] == ("passed", "")
    assert "--ref app=REF" not in " ".join(m for _, m in found.values())
    assert json.loads(report.read_text())["run"]["candidate"] == "main"


# -- whose release a version tag names (issue 21, trials: a toolbox image's v13) -----------------------
TOOLBOX = "registry.demo.test/tools/toolbox"


def _toolbox(estate: Path, image: str) -> None:
    """Production's app images tagged `latest` (names no commit) and its directus container running
    `image`, an image no workflow of the app pushes unless the case says so."""
    _deploy_tag(estate, "latest")
    values = estate / "gitops" / "helm/app/values-production.yaml"
    values.write_text(values.read_text() + f"directus:\n  image: {image}\n")
    git(estate / "gitops", "commit", "-qam", "prod: a toolbox in the directus slot")


RELEASE_TAGS = "    release_tags: \"v*.*.*\"\n"
NO_BUILDS = (r"(?ms)^builds:\n.*?(?=^\S)", "")  # no builds workflow says what the app pushes
NO_SETTINGS = (r"(?ms)^settings:\n.*?(?=^\S)", "")  # no settings entry names its containers


@pytest.mark.parametrize(("image", "edits", "runs"), [
    # Nothing ties any image to the app: the toolbox's v1.4.1 may be its own version (own_images rule 2).
    (f"{TOOLBOX}:v1.4.1", [NO_BUILDS, NO_SETTINGS], "foreign"),
    # sources.app.images lists it (rule 1).
    (f"{TOOLBOX}:v1.4.1", [(RELEASE_TAGS, RELEASE_TAGS + f"    images: [{TOOLBOX}]\n")], "v1.4.1"),
    # sources.app.images lists others only (rule 1 is authoritative): nothing known is the app's.
    (f"{TOOLBOX}:v1.4.1", [(RELEASE_TAGS, RELEASE_TAGS + "    images: [registry.demo.test/other]\n")],
     "foreign"),
    # a settings entry of the app names its container (rule 2, settings[].containers).
    (f"{TOOLBOX}:v1.4.1", [NO_BUILDS, ("containers: [api, ", "containers: [directus, api, ")], "v1.4.1"),
    # the tag is the chart's appVersion "1.4.1" (rule 2, https://helm.sh/docs/topics/charts/#the-chartyaml-file).
    (f"{TOOLBOX}:1.4.1", [NO_BUILDS, NO_SETTINGS], "v1.4.1"),
    # the app's ci.yml pushes registry.demo.test/app/api (rule 2, builds).
    ("registry.demo.test/app/api:v1.4.1", [NO_SETTINGS], "v1.4.1"),
    # the app's own images (pushed by ci.yml) say `latest`: the toolbox's version does not matter,
    # and the tag environment deploys no release tag (a warning, as for any tag naming no commit).
    (f"{TOOLBOX}:v1.4.1", [], "latest"),
])
def test_a_release_version_names_the_app_release_only_on_its_own_images(
        release: pytest.Pytester, estate_copy: Path, image: str, edits: list[tuple[str, str]],
        runs: str) -> None:
    """plugins/core/own_images.py: a release-version tag names the app's release only on an image
    the estate ties to the app; on another image it is "not checked", naming the image and the key
    that would let the suite check, never a pass on a guessed commit (trials: govuk's
    govuk-toolbox-image:v13 taken for router's 3-year-old release v13)."""
    _toolbox(estate_copy, image)
    path = release.path / "environments.yaml"
    for old, new in edits:
        text = path.read_text()
        changed = re.sub(old, new, text, count=1) if old.startswith("(?") else text.replace(old, new, 1)
        assert changed != text, old
        path.write_text(changed)
    found = outcomes(release, "-m", "prerelease", "--env=production")
    outcome, message = found["test_hotfix_commits_on_main[production]"]
    if runs.startswith("v"):
        assert outcome == "failed" and f"production runs {runs}" in message
        assert found["test_deployed_commit_is_release[production]"] == ("passed", "")
        return
    if runs == "latest":
        assert outcome == "skipped" and message.startswith(
            "production: not checked: image tag latest of registry.demo.test/app/")
        outcome, message = found["test_deployed_commit_is_release[production]"]
        assert outcome == "passed" and "production deploys release tags ('v*.*.*'), and this is none" in message
        return
    sha = git(estate_copy / "app", "rev-parse", "v1.4.1^{commit}")[:12]
    why = ("it is none of sources.app.images: add it there if the application's releases build it"
           if "images:" in edits[0][1] else
           "no builds workflow of the application pushes it; no settings entry names its container; "
           "its tag is not the chart's appVersion: list the application's image repositories under "
           "sources.app.images")
    assert (outcome, message) == ("skipped", (
        "production: not checked: which commit of app runs: the only tags that look like its releases "
        f"are on images not known to be its own: {TOOLBOX}:v1.4.1 (release v1.4.1 of app is {sha}): "
        f"{why}, or pass --ref app=REF"))
    assert found["test_deployed_commit_is_release[production]"] == ("skipped", message)
    assert not [k for k, (o, _) in found.items() if o in ("failed", "error")]
