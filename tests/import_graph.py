"""The plugin's imports read from its source (inside functions too), for the tests that hold their direction."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.sandbox_env import REPO

# What ships in the plugin and imports: tools/ and tests/ stand outside and may import anything.
NOT_PLUGIN = {"tests", "tools", "docs", "i18n", "resources", "dist", "build"}


def module_name(path: Path) -> str:
    """The module a file of the checkout is, as QGIS imports the plugin (`s2cloudmask.<...>`)."""
    return ".".join(["s2cloudmask", *path.relative_to(REPO).with_suffix("").parts])


def imported_modules(source: str, module: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import statement in `source`, the text of `module`, wherever in the
    text it stands; relative imports resolved."""
    package = module.split(".")[:-1]  # a package's own text is its module "<package>.__init__"
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            if node.module:
                found.append((node.lineno, ".".join([*base, node.module])))
            else:
                found += [(node.lineno, ".".join([*base, alias.name])) for alias in node.names]
    return found


def plugin_files() -> list[Path]:
    """Every Python file the plugin consists of."""
    return sorted(path for path in REPO.rglob("*.py")
                  if not path.relative_to(REPO).parts[0].startswith(".")
                  and path.relative_to(REPO).parts[0] not in NOT_PLUGIN)


def unit(module: str) -> str | None:
    """The part of the plugin a module belongs to, as the drawing in docs/architecture.md names them: a top-level
    module or package (`plugin`, `ui`, `packages`, ...), an engine room (`inference/masking`) or the engine's basics
    (`inference/`); None for what is not the plugin's."""
    parts = module.split(".")
    if parts[0] != "s2cloudmask" or len(parts) < 2:
        return None
    if parts[1] != "inference":
        return parts[1]
    room = parts[2] if len(parts) > 2 and (REPO / "inference" / parts[2]).is_dir() else ""
    return f"inference/{room}"


def unit_imports() -> dict[tuple[str, str], list[str]]:
    """(importing unit, imported unit) -> the places ("file:line") where one imports the other."""
    edges: dict[tuple[str, str], list[str]] = {}
    for path in plugin_files():
        module = module_name(path)
        here = unit(module)
        for line, name in imported_modules(path.read_text(encoding="utf-8"), module):
            there = unit(name)
            if there is not None and there != here:
                edges.setdefault((here, there), []).append(f"{path.relative_to(REPO)}:{line}")
    return edges
