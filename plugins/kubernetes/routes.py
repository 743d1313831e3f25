"""The HTTP routes an application object serves, read statically (Python's ast) from git objects.

Understood: FastAPI/Starlette `@app.get("/x")` (and post, put, ..., api_route, route, websocket),
`app.add_api_route("/x", ...)`, `app.add_route`, `APIRouter(prefix=...)` routers included with
`app.include_router(router, prefix=...)` (from the same module or one imported from the same
repository), Starlette `Starlette(routes=[Route("/x", ...)])`, Flask `@app.route("/x")`,
`add_url_rule`, and Blueprints with `url_prefix` registered on the app; Django's `urlpatterns` (object
`urlpatterns`: `path()` and `include()`). Anything else that could
add a route (a mount, a path that is not a literal, a router whose module cannot be read) leaves
the routes unresolved: a probe is then "not checked", never judged on a partial list.
"""

from __future__ import annotations

import ast
import posixpath
import re
from dataclasses import dataclass, field
from typing import Callable

_VERBS = {"get", "post", "put", "patch", "delete", "head", "options", "trace", "api_route",
          "route", "websocket", "api_websocket_route"}
_ROUTERS = {"APIRouter", "Blueprint", "Router"}
_APPS = {"FastAPI", "Starlette", "Flask", "Quart"}


@dataclass
class Routes:
    """The paths an app object serves; `unresolved` says what could not be read (then: not checked)."""

    paths: set[str] = field(default_factory=set)
    unresolved: list[str] = field(default_factory=list)

    @property
    def resolved(self) -> bool:
        """Whether every route-adding call was understood."""
        return not self.unresolved


def _literal(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _keyword(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _callee(call: ast.AST) -> str | None:
    if isinstance(call, ast.Call):
        func = call.func
        return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
    return None


class _Module:
    """One parsed module: its route holders (apps, routers) and what each adds."""

    def __init__(self, text: str, where: str, load: Callable[[str], "_Module | None"]) -> None:
        self.where, self.load = where, load
        self.tree = ast.parse(text, where)
        self.holders: dict[str, tuple[str, str]] = {}  # name -> (constructor, prefix)
        self.imports: dict[str, str] = {}  # local name -> dotted module (or module.attr)
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                    and isinstance(node.targets[0], ast.Name) and _callee(node.value) in _APPS | _ROUTERS:
                prefix = _keyword(node.value, "prefix") or _keyword(node.value, "url_prefix")
                self.holders[node.targets[0].id] = (_callee(node.value), _literal(prefix) or "")
            elif isinstance(node, ast.ImportFrom):
                base = "." * node.level + (node.module or "")
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = f"{base}.{alias.name}" if node.module \
                        else f"{base}{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    self.imports[alias.asname or alias.name.split(".")[0]] = alias.name

    def routes(self, holder: str, seen: set[tuple[str, str]]) -> Routes:
        """The paths `holder` (an app or router of this module) serves, prefixes applied."""
        out = Routes()
        if (self.where, holder) in seen:
            return out
        seen = seen | {(self.where, holder)}
        for node in ast.walk(self.tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for deco in node.decorator_list:
                    if isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute) \
                            and isinstance(deco.func.value, ast.Name) and deco.func.value.id == holder \
                            and deco.func.attr in _VERBS:
                        self._add(out, deco, f"@{holder}.{deco.func.attr}")
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == holder):
                continue
            verb = node.func.attr
            if verb in ("add_api_route", "add_route", "add_url_rule", "add_websocket_route"):
                self._add(out, node, f"{holder}.{verb}")
            elif verb in ("include_router", "register_blueprint"):
                self._include(out, node, seen)
            elif verb in ("mount", "host"):
                out.unresolved.append(f"{self.where}:{node.lineno}: {holder}.{verb}(...) (mounted app)")
        if _callee_of(self.tree, holder) == "Starlette":
            self._starlette(out, holder)
        return out

    def _add(self, out: Routes, call: ast.Call, what: str) -> None:
        path = _literal(call.args[0] if call.args else _keyword(call, "path") or _keyword(call, "rule"))
        if path is None:
            out.unresolved.append(f"{self.where}:{call.lineno}: {what}(...) with a path that is not a literal")
        else:
            out.paths.add(path)

    def _include(self, out: Routes, call: ast.Call, seen: set[tuple[str, str]]) -> None:
        target = call.args[0] if call.args else None
        prefix_node = _keyword(call, "prefix") or _keyword(call, "url_prefix")
        prefix = _literal(prefix_node) if prefix_node is not None else ""
        found = self._router(target)
        if found is None or prefix is None:
            text = ast.unparse(target) if target is not None else "?"
            out.unresolved.append(f"{self.where}:{call.lineno}: router {text} cannot be read")
            return
        module, name = found
        inner = module.routes(name, seen)
        out.unresolved.extend(inner.unresolved)
        own = module.holders.get(name, ("", ""))[1]
        out.paths |= {prefix + own + path for path in inner.paths}

    def _router(self, node: ast.AST | None) -> tuple["_Module", str] | None:
        if isinstance(node, ast.Name):
            if node.id in self.holders:
                return self, node.id
            dotted = self.imports.get(node.id)
            if dotted and "." in dotted.lstrip("."):
                module, _, attr = dotted.rpartition(".")
                loaded = self.load(self._absolute(module))
                if loaded is not None and attr in loaded.holders:
                    return loaded, attr
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            dotted = self.imports.get(node.value.id)
            loaded = self.load(self._absolute(dotted)) if dotted else None
            if loaded is not None and node.attr in loaded.holders:
                return loaded, node.attr
        return None

    def _absolute(self, dotted: str) -> str:
        level = len(dotted) - len(dotted.lstrip("."))
        if not level:
            return dotted
        package = posixpath.dirname(self.where)
        for _ in range(level - 1):
            package = posixpath.dirname(package)
        rest = dotted.lstrip(".")
        return "/" + posixpath.join(package, *rest.split(".")) if rest else "/" + package

    def _starlette(self, out: Routes, holder: str) -> None:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == holder
                                                    for t in node.targets):
                routes = _keyword(node.value, "routes")
                if routes is None:
                    continue
                if not isinstance(routes, (ast.List, ast.Tuple)):
                    out.unresolved.append(f"{self.where}:{node.lineno}: Starlette(routes=...) not a literal list")
                    continue
                for element in routes.elts:
                    if _callee(element) in ("Route", "WebSocketRoute"):
                        self._add(out, element, _callee(element))
                    else:
                        out.unresolved.append(f"{self.where}:{element.lineno}: {ast.unparse(element)[:60]}")


def _callee_of(tree: ast.AST, name: str) -> str | None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name
                                                for t in node.targets):
            return _callee(node.value)
    return None


def app_routes(read: Callable[[str], str | None], path: str, obj: str = "app") -> Routes:
    """The routes of `obj` in the module at repository path `path`; `read(path)` returns a file's
    text in the repository (None when absent). Imports resolve against the module's folders."""
    cache: dict[str, _Module | None] = {}
    roots = [posixpath.dirname(posixpath.dirname(path))]
    while roots[-1]:
        roots.append(posixpath.dirname(roots[-1]))

    def load(dotted: str) -> _Module | None:
        if dotted.startswith("/"):  # already a repository path (a relative import)
            candidates = [dotted[1:] + ".py", dotted[1:] + "/__init__.py"]
        else:
            rel = dotted.replace(".", "/")
            candidates = [posixpath.join(r, rel) + s for r in roots for s in (".py", "/__init__.py")]
        for candidate in candidates:
            candidate = candidate.lstrip("/")
            if candidate in cache:
                return cache[candidate]
            text = read(candidate)
            if text is not None:
                try:
                    cache[candidate] = _Module(text, candidate, load)
                except SyntaxError:
                    cache[candidate] = None
                return cache[candidate]
        return None

    text = read(path)
    if text is None:
        return Routes(unresolved=[f"{path} does not exist"])
    try:
        module = _Module(text, path, load)
    except SyntaxError as exc:
        return Routes(unresolved=[f"{path}: not Python ({exc.msg}, line {exc.lineno})"])
    cache[path] = module
    if obj == "urlpatterns":
        return _django(module, "/", set())
    if obj not in module.holders:
        return Routes(unresolved=[f"{path}: no `{obj} = FastAPI(...)`, Starlette(...) or Flask(...)"])
    return module.routes(obj, set())


def _django(module: _Module, prefix: str, seen: set[str]) -> Routes:
    """Django's `urlpatterns` of a URLconf: `path(...)` and `include(...)` of URLconfs of the same
    repository (https://docs.djangoproject.com/en/stable/topics/http/urls/); `re_path` and anything
    else leave the routes unresolved."""
    out = Routes()
    if module.where in seen:
        return out
    seen = seen | {module.where}
    patterns = [n.value for n in ast.walk(module.tree) if isinstance(n, (ast.Assign, ast.AugAssign))
                and any(isinstance(t, ast.Name) and t.id == "urlpatterns"
                        for t in (n.targets if isinstance(n, ast.Assign) else [n.target]))]
    if not patterns:
        out.unresolved.append(f"{module.where}: no urlpatterns")
    for value in patterns:
        if not isinstance(value, (ast.List, ast.Tuple)):
            out.unresolved.append(f"{module.where}:{value.lineno}: urlpatterns is not a literal list")
            continue
        for element in value.elts:
            route = _literal(element.args[0]) if isinstance(element, ast.Call) and element.args else None
            target = element.args[1] if isinstance(element, ast.Call) and len(element.args) > 1 else None
            if _callee(element) != "path" or route is None:
                out.unresolved.append(f"{module.where}:{element.lineno}: {ast.unparse(element)[:60]}")
            elif _callee(target) == "include":
                name = _literal(target.args[0]) if target.args else None
                inner = module.load(name) if name else None
                if inner is None:
                    out.unresolved.append(f"{module.where}:{element.lineno}: include({name or '...'}) "
                                          "cannot be read")
                    continue
                found = _django(inner, prefix + route, seen)
                out.paths |= found.paths
                out.unresolved += found.unresolved
            else:
                out.paths.add(prefix + route)
    return out


_PARAM = re.compile(r"\{[^}]*\}|<[^>]*>")


def serves(routes: set[str], path: str) -> bool:
    """Whether a request path matches one of the routes (path parameters match one segment;
    FastAPI's `{x:path}` and Flask's `<path:x>` match the rest)."""
    path = path.split("?", 1)[0] or "/"
    for route in routes:
        pattern = ""
        last = 0
        for match in _PARAM.finditer(route):
            pattern += re.escape(route[last:match.start()])
            pattern += ".+" if ":path" in match.group() or "path:" in match.group() else "[^/]+"
            last = match.end()
        pattern += re.escape(route[last:])
        # FastAPI and Starlette (redirect_slashes) and Django (APPEND_SLASH) answer the other
        # spelling with a redirect, which the kubelet counts as success (200-399)
        if any(re.fullmatch(pattern, p) for p in (path, path.rstrip("/") or "/", path + "/")):
            return True
    return False
