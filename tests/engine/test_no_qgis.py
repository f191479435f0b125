"""The engine is plain Python: every module under inference/ imports in a process where qgis and PyQt cannot."""

from __future__ import annotations

import subprocess
import sys

from tests.sandbox_env import PACKAGE_ROOT, REPO

BLOCKER = """
import importlib, importlib.abc, pkgutil, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('qgis', 'PyQt5', 'PyQt6', 'sip'):
            raise ImportError(f'{name} is blocked: the engine must not import it')
sys.meta_path.insert(0, Block())
sys.path.insert(0, sys.argv[1])
import s2cloudmask.inference as engine
names = [m.name for m in pkgutil.walk_packages(engine.__path__, 's2cloudmask.inference.')]
for name in names:
    importlib.import_module(name)
loaded = sorted(n for n in sys.modules if n.split('.')[0] in ('qgis', 'PyQt5', 'PyQt6'))
assert not loaded, loaded
print(len(names))
"""


def test_every_engine_module_imports_with_qgis_and_pyqt_blocked():
    done = subprocess.run([sys.executable, "-c", BLOCKER, str(PACKAGE_ROOT)], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) >= 20
