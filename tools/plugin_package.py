"""The checkout imported as the package `s2cloudmask`, as QGIS imports the installed plugin.

The repository root is the plugin folder, so its modules use package-relative
imports; a tool started from a checkout links the checkout under
.cache/package-root/s2cloudmask and imports it from there.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE_ROOT = REPO / ".cache" / "package-root"


def import_plugin_package(first: str | None = None) -> None:
    """Make `import s2cloudmask` find this checkout (with its private dependencies active).

    `first`: a folder whose packages win over everything (another onnxruntime build, for the benchmark).
    """
    PACKAGE_ROOT.mkdir(parents=True, exist_ok=True)
    link = PACKAGE_ROOT / "s2cloudmask"
    if not link.exists():
        link.symlink_to(REPO, target_is_directory=True)
    for folder in (str(REPO), str(PACKAGE_ROOT)):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    from s2cloudmask.inference.gdal_mode import use_gdal_exceptions
    from s2cloudmask.packages.activation import activate

    activate()
    use_gdal_exceptions()  # a tool owns its process: GDAL's mode is chosen, not left to a warning
    if first:
        sys.path.insert(0, first)
