"""The package's layering: no import cycle anywhere in gan/ (imports inside functions count too), and every
module imports in a fresh interpreter."""

import ast
import subprocess
import sys

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "gan"


def module_name(path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path, known: set[str]) -> set[str]:
    """gan.* modules `path` imports, anywhere in it; `from gan.x import y` counts gan.x.y when it is one."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {name for name in found if name in known}


def graph() -> dict[str, set[str]]:
    files = sorted(PACKAGE.rglob("*.py"))
    known = {module_name(f) for f in files}
    return {module_name(f): imports(f, known) - {module_name(f)} for f in files}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_in_the_package():
    edges = graph()
    assert len(edges) > 40  # the whole package was read
    assert find_cycle(edges) is None, " -> ".join(find_cycle(edges))


@pytest.mark.slow
def test_every_module_imports_in_a_fresh_interpreter():
    names = sorted(n for n in graph() if not n.endswith("__main__"))  # __main__ runs the tool
    code = "import importlib, sys\nfor n in sys.argv[1:]:\n    importlib.import_module(n)\n"
    done = subprocess.run([sys.executable, "-c", code, *names], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_one_cadence_rule():
    from gan.cadence import due

    assert [i for i in range(1, 13) if due(i, 5)] == [5, 10]
    assert [i for i in range(1, 13) if due(i, 5, first=1)] == [1, 5, 10]
    assert [i for i in range(1, 13) if due(i, 5, first=7)] == [7, 10]  # multiples after the first only
    assert [i for i in range(1, 13) if due(i, 0, first=2)] == [2]


def test_every_module_imports():
    """The fast tier's floor: every module of the package at least imports (in this interpreter)."""
    import importlib

    names = sorted(n for n in graph() if not n.endswith("__main__"))
    assert [importlib.import_module(n).__name__ for n in names] == names
