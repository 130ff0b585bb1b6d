"""The package's shape: one subpackage per stage of the pipeline, a stage importing only the stages
before it (``STAGES``), no import circle anywhere in facelib/, no module over 300 lines and no
function over 60; the pruning core (groups, criteria, selection, surgery) usable on its own.

Imports inside functions count too: a circle hidden behind a lazy import is still a circle.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import facelib

PACKAGE = Path(facelib.__file__).parent
MAX_LINES = 300
MAX_FUNCTION_LINES = 60
# The pipeline's stages, in order: a module may import its own stage and those before it. The top
# level's shared modules come before every stage; the command line (and the package) after all.
STAGES = ["data", "networks", "evaluation", "training", "pruning", "deployment", "study", "findings"]
SHARED = {"facelib.errors", "facelib.io", "facelib.config"}
TOP = {"facelib", "facelib.cli", "facelib.__main__"}
# the pruning core, usable on its own as Torch-Pruning is: torch, the standard library and the networks
PRUNING_CORE = {f"facelib.pruning.{m}" for m in ("groups", "criteria", "selection", "surgery", "reconstruction",
                                                  "reconstruction_error")} | {"facelib.pruning"}


def module_files() -> dict[str, Path]:
    """``{"facelib.pruning.loop": path, ...}`` for every module of the package."""
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The facelib modules ``name`` imports anywhere in its file (``from a import b`` counts as
    ``a.b`` when that is a module, else as ``a``)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                head = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(head + ([base] if base else []))
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names}
    return {m for m in found if m in known and m != name}


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    return {name: imported_modules(name, path, set(files)) for name, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every circle a depth-first walk meets, as ``[a, b, ..., a]``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []
    found = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                found.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_the_walk_finds_a_circle_and_the_package_graph():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    graph = import_graph()
    # the walk sees lazy (in-function) imports and `from package import module`
    assert "facelib.study.record" in graph["facelib.study.running"]
    assert "facelib.pruning.loop" in graph["facelib.study.running"]
    assert "facelib.io" in graph["facelib.study.layout"]


def test_no_import_circle_in_facelib():
    found = cycles(import_graph())
    assert not found, "import circles: " + "; ".join(" -> ".join(c) for c in found)


def test_no_module_over_300_lines():
    long = {name: n for name, path in module_files().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def level(module: str) -> int:
    """The module's place in the pipeline: 0 for the shared modules, 1 + the stage's index, or the
    top (the command line)."""
    if module in SHARED:
        return 0
    if module in TOP:
        return len(STAGES) + 1
    return 1 + STAGES.index(module.split(".")[1])


def test_every_module_sits_in_a_stage_and_the_top_level_is_small():
    top_files = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top_files) <= 6, top_files
    for name in module_files():
        assert name in SHARED | TOP or name.split(".")[1] in STAGES, f"{name} is in no stage"


def test_no_stage_imports_a_later_one():
    assert level("facelib.data.pairs") < level("facelib.networks.models") < level("facelib.findings.claims")
    wrong = [f"{name} -> {dep}" for name, deps in import_graph().items() for dep in deps if level(dep) > level(name)]
    assert not wrong, "a stage imports a later one: " + "; ".join(sorted(wrong))


def test_the_pruning_core_needs_only_torch_and_the_networks():
    for name in PRUNING_CORE:
        path = module_files()[name]
        ours = imported_modules(name, path, set(module_files()))
        assert all(m in PRUNING_CORE or m.startswith("facelib.networks") or m == "facelib.errors" for m in ours), \
            (name, ours)
        tops = {a.name.split(".")[0] for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Import)
                for a in node.names}
        tops |= {node.module.split(".")[0] for node in ast.walk(ast.parse(path.read_text()))
                 if isinstance(node, ast.ImportFrom) and node.module and not node.level}
        assert tops <= {"torch", "facelib", "__future__"} | set(sys.stdlib_module_names), (name, tops)


def test_no_function_over_60_lines():
    long = {}
    for name, path in module_files().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if (n := node.end_lineno - node.lineno + 1) > MAX_FUNCTION_LINES:
                    long[f"{name}.{node.name}"] = n
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"
