"""The real-Directus tier's own plumbing, without Directus: reading `directus-sync diff --debug`
output and the one-line reason when npm cannot be reached."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.directus.peer import Sync, Unavailable, install, parse_diff

DIFF = """[21:22:41.185] INFO (22780): [snapshot] Found 1 change in fields
[21:22:41.185] DEBUG (22780): [snapshot] Diff
    collections: []
    fields: [
      {
        "collection": "org_invite",
        "field": "created_at",
        "diff": [{"kind": "E", "path": ["schema", "is_indexed"], "lhs": true, "rhs": false}]
      }
    ]
    systemFields: []
    relations: [
      {"collection": "org_membership", "field": "org_id", "related_collection": "org", "diff": []}
    ]
[21:22:41.186] DEBUG (22780): Excluded collections: dashboards, flows
"""


def test_the_planned_diff_is_read_from_directus_sync_debug_output() -> None:
    sync = Sync(0, DIFF, parse_diff(DIFF))
    assert sync.diff is not None and set(sync.diff) == {"collections", "fields", "systemFields",
                                                        "relations"}
    assert sync.items() == {("org_invite", "created_at"), ("org_membership", "org_id")}
    none = "[21:27:25.293] DEBUG (19952): [snapshot] No changes to apply\n"
    assert parse_diff(none) == {} and Sync(0, none, {}).items() == set()
    assert parse_diff("[21:27:25.293] INFO (1): Done\n") is None


def test_the_push_error_is_directus_s_first_message() -> None:
    output = ("  errors: [\n    {\n      message: 'drop index \"a_b_index\" - index \"a_b_index\" "
              "does not exist',\n")
    assert Sync(1, output).error() == 'drop index "a_b_index" - index "a_b_index" does not exist'


def test_an_unreachable_npm_registry_is_one_line_saying_so(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELEASEGATE_DIRECTUS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("npm_config_registry", "http://127.0.0.1:9/")
    monkeypatch.setenv("npm_config_fetch_retries", "0")
    with pytest.raises(Unavailable) as caught:
        install()
    assert str(caught.value) == ("the npm registry cannot be reached (npm ping failed), so "
                                 "Directus 11 and directus-sync cannot be installed")
    assert not list((tmp_path / "cache").glob("*/.complete"))
