"""The boot subprocess: real interpreter, real pydantic-settings, exactly the given environment."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest

from releasegate.settings import boot, stand_ins

SETTINGS = textwrap.dedent("""
    import os
    from typing import Literal
    from pydantic import BaseModel, Field
    from pydantic_settings import BaseSettings, SettingsConfigDict

    class Flags(BaseModel):
        agent_loops: bool = False

    class AppSettings(BaseSettings):
        model_config = SettingsConfigDict(env_nested_delimiter="__")
        enable_audit_log: bool = False
        log_format: Literal["json", "text"] = "json"
        feature_flags: Flags = Flags()

    class SearchSettings(BaseSettings):
        search_url: str

    class EnvProbe(BaseSettings):
        def __init__(self, **kw):
            super().__init__(**kw)
            if set(os.environ) - {"ENABLE_AUDIT_LOG", "LOG_FORMAT", "SEARCH_URL", "FEATURE_FLAGS__AGENT_LOOPS"}:
                raise RuntimeError("unexpected variables: " + ",".join(sorted(os.environ)))

    def get_settings():
        app, search = AppSettings(), SearchSettings()
        if app.log_format == "text" and search.search_url.startswith("https"):
            raise ValueError("text logs are not allowed with a remote search service")
        return app, search
""")
CLASSES = ("AppSettings", "SearchSettings", "EnvProbe")


def job(env: dict[str, str], key: str = "j", source: str = SETTINGS, boot_fn: str | None = "get_settings",
        classes: tuple[str, ...] = CLASSES) -> boot.BootJob:
    return boot.BootJob(key, source, "settings.py", env, classes, boot_fn)


def outcomes(result: boot.BootResult) -> dict[str, boot.Outcome]:
    return {o.name: o for o in result.outcomes}


def test_each_class_fails_on_its_own_with_pydantics_words() -> None:
    result = boot.run([job({"ENABLE_AUDIT_LOG": "", "LOG_FORMAT": "xml"})])["j"]
    got = outcomes(result)
    assert [(e["loc"], e["type"], e["input"]) for e in got["AppSettings"].errors] == [
        (["enable_audit_log"], "bool_parsing", ""), (["log_format"], "literal_error", "xml")]
    assert got["AppSettings"].errors[1]["msg"] == "Input should be 'json' or 'text'"
    assert [(e["loc"], e["type"], e["input"]) for e in got["SearchSettings"].errors] == [
        (["search_url"], "missing", None)]
    assert got["EnvProbe"].ok  # the process saw only the variables given, nothing of ours
    assert not got["get_settings()"].ok


def test_boot_function_catches_cross_section_rules() -> None:
    env = {"LOG_FORMAT": "text", "SEARCH_URL": "https://search.internal", "FEATURE_FLAGS__AGENT_LOOPS": "1"}
    got = outcomes(boot.run([job(env)])["j"])
    assert got["AppSettings"].ok and got["SearchSettings"].ok
    assert got["get_settings()"].exception == ("ValueError: text logs are not allowed with a remote "
                                                "search service")


def test_environment_is_exactly_the_containers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENABLE_AUDIT_LOG", "not-a-bool")  # ours, must not leak into the boot
    got = outcomes(boot.run([job({"SEARCH_URL": "x"})])["j"])
    assert got["AppSettings"].ok and got["EnvProbe"].ok


def test_import_path_holds_only_the_settings_file() -> None:
    source = "import releasegate.settings.boot\nfrom pydantic_settings import BaseSettings\nclass S(BaseSettings):\n  a: int = 1\n"
    result = boot.run([job({}, source=source, classes=("S",), boot_fn=None)])["j"]
    assert result.unavailable == "ModuleNotFoundError: No module named 'releasegate'"
    assert result.outcomes == ()


def test_validation_error_at_import_is_reported_not_crashed() -> None:
    source = SETTINGS + "\nsettings = get_settings()\n"
    result = boot.run([job({"ENABLE_AUDIT_LOG": ""}, source=source)])["j"]
    assert result.import_failure is not None
    assert {e["type"] for e in result.import_failure.errors} == {"bool_parsing"}


def test_many_jobs_share_one_interpreter_and_stay_separate() -> None:
    jobs = [job({"SEARCH_URL": "s", "ENABLE_AUDIT_LOG": value}, key=value or "empty")
            for value in ("", "true", "maybe")]
    results = boot.run(jobs)
    assert not outcomes(results["empty"])["AppSettings"].ok
    assert outcomes(results["true"])["AppSettings"].ok
    assert not outcomes(results["maybe"])["AppSettings"].ok


def test_a_hanging_class_is_bounded_and_does_not_hide_the_next() -> None:
    source = SETTINGS + textwrap.dedent("""
        class Slow(BaseSettings):
            def __init__(self, **kw):
                import time
                time.sleep(30)
    """)
    started = time.monotonic()
    result = boot.run([job({"SEARCH_URL": "s"}, source=source, classes=("Slow", "SearchSettings"))],
                      timeout=1)["j"]
    assert time.monotonic() - started < 10
    got = outcomes(result)
    assert got["Slow"].exception == "did not finish within 1s"
    assert got["SearchSettings"].ok


def test_missing_interpreter_is_a_clear_error() -> None:
    with pytest.raises(boot.BootError, match="boot interpreter /nonexistent/python does not exist"):
        boot.run([job({})], python="/nonexistent/python")


def test_named_interpreter_is_used() -> None:
    source = ("import sys\nfrom pydantic_settings import BaseSettings\n"
              "class S(BaseSettings):\n  def __init__(self):\n    raise SystemExit(sys.executable)\n")
    got = outcomes(boot.run([job({}, source=source, classes=("S",), boot_fn=None)], python=sys.executable)["j"])
    assert got["S"].exception == f"SystemExit: {sys.executable}"


@pytest.mark.parametrize(("annotation", "value"), [
    ("PostgresDsn", "postgresql://user:placeholder@db.invalid:5432/db"), ("SecretStr", "releasegate-sealed-value"),
    ("Optional[bool]", "false"), ("int", "1"), ("list[str]", "[]"), ("AnyHttpUrl", "https://placeholder.invalid/"),
])
def test_placeholder_fits_the_annotation(annotation: str, value: str) -> None:
    assert stand_ins.placeholder(annotation) == value


def test_a_crashing_class_is_isolated_and_the_rest_still_runs() -> None:
    source = SETTINGS + textwrap.dedent("""
        class Crash(BaseSettings):
            def __init__(self, **kw):
                print("noise on stdout must not disturb the protocol")
                os._exit(3)
    """)
    result = boot.run([job({"SEARCH_URL": "s"}, source=source, classes=("Crash", "SearchSettings", "AppSettings"))])
    got = outcomes(result["j"])
    assert got["Crash"].exception == "the process ended while constructing it (status 768)"
    assert got["SearchSettings"].ok and got["AppSettings"].ok and got["get_settings()"].ok


@pytest.mark.skipif(not Path("/usr/bin/python3").exists(), reason="needs a python without pydantic-settings")
def test_interpreter_without_pydantic_settings_names_the_missing_module() -> None:
    """The suite's limit, not the application's: the result names the module the interpreter lacks."""
    if subprocess.run(["/usr/bin/python3", "-c", "import pydantic_settings"], capture_output=True).returncode == 0:
        pytest.skip("/usr/bin/python3 has pydantic-settings")
    result = boot.run([job({})], python="/usr/bin/python3")["j"]
    assert result.missing in ("pydantic", "pydantic_settings") and result.outcomes == ()
    assert result.unavailable == f"ModuleNotFoundError: No module named '{result.missing}'"


def test_a_session_interpreter_that_went_away_is_replaced() -> None:
    boot.run([job({"SEARCH_URL": "s"})])
    first = boot._SERVERS[sys.executable].proc
    first.kill()
    first.wait()
    got = outcomes(boot.run([job({"SEARCH_URL": "s"})])["j"])
    assert got["SearchSettings"].ok and boot._SERVERS[sys.executable].proc is not first


@pytest.mark.parametrize(("annotation", "name", "first"), [
    ("str", "DATABASE_URL", "postgresql://user:placeholder@db.invalid:5432/db"),
    ("str", "REDIS_DSN", "redis://:placeholder@redis.invalid:6379/0"),
    ("str", "WEBHOOK_URL", "https://placeholder.invalid/"),
    ("str", "SETTINGS_JSON", "{}"), ("str", "METRICS_PORT", "8080"),
    ("SecretStr", "JWT_SECRET", "releasegateStandIn0123456789abcdefghijklmnop"),
    ("int", "DATABASE_POOL", "1"), ("str", "GREETING", "releasegate-sealed-value"),
    ("Literal['eu', 'us']", "REGION", "eu"), ("Optional[Literal[1, 2]]", "TIER", "1"),
])
def test_stand_ins_by_annotation_then_by_name(annotation: str, name: str, first: str) -> None:
    """The first stand-in comes from the annotation when it says something, else from the name."""
    found = stand_ins.stand_ins(annotation, name)
    assert found[0] == first and found[-1] == "releasegate-sealed-value" and len(found) == len(set(found))


@pytest.mark.parametrize(("message", "expected"), [
    ("Value error, DSN must use postgresql+asyncpg:// or sqlite+aiosqlite://",
     ["postgresql+asyncpg://user:placeholder@placeholder.invalid:5432/db", "sqlite+aiosqlite:///releasegate.db"]),
    ("String should match pattern '^postgresql\\+asyncpg://'",
     ["postgresql+asyncpg://user:placeholder@placeholder.invalid:5432/db"]),
    ("Input should be 'json' or 'text'", ["json", "text"]),
    ("Value error, the key must start with sk-", ["sk-releasegate"]),
    ("Value error, at least 12 characters", ["releasegate-"]),
    ("Field required", []),
])
def test_stand_ins_from_the_validators_own_message(message: str, expected: list[str]) -> None:
    """Schemes, prefixes, quoted literals and lengths that a validator's message names."""
    assert stand_ins.stand_ins_from_message(message) == expected


def test_jobs_sent_ahead_are_answered_as_if_run_then() -> None:
    jobs = [job({"SEARCH_URL": "s"}, key="a"), job({"ENABLE_AUDIT_LOG": "", "LOG_FORMAT": "xml"}, key="b")]
    fresh = boot.run([job({"SEARCH_URL": "s"}, key="a"), job({"ENABLE_AUDIT_LOG": "", "LOG_FORMAT": "xml"}, key="b")])
    boot.send_ahead(jobs)
    assert sys.executable in boot._AHEAD
    ahead = boot.run([job({"ENABLE_AUDIT_LOG": "", "LOG_FORMAT": "xml"}, key="x"), job({"SEARCH_URL": "t"}, key="y")])
    assert not boot._AHEAD and ahead["x"] == replace(fresh["b"], key="x")
    assert outcomes(ahead["y"])["SearchSettings"].ok  # not sent ahead: booted then
    assert boot.run([job({"SEARCH_URL": "s"}, key="z")])["z"] == replace(fresh["a"], key="z")
    assert not boot._READY.get(sys.executable)  # each answer is used once


def test_jobs_that_cannot_go_ahead_are_run_as_before() -> None:
    boot.send_ahead([job({})], python="/nonexistent/python")
    assert "/nonexistent/python" not in boot._AHEAD
    with pytest.raises(boot.BootError, match="does not exist"):
        boot.run([job({})], python="/nonexistent/python")
