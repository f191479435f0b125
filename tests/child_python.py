"""A child Python as the plugin meets it: QGIS's own interpreter, with a chosen PYTHONPATH and dependency root."""

from __future__ import annotations

import os
from pathlib import Path

QGIS_PYTHON = "/usr/bin/python3"  # QGIS's own Python, the one the plugin's installer runs


def plugin_env(python_path: list[Path], deps_root: Path | None) -> dict[str, str]:
    """The environment of a child Python that sees `python_path` and, if given, the dependency root."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "S2CLOUDMASK_DEPS_ROOT")}
    env["PYTHONPATH"] = os.pathsep.join(str(path) for path in python_path)
    if deps_root is not None:
        env["S2CLOUDMASK_DEPS_ROOT"] = str(deps_root)
    return env
