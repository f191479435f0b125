"""Spellings that hold on every QGIS the plugin is tested on (3.22 to 3.44) and with PyQt5 and PyQt6.

Where QGIS deprecated the spelling 3.22 knows, each picks the newer one when the
running QGIS has it, so the plugin's own code raises no deprecation warning on
any of them.
"""

from __future__ import annotations

from qgis.core import (
    Qgis,
    QgsField,
    QgsMapLayer,
    QgsMapLayerProxyModel,
    QgsMapLayerServerProperties,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsRasterRenderer,
)
from qgis.PyQt.QtCore import QMetaType, QVariant

# QgsField(name, QVariant.Type) is deprecated from 3.38 on, which takes a QMetaType.Type (PyQt6 has no QVariant.Type)
FIELD_TYPES_ARE_METATYPES = Qgis.versionInt() >= 33800


def field(name: str, kind: type) -> QgsField:
    """An attribute field of a Python type (int, float or str)."""
    if FIELD_TYPES_ARE_METATYPES:
        types = {int: QMetaType.Type.Int, float: QMetaType.Type.Double, str: QMetaType.Type.QString}
    else:
        types = {int: QVariant.Type.Int, float: QVariant.Type.Double, str: QVariant.Type.String}
    return QgsField(name, types[kind])


def renderer_band(renderer: QgsRasterRenderer) -> int:
    """The band a single-band renderer draws: inputBand() from 3.38 on, band() before (deprecated since)."""
    return renderer.inputBand() if hasattr(renderer, "inputBand") else renderer.band()


def field_names(algorithm: QgsProcessingAlgorithm, parameters: dict, name: str,
                context: QgsProcessingContext) -> list[str]:
    """A field parameter's field names: parameterAsStrings() from 3.32 on, parameterAsFields() before (deprecated
    since)."""
    if hasattr(algorithm, "parameterAsStrings"):
        return algorithm.parameterAsStrings(parameters, name, context)
    return algorithm.parameterAsFields(parameters, name, context)


# a layer's abstract (its tooltip in the Layers panel) lives in its server properties from 3.38 on, where
# QgsMapLayer.abstract() and setAbstract() are deprecated
ABSTRACT_IN_SERVER_PROPERTIES = hasattr(QgsMapLayerServerProperties, "setAbstract")


def abstract(layer: QgsMapLayer) -> str:
    return layer.serverProperties().abstract() if ABSTRACT_IN_SERVER_PROPERTIES else layer.abstract()


def set_abstract(layer: QgsMapLayer, text: str) -> None:
    if ABSTRACT_IN_SERVER_PROPERTIES:
        layer.serverProperties().setAbstract(text)
    else:
        layer.setAbstract(text)


def raster_layer_filter() -> object:
    """The layer filter for raster layers: Qgis.LayerFilter from 3.34 on, QgsMapLayerProxyModel.Filter before."""
    if hasattr(Qgis, "LayerFilter"):
        return Qgis.LayerFilter.RasterLayer
    return QgsMapLayerProxyModel.Filter.RasterLayer
