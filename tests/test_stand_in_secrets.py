"""A secret's stand-in is opaque, and a value built from a stand-in is never a blocker (field trial
H13, docs/field-trials.md). A settings validator builds the database URL from a sealed password with
`PostgresDsn.build(password=...)`; a URL standing in for the password breaks that URL ("invalid port
number"). Rule (plugins/settings/stand_ins.py): only names that denote a URL or DSN (..._URL, ..._DSN,
..._URI, DATABASE_URL) get URL stand-ins; a name ending in PASSWORD, PASS, PWD, SECRET, TOKEN, KEY gets
letters and digits only. And the project's rule for sealed values (plugins/settings/kubelet_env.py:
"findings on it are warnings, not blockers"): a boot failure whose input holds a stand-in warns."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from releasegate.settings import boot, reader, stand_ins
from releasegate.settings.boot_findings import _error_finding
from releasegate.settings.kubelet_env import ContainerEnv, EnvVar

SETTINGS = textwrap.dedent("""
    from typing import Any, Optional
    from pydantic import Field, PostgresDsn, ValidationInfo, field_validator
    from pydantic_settings import BaseSettings

    class Settings(BaseSettings):
        FTM_DB_HOST: str = "db"
        FTM_DB_USER: str = "ftm"
        FTM_DB_PASSWORD: str
        FTM_DB_NAME: str = "ftm"
        FTM_DB_URL: Optional[PostgresDsn] = Field(None, validate_default=True)

        @field_validator("FTM_DB_URL", mode="before")
        @classmethod
        def assemble(cls, v: Optional[str], info: ValidationInfo) -> Any:
            if isinstance(v, str):
                return v
            return str(PostgresDsn.build(scheme="postgresql", username=info.data["FTM_DB_USER"],
                                         password=info.data["FTM_DB_PASSWORD"], host=info.data["FTM_DB_HOST"],
                                         path=info.data["FTM_DB_NAME"]))
""")

OLD_DSN = "postgresql://user:placeholder@db.invalid:5432/db"


@pytest.mark.parametrize(("name", "first"), [
    ("FTM_DB_PASSWORD", "releasegateStandIn0123456789abcdefghijklmnop"),
    ("SMTP_PASS", "releasegateStandIn0123456789abcdefghijklmnop"),
    ("DB_PWD", "releasegateStandIn0123456789abcdefghijklmnop"),
    ("REDIS_TOKEN", "releasegateStandIn0123456789abcdefghijklmnop"),
    ("DATABASE_SECRET_KEY", "releasegateStandIn0123456789abcdefghijklmnop"),
    ("FTM_DB_HOST", "releasegate-sealed-value"),
    ("FTM_DB_URL", OLD_DSN), ("DATABASE_URL", OLD_DSN), ("PG_DSN", OLD_DSN),
    ("SQLALCHEMY_DATABASE_URI", OLD_DSN), ("CELERY_BROKER", "redis://:placeholder@redis.invalid:6379/0"),
])
def test_urls_stand_in_only_for_names_that_denote_one(name: str, first: str) -> None:
    """A secret's stand-ins are letters and digits (the generic one last); URLs only for URL names."""
    found = stand_ins.stand_ins("str", name)
    assert found[0] == first
    if first.isalnum():
        assert all(v.isalnum() for v in found[:-1]) and found[-1] == "releasegate-sealed-value"


def booted(env: dict[str, str]) -> boot.BootResult:
    return boot.run([boot.BootJob("j", SETTINGS, "config.py", env, ("Settings",))])["j"]


def test_a_sealed_password_boots_and_a_url_built_from_a_stand_in_only_warns() -> None:
    """H13: the password's stand-in now boots; the old URL stand-in failed FTM_DB_URL, which is a
    warning naming the variable whose stand-in it holds, never a blocker, and shows no value."""
    sealed = EnvVar("FTM_DB_PASSWORD", "releasegate-sealed-value", "secret", known=False, ref=("db", "password"))
    env = ContainerEnv("api", "Deployment", "api", "ns", {"FTM_DB_PASSWORD": sealed})
    m = reader.read(SETTINGS, "config.py")
    assert booted(stand_ins.StandIns.of(env, m).values()).outcomes[0].ok
    failed = booted({"FTM_DB_PASSWORD": OLD_DSN}).outcomes[0]
    assert not failed.ok
    error = failed.errors[0]
    assert "invalid port number" in error["msg"]
    found = _error_finding(m.get("Settings"), None, env, error, "Settings", m, {"FTM_DB_PASSWORD": (OLD_DSN,)})
    assert found.severity == "warning"
    assert found.message.startswith("Settings.FTM_DB_URL fails at boot with the stand-in for FTM_DB_PASSWORD "
                                    "(the value cannot be read here): Input should be a valid URL, invalid port")
    assert OLD_DSN not in found.message
    plain = EnvVar("FTM_DB_PASSWORD", OLD_DSN, "value")  # the same value from git: a blocker
    env = ContainerEnv("api", "Deployment", "api", "ns", {"FTM_DB_PASSWORD": plain})
    assert _error_finding(m.get("Settings"), None, env, error, "Settings", m, {}).severity == "blocker"
