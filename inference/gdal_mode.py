"""GDAL's error mode, chosen explicitly wherever the plugin's own code owns the process, which is outside QGIS.

GDAL 3.9 and later warn (a FutureWarning) when a process calls GDAL before
choosing between exceptions and return codes, and GDAL 4 raises by default.
The tools, `python -m s2cloudmask.inference.batch` and `.cleaning` and the
batch runner's workers own their process and choose exceptions. Inside QGIS the mode is
QGIS's own (its Processing turns exceptions on from 3.40; 3.22 leaves them
off), so the plugin never sets it there, and the engine is right in both modes.
"""

from __future__ import annotations


def use_gdal_exceptions() -> None:
    from osgeo import gdal  # the engine's GDAL; importing this module needs none

    gdal.UseExceptions()
