"""Each class where it is built: the classes a settings entry's boot function builds, read from the
file at the commit under check (plugins/settings/boot_reach.py), are the ones required in the
containers that call it; settings[].classes still wins; what the run read is said as a note."""
from __future__ import annotations

import dataclasses
import json
import re
import textwrap
from pathlib import Path

import pytest

from releasegate.core.host import Estatewide
from releasegate.estate import SettingsEntry, load
from releasegate.options import Settings
from releasegate.settings import boot_reach, boot_runs, containers, finding, required, targets
from tests.test_settings_estate import estate_dir, run, shas, suite  # noqa: F401 - the module's estate, as fixtures

FILE = textwrap.dedent("""
    from functools import lru_cache
    from pydantic import BaseModel
    from pydantic_settings import BaseSettings

    class Limits(BaseModel):
        steps: int = 3

    class Nested(BaseSettings):
        url: str

    class Factory(BaseSettings):
        token: str

    class Base(BaseSettings):
        nested: Nested

    class Settings(Base):
        limits: Limits = Limits()
        made: Factory = Field(default_factory=Factory)

        @property
        def monitoring(self) -> "Otel":
            return Otel()          # a method: not built at boot

    class Otel(BaseSettings):
        level: str

    class Jobs(BaseSettings):
        queue: str

    class Imported(BaseSettings):
        value: str

    def _build() -> Settings:
        return Settings()

    @lru_cache
    def get_settings() -> Otel:    # an annotation builds nothing
        return _build()

    def get_jobs():
        return Jobs.model_validate({})

    def lazy():
        return make(Settings)

    imported = Imported()          # the import builds it, in every container
""")


@pytest.mark.parametrize("boot, built", [
    ("get_settings", {"Settings", "Limits", "Nested", "Factory", "Imported"}),
    ("get_jobs", {"Jobs", "Imported"}),
    ("lazy", {"Settings", "Limits", "Nested", "Factory", "Imported"}),
    ("no_such_function", set()),
])
def test_what_a_boot_function_builds(boot: str, built: set[str]) -> None:
    """Direct construction, `Class.model_validate`, a function of the file it calls, a class handed
    on, fields (own and inherited) and default factories; not methods, bases, or annotations."""
    assert boot_reach.reached(FILE, boot) == built


def test_a_file_that_does_not_parse_builds_nothing_known() -> None:
    assert boot_reach.reached("def get_settings(:\n", "get_settings") == frozenset()


def _entry(**kw: object) -> SettingsEntry:
    return SettingsEntry(kind="pydantic-settings", source="app", path="s.py", containers=("api", "worker", "job"),
                         **kw)


def test_the_explicit_mapping_wins_and_a_listed_boot_function_adds_its_classes() -> None:
    names = ("Settings", "Otel", "Jobs", "Imported", "Nested", "Factory")
    booted = boot_reach.inferred(_entry(boot="get_settings"), FILE, names)
    assert booted == {"Settings", "Nested", "Factory", "Imported", "get_settings"}
    entry = _entry(boot="get_settings", classes={"job": ("Jobs",), "worker": ("get_settings", "Otel")})
    assert containers.built_classes(entry, "job", booted) == {"Jobs"}
    assert containers.built_classes(entry, "worker", booted) == booted | {"Otel"}
    assert containers.built_classes(entry, "api", booted) == booted
    assert boot_reach.inferred(_entry(), FILE, names) is None  # no boot function: every class
    assert boot_reach.inferred(_entry(boot="no_such_function"), FILE, names) is None
    assert containers.built_classes(_entry(), "api", None) is None


def _host(estate_dir: Path, **classes: tuple[str, ...]) -> tuple:
    estate = load(estate_dir / "environments.yaml")
    entry = dataclasses.replace(estate.settings[0], classes=classes)
    narrowed = dataclasses.replace(estate, settings=(entry,))
    host = Estatewide(narrowed, Settings(estate_dir / "environments.yaml", None)).host("production")
    sha = host.git("app").resolve("boots-app-only")
    return host, entry, targets.Target("candidate", sha, sha[:12])


def test_a_class_the_boot_function_does_not_build_is_not_required(estate_dir: Path) -> None:
    """get_settings() builds AppSettings only: SearchSettings' empty SEARCH_URL is no blocker in api
    or worker; the run says, as a note, what it read; the boot constructs only what it builds."""
    host, entry, target = _host(estate_dir)
    assert required.required(host, entry, target, cls_name="SearchSettings") == []
    notes = required.reader_warnings(host, entry, target)
    assert [(f.severity, f.message) for f in notes] == [(finding.NOTE, (
        f"settings server/app/settings.py at app {target.label}: get_settings() builds AppSettings, so "
        "SearchSettings is not required in api, worker; list the classes a container builds in "
        "settings[].classes where this reading is wrong"))]
    booted = boot_runs.boot_results(host, entry, target)
    assert {c: [o.name for o in r.outcomes] for c, r in booted.items()} == {
        "api": ["AppSettings", "get_settings()"], "worker": ["AppSettings", "get_settings()"]}


def test_the_explicit_mapping_still_wins_over_the_boot_function(estate_dir: Path) -> None:
    """settings[].classes lists SearchSettings for the worker (it runs the indexer): the blocker is
    the worker's alone; the api, unlisted, builds what get_settings() builds."""
    host, entry, target = _host(estate_dir, worker=("SearchSettings",))
    found = required.required(host, entry, target, cls_name="SearchSettings")
    assert [(f.severity, f.details["containers"]) for f in found] == [(finding.BLOCK, ["worker"])]
    assert "SEARCH_URL is empty for worker at app" in found[0].message
    notes = required.reader_warnings(host, entry, target)
    assert [f.details["containers"] for f in notes] == [["api"]]


def test_the_every_class_default_is_a_note_not_a_warning(suite: pytest.Pytester) -> None:
    """An entry with no boot function and no settings[].classes: the run says once that every class
    is checked in every container, under "releasegate notes" and in the JSON report's run.notes;
    the verdict counts it nowhere (it had been a warning)."""
    text = (suite.path / "environments.yaml").read_text()
    (suite.path / "environments.yaml").write_text(re.sub(r",\s*boot: get_settings}", "}", text))
    result, _ = run(suite, "-m", "prerelease", "--env=production")
    said = ("production: settings server/app/settings.py: every class is checked in every container (api, worker): "
            "where a container builds only some of them (a worker, a migration job), list them in settings[].classes")
    result.stdout.fnmatch_lines(["*releasegate notes*", f"NOTE {said}"])
    report = json.loads((suite.path / "report.json").read_text())
    assert report["run"]["notes"] == [said]
    # a note is the run's, not a record of the environment whose check said it first (shards
    # merge into the serial run's records)
    assert [r for r in report["records"] if r["severity"] == "note"] == []
    warnings = [r for r in report["records"] if r["severity"] == "warning" and "waiver" not in r]
    assert report["verdict"]["warnings"] == len(warnings) == 4
    assert "every class" not in "".join(r["message"] for r in warnings)


def test_a_listed_class_the_file_never_defines_is_an_error_once(suite: pytest.Pytester, shas: dict) -> None:
    """settings[].classes.worker lists "AppSetings" (a typo), defined at no commit checked here: one
    ERROR naming the entry, the container and the name, on the entry's first class; the other
    class is "not checked"; never a blocker, never a pass."""
    text = (suite.path / "environments.yaml").read_text()
    (suite.path / "environments.yaml").write_text(
        text.replace("boot: get_settings}", "boot: get_settings, classes: {worker: [AppSetings]}}"))
    result, records = run(suite, "--env=production", "-k", "test_settings_required_candidate")
    by_item = {r["nodeid"].split("::")[1]: (r["outcome"], r["message"]) for r in records}
    main = shas["main"][:12]
    assert by_item == {
        "test_settings_required_candidate[production-AppSettings]": ("error", (
            f"production: settings[0].classes.worker: AppSetings: no class of server/app/settings.py at app main "
            f"({main}) (candidate) nor its boot function (its classes: AppSettings, SearchSettings; boot: "
            "get_settings): correct the name in environments.yaml")),
        "test_settings_required_candidate[production-SearchSettings]": ("skipped", (
            "production: not checked: settings server/app/settings.py: classes names what the file does not define "
            "(the error is on AppSettings)"))}
    assert result.ret == 1
