"""`make batch PRODUCTS=<folder, glob or list file> OUT=<folder>`: mask many products on dask workers.

Run with QGIS's Python (/usr/bin/python3); the plugin's packages, dask among
them, come from its private dependency folder. Options: see --help
(inference/batch/cli.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _import_plugin_package() -> None:
    """Import the repository as the package `s2cloudmask`, as QGIS does, with its private dependencies."""
    package_root = REPO / ".cache" / "package-root"
    package_root.mkdir(parents=True, exist_ok=True)
    link = package_root / "s2cloudmask"
    if not link.exists():
        link.symlink_to(REPO, target_is_directory=True)
    sys.path.insert(0, str(package_root))
    from s2cloudmask.toolbelt import dependencies

    dependencies.activate()


if __name__ == "__main__":
    _import_plugin_package()
    from s2cloudmask.inference.batch.cli import main

    sys.exit(main())
