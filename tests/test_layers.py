"""The import graph: no cycle (type-only and function-level imports included) and no import from
a lower layer to a higher one. Walks the AST of every module of the suite."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("nb201", "benchmark", "proxies", "analysis", "tools", "perf")

#: layers, lowest first: a module's layer is that of the longest prefix of its name listed here
LAYERS = {
    "foundation": ("nb201", "nb201.errors", "nb201.provenance", "nb201.catalog"),
    "domain and data": ("nb201.space", "nb201.network", "nb201.complexity",
                        "nb201.groundtruth", "nb201.nb201_file", "nb201.formats",
                        "nb201.datasets", "nb201.ranking"),
    "interface and store": ("nb201.api", "nb201.store"),
    "training engine": ("nb201.training",),
    "proxies": ("proxies",),
    "orchestration": ("benchmark.runner", "benchmark.executors", "benchmark.ray_executor",
                      "benchmark.experiments", "benchmark.search"),
    "analysis": ("analysis",),
    "wiring": ("benchmark.cli", "benchmark.__main__", "benchmark", "tools", "perf"),
}
BASE = ("foundation", "domain and data", "interface and store")
#: what each layer may import (besides the standard library and third-party packages)
ALLOWED = {
    "foundation": {"foundation"},
    "domain and data": {"foundation", "domain and data"},
    "interface and store": set(BASE),
    "training engine": {*BASE, "training engine"},
    "proxies": {*BASE, "training engine", "proxies"},
    "orchestration": {*BASE, "training engine", "proxies", "orchestration"},
    "analysis": {*BASE, "analysis"},   # results in, tables and figures out: no training or orchestration
    "wiring": set(LAYERS),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def layer_of(name: str) -> str:
    best, found = -1, None
    for layer, prefixes in LAYERS.items():
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), layer
    assert found is not None, f"module {name} is in no layer: add it to LAYERS"
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The suite's modules that ``name`` imports anywhere in its file."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[:len(base) - node.level + (1 if is_package else 0)]
                parent = ".".join(base + ([node.module] if node.module else []))
            else:
                parent = node.module
            targets = [f"{parent}.{a.name}" if f"{parent}.{a.name}" in known else parent
                       for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:   # `import a.b.c`: the longest known prefix
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


GRAPH = {name: imports(name, path, modules()) for name, path in modules().items()}


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_imports_point_down(name):
    layer = layer_of(name)
    wrong = sorted(t for t in GRAPH[name] if layer_of(t) not in ALLOWED[layer])
    assert not wrong, f"{name} ({layer}) imports {[(t, layer_of(t)) for t in wrong]}"


def test_no_import_cycle():
    state: dict[str, int] = {}     # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(GRAPH):
        if node not in state:
            visit(node)


def test_the_checker_sees_violations():
    """The graph is not empty and resolves relative and from-imports (so the tests above test)."""
    assert "nb201.api" in GRAPH["nb201.store"]
    assert "nb201.training.recipe" in GRAPH["nb201.training.engine"]
    assert "nb201.api" in GRAPH["proxies.table"]
    assert layer_of("nb201.training.engine") == "training engine"
    assert "training engine" not in ALLOWED["analysis"]
