"""The plugin's look for its raster layers: one QML style per kind of layer.

The styles live as QML files in resources/styles so that a user can also load
them by hand (Layer Properties > Style > Load Style) and a maintainer can change
a colour without touching code. The Processing algorithms and the dock both
style their layers through these functions, so a mask looks the same whichever
door it came through.
"""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsContrastEnhancement,
    QgsMapLayer,
    QgsMultiBandColorRenderer,
    QgsPalettedRasterRenderer,
    QgsRasterLayer,
)
from qgis.PyQt.QtGui import QColor

from ..__about__ import STYLE_DIR
from ..inference.classes import CLEAR, CLEAR_SHOWN_COLOUR
from ..inference.defaults import TRUE_COLOUR_BANDS, TRUE_COLOUR_REFLECTANCE
from .compat import renderer_band

MASK_STYLE = STYLE_DIR / "mask.qml"
SCL_STYLE = STYLE_DIR / "scl.qml"
DIFFERENCE_STYLE = STYLE_DIR / "difference.qml"
CONFIDENCE_STYLE = STYLE_DIR / "confidence.qml"

MASK_LAYER_NAME = "Cloud mask"
SCL_LAYER_NAME = "Scene classification (SCL)"
DIFFERENCE_LAYER_NAME = "SCL difference"
REFERENCE_LAYER_NAME = "Reference mask"
CONFIDENCE_LAYER_NAME = "Reference confidence"
CLEAN_LAYER_NAME = "Clean bands"
COMPOSITE_LAYER_NAME = "Cloud-free composite"

# The mask layer's two styles (Layers panel > right-click > Styles): clear see-through, or clear in green.
CLEAR_HIDDEN_STYLE = "clear transparent"
CLEAR_SHOWN_STYLE = "clear shown"


class StyleError(RuntimeError):
    """A style file is missing or QGIS refused it: a broken installation, not a user mistake."""


def apply_style(layer: QgsRasterLayer, style: Path) -> None:
    """Load a QML file's symbology onto the layer and refresh its legend."""
    if not style.is_file():
        raise StyleError(f"The style file {style} is missing; reinstall the Sentinel-2 Cloud Mask plugin.")
    message, ok = layer.loadNamedStyle(str(style), QgsMapLayer.StyleCategory.Symbology)
    if not ok:
        raise StyleError(f"QGIS could not apply the style {style} to {layer.name()}: {message}")
    layer.triggerRepaint()
    layer.emitStyleChanged()


def style_mask_layer(layer: QgsRasterLayer) -> None:
    """Clear / cloud shadow / semi-transparent cloud / cloud, in the plugin's palette.

    The current style leaves clear transparent, so the image shows where it is
    usable; a second style of the layer, "clear shown", paints clear green, one
    click away in the Layers panel (right-click > Styles).
    """
    apply_style(layer, MASK_STYLE)
    manager = layer.styleManager()
    if CLEAR_SHOWN_STYLE in manager.styles():
        manager.removeStyle(CLEAR_SHOWN_STYLE)
    manager.renameStyle(manager.currentStyle(), CLEAR_HIDDEN_STYLE)
    hidden = layer.renderer().clone()
    classes = hidden.classes()
    for entry in classes:
        if int(entry.value) == CLEAR:
            entry.color = QColor(*CLEAR_SHOWN_COLOUR)
    layer.setRenderer(QgsPalettedRasterRenderer(layer.dataProvider(), renderer_band(hidden), classes))
    manager.addStyleFromLayer(CLEAR_SHOWN_STYLE)
    layer.setRenderer(hidden)
    manager.setCurrentStyle(CLEAR_HIDDEN_STYLE)
    layer.triggerRepaint()
    layer.emitStyleChanged()


def style_scl_layer(layer: QgsRasterLayer) -> None:
    """Sen2Cor's Scene Classification Layer in ESA's official colours and class names."""
    apply_style(layer, SCL_STYLE)


def style_difference_layer(layer: QgsRasterLayer) -> None:
    """Where the mask and SCL agree, disagree, or SCL's class is ambiguous."""
    apply_style(layer, DIFFERENCE_STYLE)


def style_confidence_layer(layer: QgsRasterLayer) -> None:
    """The reference's confidence in percent: red where the forest is unsure, green where it is sure."""
    apply_style(layer, CONFIDENCE_STYLE)


def style_rgb(layer: QgsRasterLayer, bands: tuple[int, int, int], minimum: float, maximum: float) -> None:
    """Red, green, blue from three bands (1-based), each stretched linearly from minimum to maximum."""
    provider = layer.dataProvider()
    renderer = QgsMultiBandColorRenderer(provider, *bands)
    enhancements = []
    for band in bands:
        enhancement = QgsContrastEnhancement(provider.dataType(band))
        enhancement.setContrastEnhancementAlgorithm(QgsContrastEnhancement.ContrastEnhancementAlgorithm.StretchToMinimumMaximum)
        enhancement.setMinimumValue(minimum)
        enhancement.setMaximumValue(maximum)
        enhancements.append(enhancement)
    renderer.setRedContrastEnhancement(enhancements[0])
    renderer.setGreenContrastEnhancement(enhancements[1])
    renderer.setBlueContrastEnhancement(enhancements[2])
    layer.setRenderer(renderer)
    layer.triggerRepaint()
    layer.emitStyleChanged()


def style_band_stack(layer: QgsRasterLayer) -> None:
    """A cleaned stack or a composite in true colour: B04, B03, B02 (found by their band descriptions) over the
    reflectance of ESA's TCI images. A stack of digital numbers looks the same: QGIS applies each band's scale
    and offset. A stack without those bands keeps QGIS's own look."""
    names = [layer.bandName(band) for band in range(1, layer.bandCount() + 1)]  # "Band 03: B04"
    numbers = []
    for wanted in TRUE_COLOUR_BANDS:
        found = [i for i, name in enumerate(names, start=1) if name == wanted or name.endswith(f": {wanted}")]
        if not found:
            return
        numbers.append(found[0])
    style_rgb(layer, tuple(numbers), *TRUE_COLOUR_REFLECTANCE)  # type: ignore[arg-type]
