"""The shape the code keeps: modules and functions small enough to read, a top level
that holds only what the whole app shares, and use cases that never ask which
database they run on (the writers are chosen once, where the app is built)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).parents[2] / "src" / "boxoffice"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
MAX_TOP_LEVEL_MODULES = 12
# What tells a use case which database it runs on.
BACKEND_NAMES = {"is_sqlite", "modifying_with", "dialect"}


def _modules() -> list[Path]:
    return [p for p in SRC.rglob("*.py") if "migrations" not in p.relative_to(SRC).parts]


def _too_long_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [
        f"{path.name}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]


def _backend_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    found |= {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    return found & BACKEND_NAMES


def test_no_module_is_longer_than_the_limit() -> None:
    long = [
        f"{p.relative_to(SRC)} ({n})"
        for p in _modules()
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert long == []


def test_no_function_is_longer_than_the_limit() -> None:
    assert [f for p in _modules() for f in _too_long_functions(p)] == []


def test_the_top_level_holds_few_modules() -> None:
    top = sorted(p.name for p in SRC.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


def test_no_use_case_asks_which_database_it_runs_on() -> None:
    asking = {
        str(p.relative_to(SRC)): names
        for p in SRC.glob("*/service.py")
        if (names := _backend_names(p))
    }
    assert asking == {}


def test_the_checks_see_what_they_look_for(tmp_path: Path) -> None:
    """Control: each check finds what it forbids when it is there."""
    long_function = tmp_path / "long.py"
    body = "\n".join(f"    x{n} = {n}" for n in range(MAX_FUNCTION_LINES))
    long_function.write_text(f"def f() -> None:\n{body}\n")
    asking = tmp_path / "service.py"
    asking.write_text("def f(db):\n    return db.is_sqlite\n")
    assert _too_long_functions(long_function) == ["long.py:f (61 lines)"]
    assert _backend_names(asking) == {"is_sqlite"}
