"""Reading a directus-sync snapshot from a folder and from a git ref (real git, shared fixture)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from releasegate.core.gitrepo import GitRepo
from releasegate.schema.snapshot import SnapshotError, load_dir, load_ref



@pytest.fixture
def copy(shared_snapshot: Path, tmp_path: Path) -> Path:
    """A writable copy of the shared snapshot."""
    return Path(shutil.copytree(shared_snapshot, tmp_path / "snapshot"))


def test_reads_every_file_of_the_shared_snapshot(shared_snapshot: Path) -> None:
    snap = load_dir(shared_snapshot)
    on_disk = list(shared_snapshot.rglob("*.json"))
    assert snap.file_count == len(on_disk) == 884
    assert len(snap.collections) == len(list((shared_snapshot / "collections").glob("*.json")))
    assert sum(len(f) for f in snap.fields.values()) == len(
        list((shared_snapshot / "fields").glob("*/*.json")))
    assert sum(len(r) for r in snap.relations.values()) == len(
        list((shared_snapshot / "relations").glob("*/*.json")))
    assert snap.errors == {}
    assert snap.info["vendor"] == "postgres"
    # directus_users is a system collection the snapshot only adds fields to.
    assert "directus_users" in snap.names() and "directus_users" not in snap.collections


def test_alias_fields_and_folders_are_kept_as_such(copy: Path) -> None:
    folder = {"collection": "reports_folder", "meta": {"collection": "reports_folder"},
              "schema": None}
    (copy / "collections" / "reports_folder.json").write_text(json.dumps(folder))
    snap = load_dir(copy)
    assert snap.collections["reports_folder"].is_folder
    aliases = [f for fs in snap.fields.values() for f in fs.values() if f.is_alias]
    raw = [p for p in copy.glob("fields/*/*.json") if json.loads(p.read_text()).get("schema") is None]
    assert len(aliases) == len(raw) > 0
    assert snap.fields["org"]["name"].schema["data_type"] == "character varying"


def test_a_malformed_file_is_an_error_naming_the_file_not_a_crash(copy: Path) -> None:
    bad = copy / "fields" / "org" / "name.json"
    bad.write_text('{"collection": "org", "field": "name",\n  "schema": {,}}')
    snap = load_dir(copy, where="app@v2:directus/sync/snapshot")
    assert list(snap.errors) == ["org"]
    (message,) = snap.errors["org"]
    assert message.startswith("app@v2:directus/sync/snapshot/fields/org/name.json: invalid JSON at "
                              "line 2 column")
    assert "name" not in snap.fields["org"] and "created_at" in snap.fields["org"]
    assert "project" in snap.collections  # the rest is read


def test_a_file_in_the_wrong_folder_is_reported(copy: Path) -> None:
    src = copy / "fields" / "org" / "name.json"
    shutil.copy(src, copy / "fields" / "project" / "name.json")
    snap = load_dir(copy)
    assert snap.errors["project"] == [f"{copy}/fields/project/name.json: says collection 'org', "
                                      "its path says 'project'"]


def test_malformed_info_json_makes_the_snapshot_unusable(copy: Path) -> None:
    (copy / "info.json").write_text("[1, 2")
    with pytest.raises(SnapshotError, match=r"info\.json: invalid JSON at line 1"):
        load_dir(copy)
    (copy / "info.json").unlink()
    with pytest.raises(SnapshotError, match="no info.json"):
        load_dir(copy)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
                                          "GIT_COMMITTER_NAME": "t",
                                          "GIT_COMMITTER_EMAIL": "t@x", "HOME": str(repo)}).stdout


def test_reads_the_snapshot_at_a_git_ref_not_the_checkout(shared_snapshot: Path,
                                                           tmp_path: Path) -> None:
    repo = tmp_path / "app"
    target = repo / "directus" / "sync" / "snapshot"
    shutil.copytree(shared_snapshot, target)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "snapshot")
    _git(repo, "tag", "v1.0.0")
    shutil.rmtree(target / "fields" / "org")  # the checkout changes; the tag does not
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "drop org fields")
    (target / "info.json").write_text("garbage")  # uncommitted: must not be read
    snap = load_ref(GitRepo(repo, "app"), "v1.0.0", "directus/sync/snapshot")
    assert snap.where == "app@v1.0.0:directus/sync/snapshot"
    assert "name" in snap.fields["org"] and snap.file_count == 884
    head = load_ref(GitRepo(repo, "app"), "main", "directus/sync/snapshot")
    assert "org" not in head.fields
    with pytest.raises(SnapshotError, match="no info.json at that ref"):
        load_ref(GitRepo(repo, "app"), "main", "directus/elsewhere")
