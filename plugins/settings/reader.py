"""Read pydantic-settings classes from source text, without importing the application.

`read(source, path)` parses a settings file with `ast` and returns, for every `BaseSettings`
class, the environment names each field is read from (the way pydantic-settings'
`EnvSettingsSource` looks them up), whether the field is required, and its annotation
(plugins/settings/classes.py). Anything the reader cannot follow statically becomes a warning
naming file and line.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field, replace
from typing import Mapping

from releasegate.settings.classes import SettingsClass, SettingsField, SettingsModel

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
