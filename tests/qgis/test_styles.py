"""The plugin's layer styles: QML files that match inference.classes, applied as QGIS loads the outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
from osgeo import gdal
from qgis.core import QgsPalettedRasterRenderer, QgsProject, QgsRasterLayer
from qml_styles import qml_palette
from s2cloudmask.inference.classes import (
    CLASS_COLOURS,
    CLASS_NAMES,
    CLEAR,
    CLEAR_SHOWN_COLOUR,
    CLOUD,
    CLOUD_SHADOW,
    MASK_CODES,
    SCL_COLOURS,
    SCL_NAMES,
    SEMI_TRANSPARENT,
)
from s2cloudmask.inference.comparing import difference
from s2cloudmask.toolbelt import layers

from tests.real_product import WINDOW_EXTENT, scl_file


def renderer_classes(layer: QgsRasterLayer) -> dict[int, tuple[str, tuple[int, int, int, int]]]:
    renderer = layer.renderer()
    assert isinstance(renderer, QgsPalettedRasterRenderer)
    return {int(c.value): (c.label, c.color.getRgb()) for c in renderer.classes()}


def legend_labels(layer: QgsRasterLayer) -> list[str]:
    return [label for label, _colour in layer.renderer().legendSymbologyItems()]


def test_mask_style_has_the_class_palette():
    assert qml_palette(layers.MASK_STYLE) == {code: (CLASS_NAMES[code], CLASS_COLOURS[code]) for code in MASK_CODES}


def test_mask_palette_shows_the_image_under_clear_and_the_masked_classes_over_anything():
    palette = qml_palette(layers.MASK_STYLE)
    assert palette[CLEAR][1][3] == 0  # clear: see-through
    for code in (CLOUD_SHADOW, SEMI_TRANSPARENT, CLOUD):
        red, green, blue, alpha = palette[code][1]
        assert 128 <= alpha < 255  # readable over imagery, the image still faintly beneath
        # far from white (cloud tops, an empty canvas) and from black (shadowed ground): a saturated colour
        assert max(red, green, blue) - min(red, green, blue) >= 150, palette[code]


def test_mask_layer_offers_a_style_that_shows_clear(qgis_app, processing, real_l2a, tmp_path):  # noqa: F811
    output = processing.run("s2cloudmask:maskproduct", {"INPUT": str(real_l2a), "EXTENT": WINDOW_EXTENT,
                                                         "RESOLUTION": "60", "DEVICE": "cpu",
                                                         "OUTPUT": str(tmp_path / "mask.tif")})["OUTPUT"]
    unstyled = QgsRasterLayer(output, "as QGIS opens it", "gdal")  # the file's own colour table: codes 0-4 only
    assert sorted(renderer_classes(unstyled)) == [0, *MASK_CODES]
    layer = QgsRasterLayer(output, layers.MASK_LAYER_NAME, "gdal")
    layers.style_mask_layer(layer)
    manager = layer.styleManager()
    assert set(manager.styles()) == {layers.CLEAR_HIDDEN_STYLE, layers.CLEAR_SHOWN_STYLE}
    assert manager.currentStyle() == layers.CLEAR_HIDDEN_STYLE and renderer_classes(layer)[CLEAR][1][3] == 0
    manager.setCurrentStyle(layers.CLEAR_SHOWN_STYLE)
    assert renderer_classes(layer)[CLEAR][1] == CLEAR_SHOWN_COLOUR
    assert renderer_classes(layer)[CLOUD][1] == CLASS_COLOURS[CLOUD]


def test_scl_style_has_the_official_palette():
    assert qml_palette(layers.SCL_STYLE) == {code: (SCL_NAMES[code], SCL_COLOURS[code]) for code in range(1, 12)}


def test_difference_style_matches_the_comparison_codes():
    palette = qml_palette(layers.DIFFERENCE_STYLE)
    expected = {code: difference.DIFFERENCE_NAMES[code] for code in difference.DIFFERENCE_CODES}
    assert {code: label for code, (label, _colour) in palette.items()} == expected


@pytest.fixture
def scl_view(real_l2a, tmp_path) -> str:
    """The product's SCL through a VRT in tmp_path, as the dock shows it: QGIS's statistics land beside the VRT,
    never inside the product."""
    view = str(tmp_path / "scl.vrt")
    gdal.BuildVRT(view, [str(scl_file(real_l2a))]).FlushCache()
    return view


def test_scl_layer_styled_with_names(qgis_app, scl_view):
    layer = QgsRasterLayer(scl_view, "SCL", "gdal")
    assert layer.isValid()
    layers.style_scl_layer(layer)
    assert renderer_classes(layer) == {code: (SCL_NAMES[code], SCL_COLOURS[code]) for code in range(1, 12)}
    assert legend_labels(layer) == [SCL_NAMES[code] for code in range(1, 12)]


def test_missing_style_file_is_reported(qgis_app, scl_view, tmp_path):
    layer = QgsRasterLayer(scl_view, "SCL", "gdal")
    with pytest.raises(layers.StyleError, match="reinstall"):
        layers.apply_style(layer, tmp_path / "gone.qml")


@pytest.fixture
def clean_project(qgis_app):
    project = QgsProject.instance()
    project.removeAllMapLayers()
    yield project
    project.removeAllMapLayers()


def test_outputs_load_styled_and_named(processing, real_l2a, clean_project, tmp_path):  # noqa: F811
    """What a user sees after running from the toolbox: named layers with the plugin's legend in words."""
    mask_results = processing.runAndLoadResults(
        "s2cloudmask:maskproduct",
        {"INPUT": str(real_l2a), "EXTENT": WINDOW_EXTENT, "RESOLUTION": "60", "DEVICE": "cpu",
         "OUTPUT": str(tmp_path / "mask.tif")},
    )
    (mask_layer,) = clean_project.mapLayersByName(layers.MASK_LAYER_NAME)
    assert mask_layer.source() == mask_results["OUTPUT"]
    assert renderer_classes(mask_layer) == {code: (CLASS_NAMES[code], CLASS_COLOURS[code]) for code in MASK_CODES}
    assert legend_labels(mask_layer) == [CLASS_NAMES[code] for code in MASK_CODES]

    processing.runAndLoadResults(
        "s2cloudmask:comparescl",
        {"MASK": mask_results["OUTPUT"], "SCL": str(real_l2a), "OUTPUT": str(tmp_path / "difference.tif")},
    )
    (difference_layer,) = clean_project.mapLayersByName(layers.DIFFERENCE_LAYER_NAME)
    classes = renderer_classes(difference_layer)
    assert {code: label for code, (label, _) in classes.items()} == {
        code: difference.DIFFERENCE_NAMES[code] for code in difference.DIFFERENCE_CODES
    }
    assert {code: colour for code, (_, colour) in classes.items()} == {
        code: difference.DIFFERENCE_COLOURS[code] for code in difference.DIFFERENCE_CODES
    }
    assert "SCL ambiguous, mask clear" in legend_labels(difference_layer)
