"""`make batch PRODUCTS=<folder, glob or list file> OUT=<folder>`: mask many products on dask workers.

Run with QGIS's Python (/usr/bin/python3); the plugin's packages, dask among
them, come from its private dependency folder. Options: see --help
(inference/batch/cli.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # `tools` imports however this file was started
from tools.plugin_package import import_plugin_package  # noqa: E402


if __name__ == "__main__":
    import_plugin_package()
    from s2cloudmask.inference.batch.cli import main

    sys.exit(main())
