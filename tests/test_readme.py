"""The README's table of checks stays true: every check is listed, no listed check is gone."""

from __future__ import annotations

import ast
import re

from conftest import ROOT


def _checks() -> set[str]:
    names = set()
    for path in (ROOT / "checks").glob("test_*.py"):
        tree = ast.parse(path.read_text())
        names |= {node.name for node in tree.body
                  if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}
    return names


def _table_rows() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Checks", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(test_[a-z_]+)\[", section, flags=re.MULTILINE))


def test_every_check_is_in_the_readme_table() -> None:
    checks, rows = _checks(), _table_rows()
    assert len(checks) > 20
    assert checks - rows == set(), "checks missing from the README's table"
    assert rows - checks == set(), "README rows for checks that no longer exist"


def test_every_check_carries_a_moment_marker() -> None:
    for path in (ROOT / "checks").glob("test_*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                marks = {ast.unparse(d) for d in node.decorator_list}
                assert marks & {"pytest.mark.prerelease", "pytest.mark.smoke", "pytest.mark.drift"}, \
                    f"{path.name}::{node.name} has no prerelease/smoke/drift marker"
