"""The settings classes a file defines, as the reader found them: their fields and the variables
each field is read from, looked up the way pydantic-settings' `EnvSettingsSource` does.

`missing_required` and `static_value_error` judge an environment against them without importing
the application (the boot does that for real).
"""
from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from typing import Iterable, Mapping

_BOOL_STRINGS = {"0", "off", "f", "false", "n", "no", "1", "on", "t", "true", "y", "yes"}


@dataclass(frozen=True)
class SettingsField:
    """One field of a settings class (or of a nested model reached with the nested delimiter)."""

    owner: str
    name: str
    env_names: tuple[str, ...]
    required: bool
    annotation: str
    line: int
    case_sensitive: bool
    ignore_empty: bool = False
    nested: tuple["SettingsField", ...] = ()
    open_nested: str | None = None  # prefix under which any key is read (dict fields)
    keys: tuple[str, ...] = ()  # input keys pydantic reports in error locations (aliases, name)

    @property
    def path(self) -> str:
        """Dotted `Class.field` name for messages."""
        return f"{self.owner}.{self.name}"

    def lookup(self, env: Mapping[str, str]) -> tuple[str, str] | None:
        """The (variable, value) this field reads from `env`, or None if it reads nothing."""
        for wanted in self.env_names:
            hit = _find(env, wanted, self.case_sensitive)
            if hit is not None and not (self.ignore_empty and hit[1] == ""):
                return hit
        return None

    def is_satisfied(self, env: Mapping[str, str]) -> bool:
        """True if `env` provides this field, directly or through nested variables."""
        if self.lookup(env) is not None:
            return True
        if self.open_nested and any(_starts(n, self.open_nested, self.case_sensitive) for n in env):
            return True
        if self.nested and any(sub.reads_any(env) for sub in self.nested):
            return all(sub.is_satisfied(env) for sub in self.nested if sub.required)
        return False

    def reads_any(self, env: Mapping[str, str]) -> bool:
        """True if any variable in `env` feeds this field or one of its nested fields."""
        return self.is_satisfied(env) or any(sub.reads_any(env) for sub in self.nested)

    def reads(self, variable: str) -> bool:
        """True if this field (or a nested one) is read from `variable`."""
        if any(_same(variable, n, self.case_sensitive) for n in self.env_names):
            return True
        if self.open_nested and _starts(variable, self.open_nested, self.case_sensitive):
            return True
        return any(sub.reads(variable) for sub in self.nested)

    def walk(self) -> Iterable["SettingsField"]:
        """This field and every nested field below it."""
        yield self
        for sub in self.nested:
            yield from sub.walk()


@dataclass(frozen=True)
class SettingsClass:
    """A `BaseSettings` subclass and the fields it reads."""

    name: str
    line: int
    config: Mapping[str, object]
    fields: tuple[SettingsField, ...]

    @property
    def env_prefix(self) -> str:
        """model_config's env_prefix, empty when unset."""
        return str(self.config.get("env_prefix") or "")

    @property
    def case_sensitive(self) -> bool:
        """model_config's case_sensitive (pydantic-settings' default: False)."""
        return bool(self.config.get("case_sensitive"))

    @property
    def nested_delimiter(self) -> str | None:
        """model_config's env_nested_delimiter, None when unset."""
        return self.config.get("env_nested_delimiter") or None  # type: ignore[return-value]

    @property
    def extra(self) -> str:
        """model_config's extra (pydantic-settings' default: forbid)."""
        return str(self.config.get("extra") or "forbid")

    def field_for(self, loc: tuple | list) -> SettingsField | None:
        """The (nested) field a pydantic error location points at (field name or alias)."""
        fields: Iterable[SettingsField] = self.fields
        found = None
        for part in loc:
            if not isinstance(part, str):
                break
            match = next((f for f in fields if _loc_matches(f, part)), None)
            if match is None:
                break
            found, fields = match, match.nested
        return found

    def reads(self, variable: str) -> bool:
        """True if some field of this class is read from `variable`."""
        return any(f.reads(variable) for f in self.fields)


@dataclass(frozen=True)
class SettingsModel:
    """Everything read from one settings file."""

    path: str
    classes: tuple[SettingsClass, ...]
    warnings: tuple[str, ...] = ()
    strings: frozenset[str] = frozenset()  # every string literal of the file
    whole_environ: bool = False  # the file reads os.environ as a whole (iterates or copies it)

    def get(self, name: str) -> SettingsClass | None:
        """The class called `name`, if the file defines it."""
        return next((c for c in self.classes if c.name == name), None)

    @functools.cached_property
    def _index(self) -> tuple[frozenset[str], frozenset[str], tuple[tuple[str, bool], ...]]:
        exact, folded, prefixes = set(), set(), []
        for cls in self.classes:
            for top in cls.fields:
                for f in top.walk():
                    (exact if f.case_sensitive else folded).update(
                        n if f.case_sensitive else n.casefold() for n in f.env_names)
                    if f.open_nested:
                        prefixes.append((f.open_nested if f.case_sensitive else f.open_nested.casefold(),
                                         f.case_sensitive))
        return frozenset(exact), frozenset(folded), tuple(prefixes)

    def reads(self, variable: str) -> bool:
        """True if any class of the file reads `variable`."""
        exact, folded, prefixes = self._index
        low = variable.casefold()
        return (variable in exact or low in folded
                or any((variable if sensitive else low).startswith(p) for p, sensitive in prefixes))

    @functools.cached_property
    def _annotations(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for cls in self.classes:
            for top in cls.fields:
                for f in top.walk():
                    for name in f.env_names:
                        out.setdefault(name if f.case_sensitive else name.casefold(), f.annotation)
        return out

    def annotation_for(self, variable: str) -> str | None:
        """The annotation of the field that reads `variable` (None if no field does)."""
        return self._annotations.get(variable) or self._annotations.get(variable.casefold())

    def may_read(self, variable: str) -> bool:
        """True if booting the file could depend on `variable` (a field reads it or the code names it)."""
        return self.whole_environ or self.reads(variable) or variable in self.strings


class EnvView(dict):
    """A process environment indexed by case-folded name, as case-insensitive settings match it."""

    @functools.cached_property
    def folded(self) -> dict[str, str]:
        """Case-folded name -> name (first occurrence wins), for case-insensitive lookup."""
        return {name.casefold(): name for name in reversed(list(self))}


def named(env: Mapping[str, str], names: Iterable[str]) -> tuple[str, str] | None:
    """The first of `names` the environment sets (case-insensitively, as settings read by default):
    the variables the boot found for an error in a model the reader does not see (a library's)."""
    for wanted in names:
        hit = _find(env, wanted, False)
        if hit is not None:
            return hit
    return None


def _find(env: Mapping[str, str], wanted: str, sensitive: bool) -> tuple[str, str] | None:
    if wanted in env:
        return wanted, env[wanted]
    if not sensitive:
        folded = env.folded if isinstance(env, EnvView) else EnvView(env).folded
        name = folded.get(wanted.casefold())
        if name is not None:
            return name, env[name]
    return None


def _same(a: str, b: str, sensitive: bool) -> bool:
    return a == b if sensitive else a.casefold() == b.casefold()


def _starts(name: str, prefix: str, sensitive: bool) -> bool:
    return name.startswith(prefix) if sensitive else name.casefold().startswith(prefix.casefold())


def _loc_matches(f: SettingsField, part: str) -> bool:
    return any(part == k or part.casefold() == k.casefold() for k in f.keys)


def missing_required(model: SettingsModel, env: Mapping[str, str]) -> list[tuple[SettingsClass, SettingsField]]:
    """(class, field) for every required field that no variable of `env` provides.

    An empty value counts as not provided: pydantic accepts '' for a str, but a required setting
    left empty (a template emitting a name whose value was never set) is the same mistake.
    """
    present = EnvView((name, value) for name, value in env.items() if value != "")
    return [(cls, f) for cls in model.classes for f in cls.fields if f.required and not f.is_satisfied(present)]


def static_value_error(f: SettingsField, value: str) -> str | None:
    """Pydantic's verdict on a plain value for simple annotations (bool, int, float, Literal).

    Used only when the settings cannot be booted; returns a message in pydantic's words or None.
    """
    ann = f.annotation.replace(" ", "")
    for wrapper in ("Optional[", "Annotated["):
        if ann.startswith(wrapper):
            ann = ann[len(wrapper):].split(",")[0].rstrip("]")
    ann = ann.split("|")[0]
    if ann == "bool" and value.strip().lower() not in _BOOL_STRINGS:
        return "Input should be a valid boolean, unable to interpret input (bool_parsing)"
    if ann == "int":
        try:
            int(value.strip())
        except ValueError:
            return "Input should be a valid integer, unable to parse string as an integer (int_parsing)"
    if ann == "float":
        try:
            float(value.strip())
        except ValueError:
            return "Input should be a valid number, unable to parse string as a number (float_parsing)"
    if ann.startswith(("Literal[", "typing.Literal[")):
        try:
            choices = ast.literal_eval("(" + ann[ann.index("[") + 1:-1] + ",)")
        except (ValueError, SyntaxError):
            return None
        if value not in [str(c) for c in choices]:
            shown = " or ".join(repr(c) for c in choices)
            return f"Input should be {shown} (literal_error)"
    return None
