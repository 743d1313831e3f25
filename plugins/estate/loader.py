"""Reading the environments file: bounded, decoded, parsed with line marks, validated by the models.

Every failure is an EnvironmentsError naming the file, the line and the dotted key, so that a bad
file stops the run with one usage error a person can act on: pydantic's error locations are mapped
back to ruamel's line marks.
"""

from __future__ import annotations

import errno
import stat
import typing
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError
from ruamel.yaml import YAML
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from releasegate.core import yaml_bounds
from releasegate.estate import fast_yaml
from releasegate.estate.models import Estate, unwrap
from releasegate.core.redact import redact
from releasegate.estate.values import interpolate, kind

MAX_BYTES = 512 << 10        # 100 times the demo's file; ruamel's round-trip parser reads < 1 MB/s
MAX_VALUES = 100_000         # after YAML aliases are expanded
DEFAULT_ENVIRONMENTS = 1000  # as --max-environments
# What one environment may add to the file, about twice a production-like one written out in full
# (benchmarks/suite_estate.py: ~1 KiB and ~40 values with its routes): the caps above are the
# floor, and grow with the number of environments the run allows, never below it.
BYTES_PER_ENVIRONMENT = 2 << 10
VALUES_PER_ENVIRONMENT = 100


def limits(max_environments: int = DEFAULT_ENVIRONMENTS) -> tuple[int, int]:
    """(bytes, values) an environments file of at most max_environments environments may have."""
    return (max(MAX_BYTES, BYTES_PER_ENVIRONMENT * max_environments),
            max(MAX_VALUES, VALUES_PER_ENVIRONMENT * max_environments))


class EnvironmentsError(Exception):
    """A problem in the environments file, located by file, line and key."""

    def __init__(self, path: Path, line: int | None, key: str, problem: str) -> None:
        # A value quoted back may hold a credential (a DSN typed where a variable name belongs).
        problem = redact(problem)
        self.path, self.line, self.key, self.problem = path, line, key, problem
        where = f"{path}:{line}" if line else f"{path}"
        super().__init__(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")


class _Constructor(RoundTripConstructor):
    """Round-trip constructor where an impossible date (2027-02-30) stays text for the model to
    reject with its line, instead of a ValueError from deep inside the parser."""

    def construct_yaml_timestamp(self, node: Any, values: Any = None) -> Any:
        try:
            return super().construct_yaml_timestamp(node, values)
        except ValueError:
            return str(node.value)


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _Constructor.construct_yaml_timestamp)
_ESTATE = TypeAdapter(Estate)
_RAISE = " (the limit grows with --max-environments)"


def read_text(path: Path, max_bytes: int = MAX_BYTES) -> str:
    """The file's text: a regular, readable UTF-8 file of at most max_bytes."""
    try:
        info = path.stat()
    except OSError as exc:
        problem = {errno.ENOENT: "environments file not found",
                   errno.ELOOP: "is a symlink loop"}.get(exc.errno, f"cannot be read ({exc.strerror})")
        raise EnvironmentsError(path, None, "", problem) from None
    if not stat.S_ISREG(info.st_mode):
        what = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise EnvironmentsError(path, None, "", f"is {what}, not an environments file")
    if info.st_size > max_bytes:
        raise EnvironmentsError(path, None, "", f"is {info.st_size} bytes: an environments file "
                                                f"is at most {max_bytes} bytes{_RAISE}")
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise EnvironmentsError(path, None, "", f"cannot be read ({exc.strerror})") from None
    if len(data) > max_bytes:
        raise EnvironmentsError(path, None, "", f"is more than {max_bytes} bytes{_RAISE}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        newline = b"\n"
        line, column = data[:exc.start].count(newline) + 1, exc.start - data.rfind(newline, 0, exc.start)
        raise EnvironmentsError(path, line, "", f"is not UTF-8 text (byte 0x{data[exc.start]:02x} "
                                                f"at column {column})") from None


def parse(path: Path, text: str) -> Any:
    """Parse YAML keeping line marks; a syntax error names its line."""
    yaml = YAML(typ="rt")
    yaml.Constructor = _Constructor
    try:
        if yaml_bounds.may_alias(text):  # aliases: bounded on the nodes, before anything is built
            yaml_bounds.check(yaml.compose(text), MAX_VALUES)
        raw = yaml.load(text)
    except yaml_bounds.AliasBomb as exc:
        raise EnvironmentsError(path, exc.line, "", exc.problem) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise EnvironmentsError(path, line, "", f"YAML error: {exc.problem or exc.context}") from None
    except YAMLError as exc:  # e.g. a character YAML does not allow, found by the reader
        raise EnvironmentsError(path, None, "", f"YAML error: {str(exc).splitlines()[0]}") from None
    except (RecursionError, ValueError, OverflowError) as exc:
        raise EnvironmentsError(path, None, "", f"YAML error: {type(exc).__name__}: nested too "
                                                "deeply" if isinstance(exc, RecursionError)
                                else f"YAML error: {exc}") from None
    if raw is None:
        raise EnvironmentsError(path, 1, "", "the file is empty")
    if not isinstance(raw, dict):
        raise EnvironmentsError(path, 1, "", f"expected a mapping of keys, got {kind(raw)}")
    return raw


def load(path: Path, max_environments: int = DEFAULT_ENVIRONMENTS) -> Estate:
    """Read and check an environments file of at most max_environments environments; raise
    EnvironmentsError naming file, line and key."""
    path = Path(path)
    max_bytes, max_values = limits(max_environments)
    text = read_text(path, max_bytes)
    try:
        fast = fast_yaml.parse(text, _Constructor, MAX_VALUES)  # alias bombs: a fixed bound
    except yaml_bounds.AliasBomb as exc:
        raise EnvironmentsError(path, exc.line, "", exc.problem) from None
    if fast is not None:
        try:
            return _checked(path, fast, max_values, max_environments)
        except EnvironmentsError:
            pass  # ruamel's parse below locates the problem as it always has
    return _checked(path, parse(path, text), max_values, max_environments)


def _checked(path: Path, raw: Any, max_values: int = MAX_VALUES,
             max_environments: int = DEFAULT_ENVIRONMENTS) -> Estate:
    _bounded(path, raw, max_values)
    _counted(path, raw, max_environments)
    plain = _plain(path, raw, "", 1)
    root = path.parent
    sources = list(plain.get("sources") or {}) if isinstance(plain.get("sources"), dict) else None
    try:
        estate = _ESTATE.validate_python(plain, context={"root": root, "sources": sources})
    except ValidationError as exc:
        raise _located(path, raw, exc) from None
    except RecursionError:
        raise EnvironmentsError(path, None, "", "nested too deeply") from None
    _finish(path, raw, estate)
    return estate


def _counted(path: Path, raw: Any, max_environments: int) -> None:
    """Refuse more environments than the run allows, before any of them is validated."""
    envs = raw.get("environments") if isinstance(raw, dict) else None
    if isinstance(envs, dict) and len(envs) > max_environments:
        line = _line(raw, "environments", None, "key")
        raise EnvironmentsError(path, line, "environments",
                                f"{len(envs)} environments, more than {max_environments}: raise "
                                "--max-environments (or ini releasegate_max_environments)")


def _bounded(path: Path, raw: Any, max_values: int = MAX_VALUES) -> None:
    """Refuse a file whose aliases expand to more values than any estate has (a YAML bomb)."""
    sizes: dict[int, int] = {}

    def size(node: Any) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        sizes[id(node)] = 1
        total = 1 + sum(size(child) for child in children)
        sizes[id(node)] = total
        if total > max_values:
            raise EnvironmentsError(path, None, "", f"expands to more than {max_values} values "
                                                    "(YAML aliases repeated)")
        return total

    try:
        size(raw)
    except RecursionError:
        raise EnvironmentsError(path, None, "", "nested too deeply") from None


def _plain(path: Path, node: Any, key: str, line: int | None) -> Any:
    """Plain Python values for the models, with ``${VAR}`` expanded in every string value (an unset
    variable becomes Unset, named by its dotted key)."""
    if isinstance(node, dict):
        return {k: _plain(path, v, _join(key, k), _line(node, k, line, "value"))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(path, v, f"{key}[{i}]", _line(node, i, line, "item"))
                for i, v in enumerate(node)]
    if isinstance(node, str):
        try:
            return interpolate(str(node), key)
        except PydanticCustomError as exc:  # a malformed ${
            raise EnvironmentsError(path, line, key, _message(exc)) from None
    for plain in (bool, int, float):
        if isinstance(node, plain):
            return plain(node)
    return node


def _join(key: str, name: Any) -> str:
    name = "~" if name is None else str(name)
    return f"{key}.{name}" if key else name


def _line(node: Any, name: Any, default: int | None, which: str) -> int | None:
    try:
        return getattr(node.lc, which)(name)[0] + 1
    except (AttributeError, KeyError, TypeError, IndexError):
        return default


def _message(exc: Any) -> str:
    context = getattr(exc, "context", None) or {}
    return str(context.get("problem") or exc)


# -- from pydantic's error locations to the file's lines ------------------------------------------

def _located(path: Path, raw: Any, exc: ValidationError) -> EnvironmentsError:
    located = [_locate(path, raw, error) for error in exc.errors(include_url=False)]
    return min(located, key=lambda e: e.line or 0)


def _locate(path: Path, raw: Any, error: dict[str, Any]) -> EnvironmentsError:
    loc = list(error["loc"])
    is_key = bool(loc) and loc[-1] == "[key]"
    if is_key:
        loc.pop()
    node, line, key, parent, last_key_line = raw, 1, "", "", 1
    for part in loc:
        parent = key
        if isinstance(node, dict):
            match = next((k for k in node if k == part), None)
            if match is None:
                match = next((k for k in node if str(k) == str(part)), part)
            if match not in node:
                key = _join(key, match)
                break
            last_key_line = _line(node, match, line, "key")
            line = _line(node, match, line, "value")
            key, node = _join(key, match), node[match]
            if node is None:  # `key:` with nothing after it: ruamel marks the next line
                line = last_key_line
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            line = _line(node, part, line, "item")
            key, node = f"{key}[{part}]", node[part]
    kind_ = error["type"]
    if is_key or kind_ in ("unexpected_keyword_argument", "extra_forbidden"):
        line = last_key_line
    if is_key:
        return EnvironmentsError(path, line, parent or key, f"key {_message_of(error)}")
    return EnvironmentsError(path, line, key, _message_of(error, loc))


def _message_of(error: dict[str, Any], loc: list[Any] | None = None) -> str:
    kind_, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    got = kind(value)
    if kind_ == "releasegate":
        return str(ctx["problem"])
    if kind_ in ("missing", "missing_argument"):
        return "required key is missing"
    if kind_ in ("unexpected_keyword_argument", "extra_forbidden"):
        return f"unknown key (valid keys: {', '.join(sorted(_keys_at(loc[:-1] if loc else [])))})"
    if kind_ == "literal_error":
        name = str(loc[-1]) if loc else "value"
        expected = str(ctx.get("expected", "")).replace("'", "")
        return f"unsupported {name} {value!r} (supported: {expected})"
    templates = {
        "string_type": "expected a string, got {got}",
        "int_type": "expected a whole number, got {got}",
        "bool_type": "expected true or false, got {got}",
        "float_type": "expected a positive number, got {got}",
        "greater_than": "expected a positive number, got {got}",
        "greater_than_equal": "expected a number >= {ge}, got {got}",
        "less_than_equal": "expected a number <= {le}, got {got}",
        "finite_number": "expected a finite number, got {got}",
        "dict_type": "expected a mapping, got {got}",
        "dataclass_type": "expected a mapping, got {got}",
        "dataclass_exact_type": "expected a mapping, got {got}",
        "tuple_type": "expected a list, got {got}",
        "list_type": "expected a list, got {got}",
    }
    if kind_ in templates:
        numbers = {k: f"{v:g}" if isinstance(v, float) else v for k, v in ctx.items()}
        return templates[kind_].format(got=got, **numbers)
    return f"{error['msg']}, got {got}"


def _keys_at(loc: list[Any]) -> list[str]:
    """The keys valid at a location: the init fields of the model found there."""
    hint: Any = Estate
    for part in loc:
        hint = unwrap(hint)
        if is_dataclass(hint):
            hint = typing.get_type_hints(hint, include_extras=True).get(str(part), Any)
        elif typing.get_origin(hint) in (dict, tuple):
            hint = typing.get_args(hint)[-1 if typing.get_origin(hint) is dict else 0]
    hint = unwrap(hint)
    return [f.name for f in fields(hint) if f.init] if is_dataclass(hint) else []


# -- what the file does not say itself -------------------------------------------------------------

def _finish(path: Path, raw: Any, estate: Estate) -> None:
    """Set names, lines and paths; check that sources exist and that names point somewhere."""
    put = object.__setattr__
    put(estate, "path", path)
    put(estate, "root", path.parent)
    put(estate, "raw", raw)
    for name, source in estate.sources.items():
        spec = raw["sources"][name]
        where = _line(raw["sources"], name, None, "value")
        path_line = _line(spec, "path", where, "value")
        put(source, "name", name)
        put(source, "lines", (path_line, _line(spec, "main", where, "value") if "main" in spec
                              else None))
        if not source.path.exists() and not source.create:
            raise EnvironmentsError(path, path_line, f"sources.{name}.path",
                                    f"source path {source.path} does not exist")
    for name, env in estate.environments.items():
        put(env, "name", name)
        for sub_name, sub in env.subdomains.items():
            put(sub, "name", sub_name)
    items = raw.get("waivers") or []
    for i, waiver in enumerate(estate.waivers):
        put(waiver, "line", _line(items, i, None, "item"))
    names = ", ".join(estate.environments)
    for waiver in estate.waivers:
        if waiver.environment and waiver.environment not in estate.environments:
            raise EnvironmentsError(path, waiver.line, "waivers.environment",
                                    f"unknown environment {waiver.environment!r} (known: {names})")
    _settings_classes(path, raw, estate)
    staging = estate.feature_flags.staging
    if staging and staging not in estate.environments:
        line = _line(raw.get("feature_flags") or {}, "staging", None, "value")
        raise EnvironmentsError(path, line, "feature_flags.staging",
                                f"unknown environment {staging!r} (known: {names})")


def _settings_classes(path: Path, raw: Any, estate: Estate) -> None:
    """A `settings[].classes` key names one of the entry's `containers`: another name would
    silently apply to nothing (its class names are checked per commit: releasegate.settings.class_names)."""
    for i, entry in enumerate(estate.settings):
        spec = (raw.get("settings") or [])[i]
        for name in entry.classes:
            if name not in entry.containers:
                line = _line(spec.get("classes"), name, _line(spec, "classes", None, "key"), "key")
                raise EnvironmentsError(path, line, f"settings[{i}].classes.{name}",
                                        f"container {name!r} is not one of the entry's containers "
                                        f"({', '.join(entry.containers)})")


__all__ = ["EnvironmentsError", "MAX_BYTES", "limits", "load", "parse", "read_text"]
