"""A QGIS layer of training samples as the engine takes them: geometries in the product's CRS, with a class each."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeatureRequest,
    QgsGeometry,
    QgsProject,
    QgsWkbTypes,
)

from .. import inference
from ..inference.errors import SampleError
from .crs import qgis_crs

if TYPE_CHECKING:  # the sample rasteriser needs rasterio; this module must load without it
    from ..inference.reference.samples import Sample


def samples_from_features(features, source_crs: QgsCoordinateReferenceSystem, class_field: str,
                          target_crs: str, layer_name: str) -> list[Sample]:
    """Samples from QgsFeatures (a layer's or a Processing source's), reprojected to `target_crs` (any CRS text)."""
    transform = QgsCoordinateTransform(source_crs, qgis_crs(target_crs), QgsProject.instance())
    samples = []
    for feature in features:
        if class_field not in feature.fields().names():
            raise SampleError(f"{layer_name} has no field {class_field!r}; choose the field that holds the classes "
                              f"(fields: {', '.join(feature.fields().names())}).")
        geometry = QgsGeometry(feature.geometry())
        if geometry.isNull() or geometry.isEmpty():
            raise SampleError(f"Feature {feature.id()} of {layer_name} has no geometry; delete it or draw it again.")
        if QgsWkbTypes.geometryType(geometry.wkbType()) == QgsWkbTypes.GeometryType.LineGeometry:
            raise SampleError(f"{layer_name} holds lines; samples are points or polygons.")
        geometry.transform(transform)
        for part in geometry.asGeometryCollection() if geometry.isMultipart() and geometry.type() == QgsWkbTypes.GeometryType.PointGeometry else [geometry]:
            samples.append(inference.Sample(json.loads(part.asJson()), feature[class_field], feature.id()))
    return samples


def samples_from_layer(layer, class_field: str, target_crs: str) -> list[Sample]:
    return samples_from_features(layer.getFeatures(QgsFeatureRequest()), layer.crs(), class_field, target_crs,
                                 f"the layer {layer.name()}")
