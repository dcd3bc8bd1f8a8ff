"""The sandbox stays apart from the product: standard library only, no product imports.

The sandbox plays the upstream that reviewer's client talks to. If it shared code with the
product, a bug in that code could hide on both sides of the wire; and it must run wherever the
project's Python runs, without the product's dependencies. These checks read the source with
``ast``, so they also cover modules no test happens to import.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from sandbox import scenarios

SANDBOX = Path(__file__).resolve().parent.parent / "sandbox"
SOURCES = sorted(SANDBOX.rglob("*.py"))


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """``(line, top-level module)`` of every absolute import in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.partition(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.partition(".")[0]))
    return found


def test_the_sandbox_has_sources_to_check() -> None:
    assert {"server.py", "app.py", "data.py", "scenarios.py"} <= {p.name for p in SOURCES}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SANDBOX)))
def test_the_sandbox_imports_nothing_from_the_product(path: Path) -> None:
    product = [f"line {line}" for line, module in imported_modules(path) if module == "reviewer"]
    assert not product, f"{path.name} imports reviewer ({', '.join(product)})"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SANDBOX)))
def test_the_sandbox_uses_the_standard_library_only(path: Path) -> None:
    allowed = set(sys.stdlib_module_names) | {"__future__", "sandbox"}
    foreign = [
        f"{module} (line {line})"
        for line, module in imported_modules(path)
        if module not in allowed
    ]
    assert not foreign, f"{path.name} imports {', '.join(foreign)}"


def test_the_import_check_sees_product_and_third_party_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import json\nfrom reviewer.models import Organization\n"
        "def f():\n    import requests.adapters\n    from . import data\n"
    )
    assert imported_modules(sample) == [(1, "json"), (2, "reviewer"), (4, "requests")]


def test_every_scenario_loads_from_its_files() -> None:
    assert scenarios.names() == ["inv", "pay", "rate", "san"]
    for name in scenarios.names():
        scenario = scenarios.load(name)
        assert scenario.files and scenario.creates and scenario.brief.startswith("## ")
        assert all(scenario.responses[phase] for phase in scenario.prompts)


def test_example_repository_files_are_named_as_data() -> None:
    # Linters and the duplicate scanner go by file endings: the example repositories' code must
    # not look like the project's own.
    example_files = [
        path
        for name in scenarios.names()
        for part in ("repo", "created")
        for path in (SANDBOX / "scenarios" / name / part).rglob("*")
        if path.is_file()
    ]
    assert example_files
    assert [str(path) for path in example_files if path.suffix != ".txt"] == []
