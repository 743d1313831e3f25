"""The static reader of pydantic-settings classes, checked against pydantic-settings itself.

Every alias case asserts the names the reader derives AND that the real library, given only that
variable, fills the field: the reader can't drift from the library it imitates.
"""
from __future__ import annotations

import os
import sys
import textwrap
import types

import pytest

from releasegate.settings import classes
from releasegate.settings import reader as sm

pytestmark = pytest.mark.filterwarnings("ignore:Support for class-based `config`")

HEADER = """
from typing import Annotated, Literal, Optional
from pydantic import AliasChoices, AliasPath, BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
"""


def read(body: str) -> classes.SettingsModel:
    return sm.read(HEADER + textwrap.dedent(body), "server/app/settings.py")


def construct(body: str, cls: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch):
    """Build the class for real with exactly `env` (no other variable of this process)."""
    for name in list(os.environ):
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    module = types.ModuleType("rg_settings_case")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(HEADER + textwrap.dedent(body), "settings.py", "exec"), module.__dict__)
    return getattr(module, cls)()


ALIAS_CASES = {
    "plain": ("rg_value: str", ["RG_VALUE"], "rg_value"),
    "prefix": ("model_config = SettingsConfigDict(env_prefix='APP_')\n    rg_value: str",
               ["APP_RG_VALUE"], "rg_value"),
    "alias": ("rg_value: str = Field(alias='SEARCH_URL')", ["SEARCH_URL"], "rg_value"),
    "alias-ignores-prefix": ("model_config = SettingsConfigDict(env_prefix='APP_')\n"
                             "    rg_value: str = Field(alias='SEARCH_URL')", ["SEARCH_URL"], "rg_value"),
    "validation_alias": ("rg_value: str = Field(validation_alias='DB_DSN')", ["DB_DSN"], "rg_value"),
    "alias-choices": ("rg_value: str = Field(validation_alias=AliasChoices('DATABASE_URL', 'DB_URL'))",
                      ["DATABASE_URL", "DB_URL"], "rg_value"),
    "alias-path": ("rg_value: str = Field(validation_alias=AliasPath('RG_CONF', 'host'))",
                   ["RG_CONF"], None),
    "annotated": ("rg_value: Annotated[str, Field(alias='RG_TOKEN')]", ["RG_TOKEN"], "rg_value"),
    "populate-by-name": ("model_config = SettingsConfigDict(populate_by_name=True, env_prefix='P_')\n"
                         "    rg_value: str = Field(alias='RG_ALIAS')", ["RG_ALIAS", "P_RG_VALUE"], "rg_value"),
    "prefix-target-all": ("model_config = SettingsConfigDict(env_prefix='P_', env_prefix_target='all')\n"
                          "    rg_value: str = Field(alias='RG_ALIAS')", ["P_RG_ALIAS"], "rg_value"),
    "module-constant": ("model_config = SettingsConfigDict(env_prefix=PREFIX)\n    rg_value: str",
                        ["CONST_RG_VALUE"], "rg_value"),
    "class-kwargs": ("rg_value: str", ["KW_RG_VALUE"], "rg_value"),
    "config-class": ("rg_value: str\n    class Config:\n        env_prefix = 'OLD_'", ["OLD_RG_VALUE"],
                     "rg_value"),
}


def _case_source(case: str, body: str) -> str:
    head = "class S(BaseSettings, env_prefix='KW_'):" if case == "class-kwargs" else "class S(BaseSettings):"
    prefix = "PREFIX = 'CONST_'\n" if case == "module-constant" else ""
    return f"{prefix}{head}\n    {body}\n"


@pytest.mark.parametrize("case", sorted(ALIAS_CASES))
def test_env_names_match_pydantic_settings(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    body, expected, attr = ALIAS_CASES[case]
    source = _case_source(case, body)
    field = read(source).get("S").fields[0]
    assert list(field.env_names) == expected
    assert read(source).warnings == ()
    for name in expected:
        value = '{"host": "h"}' if case == "alias-path" else "from-" + name
        built = construct(source, "S", {name: value}, monkeypatch)
        assert getattr(built, "rg_value") == ("h" if case == "alias-path" else "from-" + name)


def test_case_insensitive_names_match_any_case_and_sensitive_ones_do_not() -> None:
    model = read("""
        class Loose(BaseSettings):
            rg_flag: bool = False
        class Strict(BaseSettings):
            model_config = SettingsConfigDict(case_sensitive=True, env_prefix='App_')
            RgFlag: bool = False
    """)
    loose, strict = model.get("Loose").fields[0], model.get("Strict").fields[0]
    assert loose.env_names == ("RG_FLAG",) and loose.lookup({"rg_flag": "1"}) == ("rg_flag", "1")
    assert strict.env_names == ("App_RgFlag",)
    assert strict.lookup({"APP_RGFLAG": "1"}) is None
    assert strict.lookup({"App_RgFlag": "1"}) == ("App_RgFlag", "1")


def test_required_versus_default() -> None:
    model = read("""
        class S(BaseSettings):
            a: str
            b: str = "x"
            c: Optional[str]
            d: Optional[str] = None
            e: str = Field(...)
            f: str = Field(default=...)
            g: str = Field("x")
            h: list[str] = Field(default_factory=list)
            i: Annotated[str, Field(alias="I_ALIAS")]
            j: str = Field(alias="J_ALIAS")
            _private: str = "p"
    """)
    required = {f.name: f.required for f in model.get("S").fields}
    assert required == {"a": True, "b": False, "c": True, "d": False, "e": True, "f": True,
                        "g": False, "h": False, "i": True, "j": True}
    assert model.get("S").fields[2].annotation == "Optional[str]"


def test_required_fields_match_what_pydantic_reports_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    body = """
        class S(BaseSettings):
            a: str
            b: str = "x"
            c: Optional[str]
            e: str = Field(...)
            g: str = Field("x")
            j: str = Field(alias="J_ALIAS")
    """
    with pytest.raises(ValidationError) as caught:
        construct(body, "S", {}, monkeypatch)
    missing = {e["loc"][0] for e in caught.value.errors() if e["type"] == "missing"}
    static = {f.keys[0] for _, f in classes.missing_required(read(body), {})}
    assert static == missing == {"a", "c", "e", "J_ALIAS"}


def test_nested_delimiter_reads_sub_fields_and_dicts(monkeypatch: pytest.MonkeyPatch) -> None:
    body = """
        class Limits(BaseModel):
            max_loops: int
            burst: int = 2
        class Flags(BaseModel):
            agent_loops: bool = False
        class S(BaseSettings):
            model_config = SettingsConfigDict(env_nested_delimiter="__", env_prefix="AG_")
            limits: Limits
            feature_flags: Flags = Flags()
            labels: dict[str, str] = {}
    """
    model = read(body)
    cls = model.get("S")
    limits, flags, labels = cls.fields
    assert [s.env_names for s in limits.nested] == [("AG_LIMITS__MAX_LOOPS",), ("AG_LIMITS__BURST",)]
    assert flags.nested[0].env_names == ("AG_FEATURE_FLAGS__AGENT_LOOPS",)
    assert labels.open_nested == "AG_LABELS__"
    env = {"AG_LIMITS__MAX_LOOPS": "5", "AG_FEATURE_FLAGS__AGENT_LOOPS": "true", "AG_LABELS__TEAM": "x"}
    assert classes.missing_required(model, env) == []
    assert [f.name for _, f in classes.missing_required(model, {"AG_LIMITS__BURST": "3"})] == ["limits"]
    assert classes.missing_required(model, {"AG_LIMITS": '{"max_loops": 1}'}) == []
    assert classes.missing_required(model, {"AG_LIMITS__MAX_LOOPS": ""})[0][1].name == "limits"  # empty: not set
    assert model.annotation_for("ag_limits__burst") == "int" and model.annotation_for("AG_OTHER") is None
    assert model.may_read("AG_LABELS__X") and not model.may_read("POD_NAME") and not model.whole_environ
    assert cls.reads("AG_LABELS__ANY") and cls.reads("ag_feature_flags__agent_loops") and not cls.reads("AG_X")
    built = construct(body, "S", env, monkeypatch)
    assert (built.limits.max_loops, built.feature_flags.agent_loops, built.labels) == (5, True, {"team": "x"})
    assert cls.field_for(["feature_flags", "agent_loops"]).env_names == ("AG_FEATURE_FLAGS__AGENT_LOOPS",)


def test_inheritance_merges_fields_and_config_and_extra_is_kept() -> None:
    model = read("""
        class Base(BaseSettings):
            model_config = SettingsConfigDict(env_prefix="SVC_", extra="ignore")
            region: str = "eu"
        class Mail(Base):
            model_config = SettingsConfigDict(env_prefix="MAIL_")
            smtp_password: str
    """)
    mail = model.get("Mail")
    assert [f.env_names for f in mail.fields] == [("MAIL_REGION",), ("MAIL_SMTP_PASSWORD",)]
    assert mail.extra == "ignore" and model.get("Base").extra == "ignore"
    assert [c.name for c in model.classes] == ["Base", "Mail"]


def test_unsupported_constructs_warn_with_file_and_line_never_crash() -> None:
    model = read("""
        from app.base import CompanySettings
        def name(): return "X"
        class S(BaseSettings):
            model_config = SettingsConfigDict(env_prefix=compute_prefix(), alias_generator=str.upper)
            a: str = Field(alias=name())
            b: str = Field(**OPTIONS)
        class T(CompanySettings):
            c: str
    """)
    text = "\n".join(model.warnings)
    assert "server/app/settings.py:9: env_prefix is not a literal" in text
    assert "server/app/settings.py:9: alias_generator is not supported" in text
    assert "server/app/settings.py:10: S.a: alias is not a literal" in text
    assert "server/app/settings.py:11: S.b: Field(**...)" in text
    assert "server/app/settings.py:12: class T: base CompanySettings is not defined" in text
    assert model.get("S").fields[0].env_names == ("A",)


def test_code_that_reads_the_whole_environment_may_read_any_variable() -> None:
    model = read("""
        import os
        EXTRA = {k: v for k, v in os.environ.items() if k.startswith("X_")}
        TOKEN = os.environ["API_TOKEN"]
    """)
    assert model.whole_environ and model.may_read("POD_NAME")
    assert not read("import os\nTOKEN = os.environ['API_TOKEN']\n").whole_environ
    assert read("import os\nTOKEN = os.environ['API_TOKEN']\n").may_read("API_TOKEN")


def test_syntax_error_is_a_warning_with_line() -> None:
    model = sm.read("class S(BaseSettings):\n    a: str =\n", "s.py")
    assert model.classes == () and model.warnings == ("s.py:2: does not parse: invalid syntax",)


@pytest.mark.parametrize(("annotation", "value", "expected"), [
    ("bool", "", "Input should be a valid boolean, unable to interpret input (bool_parsing)"),
    ("bool", "yes", None),
    ("Optional[int]", "ten", "Input should be a valid integer, unable to parse string as an integer (int_parsing)"),
    ("Literal['json', 'text']", "xml", "Input should be 'json' or 'text' (literal_error)"),
    ("Literal['json', 'text']", "json", None),
    ("str", "", None),
])
def test_static_value_error_speaks_pydantic(annotation: str, value: str, expected: str | None) -> None:
    field = read(f"class S(BaseSettings):\n    x: {annotation} = None\n").get("S").fields[0]
    assert classes.static_value_error(field, value) == expected
