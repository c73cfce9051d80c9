"""The layout holds: layers import downward only, no import circles, no private names across modules,
every module says its job on its first line and stays small enough to read.

Imports are read from the source with `ast`, function-local, TYPE_CHECKING and `lazy_import` ones
included: a circle hidden inside a function still fails at run time.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("api", "ml_model")
MAX_LINES = 400
# Who may import what, by module prefix: a module matching a key imports first-party modules only under
# the listed prefixes (its own package's modules are checked by the same rule).
ALLOWED = {
    "api.runtime": ("api.runtime", "api.errors", "api.messages", "api.lazy"),
    "api.pictures": ("api.pictures", "api.runtime.manifest", "api.errors", "api.messages", "api.lazy"),
    "api.app": ("api.app", "api.runtime", "api.pictures", "api.errors", "api.messages", "api.lazy"),
    "api": (),
    "api.handler": ("api",),
    "api.errors": (),
    "api.messages": (),
    "api.lazy": (),
    "ml_model": ("ml_model", "api.runtime", "api.pictures", "api.errors", "api.messages", "api.lazy"),
}


def module_files() -> dict[str, Path]:
    """Every module of the two packages by dotted name (a package by its `__init__`)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = module_files()


def imports(name: str) -> Iterator[tuple[str, str, int]]:
    """(imported module, imported name or "", line) for every import in module `name`, anywhere in it."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, "", node.lineno
        elif (  # `lazy_import("api.pictures.normalise")` (api.lazy) is an import too, run on first use
            isinstance(node, ast.Call)
            and getattr(node.func, "id", None) == "lazy_import"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            yield node.args[0].value, "", node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield (submodule, "", node.lineno) if submodule in MODULES else (base, alias.name, node.lineno)


def first_party(module: str) -> bool:
    return module.split(".")[0] in PACKAGES


def rule_for(name: str) -> tuple[str, ...]:
    matching = [prefix for prefix in ALLOWED if name == prefix or name.startswith(prefix + ".")]
    assert matching, f"{name}: no layer rule covers it (add it to ALLOWED)"
    return ALLOWED[max(matching, key=len)]


def under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_each_module_imports_only_the_layers_below_it(name: str) -> None:
    """api/app → api/runtime, api/pictures; pictures → runtime's manifest; ml_model → runtime and pictures,
    never the HTTP app; nothing in api/ imports ml_model (the Lambda bundle carries api/ alone)."""
    allowed = rule_for(name)
    wrong = [
        f"line {line}: {module}"
        for module, _, line in imports(name)
        if first_party(module) and not under(module, allowed) and module != "api"
    ]
    assert not wrong, f"{name} may import only {allowed}: {wrong}"


def test_no_import_circles() -> None:
    """Counting function-local imports: a cycle among modules is a design knot, even when it runs."""
    graph = {name: {module for module, _, _ in imports(name) if module in MODULES} for name in MODULES}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycle = path[path.index(target) :] + [target]
                pytest.fail("import circle: " + " → ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_uses_another_modules_private_names(name: str) -> None:
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    wrong = [f"line {line}: {module}.{item}" for module, item, line in imports(name) if item.startswith("_")]
    aliases = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom | ast.Import)
        for alias in node.names
        if any(module in MODULES and module.endswith(alias.name) for module, _, _ in imports(name))
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            if node.attr.startswith("_") and not node.attr.startswith("__"):
                wrong.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
    assert not wrong, f"{name} uses private names of other modules: {wrong}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_each_module_says_its_job_and_stays_readable(name: str) -> None:
    text = MODULES[name].read_text(encoding="utf-8")
    docstring = ast.get_docstring(ast.parse(text))
    assert docstring and docstring.strip(), f"{name}: no module docstring saying what it is for"
    lines = text.count("\n")
    assert lines <= MAX_LINES, f"{name}: {lines} lines; split it along its jobs (at most {MAX_LINES})"
