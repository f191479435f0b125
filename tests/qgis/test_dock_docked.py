"""The dock docked in a main window at the width QGIS gives it, on the real T29UNU product: a run that replaces an
earlier one's files and is cancelled, fails, or cannot take the files' names keeps the map and the Results tab as
they were; a complete one replaces every file and layer of the earlier run; reference rounds never widen the panel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from qgis.core import Qgis, QgsCoordinateReferenceSystem, QgsLayerTree, QgsPointXY, QgsProject
from qgis.PyQt.QtWidgets import QMessageBox
from s2cloudmask.inference.classes import MASK_CODES, scl_to_mask
from s2cloudmask.inference.reading.product import open_product, product_grid
from s2cloudmask.inference.reading.reader import read_scl
from s2cloudmask.toolbelt.compat import abstract
from s2cloudmask.toolbelt.preferences import DockSettings, PlgSettings
from s2cloudmask.ui.dock import DOCKED_WIDTH
from s2cloudmask.ui.narrow import unbroken
from s2cloudmask.ui.run_files import SET_ASIDE_MARK, UNFINISHED_MARK, CompanionPaths

from dock_helpers import (
    answer_next_question,
    assert_every_tab_fits,
    choose_window,
    dock_in_window,
    messages,
    settle,
)
from qt_events import wait_until

PRODUCT_ID = "S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454"


@pytest.fixture
def docked(qgis_iface, qgis_new_project, tmp_path):
    PlgSettings.clear()
    PlgSettings.set(DockSettings(output_folder=str(tmp_path)))  # the product's folder is read-only
    window, dock = dock_in_window(qgis_iface)
    yield dock
    dock.reference.unload()
    if dock.task is not None:
        dock.cancel()
    wait_until(lambda: dock.task is None and dock.reference.task is None)
    window.close()
    window.deleteLater()
    PlgSettings.clear()


def map_state() -> list[tuple]:
    """The layer tree in order: each group, and each layer with its source, visibility and every style's XML."""
    state: list[tuple] = []

    def walk(group, depth: int) -> None:
        for node in group.children():
            if QgsLayerTree.isGroup(node):
                state.append((depth, "group", node.name(), node.itemVisibilityChecked()))
                walk(node, depth + 1)
                continue
            layer = node.layer()
            manager = layer.styleManager()
            styles = tuple((name, manager.style(name).xmlData()) for name in manager.styles())
            state.append((depth, node.name(), layer.source(), node.itemVisibilityChecked(), manager.currentStyle(),
                          styles, abstract(layer)))

    walk(QgsProject.instance().layerTreeRoot(), 0)
    return state


def results_state(dock) -> tuple:
    results = dock.results
    shares = tuple(results.classTable.item(row, 1).text() for row in range(results.classTable.rowCount()))
    return (unbroken(results.titleLabel.text()), shares, results.agreementLabel.text(), results.report_path,
            {name: label.text() for name, label in results.settings.items()})


def files_state(folder: Path) -> dict[str, int | None]:
    """Each file's modification time; a VRT's is left out: GDAL rewrites it when the layer reading it closes."""
    return {path.name: None if path.suffix == ".vrt" else path.stat().st_mtime_ns for path in folder.iterdir()}


def earlier_run(dock, real_l2a: Path, output: Path) -> tuple[list, tuple, dict]:
    """A finished run on the window (mask, SCL views, report) under another group of the user's: the state to keep."""
    choose_window(dock, real_l2a, output)
    dock.run()
    wait_until(lambda: dock.task is None)
    assert dock.last_outcome is not None, messages(dock.iface, Qgis.Critical)
    QgsProject.instance().layerTreeRoot().insertGroup(0, "Someone else's layers")  # the run's group is second now
    group = QgsProject.instance().layerTreeRoot().findGroup(PRODUCT_ID)
    group.findLayers()[0].layer().styleManager().setCurrentStyle("clear shown")  # the analyst's own choice
    group.findLayers()[1].setItemVisibilityChecked(True)
    assert_every_tab_fits(dock, "after a run")
    return map_state(), results_state(dock), files_state(output.parent)


def assert_kept(dock, before: tuple[list, tuple, dict], folder: Path, when: str) -> None:
    layers, results, files = before
    assert map_state() == layers, f"the map changed {when}"
    assert results_state(dock) == results, f"the Results tab changed {when}"
    assert files_state(folder) == files, f"the files changed {when}"
    assert "earlier results are kept" in dock.stageLabel.text()
    assert dock.progressBar.value() == 0
    assert_every_tab_fits(dock, when)


@pytest.mark.slow
def test_cancel_keeps_the_map_and_the_results_of_the_earlier_run(docked, real_l2a: Path, tmp_path: Path) -> None:
    output = tmp_path / "mask.tif"
    before = earlier_run(docked, real_l2a, output)
    docked.extentGroupBox.setChecked(False)  # the whole product: long enough to be cancelled
    answer_next_question(QMessageBox.Yes)
    docked.run()
    wait_until(lambda: docked.task is None or docked.progressBar.value() >= 2, timeout=120)
    assert docked.task is not None, "the whole product finished before it could be cancelled"
    assert map_state() == before[0]  # while the new run works, the earlier one stays on the map
    assert_every_tab_fits(docked, "during a run")
    docked.cancelButton.click()
    wait_until(lambda: docked.task is None, timeout=120)
    settle()
    assert "Cancelled" in docked.stageLabel.text()
    assert_kept(docked, before, tmp_path, "after a cancelled run")


@pytest.mark.slow
def test_a_failed_run_keeps_the_map_and_the_results_of_the_earlier_run(
    docked, qgis_iface, real_l2a: Path, tmp_path: Path
) -> None:
    output = tmp_path / "mask.tif"
    before = earlier_run(docked, real_l2a, output)
    not_scl = tmp_path / "inputs" / "scl.tif"  # the comparison fails after the new mask is complete
    not_scl.parent.mkdir()
    not_scl.write_text("not a raster\n")
    before = (before[0], before[1], files_state(tmp_path))
    docked.sclModeCombo.setCurrentIndex(docked.sclModeCombo.findData("file"))
    docked.sclFileWidget.setFilePath(str(not_scl))
    answer_next_question(QMessageBox.Yes)
    docked.run()
    wait_until(lambda: docked.task is None)
    settle()
    assert any(str(not_scl) in text for text in messages(qgis_iface, Qgis.Critical))
    assert_kept(docked, before, tmp_path, "after a failed run")


@pytest.mark.slow
def test_new_files_that_cannot_take_their_names_give_the_earlier_layers_back(
    docked, qgis_iface, real_l2a: Path, tmp_path: Path
) -> None:
    output = tmp_path / "mask.tif"
    before = earlier_run(docked, real_l2a, output)
    answer_next_question(QMessageBox.Yes)
    docked.run()
    task = docked.task

    def lose_the_new_mask(progress: float) -> None:  # as if another program had taken it before it could be moved
        mask = task.staging / output.name
        if progress >= 100.0 and mask.exists():
            mask.unlink()

    task.progressChanged.connect(lose_the_new_mask)
    wait_until(lambda: docked.task is None)
    settle()
    assert any(f"{output} could not be replaced" in text for text in messages(qgis_iface, Qgis.Critical)), messages(qgis_iface, Qgis.Critical)
    # the layers come back from the same files, where they were, as they were drawn
    assert_kept(docked, before, tmp_path, "after new files could not take their names")
    assert not [path for path in tmp_path.iterdir() if UNFINISHED_MARK in path.name or SET_ASIDE_MARK in path.name]


@pytest.mark.slow
def test_a_complete_run_replaces_every_file_and_layer_of_the_earlier_run(
    docked, real_l2a: Path, tmp_path: Path
) -> None:
    output = tmp_path / "mask.tif"
    before = earlier_run(docked, real_l2a, output)
    docked.sclModeCombo.setCurrentIndex(docked.sclModeCombo.findData("none"))
    docked.outputFileWidget.setFilePath(str(output))
    answer_next_question(QMessageBox.Yes)
    docked.run()
    wait_until(lambda: docked.task is None)
    root = QgsProject.instance().layerTreeRoot()
    assert [node.name() for node in root.children()] == ["Someone else's layers", PRODUCT_ID]
    assert [node.name() for node in root.findGroup(PRODUCT_ID).children()] == ["Cloud mask", "True colour"]
    companions = CompanionPaths.beside(str(output))
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [output.name, f"{output.name}.aux.xml", Path(companions.true_colour).name])
    assert files_state(tmp_path)[output.name] != before[2][output.name]
    assert results_state(docked)[4]["Extent"] == before[1][4]["Extent"]
    assert not docked.results.sclGroup.isVisibleTo(docked.results)
    assert "Done" in docked.stageLabel.text() and docked.progressBar.value() == 100
    assert_every_tab_fits(docked, "after a run that replaced another")


def test_reference_rounds_never_widen_the_docked_panel(docked, qgis_iface, real_l2a: Path, tmp_path: Path) -> None:
    docked.set_product(str(real_l2a))
    docked.mainTabs.setCurrentWidget(docked.referenceScroll)
    panel = docked.reference
    assert_every_tab_fits(docked, "before a reference round")
    product = open_product(real_l2a)
    grid = product_grid(product, 60)
    truth = scl_to_mask(read_scl(product, grid))
    crs = QgsCoordinateReferenceSystem(product.crs)
    rng = np.random.default_rng(5)
    for code in MASK_CODES:
        rows, cols = np.nonzero(truth == code)
        for i in rng.choice(rows.size, 15, replace=False):
            panel.add_sample(QgsPointXY(*grid.map_xy(cols[i] + 0.5, rows[i] + 0.5)), crs, code)
    xmin, _, _, ymax = grid.bounds
    panel.add_sample(QgsPointXY(xmin - 120.0, ymax + 30.0), crs, 1)  # 2 px outside the scene, top left

    failures: list[str] = []
    panel.roundFailed.connect(failures.append)
    panel.train()
    wait_until(lambda: panel.task is None)
    assert failures and PRODUCT_ID in failures[-1]  # the refused round names the product, unbroken
    assert_every_tab_fits(docked, "after a refused reference round")

    panel.dropButton.click()
    panel.train()
    wait_until(lambda: panel.task is None, timeout=600)
    assert panel.result is not None, unbroken(panel.statusLabel.text())
    status = unbroken(panel.statusLabel.text())
    assert PRODUCT_ID in status  # its note names the product (bands read from 60 m files)
    assert Path(panel.result.output).parent == tmp_path  # beside the product is read-only: the folder used last
    assert_every_tab_fits(docked, "after a reference round")
    assert docked.width() == DOCKED_WIDTH
