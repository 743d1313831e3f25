"""Findings name the variable wherever the model lives: the boot reports, for each pydantic error,
the variables its class reads for that location (through env_prefix, env_nested_delimiter,
validation_alias, AliasChoices; v1's env=), so errors in models the static reader cannot see (a
library's, the application's other modules) name the variable and its source, and the stand-in
and secret rules apply to them (pydantic-settings' EnvSettingsSource: env names are prefix + field
name, or the alias choices without the prefix; nested values are read from NAME + delimiter + sub-field)."""
from __future__ import annotations

import textwrap
from pathlib import Path

from releasegate.settings import boot, reader, stand_ins
from releasegate.settings.boot_findings import _error_finding
from releasegate.settings.kubelet_env import ContainerEnv, EnvVar

KAFKA = textwrap.dedent("""
    from typing import Literal
    from pydantic import BaseModel

    class KafkaConfig(BaseModel):
        security_protocol: Literal["SSL", "SASL_SSL"]
        brokers: int = 1
""")
SETTINGS = textwrap.dedent("""
    from pydantic import AliasChoices, Field
    from pydantic_settings import BaseSettings, SettingsConfigDict
    from myapp.kafka import KafkaConfig

    class AppSettings(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="APP_", env_nested_delimiter="__")
        kafka: KafkaConfig
        partitions: int = Field(1, validation_alias=AliasChoices("PARTITIONS", "KAFKA_PARTITIONS"))
""")


def booted(tmp_path: Path, env: dict[str, str]) -> boot.BootResult:
    tree = Path(boot.trees()) / tmp_path.name  # the boot sees source trees only in its shared folder
    (tree / "myapp").mkdir(parents=True, exist_ok=True)
    (tree / "myapp" / "kafka.py").write_text(KAFKA)
    job = boot.BootJob("j", SETTINGS, "settings.py", env, ("AppSettings",), paths=(str(tree),))
    return boot.run([job])["j"]


def test_errors_carry_the_variables_of_models_the_reader_cannot_see(tmp_path: Path) -> None:
    result = booted(tmp_path, {"APP_KAFKA__SECURITY_PROTOCOL": "PLAINTEXT", "KAFKA_PARTITIONS": "many"})
    got = {tuple(e["loc"]): e["variables"] for e in result.outcomes[0].errors}
    assert got == {("kafka", "security_protocol"): ["APP_KAFKA__SECURITY_PROTOCOL", "APP_KAFKA"],
                   ("PARTITIONS",): ["PARTITIONS", "KAFKA_PARTITIONS"]}


def container(**vars: EnvVar) -> ContainerEnv:
    return ContainerEnv("api", "Deployment", "api", "ns", vars)


def test_a_plain_value_is_a_blocker_naming_the_variable(tmp_path: Path) -> None:
    result = booted(tmp_path, {"APP_KAFKA__SECURITY_PROTOCOL": "PLAINTEXT"})
    error = result.outcomes[0].errors[0]
    m = reader.read(SETTINGS, "settings.py")
    env = container(APP_KAFKA__SECURITY_PROTOCOL=EnvVar("APP_KAFKA__SECURITY_PROTOCOL", "PLAINTEXT", "value"))
    found = _error_finding(m.get("AppSettings"), None, env, error, "AppSettings", m)
    assert (found.severity, found.item) == ("blocker", "APP_KAFKA__SECURITY_PROTOCOL")
    assert found.message == ("APP_KAFKA__SECURITY_PROTOCOL='PLAINTEXT' fails AppSettings.kafka.security_protocol: "
                             "Input should be 'SSL' or 'SASL_SSL' (literal_error)")


def test_a_sealed_value_gets_stand_ins_and_warns_only_when_none_boots(tmp_path: Path) -> None:
    """A sealed APP_KAFKA__SECURITY_PROTOCOL: the generic stand-in fails, the validator's own
    message names 'SSL', which boots: no finding. Were none to boot, a warning, never a blocker."""
    sealed = EnvVar("APP_KAFKA__SECURITY_PROTOCOL", "releasegate-sealed-value", "secret", known=False,
                    ref=("kafka", "protocol"))
    env = container(APP_KAFKA__SECURITY_PROTOCOL=sealed)
    m = reader.read(SETTINGS, "settings.py")
    stand = stand_ins.StandIns.of(env, m)
    first = booted(tmp_path, stand.values())
    assert not first.outcomes[0].ok and stand.advance(m, first)
    assert stand.values()["APP_KAFKA__SECURITY_PROTOCOL"] == "SSL"
    assert booted(tmp_path, stand.values()).outcomes[0].ok
    found = _error_finding(m.get("AppSettings"), None, env, first.outcomes[0].errors[0], "AppSettings", m,
                           {"APP_KAFKA__SECURITY_PROTOCOL": ("releasegate-sealed-value",)})
    assert (found.severity, found.item) == ("warning", "APP_KAFKA__SECURITY_PROTOCOL")
    assert found.message.startswith("APP_KAFKA__SECURITY_PROTOCOL (from secret kafka key protocol) may not fit "
                                    "AppSettings.kafka.security_protocol: no stand-in boots")
