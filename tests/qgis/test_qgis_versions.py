"""The QGIS releases the plugin declares, and Qt 6 readiness as far as a QGIS built with Qt 5 can check it.

metadata.txt's range holds the QGIS this suite runs on (3.22 here, 3.40 and 3.44 in the Debian lanes).
Qt comes only through qgis.PyQt, and enum members are spelled with their enum's name
(`Qt.AlignmentFlag.AlignLeft`, `Qgis.MessageLevel.Warning`), the only spelling PyQt6 has and one that PyQt5
has too.

The check resolves every `Class.MEMBER` of the shipped code against the running QGIS: where MEMBER is an enum
member whose enum is not Class itself, the spelling lacks the enum's name.
"""

from __future__ import annotations

import ast
import configparser
import importlib
import warnings
from pathlib import Path

from qgis.core import Qgis

from tests.sandbox_env import REPO

SHIPPED = ("inference", "processing", "ui", "toolbelt", "trainer", "packages")
ENUM_METATYPES = {"enumtype", "EnumType", "EnumMeta", "sipEnumType"}


def python_files(*folders: str) -> list[Path]:
    files = [path for folder in folders for path in (REPO / folder).rglob("*.py")]
    return sorted(path for path in files if "__pycache__" not in path.parts)


def shipped_files() -> list[Path]:
    return python_files(*SHIPPED) + sorted(REPO.glob("*.py"))


def qgis_names(tree: ast.AST) -> dict[str, tuple[str, str]]:
    """Names imported from qgis.* modules: local name -> (module, name)."""
    return {
        alias.asname or alias.name: (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "qgis"
        for alias in node.names
    }


def unscoped_enum_members(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = qgis_names(tree)
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in names):
            continue
        module, name = names[node.value.id]
        try:
            owner = getattr(importlib.import_module(module), name)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                value = getattr(owner, node.attr)
        except (AttributeError, ImportError):
            continue  # a name this QGIS lacks is the business of the code that guards it
        enum = type(value)
        if type(enum).__name__ in ENUM_METATYPES and enum is not owner:
            found.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.value.id}.{node.attr} -> "
                         f"{node.value.id}.{enum.__name__}.{node.attr}")
    return found


def version_int(text: str) -> int:
    major, minor = (int(part) for part in text.split(".")[:2])
    return major * 10000 + minor * 100


def test_the_running_qgis_lies_in_the_range_metadata_declares():
    metadata = configparser.ConfigParser()
    metadata.read(REPO / "metadata.txt", encoding="utf-8")
    general = metadata["general"]
    running = Qgis.versionInt() // 100 * 100  # a bug-fix release counts as its release
    assert version_int(general["qgisMinimumVersion"]) <= running <= version_int(general["qgisMaximumVersion"])


def test_qt_is_imported_only_through_qgis_pyqt():
    direct = []
    for path in python_files(*SHIPPED, "tools", "tests") + sorted(REPO.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            modules = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                       else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            direct += [f"{path.relative_to(REPO)}:{node.lineno}: {module}" for module in modules
                       if module.split(".")[0] in ("PyQt5", "PyQt6", "sip")]
    assert not direct, "import these through qgis.PyQt:\n" + "\n".join(direct)


def test_enum_members_are_spelled_with_their_enum(qgis_app):
    found = [line for path in shipped_files() for line in unscoped_enum_members(path)]
    assert not found, "spell these with their enum (PyQt6 has no other spelling):\n" + "\n".join(found)
