"""The import graph: the top-level folders are the layers, and every import points down.

:data:`LAYERS` lists the layers lowest first, each as the modules (name prefixes) it holds; each
top-level folder is one run of consecutive layers (``nb201/`` the floor, then ``analysis/``,
``proxies/``, ``benchmark/``, and ``tools/``/``perf/`` on top), so the folder order is the layer
order. A module may import its own layer and the layers below it, nothing above: there is no
exceptions list. Walks the AST of every module (type-only and function-level imports included).
``analysis`` also loads no torch (checked by importing it in a fresh interpreter)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("nb201", "analysis", "proxies", "benchmark", "tools", "perf")

#: layers, lowest first: a module's layer is that of the longest prefix of its name listed here
LAYERS = {
    "foundation": ("nb201", "nb201.errors", "nb201.provenance", "nb201.catalog", "nb201.registry",
                   "nb201.options", "nb201.commands", "nb201.numbers"),
    "domain and data": ("nb201.space", "nb201.network", "nb201.complexity", "nb201.devices",
                        "nb201.groundtruth", "nb201.nb201_file", "nb201.formats",
                        "nb201.datasets", "nb201.ranking", "nb201.encoding"),
    "interface and store": ("nb201.api", "nb201.store", "nb201.context"),
    "training engine": ("nb201.training",),
    "analysis": ("analysis",),
    "proxies": ("proxies",),
    "orchestration": ("benchmark.runner", "benchmark.executors", "benchmark.ray_executor",
                      "benchmark.experiments", "benchmark.search", "benchmark.learn",
                      "benchmark.find"),
    "wiring": ("benchmark", "benchmark.command_results", "benchmark.cli", "benchmark.__main__"),
    "tools": ("tools", "perf"),
}
ORDER = list(LAYERS)


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
    rank = ORDER.index(layer_of(name))
    wrong = sorted(t for t in GRAPH[name] if ORDER.index(layer_of(t)) > rank)
    assert not wrong, f"{name} ({layer_of(name)}) imports {[(t, layer_of(t)) for t in wrong]}"


def test_folders_are_runs_of_layers():
    """Each top-level folder's layers are consecutive, in the order of PACKAGES."""
    folders = [LAYERS[layer][0].split(".")[0] for layer in ORDER]
    runs = [f for k, f in enumerate(folders) if k == 0 or folders[k - 1] != f]
    assert runs == [p for p in PACKAGES if p != "perf"], runs
    for layer, prefixes in LAYERS.items():
        assert len({p.split(".")[0] for p in prefixes} - {"perf"}) == 1, layer
    top = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()}
    assert top <= set(PACKAGES) | {"tests"}, f"a package in no layer: {top - set(PACKAGES)}"


def test_analysis_loads_no_torch():
    """Results in, tables and figures out: importing every analysis module loads no torch."""
    names = sorted(n for n in GRAPH if layer_of(n) == "analysis")
    code = (f"import sys, importlib; [importlib.import_module(n) for n in {names!r}]; "
            "print(sorted(m for m in ('torch', 'proxies', 'benchmark') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]", f"importing analysis loaded {out}"


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
    assert "analysis.report" in GRAPH["benchmark.command_results"]
    assert layer_of("nb201.training.engine") == "training engine"
    assert ORDER.index(layer_of("benchmark.search.fitness")) < ORDER.index(layer_of("benchmark.cli"))
