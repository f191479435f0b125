"""The dock's Reference tab: label a scene by active learning (ALCD) without leaving the map.

The analyst picks a class and clicks points on the map; "Train and classify"
runs the same engine function as s2cloudmask:referencemask in a QgsTask and
shows the reference mask and its confidence; the suggestions list the
well-spread places where the forest is least sure, and a click on one centres
the map there, so the next points go where they teach the most. The samples
live in an ordinary memory layer ("Reference samples", field "class" with
codes 1-4) that "Save samples" writes to a GeoPackage, ready for the
Processing algorithm.

The dock owns the choice of product; this panel asks it through a callable,
so the two share one product and the dock's layout stays its own.
"""

from __future__ import annotations

import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsCategorizedSymbolRenderer,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeature,
    QgsField,
    QgsGeometry,
    QgsMarkerSymbol,
    QgsPointXY,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsRendererCategory,
    QgsTask,
    QgsVectorFileWriter,
    QgsVectorLayer,
)
from qgis.gui import QgsMapToolEmitPoint
from qgis.PyQt.QtCore import QVariant, pyqtSignal
from qgis.PyQt.QtGui import QColor, QIcon, QPixmap
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from .. import inference
from ..inference.classes import CLASS_COLOURS, CLASS_NAMES, MASK_CODES
from ..inference.defaults import DEFAULT_REFERENCE_RESOLUTION, DEFAULT_SUGGESTIONS, MIN_SAMPLES_PER_CLASS, RESOLUTIONS
from ..inference.errors import Cancelled, CloudMaskError
from ..inference.reading.paths import is_product_path
from ..toolbelt import layers as layer_styles
from ..toolbelt.log_handler import PlgLogger
from ..toolbelt.crs import qgis_crs
from ..toolbelt.sample_features import samples_from_layer
from .context_layers import style_true_colour
from .results import breakable
from .task import TaskFeedback

if TYPE_CHECKING:  # the reference builder needs rasterio and scikit-learn; this module must load without them
    from ..inference.reference.build import ReferenceResult

SAMPLE_LAYER_NAME = "Reference samples"
SUGGESTION_LAYER_NAME = "Suggested places for samples"
CLASS_FIELD = "class"
JUMP_PIXELS = 60  # a jump shows this many pixels of the reference around the suggested place


def class_colour(code: int) -> tuple[int, int, int, int]:
    """The class's colour, opaque: a sample must show even where the mask draws its class see-through."""
    return (*CLASS_COLOURS[code][:3], 255)


def class_icon(code: int) -> QIcon:
    pixmap = QPixmap(14, 14)
    pixmap.fill(QColor(*class_colour(code)))
    return QIcon(pixmap)


class ReferenceTask(QgsTask):
    """One round of training and classifying, off the main thread; reports back through its signals."""

    stageChanged = pyqtSignal(str)  # noqa: N815 (Qt's naming)
    succeeded = pyqtSignal(object)  # ReferenceResult
    failed = pyqtSignal(str, str)

    def __init__(self, source: str, samples: list, folder: Path, round_number: int, resolution: int) -> None:
        super().__init__(f"Reference mask, round {round_number}", QgsTask.CanCancel)
        self.arguments = {
            "source": source, "samples": samples, "output": folder / f"reference_round{round_number}.tif",
            "confidence": folder / f"confidence_round{round_number}.tif", "resolution": resolution,
            "suggestions": DEFAULT_SUGGESTIONS, "layer": SAMPLE_LAYER_NAME,
        }
        self.result: ReferenceResult | None = None
        self.error: BaseException | None = None
        self.details = ""

    def run(self) -> bool:
        try:
            self.result = inference.build_reference(**self.arguments, feedback=TaskFeedback(self))
            return True
        except Cancelled as exc:
            self.error = exc
            return True
        except CloudMaskError as exc:
            self.error, self.details = exc, str(exc)
        except Exception as exc:  # noqa: BLE001 - a bug must reach the log, not kill QGIS
            self.error, self.details = exc, traceback.format_exc()
        return False

    def finished(self, result: bool) -> None:  # noqa: FBT001 (QgsTask's signature)
        if result and self.result is not None:
            self.succeeded.emit(self.result)
        elif not result:
            message = str(self.error) if isinstance(self.error, CloudMaskError) else (
                f"Training stopped on an unexpected error ({type(self.error).__name__}: {self.error}). "
                "Details are in the log panel; please report them."
            )
            self.failed.emit(message, self.details or message)


class ReferencePanel(QWidget):
    """The Reference tab of the dock (see the module text)."""

    roundFinished = pyqtSignal(object)  # noqa: N815 - ReferenceResult, once its layers are on the map
    roundFailed = pyqtSignal(str)  # noqa: N815

    def __init__(self, iface: Any, input_path: Callable[[], str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("referencePanel")
        self.iface = iface
        self.canvas = iface.mapCanvas()
        self.input_path = input_path
        self.log = PlgLogger(iface)
        self.samples: QgsVectorLayer | None = None
        self.suggestion_layer: QgsVectorLayer | None = None
        self.result: ReferenceResult | None = None
        self.task: ReferenceTask | None = None
        self.round = 0
        self.folder = Path(tempfile.mkdtemp(prefix="s2cloudmask-reference-"))
        self._result_layers: list[str] = []
        self._crs = ""
        self._build()
        self.tool = QgsMapToolEmitPoint(self.canvas)
        self.tool.canvasClicked.connect(self._clicked)
        self.tool.deactivated.connect(lambda: self.markButton.setChecked(False))
        self.refresh()

    # --- layout ----------------------------------------------------------------------------------

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        intro = QLabel("Mark points of each class on the map, then train: a random forest classifies the scene, "
                       "and the suggestions show where it is least sure. Add points there and train again.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.WrapLongRows)
        self.inputLabel = QLabel()
        self.inputLabel.setWordWrap(True)
        form.addRow("Scene", self.inputLabel)
        self.classCombo = QComboBox()
        self.classCombo.setObjectName("referenceClassCombo")
        for code in MASK_CODES:
            self.classCombo.addItem(class_icon(code), CLASS_NAMES[code], code)
        form.addRow("Class", self.classCombo)
        self.resolutionCombo = QComboBox()
        for combo in (self.classCombo, self.resolutionCombo):  # narrower than their longest entry if need be
            combo.setSizePolicy(QSizePolicy.Ignored, combo.sizePolicy().verticalPolicy())
            combo.setMinimumWidth(combo.fontMetrics().horizontalAdvance("x" * 8))
        for resolution in sorted(RESOLUTIONS, reverse=True):
            self.resolutionCombo.addItem(f"{resolution} m", resolution)
        self.resolutionCombo.setCurrentIndex(self.resolutionCombo.findData(DEFAULT_REFERENCE_RESOLUTION))
        form.addRow("Resolution", self.resolutionCombo)
        layout.addLayout(form)
        buttons = QHBoxLayout()
        self.markButton = QPushButton("Mark points")
        self.markButton.setCheckable(True)
        self.markButton.setToolTip("Click on the map to add a sample of the chosen class.")
        self.undoButton = QPushButton("Remove last")
        buttons.addWidget(self.markButton)
        buttons.addWidget(self.undoButton)
        layout.addLayout(buttons)
        self.countsLabel = QLabel()
        self.countsLabel.setWordWrap(True)
        layout.addWidget(self.countsLabel)
        actions = QVBoxLayout()  # one above the other: side by side they would widen a docked panel
        self.trainButton = QPushButton("Train and classify")
        self.saveButton = QPushButton("Save samples…")
        actions.addWidget(self.trainButton)
        actions.addWidget(self.saveButton)
        layout.addLayout(actions)
        self.statusLabel = QLabel()
        self.statusLabel.setWordWrap(True)
        self.statusLabel.setObjectName("referenceStatus")
        layout.addWidget(self.statusLabel)
        suggestions = QLabel("Suggested places (least confident first; click to go there):")
        suggestions.setWordWrap(True)  # the dock is about 300 px wide
        layout.addWidget(suggestions)
        self.suggestionList = QListWidget()
        self.suggestionList.setObjectName("referenceSuggestions")
        layout.addWidget(self.suggestionList, 1)
        self.markButton.toggled.connect(self._mark)
        self.undoButton.clicked.connect(self.remove_last)
        self.trainButton.clicked.connect(self.train)
        self.saveButton.clicked.connect(self._save_clicked)
        self.suggestionList.currentRowChanged.connect(self.jump_to)

    # --- samples ---------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Say which scene the samples belong to and how many each class has."""
        path = self.input_path()
        self.inputLabel.setText(breakable(Path(path).name) if path else "Choose a product on the Mask tab first.")
        counts = self.counts()
        self.countsLabel.setText("Samples: " + ", ".join(f"{CLASS_NAMES[c].lower()} {counts[c]}" for c in MASK_CODES)
                                 + f" (at least {MIN_SAMPLES_PER_CLASS} in each class you use)")
        running = self.task is not None
        self.trainButton.setEnabled(bool(path) and not running)
        self.markButton.setEnabled(bool(path))
        self.undoButton.setEnabled(any(counts.values()))
        self.saveButton.setEnabled(any(counts.values()))

    def counts(self) -> dict[int, int]:
        counts = {code: 0 for code in MASK_CODES}
        if self.samples is not None and self._alive(self.samples):
            for feature in self.samples.getFeatures():
                counts[int(feature[CLASS_FIELD])] = counts.get(int(feature[CLASS_FIELD]), 0) + 1
        return counts

    @staticmethod
    def _alive(layer: QgsVectorLayer) -> bool:
        return QgsProject.instance().mapLayer(layer.id()) is not None

    def sample_layer(self) -> QgsVectorLayer:
        """The memory layer of samples, in the scene's CRS, created (and styled by class) on first use."""
        if self.samples is not None and self._alive(self.samples):
            return self.samples
        self._crs = inference.input_crs(self.input_path())
        layer = QgsVectorLayer("Point", SAMPLE_LAYER_NAME, "memory")
        layer.setCrs(qgis_crs(self._crs))
        layer.dataProvider().addAttributes([QgsField(CLASS_FIELD, QVariant.Int)])
        layer.updateFields()
        categories = []
        for code in MASK_CODES:
            symbol = QgsMarkerSymbol.createSimple({"name": "circle", "size": "2.8", "outline_color": "20,20,20,255",
                                                   "outline_width": "0.4",
                                                   "color": ",".join(str(v) for v in class_colour(code))})
            categories.append(QgsRendererCategory(code, symbol, CLASS_NAMES[code]))
        layer.setRenderer(QgsCategorizedSymbolRenderer(CLASS_FIELD, categories))
        QgsProject.instance().addMapLayer(layer)
        self.samples = layer
        self._add_true_colour(self.input_path())
        return layer

    def _add_true_colour(self, source: str) -> None:
        """The scene in true colour under everything, so the analyst sees what a point is marked on."""
        if not is_product_path(source):
            return
        try:
            product = inference.open_product(source)
            view = inference.build_true_colour_view(product, product.band_path("B04"), str(self.folder / "true_colour.vrt"))
        except CloudMaskError as exc:
            self.log.log(f"The scene is shown without its true-colour view: {exc}", Qgis.Warning)
            return
        if view is None:
            return
        layer = QgsRasterLayer(view.path, f"True colour ({product.tile_id})", "gdal")
        style_true_colour(layer, view)
        QgsProject.instance().addMapLayer(layer, False)
        QgsProject.instance().layerTreeRoot().addLayer(layer)

    def add_sample(self, point: QgsPointXY, crs: QgsCoordinateReferenceSystem, code: int | None = None) -> None:
        """A sample of `code` (the chosen class without one) at `point` given in `crs`."""
        layer = self.sample_layer()
        transform = QgsCoordinateTransform(crs, layer.crs(), QgsProject.instance())
        feature = QgsFeature(layer.fields())
        feature.setGeometry(QgsGeometry.fromPointXY(transform.transform(point)))
        feature.setAttributes([int(code if code is not None else self.classCombo.currentData())])
        layer.dataProvider().addFeatures([feature])
        layer.updateExtents()
        layer.triggerRepaint()
        self.refresh()

    def remove_last(self) -> None:
        if self.samples is None or not self._alive(self.samples):
            return
        ids = sorted(f.id() for f in self.samples.getFeatures())
        if ids:
            self.samples.dataProvider().deleteFeatures([ids[-1]])
            self.samples.triggerRepaint()
        self.refresh()

    def _mark(self, on: bool) -> None:  # noqa: FBT001 (Qt's signal)
        if on:
            self.sample_layer()
            self.canvas.setMapTool(self.tool)
        elif self.canvas.mapTool() is self.tool:
            self.canvas.unsetMapTool(self.tool)

    def _clicked(self, point: QgsPointXY, _button: Any) -> None:
        self.add_sample(point, self.canvas.mapSettings().destinationCrs())

    def save_samples(self, path: str) -> str:
        """Write the samples to a GeoPackage (or any OGR format by suffix); returns the written path."""
        options = QgsVectorFileWriter.SaveVectorOptions()
        options.driverName = "GPKG" if path.lower().endswith(".gpkg") else QgsVectorFileWriter.driverForExtension(
            Path(path).suffix)
        options.layerName = "reference_samples"
        error, message, written, _ = QgsVectorFileWriter.writeAsVectorFormatV3(
            self.sample_layer(), path, QgsProject.instance().transformContext(), options)
        if error != QgsVectorFileWriter.NoError:
            raise CloudMaskError(f"Could not save the samples to {path}: {message}")
        self.log.log(f"Samples saved to {written}.", Qgis.Success, push=True)
        return written

    def _save_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the samples", str(Path.home() / "reference_samples.gpkg"),
                                              "GeoPackage (*.gpkg)")
        if path:
            try:
                self.save_samples(path)
            except CloudMaskError as exc:
                self.log.log(str(exc), Qgis.Critical, push=True)

    # --- a round of training ---------------------------------------------------------------------

    def train(self) -> None:
        """Start one round in the background; messages for bad samples go to the message bar."""
        source = self.input_path()
        try:
            if not source:
                raise CloudMaskError("Choose a product on the Mask tab first; the samples are marked on it.")
            samples = samples_from_layer(self.sample_layer(), CLASS_FIELD, inference.input_crs(source))
        except CloudMaskError as exc:
            self._failed(str(exc), str(exc))
            return
        self.round += 1
        self.task = ReferenceTask(source, samples, self.folder, self.round, self.resolutionCombo.currentData())
        self.task.succeeded.connect(self._succeeded)
        self.task.failed.connect(self._failed)
        self.task.stageChanged.connect(lambda stage: self.statusLabel.setText(f"Round {self.round}: {stage}…"))
        self.task.taskTerminated.connect(self._ended)
        self.statusLabel.setText(f"Round {self.round}: starting…")
        QgsApplication.taskManager().addTask(self.task)
        self.refresh()

    def _ended(self) -> None:
        self.task = None
        self.refresh()

    def _failed(self, message: str, details: str) -> None:
        self.task = None
        self.statusLabel.setText(message)
        self.log.log(message, Qgis.Warning, push=True, details=details)
        self.refresh()
        self.roundFailed.emit(message)

    def _succeeded(self, result: ReferenceResult) -> None:
        self.task = None
        self.result = result
        self._show_layers(result)
        cv = result.cross_validation
        figures = ("no cross-validation (spread the samples over the scene)" if cv is None else
                   f"cross-validated overall accuracy {cv['overall_accuracy']:.2f}, kappa {cv['kappa']:.2f}")
        self.statusLabel.setText(f"Round {self.round}: {figures}. " + "; ".join(result.warnings))
        self.suggestionList.blockSignals(True)
        self.suggestionList.clear()
        for rank, suggestion in enumerate(result.suggestions, start=1):
            item = QListWidgetItem(f"{rank}. confidence {suggestion.confidence:.0%}")
            self.suggestionList.addItem(item)
        self.suggestionList.blockSignals(False)
        self.refresh()
        self.roundFinished.emit(result)

    def _show_layers(self, result: ReferenceResult) -> None:
        """This round's reference, confidence and suggestions replace the last round's, under the samples."""
        project = QgsProject.instance()
        for layer_id in self._result_layers:
            if project.mapLayer(layer_id) is not None:
                project.removeMapLayer(layer_id)
        added: list[str] = []
        for path, name, style in ((result.confidence, layer_styles.CONFIDENCE_LAYER_NAME,
                                   layer_styles.CONFIDENCE_STYLE),
                                  (result.output, layer_styles.REFERENCE_LAYER_NAME, layer_styles.MASK_STYLE)):
            layer = QgsRasterLayer(path, f"{name} (round {self.round})", "gdal")
            layer_styles.apply_style(layer, style)
            project.addMapLayer(layer)
            added.append(layer.id())
            if path == result.confidence:  # shown on request: the reference over the scene is what one reads first
                project.layerTreeRoot().findLayer(layer.id()).setItemVisibilityChecked(False)
        suggestions = QgsVectorLayer("Point?field=rank:integer&field=confidence:double", SUGGESTION_LAYER_NAME,
                                     "memory")
        suggestions.setCrs(qgis_crs(self._crs))
        features = []
        for rank, suggestion in enumerate(result.suggestions, start=1):
            feature = QgsFeature(suggestions.fields())
            feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(suggestion.x, suggestion.y)))
            feature.setAttributes([rank, suggestion.confidence])
            features.append(feature)
        suggestions.dataProvider().addFeatures(features)
        suggestions.renderer().setSymbol(QgsMarkerSymbol.createSimple(
            {"name": "star", "size": "4.5", "color": "255,210,0,255", "outline_color": "0,0,0,255"}))
        project.addMapLayer(suggestions)
        self.suggestion_layer = suggestions
        added.append(suggestions.id())
        self._result_layers = added
        if self.samples is not None and self._alive(self.samples):  # keep the samples on top of the new layers
            root = project.layerTreeRoot()
            node = root.findLayer(self.samples.id())
            if node is not None:
                clone = node.clone()
                root.insertChildNode(0, clone)
                node.parent().removeChildNode(node)

    def jump_to(self, row: int) -> None:
        """Centre the map on suggestion `row` and show JUMP_PIXELS pixels of the reference around it."""
        if self.result is None or not 0 <= row < len(self.result.suggestions):
            return
        suggestion = self.result.suggestions[row]
        half = JUMP_PIXELS / 2 * self.result.grid.resolution
        box = QgsRectangle(suggestion.x - half, suggestion.y - half, suggestion.x + half, suggestion.y + half)
        transform = QgsCoordinateTransform(qgis_crs(self._crs), self.canvas.mapSettings().destinationCrs(),
                                           QgsProject.instance())
        self.canvas.setExtent(transform.transformBoundingBox(box))
        self.canvas.refresh()
        self.classCombo.setFocus()

    def unload(self) -> None:
        """Leave the map tool and any running round behind cleanly (the dock calls this when it closes)."""
        if self.canvas.mapTool() is self.tool:
            self.canvas.unsetMapTool(self.tool)
        if self.task is not None:
            self.task.cancel()

