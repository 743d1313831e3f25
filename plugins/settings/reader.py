"""Read pydantic-settings classes from source text, without importing the application.

`read(source, path)` parses a settings file with `ast` and returns, for every `BaseSettings`
class, the environment names each field is read from (the way pydantic-settings'
`EnvSettingsSource` looks them up), whether the field is required, and its annotation.
Anything the reader cannot follow statically becomes a warning naming file and line.
"""
from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping

_CONFIG_KEYS = (
    "env_prefix", "env_prefix_target", "case_sensitive", "env_nested_delimiter", "extra",
    "populate_by_name", "validate_by_name", "env_ignore_empty", "env_parse_none_str",
)
_DEFAULT_CONFIG = {
    "env_prefix": "", "env_prefix_target": "variable", "case_sensitive": False,
    "env_nested_delimiter": None, "extra": "forbid", "populate_by_name": False,
    "validate_by_name": False, "env_ignore_empty": False, "env_parse_none_str": None,
}
_WHOLE_ENVIRON = re.compile(r"environ\s*\.\s*(items|keys|values|copy)\b|(dict|list|sorted|set)\(\s*(os\.)?environ\b"
                            r"|\bin\s+(os\.)?environ\s*:|\*\*\s*(os\.)?environ\b|getenv\(\s*[^'\"\s)]"
                            r"|environ\s*\[\s*[^'\"\s]|environ\.get\(\s*[^'\"\s)]")
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


@dataclass
class _Model:
    """A pydantic model (settings or plain) as seen in the source, before names are computed."""

    name: str
    line: int
    is_settings: bool
    config: dict
    fields: dict = field(default_factory=dict)  # name -> _RawField


@dataclass(frozen=True)
class _RawField:
    name: str
    annotation: ast.expr | None
    required: bool
    aliases: tuple[tuple[str, bool], ...] | None  # (name, complex) from validation_alias/alias
    line: int


def read(source: str, path: str) -> SettingsModel:
    """Parse settings source text; `path` is used in warnings only.

    A file that does not parse gives a model with no classes and one warning.
    """
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as exc:
        return SettingsModel(path, (), (f"{path}:{exc.lineno}: does not parse: {exc.msg}",))
    reader = _Reader(path, tree)
    model = reader.run()
    strings = frozenset(n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str))
    return replace(model, strings=strings, whole_environ=bool(_WHOLE_ENVIRON.search(source)))


class _Reader:
    def __init__(self, path: str, tree: ast.Module) -> None:
        self.path = path
        self.tree = tree
        self.warnings: list[str] = []
        self.constants: dict[str, object] = {}
        self.settings_names = {"BaseSettings"}
        self.model_names = {"BaseModel"}
        self.models: dict[str, _Model] = {}

    def warn(self, node: ast.AST, message: str) -> None:
        self.warnings.append(f"{self.path}:{getattr(node, 'lineno', 0)}: {message}")

    def run(self) -> SettingsModel:
        for node in self.tree.body:
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    if alias.name == "BaseSettings":
                        self.settings_names.add(alias.asname or alias.name)
                    if alias.name == "BaseModel":
                        self.model_names.add(alias.asname or alias.name)
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                value = self.literal(node.value)
                if value is not _UNKNOWN:
                    self.constants[node.targets[0].id] = value
            elif isinstance(node, ast.ClassDef):
                self.read_class(node)
        classes = tuple(self.resolve(m) for m in self.models.values() if m.is_settings)
        return SettingsModel(self.path, classes, tuple(self.warnings))

    # -- classes -------------------------------------------------------------------------------
    def read_class(self, node: ast.ClassDef) -> None:
        parents: list[_Model] = []
        is_settings = is_model = False
        for base in node.bases:
            name = _base_name(base)
            if name in self.settings_names or (isinstance(base, ast.Attribute) and name == "BaseSettings"):
                is_settings = is_model = True
            elif name in self.model_names or (isinstance(base, ast.Attribute) and name == "BaseModel"):
                is_model = True
            elif name in self.models:
                parents.append(self.models[name])
                is_model = True
                is_settings = is_settings or self.models[name].is_settings
            elif name and name.endswith("Settings"):
                self.warn(base, f"class {node.name}: base {name} is not defined in this file; "
                                "its fields and configuration are not known")
        if not is_model:
            return
        config: dict = dict(_DEFAULT_CONFIG) if is_settings else {}
        fields: dict[str, _RawField] = {}
        for parent in parents:
            config.update(parent.config)
            fields.update(parent.fields)
        for kw in node.keywords:
            self.config_item(config, kw.arg, kw.value, node)
        for stmt in node.body:
            if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "model_config"
                                                    for t in stmt.targets):
                self.read_config(config, stmt.value)
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                if stmt.target.id == "model_config":
                    if stmt.value is not None:
                        self.read_config(config, stmt.value)
                    continue
                raw = self.read_field(node.name, stmt)
                if raw is not None:
                    fields[raw.name] = raw
            elif isinstance(stmt, ast.ClassDef) and stmt.name == "Config":
                for inner in stmt.body:
                    if isinstance(inner, ast.Assign) and len(inner.targets) == 1 \
                            and isinstance(inner.targets[0], ast.Name):
                        self.config_item(config, inner.targets[0].id, inner.value, inner)
        self.models[node.name] = _Model(node.name, node.lineno, is_settings, config, fields)

    def read_config(self, config: dict, value: ast.expr) -> None:
        if isinstance(value, ast.Call) and _base_name(value.func) in ("SettingsConfigDict", "ConfigDict", "dict"):
            for kw in value.keywords:
                if kw.arg is None:
                    self.warn(kw.value, "model_config uses ** expansion; those keys are not read")
                    continue
                self.config_item(config, kw.arg, kw.value, kw.value)
        elif isinstance(value, ast.Dict):
            for key, item in zip(value.keys, value.values):
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    self.config_item(config, key.value, item, item)
                else:
                    self.warn(item, "model_config key is not a literal; ignored")
        else:
            self.warn(value, "model_config is not a SettingsConfigDict(...) call or a dict literal; "
                             "default configuration assumed")

    def config_item(self, config: dict, key: str | None, value: ast.expr, node: ast.AST) -> None:
        if key == "alias_generator":
            self.warn(node, "alias_generator is not supported; field names used as variable names")
            return
        if key not in _CONFIG_KEYS:
            return
        literal = self.literal(value)
        if literal is _UNKNOWN:
            self.warn(node, f"{key} is not a literal; default {config.get(key, _DEFAULT_CONFIG[key])!r} assumed")
            return
        config[key] = literal

    # -- fields --------------------------------------------------------------------------------
    def read_field(self, owner: str, stmt: ast.AnnAssign) -> _RawField | None:
        name = stmt.target.id  # type: ignore[union-attr]
        annotation = stmt.annotation
        if name.startswith("_") or _base_name(_outer(annotation)) == "ClassVar":
            return None
        field_call = _field_call(stmt.value)
        required = stmt.value is None
        for meta in _annotated_metadata(annotation):
            if _field_call(meta) is not None:
                field_call = _field_call(meta)
        if field_call is not None and (stmt.value is None or stmt.value is field_call):
            required = _field_required(field_call)
        aliases = self.field_aliases(owner, name, field_call) if field_call is not None else None
        return _RawField(name, annotation, required, aliases, stmt.lineno)

    def field_aliases(self, owner: str, name: str, call: ast.Call) -> tuple[tuple[str, bool], ...] | None:
        kwargs = {kw.arg: kw.value for kw in call.keywords if kw.arg}
        for kw in call.keywords:
            if kw.arg is None:
                self.warn(kw.value, f"{owner}.{name}: Field(**...) is not read; aliases may be missed")
        node = kwargs.get("validation_alias", kwargs.get("alias"))
        if node is None:
            return None
        names = self.alias_names(node)
        if names is None:
            self.warn(node, f"{owner}.{name}: alias is not a literal, AliasChoices or AliasPath; "
                            f"the field name is assumed")
        return names

    def alias_names(self, node: ast.expr) -> tuple[tuple[str, bool], ...] | None:
        literal = self.literal(node)
        if isinstance(literal, str):
            return ((literal, False),)
        if isinstance(node, ast.Call):
            kind = _base_name(node.func)
            if kind == "AliasPath" and node.args:
                first = self.literal(node.args[0])
                if isinstance(first, str):
                    return ((first, len(node.args) > 1),)
            if kind == "AliasChoices":
                names: list[tuple[str, bool]] = []
                for arg in node.args:
                    sub = self.alias_names(arg)
                    if sub is None:
                        return None
                    names.extend(sub)
                return tuple(names)
        return None

    def literal(self, node: ast.expr):
        if isinstance(node, ast.Name) and node.id in self.constants:
            return self.constants[node.id]
        try:
            return ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return _UNKNOWN

    # -- names ---------------------------------------------------------------------------------
    def resolve(self, model: _Model) -> SettingsClass:
        cfg = model.config
        fields = tuple(self.env_field(model.name, raw, cfg, str(cfg.get("env_prefix") or ""), depth=0)
                       for raw in model.fields.values())
        return SettingsClass(model.name, model.line, dict(cfg), fields)

    def env_field(self, owner: str, raw: _RawField, cfg: Mapping, prefix: str, depth: int,
                  parents: tuple[str, ...] = ()) -> SettingsField:
        sensitive = bool(cfg.get("case_sensitive"))
        delim = str(cfg.get("env_nested_delimiter") or "")
        if parents:  # a nested model's field: read under each parent name, aliases as keys
            keys = [a for a, _ in raw.aliases] if raw.aliases else [raw.name.rsplit(".", 1)[-1]]
            names = [p + delim + k for p in parents for k in keys]
        else:
            names = []
            target = cfg.get("env_prefix_target") or "variable"
            if raw.aliases:
                alias_prefix = prefix if target in ("alias", "all") else ""
                names.extend(alias_prefix + a for a, _ in raw.aliases)
            if not raw.aliases or cfg.get("populate_by_name") or cfg.get("validate_by_name"):
                names.append((prefix if target in ("variable", "all") else "") + raw.name)
        names = list(dict.fromkeys(n if sensitive else n.upper() for n in names))
        keys = tuple(a for a, _ in raw.aliases or ()) + (raw.name.rsplit(".", 1)[-1],)
        annotation = ast.unparse(raw.annotation) if raw.annotation is not None else "Any"
        nested: tuple[SettingsField, ...] = ()
        open_nested = None
        if delim and depth < 8:
            inner = self.nested_model(raw.annotation)
            if inner is not None:
                nested = tuple(
                    self.env_field(owner, replace(sub, name=f"{raw.name}.{sub.name}"), cfg, "", depth + 1,
                                   tuple(names))
                    for sub in inner.fields.values())
            elif _is_mapping(raw.annotation):
                open_nested = names[0] + delim
        return SettingsField(owner, raw.name, tuple(names), raw.required, annotation, raw.line,
                             sensitive, bool(cfg.get("env_ignore_empty")), nested, open_nested, keys)

    def nested_model(self, annotation: ast.expr | None) -> _Model | None:
        for name in _type_names(annotation):
            if name in self.models:
                return self.models[name]
        return None


_UNKNOWN = object()


class EnvView(dict):
    """A process environment indexed by case-folded name, as case-insensitive settings match it."""

    @functools.cached_property
    def folded(self) -> dict[str, str]:
        """Case-folded name -> name (first occurrence wins), for case-insensitive lookup."""
        return {name.casefold(): name for name in reversed(list(self))}


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


def _base_name(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript):
        return _base_name(node.value)
    return None


def _outer(annotation: ast.expr | None) -> ast.expr | None:
    return annotation.value if isinstance(annotation, ast.Subscript) else annotation


def _annotated_metadata(annotation: ast.expr | None) -> list[ast.expr]:
    if isinstance(annotation, ast.Subscript) and _base_name(annotation.value) == "Annotated" \
            and isinstance(annotation.slice, ast.Tuple):
        return list(annotation.slice.elts[1:])
    return []


def _field_call(node: ast.expr | None) -> ast.Call | None:
    if isinstance(node, ast.Call) and _base_name(node.func) == "Field":
        return node
    return None


def _field_required(call: ast.Call) -> bool:
    """A `Field(...)` call leaves the field required when it gives no default nor factory."""
    kwargs = {kw.arg for kw in call.keywords}
    if "default_factory" in kwargs:
        return False
    if call.args:
        first = call.args[0]
        return isinstance(first, ast.Constant) and first.value is Ellipsis
    for kw in call.keywords:
        if kw.arg == "default":
            return isinstance(kw.value, ast.Constant) and kw.value.value is Ellipsis
    return True


def _type_names(annotation: ast.expr | None) -> list[str]:
    """Class names a (possibly Optional/Union/Annotated/quoted) annotation mentions at top level."""
    if annotation is None:
        return []
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            return _type_names(ast.parse(annotation.value, mode="eval").body)
        except SyntaxError:
            return []
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        return _type_names(annotation.left) + _type_names(annotation.right)
    if isinstance(annotation, ast.Subscript):
        outer = _base_name(annotation.value)
        inner = annotation.slice
        elts = inner.elts if isinstance(inner, ast.Tuple) else [inner]
        if outer == "Annotated":
            return _type_names(elts[0])
        if outer in ("Optional", "Union"):
            return [n for e in elts for n in _type_names(e)]
        return []
    name = _base_name(annotation)
    return [name] if name else []


def _is_mapping(annotation: ast.expr | None) -> bool:
    if isinstance(annotation, ast.BinOp):
        return _is_mapping(annotation.left) or _is_mapping(annotation.right)
    if isinstance(annotation, ast.Subscript) and _base_name(annotation.value) in ("Optional", "Annotated"):
        inner = annotation.slice
        return _is_mapping(inner.elts[0] if isinstance(inner, ast.Tuple) else inner)
    return _base_name(_outer(annotation)) in ("dict", "Dict", "Mapping")


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
