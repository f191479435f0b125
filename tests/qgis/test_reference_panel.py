"""The dock's Reference tab in a real QGIS: marking points with the map tool, training rounds in the task manager,
the reference and its confidence on the map, jumping to suggestions, saving the samples, and bad samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from qgis.core import (
    Qgis,
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsPointXY,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsVectorLayer,
)
from qgis.gui import QgsMapMouseEvent
from qgis.PyQt.QtCore import QEvent, Qt
from s2cloudmask.inference.classes import MASK_CODES
from s2cloudmask.inference.errors import CloudMaskError
from s2cloudmask.toolbelt.preferences import PlgSettings
from s2cloudmask.ui.dock import CloudMaskDock
from s2cloudmask.ui.narrow import unbroken
from s2cloudmask.ui.reference_panel import JUMP_PIXELS, SAMPLE_LAYER_NAME, SUGGESTION_LAYER_NAME

from qt_events import wait_until


@pytest.fixture
def panel(qgis_iface, qgis_new_project, generated):
    PlgSettings.clear()
    dock = CloudMaskDock(qgis_iface)
    dock.set_product(str(generated[0]))
    dock.mainTabs.setCurrentWidget(dock.referenceScroll)
    canvas = qgis_iface.mapCanvas()
    canvas.window().resize(800, 700)
    canvas.window().show()  # the canvas takes its size (and its map scale) from resize events of a shown window
    QgsApplication.processEvents()
    canvas.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:32632"))
    xmin, ymax = generated[2].transform.c, generated[2].transform.f
    canvas.setExtent(QgsRectangle(xmin, ymax - 6000, xmin + 6000, ymax))
    yield dock.reference
    dock.reference.unload()
    wait_until(lambda: dock.reference.task is None)
    dock.deleteLater()
    PlgSettings.clear()


def mark(panel, generated, per_class: int, seed: int) -> None:
    """Samples drawn from the truth, added as the map tool adds them: one click on the canvas each."""
    _, truth, grid, _ = generated
    canvas = panel.canvas
    panel.markButton.setChecked(True)
    assert canvas.mapTool() is panel.tool
    assert canvas.mapUnitsPerPixel() <= 20  # a screen pixel is a third of a product pixel or less
    rng = np.random.default_rng(seed)
    for code in MASK_CODES:
        panel.classCombo.setCurrentIndex(panel.classCombo.findData(code))
        inner = np.zeros_like(truth, bool)
        inner[2:-2, 2:-2] = True  # a click lands on a screen pixel: keep clear of the product's edge
        rows, cols = np.nonzero((truth == code) & inner)
        for i in rng.choice(rows.size, per_class, replace=False):
            x, y = grid.map_xy(cols[i] + 0.5, rows[i] + 0.5)
            pixel = canvas.getCoordinateTransform().transform(QgsPointXY(x, y))
            event = QgsMapMouseEvent(canvas, QEvent.MouseButtonPress, pixel.toQPointF().toPoint(), Qt.LeftButton)
            panel.tool.canvasPressEvent(event)
    panel.markButton.setChecked(False)
    assert canvas.mapTool() is not panel.tool


def train(panel) -> object:
    finished = []
    panel.roundFinished.connect(finished.append)
    panel.roundFailed.connect(finished.append)
    panel.train()
    wait_until(lambda: finished and panel.task is None)
    return finished[-1]


def layer_names() -> list[str]:
    return sorted(layer.name() for layer in QgsProject.instance().mapLayers().values())


def test_clicks_train_a_reference_that_shows_on_the_map(panel, generated):
    mark(panel, generated, per_class=15, seed=1)
    assert panel.counts() == {code: 15 for code in MASK_CODES}
    assert "cloud shadow 15" in panel.countsLabel.text()
    result = train(panel)
    assert not isinstance(result, str), result
    assert result.cross_validation is not None
    assert set(result.samples_per_class) == set(MASK_CODES) and min(result.samples_per_class.values()) >= 13
    number = panel.round  # rounds go on from the files an earlier session left beside the scene
    cv = result.cross_validation
    assert unbroken(panel.statusLabel.text()).startswith(
        f"Round {number}: cross-validated overall accuracy {100 * cv['overall_accuracy']:.1f} %, balanced accuracy "
        f"{100 * cv['balanced_accuracy']:.1f} %, Cohen's kappa {cv['kappa']:.2f}")  # shares in percent, as the dock's
    assert panel.suggestionList.item(0).text() == f"1. confidence {100 * result.suggestions[0].confidence:.0f} %"
    # the round's files lie beside the scene, named after it, never in the temp folder where they would vanish
    scene_folder, scene_id = generated[0].parent, generated[0].name.removesuffix(".SAFE")
    assert Path(result.output) == scene_folder / f"{scene_id}_reference_round{number}.tif"
    assert Path(result.confidence) == scene_folder / f"{scene_id}_reference_round{number}_confidence.tif"
    shown = [Path(layer.source()) for layer in QgsProject.instance().mapLayers().values()
             if isinstance(layer, QgsRasterLayer)]
    assert shown and all(path.parent == scene_folder for path in shown)
    assert layer_names() == sorted([SAMPLE_LAYER_NAME, SUGGESTION_LAYER_NAME, f"Reference mask (round {number})",
                                    f"Reference confidence (round {number})", "True colour (32UPC)"])
    tree = QgsProject.instance().layerTreeRoot()
    assert tree.children()[-1].name() == "True colour (32UPC)"  # the scene under everything
    confidence = next(n for n in tree.findLayers() if n.name().startswith("Reference confidence"))
    assert not confidence.isVisible()  # shown on request
    with rasterio.open(result.output) as dataset:
        mask = dataset.read(1)
    truth = generated[1]
    assert np.mean(mask[truth > 0] == truth[truth > 0]) > 0.7
    assert panel.suggestionList.count() == len(result.suggestions) > 0
    top = QgsProject.instance().layerTreeRoot().children()[0]
    assert top.name() == SAMPLE_LAYER_NAME  # the samples stay on top of the new layers


def test_a_suggestion_centres_the_map_and_a_second_round_replaces_the_first(panel, generated):
    mark(panel, generated, per_class=12, seed=2)
    first = train(panel)
    number = panel.round
    panel.suggestionList.setCurrentRow(0)
    centre = panel.canvas.extent().center()
    assert (centre.x(), centre.y()) == pytest.approx((first.suggestions[0].x, first.suggestions[0].y), abs=1.0)
    assert panel.canvas.extent().width() == pytest.approx(JUMP_PIXELS * 60, rel=0.05)
    panel.classCombo.setCurrentIndex(panel.classCombo.findData(4))
    panel.add_sample(QgsPointXY(first.suggestions[0].x, first.suggestions[0].y), QgsCoordinateReferenceSystem("EPSG:32632"))
    assert panel.counts()[4] == 13
    train(panel)
    assert panel.round == number + 1
    assert f"Reference mask (round {number + 1})" in layer_names() and f"Reference mask (round {number})" not in layer_names()
    assert layer_names().count(SUGGESTION_LAYER_NAME) == 1


def test_samples_are_saved_to_a_geopackage(panel, generated, tmp_path):
    mark(panel, generated, per_class=2, seed=3)
    panel.remove_last()
    written = panel.save_samples(str(tmp_path / "samples.gpkg"))
    saved = QgsVectorLayer(written, "saved", "ogr")
    assert saved.isValid() and saved.featureCount() == 7
    assert sorted(f["class"] for f in saved.getFeatures()) == [1, 1, 2, 2, 3, 3, 4]
    assert saved.crs().authid() == "EPSG:32632"
    assert panel.output_folder() == tmp_path  # the next rounds go beside the saved samples


def test_the_reference_is_saved_where_the_user_says_and_the_map_reads_the_copy(panel, generated, tmp_path):
    mark(panel, generated, per_class=12, seed=5)
    result = train(panel)
    assert panel.saveReferenceButton.isEnabled()
    reference, confidence = panel.save_reference(str(tmp_path / "lake_reference"))
    assert reference == str(tmp_path / "lake_reference.tif") and confidence == str(tmp_path / "lake_reference_confidence.tif")
    with rasterio.open(reference) as saved, rasterio.open(result.output) as original:
        assert np.array_equal(saved.read(1), original.read(1)) and saved.crs == original.crs
    layers = {layer.name(): layer for layer in QgsProject.instance().mapLayers().values()}
    mask_layer = layers[f"Reference mask (round {panel.round})"]
    confidence_layer = layers[f"Reference confidence (round {panel.round})"]
    assert (mask_layer.source(), confidence_layer.source()) == (reference, confidence)
    assert mask_layer.isValid() and mask_layer.renderer().type() == "paletted"  # the style stays
    with pytest.raises(CloudMaskError, match="itself"):  # a round's own file is not a place to save it
        panel.save_reference(result.output)
    mark(panel, generated, per_class=1, seed=6)
    train(panel)
    assert Path(panel.result.output).parent == tmp_path  # the next rounds go where the user saved


def test_samples_outside_the_scene_are_listed_and_dropped_in_one_click(panel, generated):
    mark(panel, generated, per_class=12, seed=7)
    _, _, grid, _ = generated
    xmin, ymax = grid.transform.c, grid.transform.f
    crs = QgsCoordinateReferenceSystem("EPSG:32632")
    panel.add_sample(QgsPointXY(xmin - 2 * 60.0 + 10.0, ymax - 300.0), crs, 4)  # 2 px left of the scene
    panel.add_sample(QgsPointXY(xmin + 300.0, ymax + 90.0), crs, 1)  # above it
    message = train(panel)
    assert isinstance(message, str) and "2 of 50 samples lie outside" in message
    listed = unbroken(panel.outsideLabel.text())
    assert panel.outsideLabel.isVisibleTo(panel) and panel.dropButton.isVisibleTo(panel)
    outside = sorted(panel.outside)
    assert listed.startswith("Outside the scene: ") and len(outside) == 2
    assert f"feature {outside[0]} (cloud)" in listed and f"feature {outside[1]} (clear)" in listed
    assert panel.dropButton.text() == "Drop these 2 samples"
    panel.dropButton.click()
    assert sum(panel.counts().values()) == 48 and not panel.dropButton.isVisibleTo(panel)
    assert not any(feature.id() in outside for feature in panel.samples.getFeatures())
    assert not isinstance(train(panel), str)  # the next round runs on what is left


def test_too_few_samples_are_explained_and_nothing_is_added(panel, generated, qgis_iface):
    mark(panel, generated, per_class=3, seed=4)
    message = train(panel)
    assert "too few samples in a class" in message and "at least 10" in message
    assert "too few samples" in panel.statusLabel.text()
    assert any("too few samples" in m for m in qgis_iface.messageBar().get_messages(Qgis.Warning))
    assert layer_names() == [SAMPLE_LAYER_NAME, "True colour (32UPC)"]
