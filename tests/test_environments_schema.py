"""The environments file explains itself: a JSON Schema generated from the models that validate
it, shipped beside them, named by the example files, and a README reference generated likewise."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

from conftest import ROOT
from releasegate.estate import load, schema

EXAMPLES = [ROOT / "environments.yaml", ROOT / "docs" / "environments.example.yaml"]


def test_shipped_schema_is_the_generated_one() -> None:
    """Regenerate with `python -m releasegate.estate.schema` after changing a model."""
    assert schema.SCHEMA_PATH.read_text() == schema.schema_text()


def test_readme_reference_is_the_generated_one() -> None:
    """Regenerate with `python -m releasegate.estate.schema --markdown` and paste into
    docs/environments.md (the README links it)."""
    assert schema.markdown() in (ROOT / "docs" / "environments.md").read_text()


def test_the_readme_points_at_the_shipped_example() -> None:
    for page in ("README.md", "docs/environments.md"):
        text = (ROOT / page).read_text()
        assert "docs/environments.example.yaml" in text or "environments.example.yaml" in text
        assert "plugins/estate/environments.schema.json" in text


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_names_the_schema_and_conforms(example: Path) -> None:
    first = example.read_text().splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    assert first.startswith(prefix)
    assert (example.parent / first[len(prefix):]).resolve() == schema.SCHEMA_PATH
    data = json.loads(json.dumps(YAML(typ="safe").load(example.read_text()), default=str))
    validator = jsonschema.Draft202012Validator(json.loads(schema.SCHEMA_PATH.read_text()),
                                                format_checker=jsonschema.FormatChecker())
    assert [error.message for error in validator.iter_errors(data)] == []


def test_the_annotated_example_loads(tmp_path: Path) -> None:
    """The shipped example is a valid file, extending the shared contract's without renaming."""
    (tmp_path / "app").mkdir()
    (tmp_path / "gitops").mkdir()
    (tmp_path / "docs").mkdir()
    shutil.copy(EXAMPLES[1], tmp_path / "docs" / "envs.yaml")
    estate = load(tmp_path / "docs" / "envs.yaml")
    assert sorted(estate.environments) == ["echo-next", "production", "testing"]
    assert estate.environments["testing"].subdomains["status"].budget_ms == 2000
    assert estate.sources["app"].path == tmp_path / "app"


def test_schema_rejects_what_the_loader_rejects() -> None:
    """Editors flag the same mistakes: an unknown key, a bad host name, an out-of-range number."""
    validator = jsonschema.Draft202012Validator(schema.json_schema(),
                                                format_checker=jsonschema.FormatChecker())
    good = {"version": 1, "sources": {"app": {"path": "."}},
            "environments": {"prod": {"deploys": {"tag": "v*"}, "gitops": {"chart": "helm"}}}}
    assert list(validator.iter_errors(good)) == []
    for bad in ({**good, "netwrok": {}},
                {**good, "network": {"timeout_s": 1e308}},
                {**good, "registries": {"concurrency": 0}},
                {**good, "environments": {"prod": {**good["environments"]["prod"],
                                                   "domain": "a..b"}}}):
        assert list(validator.iter_errors(bad)), bad
