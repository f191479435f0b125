"""The analyst's door: a dock to pick a product, press Run, keep working, and see the mask on the map.

The dock only gathers choices and shows results. The masking itself runs in a
CloudMaskTask (ui/task.py) through the same engine functions as the
Processing algorithms; when the task reports back on the main thread the dock
adds the layers (styled by toolbelt.layers, as the algorithms' outputs are)
and fills the results panel.

It is laid out for a docked panel about 300 px wide: one field per row,
sections that fold away, texts that wrap, and paths that break at their
separators instead of widening the panel.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsCoordinateTransform,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
)
from qgis.gui import QgsDockWidget, QgsExtentWidget, QgsFileWidget
from qgis.PyQt import uic
from qgis.PyQt.QtCore import QSize, Qt, QTimer
from qgis.PyQt.QtWidgets import QAction, QFileDialog, QLabel, QMenu, QMessageBox, QScrollArea, QSizePolicy, QWidget

from .. import inference
from ..inference.classes import CLOUD, CLOUD_SHADOW, SEMI_TRANSPARENT
from ..inference.defaults import DEFAULT_LEVEL, DEFAULT_OFFSET, DEFAULT_SCALE, LEVELS, OPTIONAL_BAND_ROLES, RESOLUTIONS
from ..inference.defaults import RASTER_BAND_ROLES as BAND_ROLES
from ..inference.errors import BandError, CloudMaskError, DependencyError, OutputError, ProductError
from ..inference.masking.model_card import SENTINEL2_BANDS, load_card
from ..inference.masking.session import DEVICE_NAMES, gpu_providers
from ..inference.outputs import check_outputs, check_writable
from ..inference.reading.paths import is_product_path
from ..toolbelt import layers as layer_styles
from ..toolbelt.compat import raster_layer_filter, set_abstract
from ..toolbelt.crs import qgis_crs
from ..toolbelt.log_handler import PlgLogger
from ..toolbelt.preferences import DockSettings, PlgSettings
from .clean_task import CleanBandsTask
from .context_layers import style_true_colour
from .folders import first_writable, folder_holding_product
from .model_list import ModelList
from .narrow import breakable, keep_narrow, narrow
from .reference_panel import ReferencePanel
from .released_layers import ReleasedLayers
from .results import ResultsPanel, describe_seconds, run_settings
from .run_files import CompanionPaths
from .stac_settings_dialog import StacSettingsDialog
from .task import CloudMaskTask, EngineTask, RunOutcome, RunRequest, publish

if TYPE_CHECKING:  # the reader needs rasterio; this module must load without it
    from ..inference.reading.product import Product

FORM_CLASS, _ = uic.loadUiType(str(Path(__file__).with_name("dock.ui")))

SOURCES = (("product", "Sentinel-2 product"), ("raster", "Raster layer of the project"))
LEVEL_LABELS = {"l1c": "L1C (top of atmosphere)", "l2a": "L2A (surface reflectance)"}
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
DOCKED_WIDTH = 320
RUNNING_TIP = "A mask is being made. Wait for it to finish, or press Cancel, before starting another."
RUN_TIP = "Mask the input in the background; QGIS stays usable, and the task manager shows the progress."


def free_output(folder: Path, stem: str) -> Path:
    """<stem>_cloudmask.tif in folder, numbered (_2, _3 …) while that name or a file of its run already exists."""
    number = 1
    while True:
        candidate = folder / (f"{stem}_cloudmask.tif" if number == 1 else f"{stem}_cloudmask_{number}.tif")
        if not any(path.exists() for path in CompanionPaths.beside(str(candidate)).all_files(str(candidate))):
            return candidate
        number += 1


def default_output(stem: str, beside: Path | None = None, remembered: str = "", project_home: str = "") -> str:
    """A free <stem>_cloudmask.tif beside the product, else in the folder last used, else in the project's home.

    Never the system's temp folder: QGIS treats layers there as temporary and
    they vanish with it. "" when none of the folders is writable; Run then asks
    for a file.
    """
    folder = first_writable(beside, remembered, project_home)
    return str(free_output(folder, stem)) if folder is not None else ""


def finest_resolution(product: Product) -> int:
    """The finest resolution any spectral band of the product has: the mask's natural pixel size."""
    present = [resolution for files in product.band_files.values() for resolution in files]
    return min((r for r in present if r in RESOLUTIONS), default=RESOLUTIONS[0])


def safe_stem(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "raster"


def device_choices() -> list[tuple[str, str, str]]:
    """(label, DEVICE value, tooltip): only the GPU providers this onnxruntime really has, by name."""
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


class CloudMaskDock(QgsDockWidget, FORM_CLASS):
    """Sentinel-2 Cloud Mask's dock widget; plugin.py adds it to the right dock area."""

    def __init__(self, iface: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setupUi(self)
        self.setObjectName("Sentinel2CloudMaskDock")
        self.iface = iface
        self.log = PlgLogger(iface)
        self.task: CloudMaskTask | None = None
        self.product: Product | None = None  # the chosen product, opened once; every step of a run reads this one
        self.product_error = ""
        self.product_path = ""
        self.last_outcome: RunOutcome | None = None
        self.auto_output = ""  # the output name the dock chose itself (moved on after each run)
        self._output_stem = ""  # what the dock names outputs after: the product id or the layer name

        self.results = ResultsPanel()
        self.resultsScroll = self._scrolling(self.results, "resultsScroll")
        self.resultsTab.layout().addWidget(self.resultsScroll)
        # The Reference tab labels the chosen scene by active learning (ui/reference_panel.py).
        self.reference = ReferencePanel(iface, self.reference_input)
        self.referenceScroll = self._scrolling(self.reference, "referenceScroll")
        self.mainTabs.addTab(self.referenceScroll, "Reference")
        self.mainTabs.currentChanged.connect(lambda _index: self.reference.refresh())
        self._setup_widgets()
        self._connect()
        self._restore_settings()
        self._show_source_page()
        self._update_input_state()

    @staticmethod
    def _scrolling(panel: QWidget, name: str) -> QScrollArea:
        """A tab's panel in a scroll area without a frame: it scrolls as a whole, downwards only."""
        area = QScrollArea()
        area.setObjectName(name)
        area.setFrameShape(QScrollArea.Shape.NoFrame)
        area.setWidgetResizable(True)
        area.setWidget(panel)
        return area

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        """Docked, the panel starts at DOCKED_WIDTH, the width of QGIS's own panels; the form fits it (and less)."""
        return QSize(DOCKED_WIDTH, super().sizeHint().height())

    # --- set-up --------------------------------------------------------------------------------

    def _setup_widgets(self) -> None:
        for value, text in SOURCES:
            self.sourceCombo.addItem(text, value)
        for value in sorted(LEVELS, key=lambda level: level != DEFAULT_LEVEL):  # the default first
            self.levelCombo.addItem(LEVEL_LABELS[value], value)
        browse = QMenu(self.productBrowseButton)
        self.productFolderAction = QAction("A .SAFE folder…", browse)
        self.productFileAction = QAction("A product .zip, MTD xml or STAC item .json…", browse)
        self.stacSettingsAction = QAction("STAC settings…", browse)
        browse.addAction(self.productFolderAction)
        browse.addAction(self.productFileAction)
        browse.addSeparator()
        browse.addAction(self.stacSettingsAction)
        self.productBrowseButton.setMenu(browse)
        self.rasterLayerCombo.setFilters(raster_layer_filter())
        self.rasterLayerCombo.setAllowEmptyLayer(True)
        for role in OPTIONAL_BAND_ROLES:
            self.band_combo(role).setShowNotSetOption(True, "Not used")
        for combo in (self.sourceCombo, self.rasterLayerCombo, self.levelCombo, self.deviceCombo,
                      self.resolutionCombo, self.sclModeCombo, *(self.band_combo(role) for role in BAND_ROLES)):
            narrow(combo)
        self.modelFileWidget.setStorageMode(QgsFileWidget.StorageMode.GetFile)
        self.modelFileWidget.lineEdit().setPlaceholderText("Built-in U-Net for the level")
        self.modelFileWidget.setDialogTitle("Choose an ONNX model")
        self.modelList = ModelList(self.modelFileWidget.lineEdit())  # 'auto' and this user's fine-tuned models
        self.refresh_devices()
        for resolution in RESOLUTIONS:
            self.resolutionCombo.addItem(f"{resolution} m", resolution)
        # The condensed extent widget: one line and a menu (layer, map view, draw), where the expanded one needs 600 px.
        self.extentWidget = QgsExtentWidget(self.extentGroupBox, QgsExtentWidget.WidgetStyle.CondensedStyle)
        self.extentWidget.setObjectName("extentWidget")
        self.extentWidget.setMapCanvas(self.iface.mapCanvas())
        self.extentGroupBox.layout().addWidget(self.extentWidget)
        self.sclFileWidget.setStorageMode(QgsFileWidget.StorageMode.GetFile)
        self.sclFileWidget.setDialogTitle("Choose the matching L2A product (.zip, MTD_MSIL2A.xml) or an SCL raster")
        self.outputFileWidget.setStorageMode(QgsFileWidget.StorageMode.SaveFile)
        self.outputFileWidget.setConfirmOverwrite(True)
        self.outputFileWidget.setDialogTitle("Save the cloud mask as")
        for widget in (self.modelFileWidget, self.sclFileWidget, self.outputFileWidget):
            widget.fileChanged.connect(lambda path, shown=widget: shown.setToolTip(path or shown.toolTip()))
        self.runButton.setToolTip(RUN_TIP)
        self.progressBar.setRange(0, 100)
        for label in (self.productInfoLabel, self.stageLabel):
            keep_narrow(label)
        self.setAcceptDrops(True)

    def refresh_devices(self) -> None:
        """List the devices this onnxruntime offers; called again once an install brings onnxruntime."""
        chosen = self.deviceCombo.currentData()
        self.deviceCombo.clear()
        for label, value, tip in device_choices():
            self.deviceCombo.addItem(label, value)
            self.deviceCombo.setItemData(self.deviceCombo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.deviceCombo.setCurrentIndex(max(0, self.deviceCombo.findData(chosen)))

    def dependencies_changed(self) -> None:
        """After an install: the device list and the chosen product's line say what is true now."""
        self.refresh_devices()
        if self.product_path and self.product is None:
            self.set_product(self.product_path)

    def _connect(self) -> None:
        self.sourceCombo.currentIndexChanged.connect(self._source_changed)
        self.productEdit.editingFinished.connect(self._product_edited)
        self.productEdit.cleared.connect(lambda: self.set_product(""))
        self.productFolderAction.triggered.connect(self._choose_product_folder)
        self.productFileAction.triggered.connect(self._choose_product_file)
        self.stacSettingsAction.triggered.connect(lambda: StacSettingsDialog(self).exec_())
        self.rasterLayerCombo.layerChanged.connect(self._layer_changed)
        self.sclModeCombo.currentIndexChanged.connect(self._update_scl_state)
        self.outputFileWidget.fileChanged.connect(self._output_edited)
        self.runButton.clicked.connect(self.run)
        self.cancelButton.clicked.connect(self.cancel)
        self.results.cleanButton.clicked.connect(self.clean_bands)

    def band_combo(self, role: str) -> Any:
        return getattr(self, f"{role}BandCombo")

    # --- inputs --------------------------------------------------------------------------------

    @property
    def uses_product(self) -> bool:
        return self.sourceCombo.currentData() == "product"

    def set_product(self, path: str) -> None:
        """Open the product now, once: mistakes show before Run, and resolution, extent and output follow it."""
        path = path.strip()
        if self.productEdit.text() != path:
            self.productEdit.setText(path)
        self.productEdit.setToolTip(path or self.productEdit.toolTip())
        self.product, self.product_error, self.product_path = None, "", path
        if path:
            try:
                self.product = inference.open_product(path)
            except CloudMaskError as exc:
                self.product_error = str(exc)
        self._ready()
        self._show_product()
        self._update_input_state()
        if self.product is not None:
            self.resolutionCombo.setCurrentIndex(self.resolutionCombo.findData(finest_resolution(self.product)))
            self._set_default_output(self.product.product_id, folder_holding_product(path))

    def _ready(self) -> None:
        """Another input: the progress and the stage of the last run no longer describe it (unless one runs)."""
        if self.task is None:
            self.progressBar.setValue(0)
            self.stageLabel.setText("Ready.")

    def _set_default_output(self, stem: str, beside: Path | None) -> None:
        self._output_stem = stem
        output = default_output(stem, beside, PlgSettings.get().output_folder, QgsProject.instance().homePath())
        self.auto_output = output
        self.outputFileWidget.setFilePath(output)

    def _output_edited(self, path: str) -> None:
        if path != self.auto_output:
            self.auto_output = ""  # the user's own choice: a rerun asks before replacing it

    def _product_edited(self) -> None:
        if self.productEdit.text().strip() != self.product_path:
            self.set_product(self.productEdit.text())

    def _show_product(self) -> None:
        product = self.product
        if product is None:
            text = self.product_error or "No product chosen."
            self.productInfoLabel.setText(breakable(text))
            self.productInfoLabel.setToolTip(text)
            self.productInfoLabel.setStyleSheet("color: #b00020;" if self.product_error else "")
            return
        resolutions = sorted({r for files in product.band_files.values() for r in files})
        bands = f"bands at {', '.join(f'{r} m' for r in resolutions)}" if resolutions else "no spectral bands found"
        self.productInfoLabel.setText(
            f"<b>{product.level}</b> · {product.satellite} · {product.sensing_time:%Y-%m-%d %H:%M} UTC · "
            f"tile {product.tile_id} · baseline {product.processing_baseline} · {bands}"
        )
        self.productInfoLabel.setToolTip(product.product_id)
        self.productInfoLabel.setStyleSheet("")
        grid = product.grids[min(product.grids)]
        crs = qgis_crs(product.crs)
        self.extentWidget.setOriginalExtent(QgsRectangle(*grid.bounds), crs)
        self.extentWidget.setOutputCrs(crs)
        canvas = self.iface.mapCanvas()
        self.extentWidget.setCurrentExtent(canvas.extent(), canvas.mapSettings().destinationCrs())
        self.extentWidget.setOutputExtentFromOriginal()  # fills the field; the tick stays the user's

    def _choose_product_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a Sentinel-2 .SAFE folder", self._browse_start())
        if folder:
            self.set_product(folder)

    def _choose_product_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Choose a Sentinel-2 product",
            self._browse_start(),
            "Sentinel-2 products (*.zip MTD_MSIL1C.xml MTD_MSIL2A.xml);;STAC items (*.json);;All files (*)",
        )
        if path:
            self.set_product(path)

    def _browse_start(self) -> str:
        current = self.productEdit.text()
        folder = folder_holding_product(current) if current else None
        return str(folder) if folder is not None else PlgSettings.get().browse_folder

    def _show_source_page(self) -> None:
        self.sourceStack.setCurrentIndex(self.sourceCombo.currentIndex())
        self.productInfoLabel.setVisible(self.uses_product)  # outside the stack: its wrapped height is its own
        for index in range(self.sourceStack.count()):
            # a stack is as tall as its tallest page unless the hidden pages stop asking for room
            shown = index == self.sourceStack.currentIndex()
            self.sourceStack.widget(index).setSizePolicy(
                QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred if shown else QSizePolicy.Policy.Ignored)
        self.sourceStack.adjustSize()

    def _source_changed(self) -> None:
        self._show_source_page()
        self._update_input_state()
        if self.uses_product and self.product is not None:
            self.set_product(self.product_path)
        elif not self.uses_product:
            self._layer_changed(self.rasterLayerCombo.currentLayer())

    def _layer_changed(self, layer: Any) -> None:
        self._ready()
        for role in BAND_ROLES:
            self.band_combo(role).setLayer(layer)
        if isinstance(layer, QgsRasterLayer):
            guessed = guess_bands(layer)
            for role in BAND_ROLES:
                self.band_combo(role).setBand(guessed.get(role, -1))
            if not self.uses_product:
                source = Path(layer.source())
                self._set_default_output(safe_stem(layer.name()), source.parent if source.is_file() else None)

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
        self.sourceCombo.setCurrentIndex(self.sourceCombo.findData("product"))
        self.mainTabs.setCurrentWidget(self.settingsTab)
        self.set_product(path)

    # --- running -------------------------------------------------------------------------------

    def build_request(self) -> RunRequest:
        """The run the form describes, checked in the order the form is filled: input, model, comparison, output.

        The checks are the engine's own where it has one (the product as opened,
        the model card, the output folder); a CloudMaskError says what is missing.
        """
        if self.uses_product:
            if self.product is None:
                raise ProductError(self.product_error or "Choose a Sentinel-2 product: a .SAFE folder, a product .zip or its MTD xml.")
            request = RunRequest(
                label=self.product.product_id,
                output="",
                product=self.product,
                resolution=int(self.resolutionCombo.currentData()),
                extent=self._extent(),
            )
        else:
            layer = self.rasterLayerCombo.currentLayer()
            if not isinstance(layer, QgsRasterLayer) or layer.providerType() != "gdal":
                raise ProductError("Choose a raster layer read from a file (GDAL) in Input > Layer.")
            request = RunRequest(
                label=layer.name(),
                output="",
                raster=layer.dataProvider().dataSourceUri(),
                bands=self._bands(layer),
                scale=self.scaleSpin.value(),
                offset=self.offsetSpin.value(),
                level=self.levelCombo.currentData(),
            )
        model = self.modelFileWidget.filePath().strip() or "auto"
        if model != "auto":
            load_card(model)  # a missing file or card is told now, not after the product is read
        scl = self._scl_source()
        output = self.outputFileWidget.filePath().strip()
        if not output:
            raise OutputError("Choose where to save the mask (Output > Mask), for example cloudmask.tif.")
        if Path(output).suffix.lower() not in (".tif", ".tiff"):
            output += ".tif"
        check_writable(output)
        self._check_against_inputs(output, request, model, scl)
        return replace(request, output=output, model=model, device=self.deviceCombo.currentData() or "auto", scl=scl,
                       shadow_check=self.shadowCheckBox.isChecked(), buffer=self.bufferSpin.value())

    def _check_against_inputs(self, output: str, request: RunRequest, model: str, scl: str | Product | None) -> None:
        """No file of the run may replace an input or lie inside the product: checked on the final names, which
        the engine never sees (it writes into the run's hidden folder)."""
        companions = CompanionPaths.beside(output)
        outputs = {"The mask": output, "The SCL difference": companions.difference, "The report": companions.report,
                   "The true-colour view": companions.true_colour, "The SCL view": companions.scl_view}
        root = request.product.root if request.product is not None else ""
        check_outputs(outputs, {
            "the product": root if root and not root.startswith("/vsi") else None,
            "the product file": self.product_path if self.uses_product else None,
            "the raster layer": request.raster, "the model": None if model == "auto" else model,
            "the SCL source": scl if isinstance(scl, str) else None,
        })

    def _extent(self) -> tuple[float, float, float, float, str] | None:
        if not self.extentGroupBox.isChecked():
            return None
        rect = self.extentWidget.outputExtent()
        crs = self.extentWidget.outputCrs()
        return (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum(), crs.authid() or crs.toWkt())

    def _bands(self, layer: QgsRasterLayer) -> dict[str, int]:
        bands = {role: self.band_combo(role).currentBand() for role in BAND_ROLES}
        missing = [role for role in ("blue", "green", "red", "nir") if bands[role] < 1]
        if missing:
            raise BandError(f"Choose the {', '.join(missing)} band of {layer.name()} in Input (band mapping).")
        if (bands["swir16"] < 1) != (bands["swir22"] < 1):
            raise BandError(f"Choose both SWIR bands of {layer.name()} (B11 and B12), or neither for the 4-band model.")
        return {role: number for role, number in bands.items() if number >= 1}

    def _scl_source(self) -> str | Product | None:
        mode = self.sclModeCombo.currentData()
        if mode == "product":
            return self.product
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
        """Start a run in QGIS's task manager; refused (politely) while another one runs.

        The files of an earlier run under the same names, and their layers,
        stay as they are until this run is complete (ui/run_files.py).
        """
        if self.task is not None:
            self.log.log(RUNNING_TIP, Qgis.MessageLevel.Info, push=True)
            return
        try:
            request = self.build_request()
        except CloudMaskError as exc:  # a slip in the form: said plainly, not as an alarm
            self.log.log(str(exc), Qgis.MessageLevel.Info, push=True, duration=10)
            return
        existing = [path for path in CompanionPaths.beside(request.output).all_files(request.output) if path.exists()]
        if existing and not self.confirm_replace(request.output, existing):
            return
        self._save_settings(request)
        self._start(CloudMaskTask(request), self._succeeded)

    def _start(self, task: EngineTask, succeeded: Any) -> None:
        """Hand a task to QGIS's task manager, its progress and stage on the dock, its end to `succeeded` or the
        shared failure and cancel handlers."""
        task.progressChanged.connect(lambda value: self.progressBar.setValue(round(value)))
        task.stageChanged.connect(lambda stage: self.stageLabel.setText(breakable(stage)))
        task.succeeded.connect(succeeded)
        task.failed.connect(self._failed)
        task.cancelledRun.connect(self._cancelled)
        self.task = task
        self._set_running(True)
        self.stageLabel.setText(breakable(f"Waiting for the task manager to start {task.description()}…"))
        QgsApplication.taskManager().addTask(task)

    def clean_bands(self) -> None:
        """The Results tab's Clean bands: the last run's product with its mask applied, in QGIS's task manager."""
        if self.task is not None:
            self.log.log(RUNNING_TIP, Qgis.MessageLevel.Info, push=True)
            return
        if self.last_outcome is None or self.last_outcome.request.product is None:
            return
        self._start(CleanBandsTask(self.last_outcome), self._cleaned)

    def _cleaned(self, result: Any) -> None:
        """The clean bands join the run's group, on top, in true colour."""
        self._finish()
        self.progressBar.setValue(100)
        layer = QgsRasterLayer(result.output, layer_styles.CLEAN_LAYER_NAME, "gdal")
        if not layer.isValid():
            self._failed(f"QGIS could not open {result.output} as a layer.", result.output)
            return
        layer_styles.style_band_stack(layer)
        project = QgsProject.instance()
        project.addMapLayer(layer, False)
        mask_node = next((node for node in project.layerTreeRoot().findLayers()
                          if node.layer() is not None and node.layer().source() == self.last_outcome.mask.output), None)
        (mask_node.parent() if mask_node is not None else project.layerTreeRoot()).insertLayer(0, layer)
        summary = (f"Clean bands: {', '.join(result.bands)} in {Path(result.output).name}, "
                   f"{result.kept_percent:.1f} % of the pixels with data kept.")
        self.stageLabel.setText(breakable(summary))
        QTimer.singleShot(0, lambda: self.log.bar(summary, Qgis.MessageLevel.Success))

    def confirm_replace(self, output: str, existing: list[Path]) -> bool:
        """Ask before a run writes over files of an earlier run; No is the default. Whole names, wrapped."""
        box = QMessageBox(QMessageBox.Icon.Question, "Replace the earlier results?",
                          breakable(f"These files in {Path(output).parent} exist and will be replaced:"),
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.setObjectName("replaceQuestion")
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.setInformativeText(
            "\n".join(breakable(f"• {path.name}") for path in existing)
            + "\n\nTheir layers stay on the map until the new results are complete, then give way to them. "
            "Choose another output name to keep them."
        )
        for label in box.findChildren(QLabel):
            label.setWordWrap(True)
        return box.exec() == QMessageBox.StandardButton.Yes

    def reference_input(self) -> str:
        """The scene the Reference tab labels: the chosen product once it opened, or the raster layer's file."""
        if self.uses_product:
            return self.product_path if self.product is not None else ""
        layer = self.rasterLayerCombo.currentLayer()
        return layer.source() if layer is not None else ""

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
        """The earlier run's layers give way, the new files take their names, the new group takes their place."""
        self._finish()
        self.iface.mapCanvas().stopRendering()  # a drawing in progress still reads the files to be replaced
        released = ReleasedLayers(CompanionPaths.beside(outcome.request.output).all_files(outcome.request.output))
        try:
            publish(outcome)
        except OutputError as exc:
            released.restore()
            self._failed(str(exc), str(exc))
            return
        place = released.tidy()
        self.last_outcome = outcome
        self.progressBar.setValue(100)
        mask = outcome.mask
        self.stageLabel.setText(f"Done in {describe_seconds(outcome.seconds)} on {mask.device_used}.")
        self._add_layers(outcome, place)
        self.results.show_run(outcome.request.label, mask, outcome.seconds, outcome.comparison, outcome.warnings,
                              run_settings(outcome.request, mask))
        self.results.offer_cleaning(outcome.request.product is not None)
        self.mainTabs.setCurrentWidget(self.resultsTab)
        if self.auto_output == outcome.request.output:  # the next run gets fresh names, not these
            self._set_default_output(self._output_stem, Path(outcome.request.output).parent)
        shares = mask.class_percentages
        summary = (
            f"{outcome.request.label}: masked in {describe_seconds(outcome.seconds)} on {mask.device_used}; "
            f"{shares.get(CLOUD, 0.0) + shares.get(SEMI_TRANSPARENT, 0.0):.1f} % cloud, "
            f"{shares.get(CLOUD_SHADOW, 0.0):.1f} % cloud shadow."
        )
        if outcome.warnings:  # already logged one by one as they came: only counted here
            count = len(outcome.warnings)
            summary += f" {count} note{'s' if count > 1 else ''} in the results panel and the log."
        # after QGIS's own "Task complete" notice, so the summary is the one on top of the message bar
        QTimer.singleShot(0, lambda: self.log.bar(summary, Qgis.MessageLevel.Success))

    def _failed(self, message: str, details: str) -> None:
        self._finish()
        self.progressBar.setValue(0)
        self.stageLabel.setText(self._kept("Stopped: see the message bar."))
        QTimer.singleShot(0, lambda: self.log.log(message, Qgis.MessageLevel.Critical, push=True, details=details))

    def _cancelled(self) -> None:
        self._finish()
        self.progressBar.setValue(0)
        self.stageLabel.setText(self._kept("Cancelled; nothing was written."))
        QTimer.singleShot(0, lambda: self.log.log("The run was cancelled; no output was written.", Qgis.MessageLevel.Info, push=True))

    def _kept(self, stopped: str) -> str:
        """A stopped run's stage line; it says so when the map and the Results tab still show an earlier run."""
        return f"{stopped} The earlier results are kept." if self.last_outcome is not None else stopped

    # --- results on the map --------------------------------------------------------------------

    def _group_name(self, label: str) -> str:
        """The run's label, numbered when another group of the project already carries it."""
        root = QgsProject.instance().layerTreeRoot()
        name, number = label, 1
        while root.findGroup(name) is not None:
            number += 1
            name = f"{label} ({number})"
        return name

    def _add_layers(self, outcome: RunOutcome, place: tuple[Any, int] | None) -> None:
        """A group named after the product: mask on top, then the SCL views, the true colour underneath.

        A run that replaced an earlier one's files puts its group at `place`, where that one's stood.
        """
        project = QgsProject.instance()
        parent, index = place or (project.layerTreeRoot(), 0)
        group = parent.insertGroup(index, self._group_name(outcome.request.label))
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
                self.log.log(f"QGIS could not open {path} as a layer.", Qgis.MessageLevel.Warning)
                continue
            try:
                style(layer)
            except layer_styles.StyleError as exc:  # a broken installation, shown but not fatal
                self.log.log(str(exc), Qgis.MessageLevel.Warning)
            project.addMapLayer(layer, False)
            group.addLayer(layer).setItemVisibilityChecked(visible)
            added[key] = layer
        if view is not None and "true_colour" in added:
            set_abstract(added["true_colour"], f"Built from {view.description}.")
        if "mask" in added:
            self._zoom_to(added["mask"])

    def _zoom_to(self, layer: QgsRasterLayer) -> None:
        canvas = self.iface.mapCanvas()
        destination = canvas.mapSettings().destinationCrs()
        extent = layer.extent()
        if destination.isValid() and destination != layer.crs():
            extent = QgsCoordinateTransform(layer.crs(), destination, QgsProject.instance()).transformBoundingBox(extent)
        canvas.setExtent(extent)
        canvas.refresh()

    # --- remembered choices --------------------------------------------------------------------

    def _save_settings(self, request: RunRequest) -> None:
        """What a run used, for the next session; the extent and resolution are left out: they follow the product."""
        settings = PlgSettings.get()
        settings.source = self.sourceCombo.currentData()
        settings.model = self.modelFileWidget.filePath().strip()
        settings.device = self.deviceCombo.currentData() or "auto"
        settings.scl_mode = self.sclModeCombo.currentData()
        settings.scl_file = self.sclFileWidget.filePath().strip()
        settings.output_folder = str(Path(request.output).parent)
        settings.shadow_check, settings.buffer = request.shadow_check, request.buffer
        if self.uses_product:
            settings.product = self.product_path
            folder = folder_holding_product(self.product_path)
            settings.browse_folder = str(folder) if folder is not None else settings.browse_folder
        else:
            settings.scale, settings.offset, settings.level = request.scale, request.offset, request.level
        PlgSettings.set(settings)

    def _restore_settings(self) -> None:
        settings: DockSettings = PlgSettings.get()
        self.modelFileWidget.setFilePath(settings.model)
        self.deviceCombo.setCurrentIndex(max(self.deviceCombo.findData(settings.device), 0))
        self.scaleSpin.setValue(DEFAULT_SCALE if settings.scale is None else settings.scale)
        self.offsetSpin.setValue(DEFAULT_OFFSET if settings.offset is None else settings.offset)
        self.levelCombo.setCurrentIndex(max(self.levelCombo.findData(settings.level), 0))
        self.sclFileWidget.setFilePath(settings.scl_file)
        self.shadowCheckBox.setChecked(settings.shadow_check)
        self.bufferSpin.setValue(settings.buffer)
        self.sourceCombo.setCurrentIndex(max(self.sourceCombo.findData(settings.source), 0))
        if settings.product and Path(settings.product).exists():
            self.set_product(settings.product)
        self._update_input_state()
        index = self.sclModeCombo.findData(settings.scl_mode)
        if index >= 0:
            self.sclModeCombo.setCurrentIndex(index)
