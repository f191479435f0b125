"""Loaded with `-p tests.sandbox_env` (pytest.ini) so it runs before pytest-qgis starts QGIS.

It gives the whole test session a throw-away HOME and QGIS profile (never the
user's own settings), headless Qt unless a display is asked for, and the
repository importable as the package `s2cloudmask`, as QGIS imports it once
installed, with the plugin's private dependency folder activated the way the
plugin activates it inside QGIS. That folder is the checkout's development
folder (.deps, filled by `make setup`), named through $S2CLOUDMASK_DEPS_ROOT so
that every QGIS and Python the tests start finds the same one and none of them
touches the user's own QGIS settings.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SANDBOX = Path(tempfile.mkdtemp(prefix="s2cloudmask-tests-"))
atexit.register(shutil.rmtree, SANDBOX, ignore_errors=True)
HOME = SANDBOX / "home"
PROFILE_ROOT = SANDBOX / "qgis-profiles"
PACKAGE_ROOT = SANDBOX / "packages"

# the user's own cache folder, kept: pip's download cache, and wheels the tests fetch, are then downloaded once
USER_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
os.environ.setdefault("PIP_CACHE_DIR", str(USER_CACHE / "pip"))
HOME.mkdir(parents=True)
PROFILE_ROOT.mkdir()
PACKAGE_ROOT.mkdir()
os.environ["HOME"] = str(HOME)
os.environ["XDG_CONFIG_HOME"] = str(HOME / ".config")
os.environ["XDG_DATA_HOME"] = str(HOME / ".local" / "share")
os.environ["XDG_RUNTIME_DIR"] = str(SANDBOX / "runtime")
(SANDBOX / "runtime").mkdir(mode=0o700)
os.environ["QGIS_CUSTOM_CONFIG_PATH"] = str(PROFILE_ROOT)
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("S2CLOUDMASK_DEPS_ROOT", str(REPO / ".deps"))

(PACKAGE_ROOT / "s2cloudmask").symlink_to(REPO, target_is_directory=True)
sys.path.insert(0, str(PACKAGE_ROOT))

from s2cloudmask.packages.activation import activate  # noqa: E402

activate()
