"""The plugin's look for its raster layers: one QML style per kind of layer.

The styles live as QML files in resources/styles so that a user can also load
them by hand (Layer Properties > Style > Load Style) and a maintainer can change
a colour without touching code. The Processing algorithms and the dock both
style their layers through these functions, so a mask looks the same whichever
door it came through.
"""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsMapLayer, QgsProject, QgsRasterLayer

from ..__about__ import STYLE_DIR

MASK_STYLE = STYLE_DIR / "mask.qml"
SCL_STYLE = STYLE_DIR / "scl.qml"
DIFFERENCE_STYLE = STYLE_DIR / "difference.qml"

MASK_LAYER_NAME = "Cloud mask"
SCL_LAYER_NAME = "Scene classification (SCL)"
DIFFERENCE_LAYER_NAME = "SCL difference"


class StyleError(RuntimeError):
    """A style file is missing or QGIS refused it: a broken installation, not a user mistake."""


def apply_style(layer: QgsRasterLayer, style: Path) -> None:
    """Load a QML file's symbology onto the layer and refresh its legend."""
    if not style.is_file():
        raise StyleError(f"The style file {style} is missing; reinstall the Sentinel-2 Cloud Mask plugin.")
    message, ok = layer.loadNamedStyle(str(style), QgsMapLayer.Symbology)
    if not ok:
        raise StyleError(f"QGIS could not apply the style {style} to {layer.name()}: {message}")
    layer.triggerRepaint()
    layer.emitStyleChanged()


def style_mask_layer(layer: QgsRasterLayer) -> None:
    """Clear / cloud shadow / semi-transparent cloud / cloud, in the plugin's palette."""
    apply_style(layer, MASK_STYLE)


def style_scl_layer(layer: QgsRasterLayer) -> None:
    """Sen2Cor's Scene Classification Layer in ESA's official colours and class names."""
    apply_style(layer, SCL_STYLE)


def style_difference_layer(layer: QgsRasterLayer) -> None:
    """Where the mask and SCL agree, disagree, or SCL's class is ambiguous."""
    apply_style(layer, DIFFERENCE_STYLE)


def add_styled_raster(path: str, name: str, style: Path, project: QgsProject | None = None) -> QgsRasterLayer:
    """Open a raster, style it and add it to the project (the dock's way of showing a result)."""
    layer = QgsRasterLayer(path, name, "gdal")
    if not layer.isValid():
        raise StyleError(f"QGIS could not open {path} as a raster layer.")
    apply_style(layer, style)
    (project or QgsProject.instance()).addMapLayer(layer)
    return layer
