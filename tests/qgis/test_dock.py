"""The dock widget driven as an analyst drives it, in a real QGIS, on the real T29UNU product."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import onnxruntime
import pytest
from osgeo import gdal
from qgis.core import (
    Qgis,
    QgsApplication,
    QgsCoordinateTransform,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
)
from qgis.PyQt.QtCore import QMimeData, QPoint, Qt, QUrl
from qgis.PyQt.QtGui import QDragEnterEvent, QDropEvent
from qgis.PyQt.QtWidgets import QApplication, QLabel, QMessageBox
from s2cloudmask.__about__ import PLUGIN_NAME
from s2cloudmask.inference.classes import CLASS_NAMES, MASK_CODES, SCL_NAMES
from s2cloudmask.toolbelt.preferences import PlgSettings
from s2cloudmask.ui import folders
from s2cloudmask.ui.dock import SOURCES, CloudMaskDock, default_output, guess_bands
from s2cloudmask.ui.narrow import unbroken
from s2cloudmask.ui.results import run_settings
from s2cloudmask.ui.task import RunRequest

from dock_helpers import (
    UTM29,
    WINDOW,
    answer_next_question,
    choose_window,
    clipped_labels,
    messages,
    scrolls_sideways,
    settle,
)
from qt_events import wait_until

R60 = "GRANULE/L2A_T29UNU_A038058_20221005T115407/IMG_DATA/R60m/T29UNU_20221005T115411_{}_60m.jp2"
PRODUCT_ID = "S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454"


@pytest.fixture
def dock(qgis_iface, qgis_new_project):
    PlgSettings.clear()
    widget = CloudMaskDock(qgis_iface)
    yield widget
    if widget.task is not None:
        widget.cancel()
        wait_until(lambda: widget.task is None)
    widget.deleteLater()
    PlgSettings.clear()


@pytest.fixture
def read_only_product_folder(monkeypatch, real_l2a: Path) -> None:
    """The product's folder refuses outputs, as a read-only data folder does, whatever the mode bits the copy
    of ../shared/data on this machine has (the tests never write there)."""
    refused = real_l2a.parent.resolve()
    accepts = folders.accepts_output
    monkeypatch.setattr(folders, "accepts_output",
                        lambda folder: folder is not None and Path(folder).resolve() != refused and accepts(folder))


@pytest.fixture
def log_messages():
    received: list[tuple[str, str, int]] = []

    def record(message: str, tag: str, level: int) -> None:
        received.append((message, tag, level))

    QgsApplication.messageLog().messageReceived.connect(record)
    yield received
    QgsApplication.messageLog().messageReceived.disconnect(record)


def palette_labels(layer: QgsRasterLayer) -> dict[int, str]:
    renderer = layer.renderer()
    assert renderer.type() == "paletted", f"{layer.name()} is drawn as {renderer.type()}"
    return {int(entry.value): entry.label for entry in renderer.classes()}


def test_device_list_holds_only_providers_this_onnxruntime_has(dock: CloudMaskDock) -> None:
    values = [dock.deviceCombo.itemData(i) for i in range(dock.deviceCombo.count())]
    labels = " ".join(dock.deviceCombo.itemText(i) for i in range(dock.deviceCombo.count()))
    gpus = {"CUDAExecutionProvider": "CUDA", "DmlExecutionProvider": "DirectML", "CoreMLExecutionProvider": "CoreML"}
    available = [name for provider, name in gpus.items() if provider in onnxruntime.get_available_providers()]
    assert values[:2] == ["auto", "cpu"]
    assert ("gpu" in values) == bool(available)
    for provider, name in gpus.items():
        assert (name in labels) == (name in available)


def test_choosing_a_product_describes_it_and_follows_it_with_resolution_extent_output_and_scl(
    dock: CloudMaskDock, real_l2a: Path, tmp_path: Path, read_only_product_folder
) -> None:
    PlgSettings.set(replace(PlgSettings.get(), output_folder=str(tmp_path)))
    dock.set_product(str(real_l2a / "MTD_MSIL2A.xml"))
    info = dock.productInfoLabel.text()
    assert "L2A" in info and "29UNU" in info and "2022-10-05" in info and "60 m" in info
    assert dock.resolutionCombo.currentData() == 60  # the product's bands are all 60 m: a finer grid adds no detail
    assert dock.extentWidget.originalCrs().authid() == "EPSG:32629"
    assert dock.extentWidget.originalExtent().contains(QgsRectangle(*WINDOW))
    assert not dock.extentGroupBox.isChecked()  # choosing a product never ticks the extent
    output = Path(dock.outputFileWidget.filePath())
    # the product's folder is read-only: the default goes to the folder used last, never the temp folder
    assert output == tmp_path / f"{PRODUCT_ID}_cloudmask.tif"
    assert [dock.sclModeCombo.itemData(i) for i in range(dock.sclModeCombo.count())] == ["product", "file", "none"]
    assert dock.sclModeCombo.currentData() == "product" and not dock.sclFileWidget.isEnabled()


def test_default_output_goes_beside_the_product_else_the_remembered_folder_never_the_temp_folder(tmp_path: Path) -> None:
    beside, remembered, home = tmp_path / "products", tmp_path / "masks", tmp_path / "project"
    for folder in (beside, remembered, home):
        folder.mkdir()
    assert default_output("P", beside, str(remembered), str(home)) == str(beside / "P_cloudmask.tif")
    (beside / "P_cloudmask_scl_report.html").write_text("an earlier run")
    assert default_output("P", beside, str(remembered), str(home)) == str(beside / "P_cloudmask_2.tif")
    beside.chmod(0o555)
    try:
        assert default_output("P", beside, str(remembered), str(home)) == str(remembered / "P_cloudmask.tif")
        assert default_output("P", beside, "", str(home)) == str(home / "P_cloudmask.tif")
        assert default_output("P", beside, "", "") == ""
    finally:
        beside.chmod(0o755)


@pytest.mark.parametrize("width", [320, 360])
def test_the_form_fits_a_docked_panel_without_sideways_scrolling(dock: CloudMaskDock, real_l2a: Path, width: int) -> None:
    dock.resize(width, 700)
    dock.show()
    assert not scrolls_sideways(dock.settingsScroll)
    dock.set_product(str(real_l2a))
    dock.set_product(str(real_l2a.parent / ("S2A_MSIL2A_" + "long_name_without_spaces_" * 6 + ".SAFE")))
    assert dock.product is None and dock.product_error  # a long path in the message wraps, it does not widen
    assert not scrolls_sideways(dock.settingsScroll)
    dock.sourceCombo.setCurrentIndex(dock.sourceCombo.findData("raster"))
    assert not scrolls_sideways(dock.settingsScroll)
    # no tab may hold the panel wider than that: every page fits the width the dock really has
    dock.resize(width, 700)
    settle()
    assert dock.width() == width
    for index in range(dock.mainTabs.count()):
        page = dock.mainTabs.widget(index)
        assert page.minimumSizeHint().width() <= dock.mainTabs.width(), dock.mainTabs.tabText(index)
    dock.hide()


def test_a_product_dropped_on_the_dock_is_taken_and_other_files_are_refused(dock: CloudMaskDock, real_l2a: Path, tmp_path: Path) -> None:
    def drag(path: Path) -> tuple[QDragEnterEvent, QMimeData]:
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(path))])
        event = QDragEnterEvent(QPoint(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
        dock.dragEnterEvent(event)
        return event, mime

    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a product")
    event, _ = drag(text_file)
    assert not event.isAccepted()

    dock.sourceCombo.setCurrentIndex(dock.sourceCombo.findData("raster"))
    event, mime = drag(real_l2a)
    assert event.isAccepted()
    dock.dropEvent(QDropEvent(QPoint(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier))
    assert dock.sourceCombo.currentData() == "product"
    assert dock.productEdit.text() == str(real_l2a)
    assert dock.product is not None and dock.product.product_id == PRODUCT_ID


def test_slips_are_told_in_the_order_of_the_form_as_information_not_alarms(
    dock: CloudMaskDock, qgis_iface, tmp_path: Path, log_messages
) -> None:
    dock.outputFileWidget.setFilePath("")
    dock.run()  # nothing chosen at all: the product is asked for first, not the output
    assert dock.task is None
    assert any("Choose a Sentinel-2 product" in text for text in messages(qgis_iface, Qgis.Info))

    not_a_product = tmp_path / "S2A_MSIL2A_nothing.SAFE"
    not_a_product.mkdir()
    dock.set_product(str(not_a_product))
    assert str(not_a_product) in dock.productInfoLabel.toolTip()
    dock.run()
    assert dock.task is None
    assert any(str(not_a_product) in text for text in messages(qgis_iface, Qgis.Info))
    assert not messages(qgis_iface, Qgis.Critical)
    logged = [(text, level) for text, tag, level in log_messages if tag == PLUGIN_NAME and str(not_a_product) in text]
    assert logged and all(level == Qgis.Info for _text, level in logged)
    assert list(tmp_path.iterdir()) == [not_a_product]


def test_messages_name_what_the_dock_offers_and_what_a_file_is(
    dock: CloudMaskDock, qgis_iface, real_l2a: Path, tmp_path: Path
) -> None:
    band_stack = tmp_path / "stack.txt"  # any file that is not a product: the message points to the raster door
    band_stack.write_text("B02 B03 B04 B08\n")
    dock.set_product(str(band_stack))
    raster_door = dict(SOURCES)["raster"]
    assert f"'{raster_door}' in the dock" in unbroken(dock.productInfoLabel.text())
    assert "'Mask raster'" in dock.product_error  # and the algorithm, for Processing's users

    text_model = tmp_path / "ireland.onnx"  # a web page saved under a model's name
    text_model.write_text("<!DOCTYPE html><html><body>Sign in to download the model</body></html>\n")
    dock.set_product(str(real_l2a))
    dock.modelFileWidget.setFilePath(str(text_model))
    dock.outputFileWidget.setFilePath(str(tmp_path / "mask.tif"))
    dock.run()
    assert dock.task is None
    told = [text for text in messages(qgis_iface, Qgis.Info) if str(text_model) in text]
    assert told and "is a text file" in told[-1] and "exported for ONNX Runtime" in told[-1]
    assert not any("ONNXRuntimeError" in text for text in told)


def test_run_on_a_window_adds_a_styled_group_and_fills_the_results(
    dock: CloudMaskDock, qgis_iface, real_l2a: Path, tmp_path: Path, log_messages, read_only_product_folder
) -> None:
    output = tmp_path / "mask.tif"
    choose_window(dock, real_l2a, output)
    dock.resize(320, 700)
    dock.show()
    dock.runButton.click()

    assert f"Cloud mask: {PRODUCT_ID}" in [task.description() for task in QgsApplication.taskManager().tasks()]
    assert not dock.runButton.isEnabled() and "Wait for it" in dock.runButton.toolTip()
    assert dock.cancelButton.isEnabled()
    dock.run()  # a second run while one is going is refused, politely
    assert any("being made" in text for text in messages(qgis_iface, Qgis.Info))
    wait_until(lambda: dock.task is None)
    assert not messages(qgis_iface, Qgis.Critical), messages(qgis_iface, Qgis.Critical)
    assert dock.runButton.isEnabled() and not dock.cancelButton.isEnabled()
    assert dock.progressBar.value() == 100

    group = QgsProject.instance().layerTreeRoot().findGroup(PRODUCT_ID)
    assert group is not None
    names = [node.name() for node in group.children()]
    assert names == ["Cloud mask", "SCL difference", "Scene classification (SCL)", "True colour"]
    layers = {node.name(): node.layer() for node in group.findLayers()}
    visible = {node.name(): node.isVisible() for node in group.findLayers()}
    assert visible == {"Cloud mask": True, "SCL difference": False, "Scene classification (SCL)": False, "True colour": True}

    mask_labels = palette_labels(layers["Cloud mask"])
    assert {code: mask_labels[code] for code in MASK_CODES} == {code: CLASS_NAMES[code] for code in MASK_CODES}
    scl_labels = palette_labels(layers["Scene classification (SCL)"])
    assert {code: scl_labels[code] for code in range(1, 12)} == {code: SCL_NAMES[code] for code in range(1, 12)}
    assert "Cloud missed by SCL" in palette_labels(layers["SCL difference"]).values()
    true_colour = layers["True colour"]
    assert true_colour.renderer().type() == "multibandcolor"
    assert true_colour.renderer().redContrastEnhancement().maximumValue() == 3500.0
    for layer in layers.values():
        assert layer.isValid() and not layer.source().startswith(str(real_l2a))

    canvas = qgis_iface.mapCanvas()
    centre = layers["Cloud mask"].extent().center()
    destination = canvas.mapSettings().destinationCrs()
    if destination.isValid():  # the test canvas has no CRS until a project gives it one
        centre = QgsCoordinateTransform(UTM29, destination, QgsProject.instance()).transform(centre)
    assert canvas.extent().contains(centre)

    outcome = dock.last_outcome
    results = dock.results
    assert dock.mainTabs.currentWidget() is dock.resultsTab
    assert unbroken(results.titleLabel.text()) == PRODUCT_ID  # may wrap at its underscores
    assert outcome.mask.device_used == "CPU"
    assert unbroken(results.modelLabel.text()) == outcome.mask.model_used != ""
    shares = [float(results.classTable.item(row, 1).text().split()[0]) for row in range(4)]
    assert [results.classTable.item(row, 0).text() for row in range(4)] == [CLASS_NAMES[c] for c in MASK_CODES]
    assert shares == pytest.approx([round(outcome.mask.class_percentages.get(c, 0.0), 1) for c in MASK_CODES])
    assert sum(shares) == pytest.approx(100.0, abs=0.3)
    assert results.sclGroup.isVisible() or not dock.isVisible()
    # the matrix: mask classes down, the eight SCL columns across, wrapped onto blocks that fit the panel
    blocks = results.matrixView.tables
    assert len(blocks) > 1 and all(table.rowCount() == 4 for table in blocks)
    headers = [table.horizontalHeaderItem(c).toolTip() for table in blocks for c in range(1, table.columnCount())]
    columns = outcome.comparison.to_dict()["matrix"]["column_classes"]
    assert len(headers) == len(columns) == 8
    assert all(f"codes {', '.join(map(str, column['reference_codes']))}," in tip for tip, column in zip(headers, columns))
    for row, code in enumerate(MASK_CODES):
        assert CLASS_NAMES[code].lower() in blocks[0].item(row, 0).toolTip()
        shares = [float(t.item(row, c).text().split()[0]) for t in blocks for c in range(1, t.columnCount())]
        assert sum(shares) == pytest.approx(100.0, abs=0.5) or sum(shares) == 0.0
    # at 320 px nothing scrolls sideways and no table is cut off
    dock.resize(320, 700)
    assert not scrolls_sideways(dock.resultsScroll)
    for table in [results.classTable, results.differenceTable, results.perClassTable, *results.matrixView.tables]:
        assert table.horizontalHeader().length() <= table.viewport().width(), table.objectName()
    # warnings are logged once, as they happen, not again with the summary
    plugin_warnings = [text for text, tag, level in log_messages if tag == PLUGIN_NAME and level == Qgis.Warning]
    assert len(plugin_warnings) == len(set(plugin_warnings))
    assert f"{100 * outcome.comparison.overall_agreement:.1f} %" in results.agreementLabel.text()
    # per class: precision, recall, F1 and IoU, in percent as the report gives them
    table = results.perClassTable
    assert [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())] == [
        "Class", "Prec.", "Recall", "F1", "IoU"]
    for row, entry in enumerate(outcome.comparison.to_dict()["per_class"].values()):
        assert table.item(row, 4).text() == ("–" if entry["iou"] is None else f"{100 * entry['iou']:.1f}")
    # how the run was made, so that two runs with other options read differently
    assert {name: unbroken(label.text()) for name, label in results.settings.items()} == {
        "Model file": "the built-in U-Net for the level (auto)",
        "Device": "CPU (asked: automatic)",
        "Resolution": "60 m",
        "Extent": "x 537,480 to 552,480, y 5,855,040 to 5,870,040 (EPSG:32629)",
        "Buffer": "none",
        "Shadow check": "on",
    }
    assert results.reportButton.isEnabled() and Path(results.report_path).is_file()
    settle()
    success = messages(qgis_iface, Qgis.Success)
    assert any(PRODUCT_ID in text and "CPU" in text for text in success)

    # the choices are remembered for the next session; the extent tick is not, it belongs to one run
    again = CloudMaskDock(qgis_iface)
    assert again.productEdit.text() == str(real_l2a)
    assert again.resolutionCombo.currentData() == 60
    assert not again.extentGroupBox.isChecked()
    assert Path(again.outputFileWidget.filePath()).parent == tmp_path  # the product's folder is read-only
    assert again.sclModeCombo.currentData() == "product"
    again.deleteLater()
    # another product, or one that fails to open: the last run's progress and stage no longer describe it
    dock.set_product(str(tmp_path / "S2A_MSIL2A_missing.SAFE"))
    assert dock.progressBar.value() == 0 and dock.stageLabel.text() == "Ready."
    dock.hide()


@pytest.mark.slow
def test_a_second_run_onto_the_same_files_asks_and_replaces_its_own_group(
    dock: CloudMaskDock, qgis_iface, real_l2a: Path, tmp_path: Path, read_only_product_folder
) -> None:
    PlgSettings.set(replace(PlgSettings.get(), output_folder=str(tmp_path)))
    choose_window(dock, real_l2a, None)  # the dock's own name, in the folder used last (the product's is read-only)
    output = Path(dock.outputFileWidget.filePath())
    assert output == tmp_path / f"{PRODUCT_ID}_cloudmask.tif"
    dock.sclModeCombo.setCurrentIndex(dock.sclModeCombo.findData("none"))
    dock.run()
    wait_until(lambda: dock.task is None)
    # the next run gets fresh names of its own
    assert Path(dock.outputFileWidget.filePath()) == tmp_path / f"{PRODUCT_ID}_cloudmask_2.tif"
    root = QgsProject.instance().layerTreeRoot()
    other = root.insertGroup(0, "Someone else's layers")
    first = root.findGroup(PRODUCT_ID)
    assert root.children().index(first) == 1
    written = output.stat().st_mtime_ns

    dock.outputFileWidget.setFilePath(str(output))
    dock.resize(320, 700)
    dock.show()
    shown: list[str] = []

    def read(box: QMessageBox) -> None:  # the question as the user sees it: whole names, wrapped, nothing cut off
        settle()
        shown.append(unbroken(" ".join(label.text() for label in box.findChildren(QLabel))))
        assert not clipped_labels(box), clipped_labels(box)
        assert box.width() <= QApplication.primaryScreen().availableGeometry().width()

    answer_next_question(QMessageBox.No, look=read)
    dock.run()
    assert dock.task is None and output.stat().st_mtime_ns == written  # No: nothing is touched
    assert shown and str(output.parent) in shown[0]
    for name in (output.name, f"{PRODUCT_ID}_cloudmask_truecolour.vrt"):
        assert name in shown[0]

    answer_next_question(QMessageBox.Yes)
    dock.run()
    wait_until(lambda: dock.task is None)
    groups = [node.name() for node in root.children()]
    assert groups[:2] == ["Someone else's layers", PRODUCT_ID] and len(groups) == 2  # one group, where the first one stood
    layers = {node.name(): node.layer() for node in root.findGroup(PRODUCT_ID).findLayers()}
    assert list(layers) == ["Cloud mask", "True colour"]
    assert layers["Cloud mask"].source() == str(output) and layers["Cloud mask"].isValid()
    assert other.name() == "Someone else's layers"


def test_cancel_midway_stops_the_task_and_leaves_no_file(dock: CloudMaskDock, qgis_iface, real_l2a: Path, tmp_path: Path) -> None:
    dock.set_product(str(real_l2a))
    dock.resolutionCombo.setCurrentIndex(dock.resolutionCombo.findData(20))
    dock.outputFileWidget.setFilePath(str(tmp_path / "whole.tif"))
    dock.runButton.click()
    wait_until(lambda: dock.task is None or dock.progressBar.value() >= 2, timeout=120)
    assert dock.task is not None, "the whole tile finished before it could be cancelled"
    dock.cancelButton.click()
    wait_until(lambda: dock.task is None, timeout=120)
    settle()
    assert "Cancelled" in dock.stageLabel.text()
    assert any("cancelled" in text for text in messages(qgis_iface, Qgis.Info))
    assert not messages(qgis_iface, Qgis.Critical)
    assert list(tmp_path.iterdir()) == []
    assert QgsProject.instance().layerTreeRoot().findGroup(PRODUCT_ID) is None


def test_raster_layer_door_maps_bands_and_masks_the_layer(dock: CloudMaskDock, qgis_iface, real_l2a: Path, tmp_path: Path) -> None:
    stack = tmp_path / "stack.vrt"
    bands = ["B02", "B03", "B04", "B8A", "B11", "B12"]
    gdal.BuildVRT(str(stack), [str(real_l2a / R60.format(b)) for b in bands],
                  options=gdal.BuildVRTOptions(separate=True, outputBounds=WINDOW)).FlushCache()
    layer = QgsRasterLayer(str(stack), "six bands", "gdal")
    QgsProject.instance().addMapLayer(layer)
    assert guess_bands(layer) == {"blue": 1, "green": 2, "red": 3, "nir": 4, "swir16": 5, "swir22": 6}

    dock.sourceCombo.setCurrentIndex(dock.sourceCombo.findData("raster"))
    dock.rasterLayerCombo.setLayer(layer)
    assert [dock.band_combo(role).currentBand() for role in ("blue", "green", "red", "nir", "swir16", "swir22")] == [1, 2, 3, 4, 5, 6]
    assert not dock.extentGroupBox.isEnabled() and "clip it first" in dock.extentGroupBox.toolTip()
    assert [dock.sclModeCombo.itemData(i) for i in range(dock.sclModeCombo.count())] == ["file", "none"]
    assert Path(dock.outputFileWidget.filePath()) == tmp_path / "six_bands_cloudmask.tif"  # beside the layer's file

    dock.band_combo("swir22").setBand(-1)
    dock.run()
    assert any("both SWIR bands" in text for text in messages(qgis_iface, Qgis.Info))
    dock.band_combo("swir22").setBand(6)

    dock.sclModeCombo.setCurrentIndex(dock.sclModeCombo.findData("none"))
    dock.outputFileWidget.setFilePath(str(tmp_path / "layer_mask.tif"))
    dock.run()
    wait_until(lambda: dock.task is None)
    group = QgsProject.instance().layerTreeRoot().findGroup("six bands")
    assert [node.name() for node in group.children()] == ["Cloud mask"]
    assert not dock.results.sclGroup.isVisibleTo(dock.results)
    assert os.path.isfile(tmp_path / "layer_mask.tif")
    settings = {name: unbroken(label.text()) for name, label in dock.results.settings.items()}
    assert settings["Resolution"] == "the raster's own grid" and settings["Extent"] == "the whole raster"
    assert settings["Shadow check"].startswith("off")


def test_run_settings_tell_two_runs_with_other_options_apart(real_l2a: Path) -> None:
    class Mask:
        device_used = "CPU"

    plain_run = RunRequest(label="a", output="a.tif", product=str(real_l2a), resolution=60)
    other_run = replace(plain_run, resolution=20, buffer=90.0, shadow_check=False, model="/models/ireland.onnx",
                        device="gpu", extent=(500000.0, 5800000.0, 510000.0, 5810000.0, "EPSG:32629"))
    first, second = dict(run_settings(plain_run, Mask())), dict(run_settings(other_run, Mask()))
    assert first == {"Model file": "the built-in U-Net for the level (auto)", "Device": "CPU (asked: automatic)",
                     "Resolution": "60 m", "Extent": "the whole product", "Buffer": "none", "Shadow check": "on"}
    assert second == {"Model file": "/models/ireland.onnx", "Device": "CPU (asked: GPU)", "Resolution": "20 m",
                      "Extent": "x 500,000 to 510,000, y 5,800,000 to 5,810,000 (EPSG:32629)", "Buffer": "90 m",
                      "Shadow check": "off"}


def test_the_model_field_offers_auto_and_the_fine_tuned_models(dock: CloudMaskDock, tmp_path: Path) -> None:
    from qgis.PyQt.QtCore import QEvent
    from qgis.PyQt.QtGui import QFocusEvent
    from s2cloudmask.inference.training.published import publish_model

    model = tmp_path / "ireland.onnx"
    model.write_bytes(b"stands for a fine-tuned model")
    publish_model(model)
    field = dock.modelFileWidget.lineEdit()
    QgsApplication.sendEvent(field, QFocusEvent(QEvent.FocusIn))
    assert field.completer() is dock.modelList
    assert dock.modelList.entries_model.stringList()[:2] == ["auto", str(model.resolve())]
    model.unlink()
    QgsApplication.sendEvent(field, QFocusEvent(QEvent.FocusIn))
    assert str(model.resolve()) not in dock.modelList.entries_model.stringList()


def test_clean_bands_applies_the_runs_mask_and_adds_the_bands_in_true_colour(
    dock: CloudMaskDock, qgis_iface, real_l2a: Path, tmp_path: Path
) -> None:
    output = tmp_path / "window_cloudmask.tif"
    choose_window(dock, real_l2a, output)
    dock.runButton.click()
    wait_until(lambda: dock.task is None)
    assert dock.results.cleanButton.isEnabled() and "no data" in dock.results.cleanButton.toolTip()
    dock.results.cleanButton.click()
    assert f"Clean bands: {PRODUCT_ID}" in [task.description() for task in QgsApplication.taskManager().tasks()]
    wait_until(lambda: dock.task is None)
    assert not messages(qgis_iface, Qgis.Critical), messages(qgis_iface, Qgis.Critical)
    clean = tmp_path / "window_clean.tif"
    group = QgsProject.instance().layerTreeRoot().findGroup(PRODUCT_ID)
    layer = group.findLayers()[0].layer()
    assert layer.name() == "Clean bands" and Path(layer.source()) == clean
    assert layer.renderer().type() == "multibandcolor" and layer.bandName(layer.renderer().redBand()).endswith("B04")
    dataset = gdal.Open(str(clean))
    assert dataset.GetRasterBand(1).GetDescription() == "B02" and dataset.GetMetadataItem("MASK") == output.name
    assert dataset.RasterXSize == gdal.Open(str(output)).RasterXSize  # the run's grid: resolution and extent
    dataset = None
    assert "kept" in dock.stageLabel.text()
    dock.results.cleanButton.click()  # again: a second file, the first one untouched
    wait_until(lambda: dock.task is None)
    assert (tmp_path / "window_clean_2.tif").is_file()


def test_cancelled_clean_bands_write_nothing_and_keep_the_run(
    dock: CloudMaskDock, qgis_iface, real_l2a: Path, tmp_path: Path
) -> None:
    choose_window(dock, real_l2a, tmp_path / "window_cloudmask.tif")
    dock.runButton.click()
    wait_until(lambda: dock.task is None)
    before = sorted(tmp_path.iterdir())
    layers = [node.layer().name() for node in QgsProject.instance().layerTreeRoot().findGroup(PRODUCT_ID).findLayers()]
    dock.results.cleanButton.click()
    dock.cancelButton.click()
    wait_until(lambda: dock.task is None)
    settle()
    assert "Cancelled" in dock.stageLabel.text() and "earlier results are kept" in dock.stageLabel.text()
    assert not messages(qgis_iface, Qgis.Critical) and sorted(tmp_path.iterdir()) == before
    group = QgsProject.instance().layerTreeRoot().findGroup(PRODUCT_ID)
    assert [node.layer().name() for node in group.findLayers()] == layers
    assert dock.results.cleanButton.isEnabled()  # the run is still there to clean
