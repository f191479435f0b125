"""The engine is plain Python and sits below the QGIS side: no module under inference/ imports qgis, PyQt, or the
plugin's QGIS glue (toolbelt/, ui/, processing/, plugin.py), neither at import time nor inside a function."""

from __future__ import annotations

import subprocess
import sys

from import_graph import imported_modules, module_name

from tests.sandbox_env import PACKAGE_ROOT, REPO

QT = ("qgis", "PyQt5", "PyQt6", "sip")
GLUE = ("toolbelt", "ui", "processing", "plugin")

BLOCKER = """
import importlib, importlib.abc, pkgutil, sys
QT, GLUE = %r, %r
def blocked(name):
    parts = name.split('.')
    return parts[0] in QT or (parts[0] == 's2cloudmask' and len(parts) > 1 and parts[1] in GLUE)
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if blocked(name):
            raise ImportError(f'{name} is blocked: the engine must not import it')
sys.meta_path.insert(0, Block())
sys.path.insert(0, sys.argv[1])
import s2cloudmask.inference as engine
names = [m.name for m in pkgutil.walk_packages(engine.__path__, 's2cloudmask.inference.')]
for name in names:
    importlib.import_module(name)
loaded = sorted(name for name in sys.modules if blocked(name))
assert not loaded, loaded
print(len(names))
""" % (QT, GLUE)


def is_forbidden(name: str) -> bool:
    parts = name.split(".")
    return parts[0] in QT or (parts[0] == "s2cloudmask" and len(parts) > 1 and parts[1] in GLUE)


def test_no_engine_module_names_qgis_pyqt_or_the_qgis_glue_anywhere():
    """Read from the source, so an import inside a function that no test runs is caught too."""
    files = sorted((REPO / "inference").rglob("*.py"))
    offending = []
    for path in files:
        module = module_name(path)
        offending += [f"{path.relative_to(REPO)}:{line} imports {name}"
                      for line, name in imported_modules(path.read_text(encoding="utf-8"), module)
                      if is_forbidden(name)]
    assert len(files) >= 60
    assert not offending, "\n".join(offending)


def test_the_source_check_resolves_relative_imports_and_finds_them_inside_functions():
    source = ("from ..errors import ModelError\nfrom ...packages.activation import activate\n"
              "def later():\n    from ...toolbelt.layers import style_mask_layer\n    from ... import ui\n")
    found = imported_modules(source, "s2cloudmask.inference.masking.session")
    assert [name for _, name in found] == ["s2cloudmask.inference.errors", "s2cloudmask.packages.activation",
                                           "s2cloudmask.toolbelt.layers", "s2cloudmask.ui"]
    assert [name for _, name in found if is_forbidden(name)] == ["s2cloudmask.toolbelt.layers", "s2cloudmask.ui"]
    assert is_forbidden("qgis.core") and is_forbidden("PyQt5.QtCore") and not is_forbidden("numpy")


def test_every_engine_module_imports_with_qgis_pyqt_and_the_glue_blocked():
    done = subprocess.run([sys.executable, "-c", BLOCKER, str(PACKAGE_ROOT)], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) >= 60


# The engine's rooms, bottom up: a module may import its own room and the rooms below it, never one above.
ROOM_LEVELS = {"": 0, "reading": 1, "masking": 2, "comparing": 2, "reference": 3, "training": 3, "batch": 3,
               "cleaning": 4}


def room_level(module: str) -> tuple[str, int]:
    """The engine room of a module (`""` for the shared basics at inference/'s top) and its level; rooms added
    later count as the top level."""
    parts = module.split(".")
    room = parts[2] if len(parts) > 3 else ""
    return room, ROOM_LEVELS.get(room, max(ROOM_LEVELS.values()))


def test_the_engines_rooms_import_downward_only():
    upward = []
    for path in sorted((REPO / "inference").rglob("*.py")):
        module = module_name(path)
        room, level = room_level(module)
        for line, name in imported_modules(path.read_text(encoding="utf-8"), module):
            if not name.startswith("s2cloudmask.inference."):
                continue
            other, other_level = room_level(name)
            if other != room and other_level >= level:
                upward.append(f"{path.relative_to(REPO)}:{line} ({room or 'basics'}) imports {name}")
    assert not upward, "\n".join(upward)
