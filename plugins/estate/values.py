"""The scalar types of the environments file: strict, interpolated, bounded.

Each type is an ``Annotated`` alias that validates one value of the file and says what it expects
in one phrase, so that the loader can turn a failure into ``file:line: key: problem``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import idna
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, PlainValidator, Strict, ValidationInfo
from pydantic import WithJsonSchema
from pydantic_core import PydanticCustomError, core_schema


@dataclass(frozen=True)
class Unset:
    """A value that names an environment variable which is not set: the setting is not configured."""

    key: str
    variable: str

    def __str__(self) -> str:
        return f"{self.key} is not configured (${{{self.variable}}} is not set)"

    def __bool__(self) -> bool:
        return False

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.is_instance_schema(cls)


_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


def interpolate(value: str, key: str) -> str | Unset:
    """Expand ``${VAR}`` and ``${VAR:-default}``; an unset variable without default gives Unset."""
    missing: list[str] = []

    def expand(match: re.Match[str]) -> str:
        name, default = match["name"], match["default"]
        if name in os.environ and os.environ[name] != "":
            return os.environ[name]
        if default is not None:
            return default
        missing.append(name)
        return ""

    rest = _VAR.sub("", value)
    if "${" in rest:
        raise problem(f"{rest[rest.index('${'):][:40]!r} is not a variable: write ${{NAME}} or "
                      "${NAME:-default} (NAME: letters, digits, _)")
    expanded = _VAR.sub(expand, value)
    return Unset(key, missing[0]) if missing else expanded


# Every section of the environments file: no unknown key; the docstring under a field is its
# description (the JSON Schema, the key table).
MODEL = ConfigDict(extra="forbid", use_attribute_docstrings=True)


def or_default(empty: Any) -> BeforeValidator:
    """An absent section (``key:`` with nothing after it) means its default."""
    return BeforeValidator(lambda v: empty() if v is None else v)


def problem(text: str) -> PydanticCustomError:
    """A validation error whose message is the whole problem, as the loader prints it."""
    return PydanticCustomError("releasegate", "{problem}", {"problem": text})


def kind(value: Any) -> str:
    """Describe a value found in the file: 'nothing', 'a list', "str 'soon'"."""
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return f"{type(value).__name__} {text[:60] + '...' if len(text) > 60 else text}"


def _string(value: Any) -> str | Unset:
    # ${VAR} was expanded by the loader, which knows each value's dotted key.
    if not isinstance(value, str | Unset):
        raise problem(f"expected a string, got {kind(value)}")
    return value


def text(value: Any) -> str:
    """Validate a string that must have a value (not an unset ${VAR})."""
    text = _string(value)
    if isinstance(text, Unset):
        raise problem(f"${{{text.variable}}} is not set and this key needs a value")
    return text


def _checked(check: Any) -> AfterValidator:
    """Apply check to a set value (an Unset passes: it is not configured, not wrong)."""
    return AfterValidator(lambda v: v if isinstance(v, Unset) else check(v))


# -- strings --------------------------------------------------------------------------------------

Text = Annotated[str, PlainValidator(text, json_schema_input_type=str)]
"""A string that must have a value (``${VAR}`` expanded; an unset variable is an error)."""
MaybeText = Annotated[str | Unset, PlainValidator(_string, json_schema_input_type=str)]
"""A string that may name an unset variable: then the setting is not configured."""


def _name(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", value):
        raise problem(f"expected a name (letters, digits, '.', '_', '-'; up to 63), got {kind(value)}"
                      + (" (~ is YAML for nothing)" if value is None else ""))
    return value


Name = Annotated[str, PlainValidator(_name, json_schema_input_type=str),
                 WithJsonSchema({"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"})]
"""A name of the file's own choosing: an environment or a source."""


def _env_name(value: Any) -> str:
    if isinstance(value, str) and "*" in value and re.fullmatch(r"[A-Za-z0-9*][A-Za-z0-9_.*-]{0,62}", value):
        return value
    return _name(value)


EnvName = Annotated[str, PlainValidator(_env_name, json_schema_input_type=str),
                    WithJsonSchema({"type": "string", "pattern": r"^[A-Za-z0-9*][A-Za-z0-9_.*-]{0,62}$"})]
"""An environment's name, or a pattern (`web-*`) that stands for one environment per Application
its gitops.argocd_parent yields with a matching name (plugins/render/patterns.py)."""


def hostname(value: str) -> str:
    """Check a DNS host name: RFC 1123 labels, IDNA for non-ASCII, at most 253 characters."""
    try:
        encoded = idna.encode(value, uts46=True).decode()
    except (idna.IDNAError, UnicodeError, ValueError) as exc:
        raise problem(f"{value!r} is not a host name ({exc})") from None
    if len(encoded) > 253:
        raise problem(f"{value[:40]!r}... is not a host name (longer than 253 characters)")
    return value


def _host_port(value: str) -> str:
    host, _, port = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    if port and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        raise problem(f"{value!r}: the port must be a number from 1 to 65535")
    return hostname(host) and value


def _address(value: str) -> str:
    """'10.0.0.1', '10.0.0.1:8443', '[::1]:8443', '::1' or a host name, like curl --resolve."""
    match = re.fullmatch(r"\[([^\]]+)\](?::(.*))?", value)
    host, port = (match[1], match[2] or "") if match else (
        value.rsplit(":", 1) if value.count(":") == 1 else (value, ""))
    if port and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        raise problem(f"{value!r}: the port must be a number from 1 to 65535")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        hostname(host)
    return value


def _url(value: str) -> str:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        # The value is not echoed: a URL may carry credentials.
        raise problem("expected an http(s) URL such as https://127.0.0.1:5443")
    return value


def _relative(value: str) -> str:
    parts = Path(value).parts
    if not value or value.startswith("/") or ".." in parts:
        raise problem(f"{value!r} must be a path inside the source (relative, no '..')")
    return value


# For editors: RFC 1123 labels, non-ASCII letters allowed (IDNA); the loader checks IDNA itself.
_L = r"[A-Za-z0-9\u00a1-\uffff]"
_HOST = rf"{_L}([-A-Za-z0-9\u00a1-\uffff]{{0,61}}{_L})?(\.{_L}([-A-Za-z0-9\u00a1-\uffff]{{0,61}}{_L})?)*"
Host = Annotated[str, PlainValidator(text, json_schema_input_type=str), AfterValidator(hostname),
                 WithJsonSchema({"type": "string", "format": "hostname", "pattern": f"^{_HOST}$"})]
"""A DNS host name (or several labels of one, for a subdomain)."""
HostPort = Annotated[str, PlainValidator(text, json_schema_input_type=str),
                     AfterValidator(_host_port),
                     WithJsonSchema({"type": "string", "pattern": f"^{_HOST}(:[0-9]{{1,5}})?$"})]
"""A host name with an optional :port (a registry, a network.resolve key)."""
Address = Annotated[str | Unset, PlainValidator(_string, json_schema_input_type=str),
                    _checked(_address)]
"""Where to connect instead: an IP address or host, with an optional :port."""
Url = Annotated[str | Unset, PlainValidator(_string, json_schema_input_type=str), _checked(_url),
                WithJsonSchema({"type": "string", "format": "uri"})]
"""An http(s) URL (a registry mirror)."""
RepoPath = Annotated[str, PlainValidator(text, json_schema_input_type=str),
                     AfterValidator(_relative)]
"""A path inside a source repository."""
Variable = Annotated[str, PlainValidator(text, json_schema_input_type=str),
                     AfterValidator(lambda v: v if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v) else no(
                         f"{v!r} is not an environment variable name (letters, digits, _)"))]
"""The name of an environment variable."""


def no(text: str) -> Any:
    """Raise the problem (for use inside a lambda)."""
    raise problem(text)


def _branch(value: str) -> str:
    """A branch name by git's check-ref-format rules (a range such as a..b is not one)."""
    bad = (not value or value.startswith(("-", "/")) or value.endswith((".", "/", ".lock"))
           or ".." in value or "@{" in value or "//" in value or value == "@"
           or any(c in value for c in " ~^:?*[\\") or any(ord(c) < 32 or ord(c) == 127 for c in value))
    if bad:
        raise problem(f"{value!r} is not a branch name (git check-ref-format)")
    return value


Branch = Annotated[str, PlainValidator(text, json_schema_input_type=str), AfterValidator(_branch)]
"""A git branch name."""


def strings(value: Any) -> Any:
    """A list as a tuple: nothing is (), one string is a list of one."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list | tuple):
        raise problem(f"expected a list of strings, got {kind(value)}")
    return tuple(value)


Strings = Annotated[tuple[Text, ...], BeforeValidator(strings)]
"""A list of strings (a single string counts as a list of one)."""
RepoPaths = Annotated[tuple[RepoPath, ...], BeforeValidator(strings)]
"""A list of paths inside a source."""
Hosts = Annotated[tuple[HostPort, ...], BeforeValidator(strings)]
"""A list of registry hosts."""


# -- numbers, flags, dates, files -----------------------------------------------------------------

def Number(most: float) -> Any:  # noqa: N802 - a type factory
    """A finite number > 0 and <= most (an int is a number; true is not)."""
    return Annotated[float, Strict(), Field(gt=0, le=most, allow_inf_nan=False)]


def Whole(least: int, most: int) -> Any:  # noqa: N802 - a type factory
    """A whole number from least to most."""
    return Annotated[int, Strict(), Field(ge=least, le=most)]


Flag = Annotated[bool, Strict()]
"""true or false."""


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else no("")
    except (ValueError, PydanticCustomError) as exc:
        why = f" ({exc})" if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\d", value) else ""
        raise problem(f"expected a date YYYY-MM-DD, got {kind(value)}{why}") from None


Date = Annotated[dt.date, PlainValidator(_date, json_schema_input_type=str),
                 WithJsonSchema({"type": "string", "format": "date"})]
"""A calendar date YYYY-MM-DD that exists."""


def _file(value: str | Unset, info: ValidationInfo) -> Path | Unset:
    if isinstance(value, Unset):
        return value
    root = Path((info.context or {}).get("root", "."))
    resolved = (root / value).resolve()
    if not resolved.is_file():
        raise problem(f"file {resolved} does not exist")
    return resolved


def _folder(value: str, info: ValidationInfo) -> Path:
    return (Path((info.context or {}).get("root", ".")) / value).resolve()


Folder = Annotated[Path, PlainValidator(text, json_schema_input_type=str), AfterValidator(_folder),
                   WithJsonSchema({"type": "string"})]
"""A folder, relative to the environments file's folder (resolved; it may not exist yet)."""
FilePath = Annotated[Path | Unset, PlainValidator(_string, json_schema_input_type=str),
                     AfterValidator(_file), WithJsonSchema({"type": "string"})]
"""A file, relative to the environments file's folder; it must exist."""


# -- names the estate's tools define ----------------------------------------------------------

def _pattern(regex: str, what: str, most: int) -> Any:
    def check(value: str) -> str:
        if len(value) > most or not re.fullmatch(regex, value):
            raise problem(f"{value!r} is not {what}")
        return value
    return Annotated[str, PlainValidator(text, json_schema_input_type=str), AfterValidator(check),
                     WithJsonSchema({"type": "string", "pattern": f"^{regex}$", "maxLength": most})]


_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
Label = _pattern(_LABEL, "a DNS label (lower-case letters, digits, '-'; up to 63)", 63)
Release = _pattern(rf"{_LABEL}(\.{_LABEL})*", "a Helm release name (lower-case DNS name, up to 53)", 53)
Platform = _pattern(r"[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?", "a platform like linux/amd64", 64)
UrlPath = _pattern(r"[^\s\x00-\x1f\x7f]*", "a URL path (no spaces or control characters)", 2048)
KubeVersion = _pattern(r"v?[0-9]{1,3}\.[0-9]{1,3}(\.[0-9]{1,3})?",
                       "a Kubernetes version like \"1.30\" (quoted: 1.30 unquoted is the number 1.3)", 16)
AppObject = _pattern(r"[^:\s]+\.py:[A-Za-z_][A-Za-z0-9_]*",
                     "a module path and variable like server/app/main.py:app", 512)


def known_source(value: str, info: ValidationInfo) -> str:
    """A source name must be one the file defines (the loader passes them as context)."""
    known = (info.context or {}).get("sources")
    if known is not None and value not in known:
        raise problem(f"unknown source {value!r} (known: {', '.join(known)})")
    return value


Labels = Annotated[tuple[Label, ...], BeforeValidator(strings)]


def _repositories(value: tuple[str, ...]) -> tuple[str, ...]:
    """Image repository names, as a registry names them: no tag, no digest."""
    from releasegate.images import imageref

    for name in value:
        try:
            imageref.parse(name)
        except imageref.InvalidReference as exc:
            raise problem(f"{name!r} is no image repository: {exc.reason}") from None
        if "@" in name or ":" in name.rsplit("/", 1)[-1]:
            raise problem(f"{name!r}: name the image repository without a tag or digest")
    return value


ImageRepositories = Annotated[tuple[Text, ...], BeforeValidator(strings), AfterValidator(_repositories)]
"""A list of image repositories (registry/path, no tag)."""
SourceRef = Annotated[Name, AfterValidator(known_source)]
"""The name of a source the file defines."""


_Scalar = str | int | float | bool | None


def _expect_json(value: Any) -> Any:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise problem(f"expected a mapping of JSON key to allowed value(s), got {kind(value)}")
    out = {}
    for key, allowed in value.items():
        allowed = allowed if isinstance(allowed, list) else [allowed]
        if not isinstance(key, str) or not all(isinstance(a, _Scalar) for a in allowed):
            raise problem(f"{key!r}: expected a scalar or a list of scalars, got {kind(value[key])}")
        out[key] = tuple(allowed)
    return out


ExpectJson = Annotated[dict[str, tuple[Any, ...]], PlainValidator(_expect_json),
                       WithJsonSchema({"type": "object", "additionalProperties": {
                           "anyOf": [{"type": ["string", "number", "boolean", "null"]},
                                     {"type": "array", "items": {
                                         "type": ["string", "number", "boolean", "null"]}}]}})]
