"""`make composite PRODUCTS=<folder, glob or list file> OUT=<composite.tif>`: a cloud-free composite.

Run with QGIS's Python (/usr/bin/python3); the plugin's packages come from its
private dependency folder. Options: see --help (inference/cleaning/cli.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # `tools` imports however this file was started
from tools.plugin_package import import_plugin_package  # noqa: E402


if __name__ == "__main__":
    import_plugin_package()
    from s2cloudmask.inference.cleaning.cli import main

    sys.exit(main())
