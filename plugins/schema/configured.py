"""Whether an environment has a database to connect to, decided without importing psycopg.

Most runs (a checkout without services, environments without a database) only skip the database
checks; psycopg's import (~0.1 s) is left to the runs that connect.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from releasegate.core.handle import Handle


def skip_unless_configured(host: Handle) -> None:
    """Skip when the environment names no database or its DSN variable is unset (database.connect
    asks this first; the host asks it before importing psycopg)."""
    spec = host.spec.database
    if spec is None:
        pytest.skip(f"{host.name}: no database configured (environments.{host.name}.database)")
    if not os.environ.get(spec.dsn_env, ""):
        pytest.skip(f"{host.name}: database.dsn_env {spec.dsn_env} is not set")


__all__ = ["skip_unless_configured"]
