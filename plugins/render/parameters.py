"""Argo CD's helm.parameters and helm.fileParameters, applied as Argo CD hands them to Helm.

util/helm/cmd.go (Cmd.template) passes each parameter as ``--set name=value`` (``--set-string``
when forceString, ``--set-file`` for fileParameters) with cleanSetParameters escaping the commas
of a value that is not a ``{list}``; Helm then applies every --set, then every --set-string, then
every --set-file onto the merged value files (pkg/cli/values/options.go MergeValues).
"""

from __future__ import annotations

from typing import Any, Callable

from releasegate.core.gitrepo import SourceError
from releasegate.render.strvals import StrvalsError, parse_into


def clean_set_parameter(value: str) -> str:
    """cleanSetParameters: escape each comma not already escaped, unless the value is {a,b}."""
    if value.startswith("{") and value.endswith("}"):
        return value
    out: list[str] = []
    previous = ""
    for char in value:
        out.append("\\," if char == "," and previous != "\\" else char)
        previous = char
    return "".join(out)


def by_name(parameters: tuple[tuple[str, str, bool], ...]) -> dict[bool, dict[str, str]]:
    """Argo CD keeps Set and SetString as maps (helmTemplate): a name given twice keeps its last
    value; a name may be in both (its --set-string is applied after its --set)."""
    found: dict[bool, dict[str, str]] = {False: {}, True: {}}
    for name, value, force_string in parameters:
        found[force_string][name] = value
    return found


def apply_parameters(values: dict[str, Any], parameters: tuple[tuple[str, str, bool], ...],
                     file_parameters: tuple[tuple[str, str], ...],
                     read: Callable[[str], str]) -> None:
    """Apply parameters to the merged values in place; read(path) gives a --set-file's content."""
    found = by_name(parameters)
    for force_string in (False, True):
        for name, value in found[force_string].items():
            expression = f"{name}={clean_set_parameter(value)}"
            try:
                parse_into(expression, values, as_string=force_string)
            except StrvalsError as exc:
                flag = "--set-string" if force_string else "--set"
                raise SourceError(f"helm.parameters {name}: failed parsing {flag} data: {exc} "
                                  "(Helm's CLI fails the same way)") from None
    files = dict(file_parameters)
    for name, path in files.items():
        try:
            parse_into(f"{name}={clean_set_parameter(path)}", values, reader=read)
        except StrvalsError as exc:
            raise SourceError(f"helm.fileParameters {name}: failed parsing --set-file data: "
                              f"{exc}") from None
