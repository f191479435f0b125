"""The analyst's door: a dock to pick a product, press Run, keep working, and see the mask on the map.

The dock only gathers choices and shows results. The masking itself runs in a
CloudMaskTask (ui/task.py) through the same engine functions as the
Processing algorithms; when the task reports back on the main thread the dock
adds the layers (styled by toolbelt.layers, as the algorithms' outputs are)
and fills the results panel.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsMapLayerProxyModel,
    QgsMessageLog,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsSettings,
)
from qgis.gui import QgsDockWidget, QgsFileWidget
from qgis.PyQt import uic
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QFileDialog, QFrame, QScrollArea, QSizePolicy, QWidget

from ..__about__ import PLUGIN_NAME
from ..inference.defaults import DEFAULT_OFFSET, DEFAULT_SCALE, OPTIONAL_BAND_ROLES, RESOLUTIONS
from ..inference.defaults import RASTER_BAND_ROLES as BAND_ROLES
from ..inference.errors import BandError, CloudMaskError, DependencyError, ModelError, OutputError, ProductError
from ..inference.masking.model_card import SENTINEL2_BANDS
from ..inference.outputs import check_writable
from ..inference.reading.product import is_product_path
from ..toolbelt import layers as layer_styles
from .context_layers import style_true_colour
from .results import ResultsPanel, describe_seconds
from .task import CloudMaskTask, RunOutcome, RunRequest

FORM_CLASS, _ = uic.loadUiType(str(Path(__file__).with_name("dock.ui")))

SETTINGS_GROUP = "s2cloudmask/dock/"
# Band numbers of each role in common stacks, by band count: ESA's 13-band order, the same without B10, 4 and 6 bands.
STACK_ORDERS = {
    13: {"blue": 2, "green": 3, "red": 4, "nir": 8, "swir16": 12, "swir22": 13},
    12: {"blue": 2, "green": 3, "red": 4, "nir": 8, "swir16": 11, "swir22": 12},
    6: {"blue": 1, "green": 2, "red": 3, "nir": 4, "swir16": 5, "swir22": 6},
    4: {"blue": 1, "green": 2, "red": 3, "nir": 4},
}
SCL_MODES = {
    "product": "SCL of this L2A product",
    "file": "Another L2A product or an SCL file",
    "none": "No comparison",
}
RUNNING_TIP = "A mask is being made. Wait for it to finish, or press Cancel, before starting another."
RUN_TIP = "Mask the input in the background; QGIS stays usable, and the task manager shows the progress."


def accepts_output(folder: Path) -> bool:
    """A folder we may write into: writable, and not marked read-only (which root would otherwise ignore)."""
    try:
        mode = folder.stat().st_mode
    except OSError:
        return False
    return stat.S_ISDIR(mode) and bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)) and os.access(folder, os.W_OK | os.X_OK)


def default_output(stem: str, beside: Path | None = None, project_home: str = "") -> str:
    """<stem>_cloudmask.tif beside the product's folder, else in the project's home, else in the temp folder."""
    candidates = [beside, Path(project_home) if project_home else None, Path(tempfile.gettempdir())]
    folder = next(c for c in candidates if c is not None and accepts_output(c))
    return str(folder / f"{stem}_cloudmask.tif")


def product_folder(path: str | Path) -> Path:
    """The folder holding the product: the .SAFE's parent (also for an MTD xml inside it) or the .zip's folder."""
    candidate = Path(path).resolve()
    if candidate.is_file() and candidate.name.upper().startswith("MTD_MSIL"):
        candidate = candidate.parent
    return candidate.parent


def safe_stem(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "raster"


def device_choices() -> list[tuple[str, str, str]]:
    """(label, DEVICE value, tooltip): only the GPU providers this onnxruntime really has, by name."""
    from ..inference.masking.session import DEVICE_NAMES, gpu_providers

    try:
        gpus = [DEVICE_NAMES[provider] for provider in gpu_providers()]
    except DependencyError as exc:
        return [("Automatic", "auto", str(exc)), ("CPU", "cpu", str(exc))]
    if gpus:
        auto = (f"Automatic ({gpus[0]}, else CPU)", "auto", f"Tries {', '.join(gpus)}, then falls back to the CPU.")
        gpu = [(f"GPU ({', '.join(gpus)})", "gpu", "Fails with a clear message if the GPU cannot start.")]
    else:
        auto = ("Automatic (CPU)", "auto", "This onnxruntime has no GPU provider (CUDA, DirectML, CoreML); the CPU runs.")
        gpu = []
    return [auto, ("CPU", "cpu", "Always the CPU."), *gpu]


def guess_bands(layer: QgsRasterLayer) -> dict[str, int]:
    """Band numbers by role: from band names such as "B02" where the raster has them, else from common stacks."""
    count = layer.bandCount()
    named: dict[str, int] = {}
    for number in range(1, count + 1):
        match = re.search(r"\bB(0?[1-9]|1[0-2]|8A)\b", layer.bandName(number), re.IGNORECASE)
        if match:
            band = "B" + match.group(1).upper().zfill(2)
            named.update({role: number for role in BAND_ROLES if SENTINEL2_BANDS[role] == band})
    if all(role in named for role in ("blue", "green", "red", "nir")):
        return named
    return dict(STACK_ORDERS.get(count, {}))


def qgs_crs(text: str) -> QgsCoordinateReferenceSystem:
    crs = QgsCoordinateReferenceSystem(text)
    return crs if crs.isValid() else QgsCoordinateReferenceSystem.fromWkt(text)


class CloudMaskDock(QgsDockWidget, FORM_CLASS):
    """Sentinel-2 Cloud Mask's dock widget; plugin.py adds it to the right dock area."""

    def __init__(self, iface: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setupUi(self)
        self.setObjectName("Sentinel2CloudMaskDock")
        self.iface = iface
        self.task: CloudMaskTask | None = None
        self.product: Any = None  # inference.reading.product.Product of the chosen path, when it opened
        self.product_error = ""
        self.product_path = ""
        self.last_outcome: RunOutcome | None = None
        self.result_layers: dict[str, QgsRasterLayer] = {}

        self.results = ResultsPanel()
        results_scroll = QScrollArea(self.resultsTab)
        results_scroll.setObjectName("resultsScroll")
        results_scroll.setFrameShape(QFrame.NoFrame)
        results_scroll.setWidgetResizable(True)  # the panel scrolls as a whole when its tables outgrow the dock
        results_scroll.setWidget(self.results)
        self.resultsTab.layout().addWidget(results_scroll)
        self._setup_widgets()
        self._connect()
        self._restore_settings()
        self._show_source_page()
        self._update_input_state()

    # --- set-up --------------------------------------------------------------------------------

    def _setup_widgets(self) -> None:
        self.rasterLayerCombo.setFilters(QgsMapLayerProxyModel.RasterLayer)
        self.rasterLayerCombo.setAllowEmptyLayer(True)
        for role in OPTIONAL_BAND_ROLES:
            self.band_combo(role).setShowNotSetOption(True, "Not used")
        self.modelFileWidget.setStorageMode(QgsFileWidget.GetFile)
        self.modelFileWidget.lineEdit().setPlaceholderText("Automatic: the built-in U-Net for the product level")
        self.modelFileWidget.setDialogTitle("Choose an ONNX model")
        for label, value, tip in device_choices():
            self.deviceCombo.addItem(label, value)
            self.deviceCombo.setItemData(self.deviceCombo.count() - 1, tip, Qt.ToolTipRole)
        for resolution in RESOLUTIONS:
            self.resolutionCombo.addItem(f"{resolution} m", resolution)
        self.extentGroupBox.setTitleBase("Limit to an extent")
        self.extentGroupBox.setMapCanvas(self.iface.mapCanvas())
        self.sclFileWidget.setStorageMode(QgsFileWidget.GetFile)
        self.sclFileWidget.setDialogTitle("Choose the matching L2A product (.zip, MTD_MSIL2A.xml) or an SCL raster")
        self.outputFileWidget.setStorageMode(QgsFileWidget.SaveFile)
        self.outputFileWidget.setConfirmOverwrite(True)
        self.outputFileWidget.setDialogTitle("Save the cloud mask as")
        self.runButton.setToolTip(RUN_TIP)
        self.progressBar.setRange(0, 100)
        self.setAcceptDrops(True)

    def _connect(self) -> None:
        self.sourceCombo.currentIndexChanged.connect(self._source_changed)
        self.productEdit.editingFinished.connect(self._product_edited)
        self.productEdit.cleared.connect(lambda: self.set_product(""))
        self.productFolderButton.clicked.connect(self._choose_product_folder)
        self.productFileButton.clicked.connect(self._choose_product_file)
        self.rasterLayerCombo.layerChanged.connect(self._layer_changed)
        self.sclModeCombo.currentIndexChanged.connect(self._update_scl_state)
        self.runButton.clicked.connect(self.run)
        self.cancelButton.clicked.connect(self.cancel)

    def band_combo(self, role: str):
        return getattr(self, f"{role}BandCombo")

    # --- inputs --------------------------------------------------------------------------------

    @property
    def uses_product(self) -> bool:
        return self.sourceCombo.currentIndex() == 0

    def set_product(self, path: str) -> None:
        """Open the product's metadata now, so mistakes show before Run and the extent and output follow it."""
        path = path.strip()
        if self.productEdit.text() != path:
            self.productEdit.setText(path)
        self.product, self.product_error, self.product_path = None, "", path
        if path:
            from ..inference.reading.product import open_product

            try:
                self.product = open_product(path)
            except CloudMaskError as exc:
                self.product_error = str(exc)
        self._show_product()
        self._update_input_state()
        if self.product is not None:
            self.outputFileWidget.setFilePath(
                default_output(self.product.product_id, product_folder(path), QgsProject.instance().homePath())
            )

    def _product_edited(self) -> None:
        if self.productEdit.text().strip() != self.product_path:
            self.set_product(self.productEdit.text())

    def _show_product(self) -> None:
        product = self.product
        if product is None:
            self.productInfoLabel.setText(self.product_error or "No product chosen.")
            self.productInfoLabel.setStyleSheet("color: #b00020;" if self.product_error else "")
            return
        resolutions = sorted({r for files in product.band_files.values() for r in files})
        finest = f"bands at {', '.join(f'{r} m' for r in resolutions)}" if resolutions else "no spectral bands found"
        self.productInfoLabel.setText(
            f"<b>{product.level}</b> · {product.satellite} · {product.sensing_time:%Y-%m-%d %H:%M} UTC · "
            f"tile {product.tile_id} · baseline {product.processing_baseline} · {finest}"
        )
        self.productInfoLabel.setToolTip(product.product_id)
        self.productInfoLabel.setStyleSheet("")
        grid = product.grids[min(product.grids)]
        crs = qgs_crs(product.crs)
        self.extentGroupBox.setOriginalExtent(QgsRectangle(*grid.bounds), crs)
        self.extentGroupBox.setOutputCrs(crs)
        canvas = self.iface.mapCanvas()
        self.extentGroupBox.setCurrentExtent(canvas.extent(), canvas.mapSettings().destinationCrs())
        if not self.extentGroupBox.isChecked():
            self.extentGroupBox.setOutputExtentFromOriginal()

    def _choose_product_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a Sentinel-2 .SAFE folder", self._browse_start())
        if folder:
            self.set_product(folder)

    def _choose_product_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Choose a Sentinel-2 product",
            self._browse_start(),
            "Sentinel-2 products (*.zip MTD_MSIL1C.xml MTD_MSIL2A.xml);;All files (*)",
        )
        if path:
            self.set_product(path)

    def _browse_start(self) -> str:
        current = self.productEdit.text()
        return str(product_folder(current)) if current else QgsSettings().value(SETTINGS_GROUP + "browse_folder", "")

    def _show_source_page(self) -> None:
        self.sourceStack.setCurrentIndex(self.sourceCombo.currentIndex())
        for index in range(self.sourceStack.count()):
            # a stack is as tall as its tallest page unless the hidden pages stop asking for room
            shown = index == self.sourceStack.currentIndex()
            self.sourceStack.widget(index).setSizePolicy(
                QSizePolicy.Preferred, QSizePolicy.Preferred if shown else QSizePolicy.Ignored)
        self.sourceStack.adjustSize()

    def _source_changed(self) -> None:
        self._show_source_page()
        self._update_input_state()
        if self.uses_product and self.product is not None:
            self.set_product(self.product_path)
        elif not self.uses_product:
            self._layer_changed(self.rasterLayerCombo.currentLayer())

    def _layer_changed(self, layer: Any) -> None:
        for role in BAND_ROLES:
            self.band_combo(role).setLayer(layer)
        if isinstance(layer, QgsRasterLayer):
            guessed = guess_bands(layer)
            for role in BAND_ROLES:
                self.band_combo(role).setBand(guessed.get(role, -1))
            if not self.uses_product:
                self.outputFileWidget.setFilePath(default_output(safe_stem(layer.name()), None, QgsProject.instance().homePath()))

    def _update_input_state(self) -> None:
        product_door = self.uses_product
        for widget, tip in (
            (self.extentGroupBox, "A raster layer is masked whole; clip it first (Raster > Extraction) to mask a part."),
            (self.resolutionCombo, "A raster layer is masked on its own grid."),
        ):
            widget.setEnabled(product_door)
            widget.setToolTip("" if product_door else tip)
        self._update_scl_modes()

    def _update_scl_modes(self) -> None:
        current = self.sclModeCombo.currentData()
        l2a = self.uses_product and self.product is not None and self.product.level == "L2A"
        modes = ["product", "file", "none"] if l2a or (self.uses_product and self.product is None) else ["file", "none"]
        self.sclModeCombo.blockSignals(True)
        self.sclModeCombo.clear()
        for mode in modes:
            self.sclModeCombo.addItem(SCL_MODES[mode], mode)
        wanted = current if current in modes else modes[0] if modes[0] == "product" else "none"
        self.sclModeCombo.setCurrentIndex(modes.index(wanted))
        self.sclModeCombo.blockSignals(False)
        self._update_scl_state()

    def _update_scl_state(self) -> None:
        self.sclFileWidget.setEnabled(self.sclModeCombo.currentData() == "file")

    # --- drag and drop -------------------------------------------------------------------------

    @staticmethod
    def _dropped_product(event: Any) -> str | None:
        mime = event.mimeData()
        if not mime.hasUrls():
            return None
        paths = (url.toLocalFile() for url in mime.urls() if url.isLocalFile())
        return next((path for path in paths if is_product_path(path)), None)

    def dragEnterEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        if self._dropped_product(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: Any) -> None:  # noqa: N802
        self.dragEnterEvent(event)

    def dropEvent(self, event: Any) -> None:  # noqa: N802
        path = self._dropped_product(event)
        if not path:
            event.ignore()
            return
        event.acceptProposedAction()
        self.sourceCombo.setCurrentIndex(0)
        self.mainTabs.setCurrentWidget(self.settingsTab)
        self.set_product(path)

    # --- running -------------------------------------------------------------------------------

    def build_request(self) -> RunRequest:
        """The run the dock's widgets describe; a CloudMaskError in words when something is missing."""
        model = self.modelFileWidget.filePath().strip() or "auto"
        if model != "auto" and not Path(model).is_file():
            raise ModelError(f"The model file {model} does not exist; choose an .onnx file, or clear the field for the built-in model.")
        output = self.outputFileWidget.filePath().strip()
        if not output:
            raise OutputError("Choose where to save the mask (Output > Mask), for example cloudmask.tif.")
        if Path(output).suffix.lower() not in (".tif", ".tiff"):
            output += ".tif"
        check_writable(output)
        common = {"output": output, "model": model, "device": self.deviceCombo.currentData() or "auto"}

        if self.uses_product:
            if self.product is None:
                raise ProductError(self.product_error or "Choose a Sentinel-2 product: a .SAFE folder, a product .zip or its MTD xml.")
            request = RunRequest(
                label=self.product.product_id,
                product=self.productEdit.text().strip(),
                resolution=int(self.resolutionCombo.currentData()),
                extent=self._extent(),
                **common,
            )
        else:
            layer = self.rasterLayerCombo.currentLayer()
            if not isinstance(layer, QgsRasterLayer) or layer.providerType() != "gdal":
                raise ProductError("Choose a raster layer read from a file (GDAL) in Input > Layer.")
            request = RunRequest(
                label=layer.name(),
                raster=layer.dataProvider().dataSourceUri(),
                bands=self._bands(layer),
                scale=self.scaleSpin.value(),
                offset=self.offsetSpin.value(),
                level="l2a" if self.levelCombo.currentIndex() == 0 else "l1c",
                **common,
            )
        return replace(request, scl=self._scl_source(request))

    def _extent(self) -> tuple[float, float, float, float, str] | None:
        if not self.extentGroupBox.isChecked():
            return None
        rect = self.extentGroupBox.outputExtent()
        crs = self.extentGroupBox.outputCrs()
        return (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum(), crs.authid() or crs.toWkt())

    def _bands(self, layer: QgsRasterLayer) -> dict[str, int]:
        bands = {role: self.band_combo(role).currentBand() for role in BAND_ROLES}
        missing = [role for role in ("blue", "green", "red", "nir") if bands[role] < 1]
        if missing:
            raise BandError(f"Choose the {', '.join(missing)} band of {layer.name()} in Input (band mapping).")
        if (bands["swir16"] < 1) != (bands["swir22"] < 1):
            raise BandError(f"Choose both SWIR bands of {layer.name()} (B11 and B12), or neither for the 4-band model.")
        return {role: number for role, number in bands.items() if number >= 1}

    def _scl_source(self, request: RunRequest) -> str | None:
        mode = self.sclModeCombo.currentData()
        if mode == "product":
            return request.product
        if mode == "file":
            path = self.sclFileWidget.filePath().strip()
            if not path or not Path(path).exists():
                raise ProductError(
                    f"The SCL source {path or '(empty)'} does not exist; choose the matching L2A product or an SCL file, "
                    "or 'No comparison'."
                )
            return path
        return None

    def run(self) -> None:
        """Start a run in QGIS's task manager; refused (politely) while another one runs."""
        if self.task is not None:
            self.iface.messageBar().pushMessage(PLUGIN_NAME, RUNNING_TIP, level=Qgis.Info, duration=5)
            return
        try:
            request = self.build_request()
        except CloudMaskError as exc:
            self._show_error(str(exc), str(exc))
            return
        self._save_settings()
        task = CloudMaskTask(request)
        task.progressChanged.connect(lambda value: self.progressBar.setValue(round(value)))
        task.stageChanged.connect(self.stageLabel.setText)
        task.succeeded.connect(self._succeeded)
        task.failed.connect(self._failed)
        task.cancelledRun.connect(self._cancelled)
        self.task = task
        self._set_running(True)
        self.stageLabel.setText(f"Waiting for the task manager to start {task.description()}…")
        QgsApplication.taskManager().addTask(task)

    def cancel(self) -> None:
        if self.task is not None:
            self.stageLabel.setText("Cancelling…")
            self.task.cancel()

    def _set_running(self, running: bool) -> None:
        self.runButton.setEnabled(not running)
        self.runButton.setToolTip(RUNNING_TIP if running else RUN_TIP)
        self.cancelButton.setEnabled(running)
        if running:
            self.progressBar.setValue(0)

    def _finish(self) -> None:
        self.task = None
        self._set_running(False)

    def _succeeded(self, outcome: RunOutcome) -> None:
        self._finish()
        self.last_outcome = outcome
        self.progressBar.setValue(100)
        mask = outcome.mask
        self.stageLabel.setText(f"Done in {describe_seconds(outcome.seconds)} on {mask.device_used}.")
        self.result_layers = self._add_layers(outcome)
        self.results.show_run(outcome.request.label, mask, outcome.seconds, outcome.comparison, outcome.warnings)
        self.mainTabs.setCurrentWidget(self.resultsTab)
        for warning in outcome.warnings:
            QgsMessageLog.logMessage(warning, PLUGIN_NAME, Qgis.Warning)
        cloud = sum(mask.class_percentages.get(code, 0.0) for code in (3, 4))
        summary = (
            f"{outcome.request.label}: masked in {describe_seconds(outcome.seconds)} on {mask.device_used}; "
            f"{cloud:.1f} % cloud, {mask.class_percentages.get(2, 0.0):.1f} % cloud shadow."
        )
        if outcome.warnings:
            count = len(outcome.warnings)
            summary += f" {count} note{'s' if count > 1 else ''} in the results panel and the log."
        self.iface.messageBar().pushMessage(PLUGIN_NAME, summary, level=Qgis.Success, duration=8)

    def _failed(self, message: str, details: str) -> None:
        self._finish()
        self.progressBar.setValue(0)
        self.stageLabel.setText("Stopped: see the message bar.")
        self._show_error(message, details)

    def _cancelled(self) -> None:
        self._finish()
        self.progressBar.setValue(0)
        self.stageLabel.setText("Cancelled; nothing was written.")
        self.iface.messageBar().pushMessage(PLUGIN_NAME, "The run was cancelled; no output was written.", level=Qgis.Info, duration=5)

    def _show_error(self, message: str, details: str) -> None:
        QgsMessageLog.logMessage(details, PLUGIN_NAME, Qgis.Critical)
        self.iface.messageBar().pushMessage(PLUGIN_NAME, message, level=Qgis.Critical, duration=0)

    # --- results on the map --------------------------------------------------------------------

    def _add_layers(self, outcome: RunOutcome) -> dict[str, QgsRasterLayer]:
        """A group named after the product: mask on top, then the SCL views, the true colour underneath."""
        project = QgsProject.instance()
        group = project.layerTreeRoot().insertGroup(0, outcome.request.label)
        entries = [("mask", outcome.mask.output, layer_styles.MASK_LAYER_NAME, layer_styles.style_mask_layer, True)]
        if outcome.difference:
            entries.append(("difference", outcome.difference, layer_styles.DIFFERENCE_LAYER_NAME, layer_styles.style_difference_layer, False))
        if outcome.scl_view:
            entries.append(("scl", outcome.scl_view, layer_styles.SCL_LAYER_NAME, layer_styles.style_scl_layer, False))
        view = outcome.true_colour
        if view is not None:
            entries.append(("true_colour", view.path, "True colour", lambda layer: style_true_colour(layer, view), True))
        added: dict[str, QgsRasterLayer] = {}
        for key, path, name, style, visible in entries:
            layer = QgsRasterLayer(path, name, "gdal")
            if not layer.isValid():
                QgsMessageLog.logMessage(f"QGIS could not open {path} as a layer.", PLUGIN_NAME, Qgis.Warning)
                continue
            try:
                style(layer)
            except RuntimeError as exc:  # toolbelt.layers.StyleError: a broken installation, shown but not fatal
                QgsMessageLog.logMessage(str(exc), PLUGIN_NAME, Qgis.Warning)
            project.addMapLayer(layer, False)
            group.addLayer(layer).setItemVisibilityChecked(visible)
            added[key] = layer
        if view is not None and "true_colour" in added:
            added["true_colour"].setAbstract(f"Built from {view.description}.")
        if "mask" in added:
            self._zoom_to(added["mask"])
        return added

    def _zoom_to(self, layer: QgsRasterLayer) -> None:
        canvas = self.iface.mapCanvas()
        destination = canvas.mapSettings().destinationCrs()
        extent = layer.extent()
        if destination.isValid() and destination != layer.crs():
            extent = QgsCoordinateTransform(layer.crs(), destination, QgsProject.instance()).transformBoundingBox(extent)
        canvas.setExtent(extent)
        canvas.refresh()

    # --- remembered choices --------------------------------------------------------------------

    def _save_settings(self) -> None:
        settings = QgsSettings()
        values = {
            "source": self.sourceCombo.currentIndex(),
            "product": self.productEdit.text().strip(),
            "model": self.modelFileWidget.filePath(),
            "device": self.deviceCombo.currentData(),
            "resolution": self.resolutionCombo.currentData(),
            "limit_extent": self.extentGroupBox.isChecked(),
            "scl_mode": self.sclModeCombo.currentData(),
            "scl_file": self.sclFileWidget.filePath(),
            "output": self.outputFileWidget.filePath(),
            "scale": self.scaleSpin.value(),
            "offset": self.offsetSpin.value(),
            "level": self.levelCombo.currentIndex(),
        }
        if self.productEdit.text().strip():
            values["browse_folder"] = str(product_folder(self.productEdit.text().strip()))
        for key, value in values.items():
            settings.setValue(SETTINGS_GROUP + key, value)

    def _restore_settings(self) -> None:
        settings = QgsSettings()

        def value(key: str, default: Any, kind: type = str) -> Any:
            return settings.value(SETTINGS_GROUP + key, default, type=kind)

        self.modelFileWidget.setFilePath(value("model", ""))
        for combo, key, default in ((self.deviceCombo, "device", "auto"), (self.resolutionCombo, "resolution", 10)):
            index = combo.findData(value(key, default, type(default)))
            combo.setCurrentIndex(max(index, 0))
        self.scaleSpin.setValue(value("scale", DEFAULT_SCALE, float))
        self.offsetSpin.setValue(value("offset", DEFAULT_OFFSET, float))
        self.levelCombo.setCurrentIndex(value("level", 0, int))
        self.sclFileWidget.setFilePath(value("scl_file", ""))
        self.extentGroupBox.setChecked(value("limit_extent", False, bool))
        self.sourceCombo.setCurrentIndex(value("source", 0, int))
        product = value("product", "")
        if product and Path(product).exists():
            self.set_product(product)
        self._update_input_state()
        index = self.sclModeCombo.findData(value("scl_mode", ""))
        if index >= 0:
            self.sclModeCombo.setCurrentIndex(index)
        output = value("output", "")
        if output:
            self.outputFileWidget.setFilePath(output)
