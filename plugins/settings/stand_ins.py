"""Stand-ins for values only the cluster knows (sealed secrets, the pod IP), so the settings can boot.

A stand-in is a plausible value of the field's type: by its annotation, by the variable's name, by
what a validator's error message asks for. `StandIns` holds the choices tried for one container
environment and moves each stand-in a validator rejects to its next choice, boot after boot.
Secret values never reach the boot: these stand in for them.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from releasegate.settings import boot
from releasegate.settings.kubelet_env import ContainerEnv
from releasegate.settings.classes import EnvView, SettingsModel, named

_PLACEHOLDERS = (
    (re.compile(r"PostgresDsn|PostgreSQL|postgres", re.I), "postgresql://user:placeholder@db.invalid:5432/db"),
    (re.compile(r"RedisDsn", re.I), "redis://:placeholder@redis.invalid:6379/0"),
    (re.compile(r"AmqpDsn", re.I), "amqp://user:placeholder@amqp.invalid:5672/"),
    (re.compile(r"MongoDsn", re.I), "mongodb://user:placeholder@mongo.invalid:27017/db"),
    (re.compile(r"Url|Dsn", re.I), "https://placeholder.invalid/"),
    (re.compile(r"^(Optional\[)?(bool|StrictBool)\b"), "false"),
    (re.compile(r"^(Optional\[)?(int|PositiveInt|conint)\b"), "1"),
    (re.compile(r"^(Optional\[)?float\b"), "1.0"),
    (re.compile(r"^(Optional\[)?(dict|list|Dict|List)\b"), "{}"),
)
# By the variable's name (whole words of it): what such a setting usually holds, specific services first.
_BY_NAME = (
    (re.compile(r"REDIS|CACHE|BROKER"), "redis://:placeholder@redis.invalid:6379/0"),
    (re.compile(r"AMQP|RABBIT\w*"), "amqp://user:placeholder@amqp.invalid:5672/"),
    (re.compile(r"MONGO\w*"), "mongodb://user:placeholder@mongo.invalid:27017/db"),
    (re.compile(r"POSTGRES|PG|DATABASE|DB|DSN|SQL"), "postgresql://user:placeholder@db.invalid:5432/db"),
    (re.compile(r"URL|URI|DSN|ENDPOINT|WEBHOOK"), "https://placeholder.invalid/"),
    (re.compile(r"JSON|CONFIG"), "{}"),
    (re.compile(r"JSON|LIST"), "[]"),
    (re.compile(r"PORT"), "8080"),
    (re.compile(r"EMAIL|MAIL|FROM"), "placeholder@example.com"),
    (re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASS|PWD|SALT"), "releasegateStandIn0123456789abcdefghijklmnop"),
    (re.compile(r"KEY|TOKEN|SECRET|SALT|HASH"), "0123456789abcdef" * 4),
)
# A name ending in one of these holds a secret: only opaque stand-ins (letters and digits), never a
# URL, which a validator may put into a URL of its own (PostgresDsn.build(password=...)).
_SECRET_WORD = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASS|PWD|SALT|HASH|PASSPHRASE|CREDENTIALS?")
# A name ending in one of these holds a URL or DSN (DATABASE_URL, REDIS_DSN, CELERY_BROKER): the URL
# stand-ins above apply only to such names, not to DB_HOST or DB_USER.
_URL_WORD = re.compile(r"URL|URI|DSN|ENDPOINT|WEBHOOK|REDIS|CACHE|BROKER|AMQP|RABBIT\w*|MONGO\w*|POSTGRES\w*|PG"
                       r"|DATABASE|DB|SQL|CONNECTION|CONN")
_SCHEME = re.compile(r"\b([A-Za-z][A-Za-z0-9+.\-]*)://")
_QUOTED = re.compile(r"'([^'\s]{1,80})'|\"([^\"\s]{1,80})\"|`([^`\s]{1,80})`")
_PREFIX = re.compile(r"(?:start|starts|begin|begins|prefixed) with ([^\s,;'\"`]+)|prefix ([^\s,;'\"`]+)", re.I)
_LENGTH = re.compile(r"at least (\d{1,4}) (?:characters|chars)", re.I)


def placeholder(annotation: str | None, default: str = "releasegate-sealed-value") -> str:
    """A stand-in for a sealed value that a field of this annotation would accept, where guessable."""
    for pattern, value in _PLACEHOLDERS:
        if annotation and pattern.search(annotation):
            return "[]" if value == "{}" and re.match(r"^(Optional\[)?(list|List)\b", annotation) else value
    return default


def stand_ins(annotation: str | None, name: str, current: str | None = None) -> list[str]:
    """Plausible stand-ins for a value only the cluster knows, most likely first: the value the cluster
    would plausibly give (`current`), then by the field's annotation, then by the variable's name,
    then the generic stand-in."""
    out = [current] if current else []
    out += _literals(annotation or "")
    if annotation and placeholder(annotation, "") != "":
        out.append(placeholder(annotation))
    parts = [w for w in re.split(r"[^A-Z0-9]+", name.upper()) if w] or [name.upper()]
    words = set(parts) | {name.upper()}
    secret = bool(_SECRET_WORD.fullmatch(parts[-1]))
    url = not secret and bool(_URL_WORD.fullmatch(parts[-1]))
    for pattern, value in _BY_NAME:
        if any(pattern.fullmatch(w) for w in words) and (value.isalnum() if secret else url or "://" not in value):
            out.append(value)
    out.append(placeholder(None))
    return list(dict.fromkeys(out))


def _literals(annotation: str) -> list[str]:
    """The choices of a `Literal[...]` annotation, as strings."""
    match = re.search(r"Literal\[([^\]]*)\]", annotation)
    try:
        choices = ast.literal_eval(f"({match.group(1)},)") if match else ()
    except (ValueError, SyntaxError):
        return []
    return [str(c).lower() if isinstance(c, bool) else str(c) for c in choices]


def stand_ins_from_message(message: str) -> list[str]:
    """Stand-ins a validator's own error message suggests: its URL schemes, prefixes, quoted literals
    and minimum length."""
    text = message.replace("\\", "")
    out = []
    for scheme in _SCHEME.findall(text):
        if "sqlite" in scheme.lower() or scheme.lower() == "file":
            out.append(f"{scheme}:///releasegate.db")
        else:
            out.append(f"{scheme}://user:placeholder@placeholder.invalid:5432/db")
    out += [a + "releasegate" for m in _PREFIX.findall(text) for a in m if a and "://" not in a]
    out += [a or b or c for a, b, c in _QUOTED.findall(text) if "://" not in (a or b or c)]
    out += [("releasegate-stand-in" * 100)[:int(n)] for n in _LENGTH.findall(text)]
    return list(dict.fromkeys(v.lstrip("^").rstrip("$") for v in out))


def boot_env(env: ContainerEnv, m: SettingsModel) -> dict[str, str]:
    """The container's environment with the first stand-in for each value only the cluster knows."""
    return StandIns.of(env, m).values()


@dataclass
class StandIns:
    """The stand-ins tried for each value only the cluster knows, and the one in use."""

    env: ContainerEnv
    options: dict[str, list[str]]
    chosen: dict[str, int]

    @classmethod
    def of(cls, env: ContainerEnv, m: SettingsModel) -> "StandIns":
        """The choices for each value of `env` only the cluster knows, the first of each in use."""
        options = {name: stand_ins(m.annotation_for(name), name, None if var.secret else var.value)
                   for name, var in env.vars.items() if not var.known}
        return cls(env, options, {name: 0 for name in options})

    def values(self) -> dict[str, str]:
        """The container's environment with the stand-ins in use."""
        values = self.env.values()
        values.update({name: options[self.chosen[name]] for name, options in self.options.items()})
        return values

    def tried(self) -> dict[str, tuple[str, ...]]:
        """{variable: the stand-ins tried so far, the one in use last}."""
        return {name: tuple(options[:self.chosen[name] + 1]) for name, options in self.options.items()}

    def advance(self, m: SettingsModel, result: boot.BootResult) -> bool:
        """Move every stand-in a validator rejected to its next choice (adding what the validator's
        message names); False when none is left to try."""
        values = EnvView(self.values())
        failing: dict[str, str] = {}
        for outcome in result.outcomes:
            for error in outcome.errors:
                name = _error_variable(m, outcome, error, values)
                if name in self.options:
                    failing.setdefault(name, str(error.get("msg") or ""))
        moved = False
        for name, message in failing.items():
            options, at = self.options[name], self.chosen[name]
            options[at + 1:at + 1] = [v for v in stand_ins_from_message(message) if v not in options]
            if at + 1 < len(options):
                self.chosen[name] = at + 1
                moved = True
        return moved


def _error_variable(m: SettingsModel, outcome: boot.Outcome, error: dict, values: EnvView) -> str | None:
    """The variable a pydantic error's field reads, if any."""
    owner = m.get(str(error.get("title"))) or m.get(outcome.name)
    f = owner.field_for(error.get("loc") or ()) if owner else None
    hit = (f.lookup(values) if f else None) or named(values, error.get("variables") or ())
    return hit[0] if hit else None
