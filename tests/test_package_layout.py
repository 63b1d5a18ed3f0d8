"""The helper package stays laid out for change: small modules, no import circle, no
module reaching into another's private names. Read from the source (ast), so an import
inside a function or under ``TYPE_CHECKING`` counts as much as one at the top."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "helpers" / "asynclab"
MAX_LINES = 400

# Private attributes of *other libraries* that the instruments must write, with the reason.
# Anything else written as ``something._name = ...`` outside ``self``/``cls`` fails.
ALLOWED_PRIVATE_WRITES = {
    # The recorder swaps the loop's default executor for a traced one and puts the old one
    # back; asyncio has no public way to restore "no default executor yet" (None).
    ("recorder", "_default_executor"),
    # The recorder's patch of asyncio's Handle._run, and putting the original back.
    ("recorder", "_run"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def imports_of(name: str) -> list[tuple[str, list[str]]]:
    """(imported asynclab module, names taken from it) for every import in ``name``."""
    tree = ast.parse(MODULES[name].read_text())
    base = name if is_package(name) else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "asynclab":
                    found.append((alias.name, []))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                target = ".".join(anchor + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "asynclab":
                continue
            names = [a.name for a in node.names]
            if not node.module:  # from . import x: x is a module of the package
                found += [(f"{target}.{n}", []) for n in names if f"{target}.{n}" in MODULES]
                rest = [n for n in names if f"{target}.{n}" not in MODULES]
                if rest:
                    found.append((target, rest))
            else:
                found.append((target, names))
    return [(t, n) for t, n in found if t in MODULES and t != name]


def import_graph() -> dict[str, set[str]]:
    return {name: {t for t, _ in imports_of(name)} for name in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            # A package's __init__ re-exporting its submodules is not a circle with them.
            if is_package(nxt) and node.startswith(nxt + "."):
                continue
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_modules_of_the_helper_package_import_each_other_in_no_circle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_circle_finder_finds_a_circle():
    graph = {"asynclab.a": {"asynclab.b"}, "asynclab.b": {"asynclab.c"}, "asynclab.c": {"asynclab.a"}}
    MODULES.update({k: PACKAGE / "x.py" for k in graph})
    try:
        assert find_cycle(graph) == ["asynclab.a", "asynclab.b", "asynclab.c", "asynclab.a"]
    finally:
        for k in graph:
            del MODULES[k]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_over_400_lines(name):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{MODULES[name].name}: {lines} lines; split it by concept"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_imports_a_private_name_of_another(name):
    private = [(t, n) for t, names in imports_of(name) for n in names
               if n.startswith("_") and not n.startswith("__")]
    assert not private, f"{name} imports private names: {private}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_writes_private_attributes_it_does_not_own(name):
    tree = ast.parse(MODULES[name].read_text())
    short = name.rpartition(".")[2]
    bad = []
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AugAssign | ast.AnnAssign) else [])
        for target in targets:
            for t in ast.walk(target):
                if (isinstance(t, ast.Attribute) and t.attr.startswith("_")
                        and not t.attr.startswith("__")
                        and not (isinstance(t.value, ast.Name) and t.value.id in ("self", "cls"))
                        and (short, t.attr) not in ALLOWED_PRIVATE_WRITES):
                    bad.append(f"line {t.lineno}: {ast.unparse(t)}")
    assert not bad, f"{name} writes private attributes of other objects: {bad}"
