"""Front-end variables: what the front-end sources read through import.meta.env or process.env,
against the env file its build gets; one blocker per variable the file does not set.
"""
from __future__ import annotations

import re
from typing import Any

from releasegate.core.gitrepo import SourceError
from releasegate.estate import FrontendEntry
from releasegate.settings.finding import BLOCK, Finding, verb

_FRONTEND_READ = re.compile(r"""(?:import\.meta\.env|process\.env)(?:\.([A-Za-z_][A-Za-z0-9_]*)"""
                            r"""|\[\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\])""")
_FRONTEND_BUILTINS = {"MODE", "DEV", "PROD", "SSR", "BASE_URL", "NODE_ENV"}


def frontend_reads(text: str) -> set[str]:
    """Variables a front-end source reads through import.meta.env or process.env."""
    return {a or b for a, b in _FRONTEND_READ.findall(text)} - _FRONTEND_BUILTINS


def dotenv_names(text: str) -> dict[str, str]:
    """{name: value} of a .env file (comments, blank lines and `export` prefixes allowed)."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.removeprefix("export ").partition("=")
        out[name.strip()] = value.strip().strip("'\"")
    return out


def frontend_findings(host: Any, entry: FrontendEntry, sha: str, ref_label: str) -> list[Finding]:
    """Front-end variables the env file does not provide: blockers (one per variable)."""
    if not entry.env_file:
        return []
    repo = host.git(entry.source)
    provided = dotenv_names(repo.show(sha, entry.env_file))
    readers: dict[str, list[str]] = {}  # variable -> files that read it
    for path in entry.paths:
        files = [p for p in repo.ls_tree(sha, path)] if not repo.exists(sha, path) or path.endswith("/") \
            else [path]
        if not files:
            raise SourceError(f"{repo.name}: {path} does not exist at {ref_label}")
        for file in files:
            for name in sorted(frontend_reads(repo.show(sha, file)) - set(provided)):
                readers.setdefault(name, []).append(file)
    return [Finding(BLOCK, f"{host.name}: {', '.join(files)} {verb(files, 'reads', 'read')} {name}, which "
                           f"{entry.env_file} at app {ref_label} does not set: add it", name,
                    {"files": files, "env_file": entry.env_file}) for name, files in sorted(readers.items())]
