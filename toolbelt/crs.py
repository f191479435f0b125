"""The one way the QGIS side turns a CRS the engine names (an authority code such as "EPSG:32629", or WKT) into
a QgsCoordinateReferenceSystem."""

from __future__ import annotations

from qgis.core import QgsCoordinateReferenceSystem


def qgis_crs(text: str) -> QgsCoordinateReferenceSystem:
    """An authority code or any definition QGIS reads; WKT that it does not read that way, as WKT."""
    crs = QgsCoordinateReferenceSystem(text)
    return crs if crs.isValid() else QgsCoordinateReferenceSystem.fromWkt(text)
