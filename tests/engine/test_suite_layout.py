"""The suite's own shape: test modules share helpers through helper modules and fixtures through conftest files,
never by importing one another, so each module runs alone and in any order."""

from __future__ import annotations

import ast

from import_graph import imported_modules

from tests.sandbox_env import REPO

TESTS = REPO / "tests"


def imported_names(path) -> list[str]:
    return [name for _, name in imported_modules(path.read_text(encoding="utf-8"), "tests." + path.stem)]


def test_no_test_module_imports_another_or_a_conftest():
    modules = sorted(TESTS.rglob("test_*.py"))
    assert len(modules) >= 40
    offending = [f"{path.relative_to(REPO)} imports {name}" for path in modules for name in imported_names(path)
                 if name.split(".")[-1].startswith(("test_", "conftest"))]
    assert not offending, "\n".join(offending)


def is_fixture(node: ast.FunctionDef) -> bool:
    return any("fixture" in ast.unparse(decorator) for decorator in node.decorator_list)


def body(node: ast.FunctionDef) -> str:
    """The function's code without its docstring: what a copy would share."""
    statements = node.body[1:] if ast.get_docstring(node) else node.body
    return "\n".join(ast.unparse(statement) for statement in statements)


def test_every_helper_and_fixture_has_one_home():
    """A helper defined in two test files, or two fixtures with the same code, are copies waiting to drift apart.
    (Fixtures may share a name where each module means its own data by it.)"""
    homes: dict[str, list[tuple[str, ast.FunctionDef]]] = {}
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("test_"):
                homes.setdefault(node.name, []).append((str(path.relative_to(REPO)), node))
    copies = {}
    for name, places in homes.items():
        helpers = [file for file, node in places if not is_fixture(node)]
        fixtures = [body(node) for _, node in places if is_fixture(node)]
        if len(helpers) > 1 or len(fixtures) != len(set(fixtures)):
            copies[name] = [file for file, _ in places]
    assert not copies, copies
