"""The product's layout stays as the README's architecture table describes it: one job per
module, so no module past 500 lines and no import circle between modules. Read with ``ast``,
so modules no test imports are covered too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PRODUCT = Path(__file__).resolve().parent.parent / "reviewer"
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PRODUCT.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        parts = path.relative_to(PRODUCT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """Product modules a file imports at module level (imports inside functions are the
    documented way to break a cycle and are not counted)."""
    found = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found & MODULES.keys()


@pytest.mark.parametrize("name", sorted(MODULES), ids=str)
def test_no_module_grows_past_500_lines(name: str) -> None:
    lines = MODULES[name].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{name} has {lines} lines: split it by responsibility"


def test_no_import_circle() -> None:
    graph = {name: _imports(path) - {name} for name, path in MODULES.items()}
    state: dict[str, int] = {}
    trail: list[str] = []
    circles: list[list[str]] = []

    def visit(name: str) -> None:
        state[name] = 1
        trail.append(name)
        for other in sorted(graph[name]):
            if state.get(other) == 1:
                circles.append([*trail[trail.index(other) :], other])
            elif other not in state:
                visit(other)
        trail.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)
    assert not circles, [" -> ".join(c) for c in circles]


def test_the_import_reading_sees_product_modules() -> None:
    assert "reviewer.cache" in _imports(PRODUCT / "fragments.py")
