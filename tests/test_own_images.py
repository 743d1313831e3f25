"""own_images.judge: which images' release-version tags may name the application's release.

Rule (plugins/core/own_images.py): `sources.<app>.images` when listed (authoritative); otherwise
the repositories the app's `builds` workflows push, the images of its `settings` containers, and
the image whose tag is the chart's appVersion (https://helm.sh/docs/topics/charts/#the-chartyaml-file:
"appVersion: The version of the app that this contains"). Names are compared normalised
(https://docs.docker.com/reference/cli/docker/image/tag/: no registry means docker.io, one path
component means library/).
"""
from __future__ import annotations

import pytest

from releasegate.core.own_images import judge, why_not
from releasegate.images import imageref

IMAGES = [imageref.parse(i) for i in ("ecr.test/govuk/router:latest", "ecr.test/govuk/toolbox:v13",
                                      "nginx:1.27.0", "ecr.test/govuk/router-assets:1.2.0")]


@pytest.mark.parametrize(("declared", "pushed", "settings", "app_version", "own"), [
    ((), (), (), None, set()),  # nothing ties any image to the app: no release version is its own
    ((), ("ecr.test/govuk/router",), (), None, {"ecr.test/govuk/router"}),  # builds push it
    ((), (), ("ecr.test/govuk/toolbox:v13",), None, {"ecr.test/govuk/toolbox"}),  # a settings container
    ((), (), (), "1.2.0", {"ecr.test/govuk/router-assets"}),  # tagged with the chart's appVersion
    ((), (), (), "13", set()),  # appVersion 13 is not the tag v13: tags are compared as written
    ((), (), ("nginx",), None, {"docker.io/library/nginx"}),  # normalised as Docker does
    (("docker.io/library/nginx",), ("ecr.test/govuk/router",), (), "1.2.0",
     {"docker.io/library/nginx"}),  # sources.<app>.images is authoritative: nothing else counts
])
def test_judge(declared: tuple[str, ...], pushed: tuple[str, ...], settings: tuple[str, ...],
               app_version: str | None, own: set[str]) -> None:
    found = judge(declared, pushed, settings, app_version, IMAGES)
    assert set(found.repositories) == own
    assert found.declared is bool(declared)
    assert {i.name for i in IMAGES if found.owns(i)} == own & {i.name for i in IMAGES}


@pytest.mark.parametrize(("declared", "unread", "line"), [
    ((), (), "no builds workflow of the application pushes it; no settings entry names its container; "
             "its tag is not the chart's appVersion: list the application's image repositories under "
             "sources.app.images"),
    ((), ("org/infra/.github/workflows/release.yml@main",),
     "no builds workflow of the application pushes it (calls not read: org/infra/.github/workflows/"
     "release.yml@main); no settings entry names its container; its tag is not the chart's appVersion: "
     "list the application's image repositories under sources.app.images"),
    (("ecr.test/govuk/router",), (),
     "it is none of sources.app.images: add it there if the application's releases build it"),
])
def test_why_not_names_what_would_let_it_check(declared: tuple[str, ...], unread: tuple[str, ...],
                                               line: str) -> None:
    assert why_not(judge(declared, (), (), None, IMAGES, unread), "app") == line
