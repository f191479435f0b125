"""The dock's Reference tab: label a scene by active learning (ALCD) without leaving the map.

The analyst picks a class and clicks points on the map; "Train and classify"
runs the same engine function as s2cloudmask:referencemask in a QgsTask and
shows the reference mask and its confidence; the suggestions list the
well-spread places where the forest is least sure, and a click on one centres
the map there, so the next points go where they teach the most. The samples
live in an ordinary memory layer ("Reference samples", field "class" with
codes 1-4) that "Save samples" writes to a GeoPackage, ready for the
Processing algorithm.

Each round's reference and confidence are written beside the saved samples,
else beside the scene, else in the folder the dock saved to last, else in the
project's home, else in a folder the analyst is asked for once; never in the
temp folder, where a saved project would lose them. "Save reference…" copies
the latest round where the analyst wants it, and the map then reads that copy.

The dock owns the choice of product; this panel asks it through a callable,
so the two share one product and the dock's layout stays its own.
"""

from __future__ import annotations

import shutil
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
    QgsDataProvider,
    QgsFeature,
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
from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtGui import QColor, QIcon, QPixmap
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .. import inference
from ..inference.classes import CLASS_COLOURS, CLASS_NAMES, MASK_CODES
from ..inference.defaults import DEFAULT_REFERENCE_RESOLUTION, DEFAULT_SUGGESTIONS, MIN_SAMPLES_PER_CLASS, RESOLUTIONS
from ..inference.errors import Cancelled, CloudMaskError, OutputError, SamplesOutside
from ..inference.outputs import atomic_output, check_outputs
from ..inference.reading.paths import is_product_path
from ..toolbelt import layers as layer_styles
from ..toolbelt.crs import qgis_crs
from ..toolbelt.compat import field
from ..toolbelt.log_handler import PlgLogger
from ..toolbelt.preferences import PlgSettings
from ..toolbelt.sample_features import samples_from_layer
from .context_layers import style_true_colour
from .folders import first_writable, folder_holding_product
from .narrow import breakable, narrow, wrapping_label
from .results import percent, plain
from .task import TaskFeedback

if TYPE_CHECKING:  # the reference builder needs rasterio and scikit-learn; this module must load without them
    from ..inference.reference.build import ReferenceResult

SAMPLE_LAYER_NAME = "Reference samples"
SUGGESTION_LAYER_NAME = "Suggested places for samples"
CLASS_FIELD = "class"
JUMP_PIXELS = 60  # a jump shows this many pixels of the reference around the suggested place
LISTED_OUTSIDE = 10  # samples outside the scene named one by one; more are counted


def class_colour(code: int) -> tuple[int, int, int, int]:
    """The class's colour, opaque: a sample must show even where the mask draws its class see-through."""
    return (*CLASS_COLOURS[code][:3], 255)


def class_icon(code: int) -> QIcon:
    pixmap = QPixmap(14, 14)
    pixmap.fill(QColor(*class_colour(code)))
    return QIcon(pixmap)


def scene_stem(source: str) -> str:
    """What a scene's files are named after: the product id, or the raster file's name."""
    return inference.open_product(source).product_id if is_product_path(source) else Path(source).stem


def round_files(folder: Path, stem: str, first: int) -> tuple[int, Path, Path]:
    """The round number from `first` on whose reference and confidence names are both free, and those names."""
    number = first
    while True:
        reference = folder / f"{stem}_reference_round{number}.tif"
        confidence = folder / f"{stem}_reference_round{number}_confidence.tif"
        if not reference.exists() and not confidence.exists():
            return number, reference, confidence
        number += 1


class ReferenceTask(QgsTask):
    """One round of training and classifying, off the main thread; reports back through its signals."""

    stageChanged = pyqtSignal(str)  # noqa: N815 (Qt's naming)
    succeeded = pyqtSignal(object)  # ReferenceResult
    failed = pyqtSignal(str, str)

    def __init__(self, source: str, samples: list, output: Path, confidence: Path, round_number: int,
                 resolution: int) -> None:
        super().__init__(f"Reference mask, round {round_number}", QgsTask.Flag.CanCancel)
        self.arguments = {
            "source": source, "samples": samples, "output": output, "confidence": confidence,
            "resolution": resolution, "suggestions": DEFAULT_SUGGESTIONS, "layer": SAMPLE_LAYER_NAME,
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
        self.samples_file: Path | None = None  # where "Save samples" wrote them: the rounds go beside them
        self.saved_to: Path | None = None  # where "Save reference" wrote last: the rounds go there from then on
        self.outside: tuple = ()  # feature ids of samples outside the scene, from the last refused round
        self._result_layers: dict[str, str] = {}  # "reference", "confidence", "suggestions" -> layer id
        self._crs = ""
        self._build()
        self.tool = QgsMapToolEmitPoint(self.canvas)
        self.tool.canvasClicked.connect(self._clicked)
        self.tool.deactivated.connect(lambda: self.markButton.setChecked(False))
        self.refresh()

    # --- layout ----------------------------------------------------------------------------------

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.addWidget(wrapping_label(
            "Mark points of each class on the map, then train: a random forest classifies the scene, and the "
            "suggestions show where it is least sure. Add points there and train again."))
        self.sceneLabel = wrapping_label(name="referenceScene")
        layout.addWidget(self.sceneLabel)
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.classCombo = narrow(QComboBox())
        self.classCombo.setObjectName("referenceClassCombo")
        for code in MASK_CODES:
            self.classCombo.addItem(class_icon(code), CLASS_NAMES[code], code)
        form.addRow("Class", self.classCombo)
        self.resolutionCombo = narrow(QComboBox())
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
        self.countsLabel = wrapping_label()
        layout.addWidget(self.countsLabel)
        # one above the other: side by side, with a larger font, they would widen a docked panel
        self.trainButton = QPushButton("Train and classify")
        self.saveButton = QPushButton("Save samples…")
        self.saveReferenceButton = QPushButton("Save reference…")
        self.saveReferenceButton.setToolTip("Save the latest round's reference mask, and its confidence beside it, "
                                            "under a name of your choice; the map then shows the saved files.")
        for button in (self.trainButton, self.saveButton, self.saveReferenceButton):
            layout.addWidget(button)
        self.statusLabel = wrapping_label(name="referenceStatus")
        layout.addWidget(self.statusLabel)
        self.outsideLabel = wrapping_label(name="referenceOutside")
        self.outsideLabel.setStyleSheet("color: #9a5b00;")
        self.dropButton = QPushButton()
        self.dropButton.setObjectName("referenceDropOutside")
        layout.addWidget(self.outsideLabel)
        layout.addWidget(self.dropButton)
        layout.addWidget(wrapping_label("Suggested places (least confident first; click to go there):"))
        self.suggestionList = QListWidget()
        self.suggestionList.setObjectName("referenceSuggestions")
        self.suggestionList.setMinimumHeight(self.suggestionList.fontMetrics().height() * 6)
        layout.addWidget(self.suggestionList, 1)
        self.markButton.toggled.connect(self._mark)
        self.undoButton.clicked.connect(self.remove_last)
        self.trainButton.clicked.connect(self.train)
        self.saveButton.clicked.connect(self._save_clicked)
        self.saveReferenceButton.clicked.connect(self._save_reference_clicked)
        self.dropButton.clicked.connect(self.drop_outside)
        self.suggestionList.currentRowChanged.connect(self.jump_to)

    # --- samples ---------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Say which scene the samples belong to and how many each class has."""
        path = self.input_path()
        self.sceneLabel.setText(breakable(f"Scene: {Path(path).name}") if path
                                else "Scene: none yet. Choose a product on the Mask tab first.")
        counts = self.counts()
        self.countsLabel.setText("Samples: " + ", ".join(f"{CLASS_NAMES[c].lower()} {counts[c]}" for c in MASK_CODES)
                                 + f" (at least {MIN_SAMPLES_PER_CLASS} in each class you use)")
        running = self.task is not None
        self.trainButton.setEnabled(bool(path) and not running)
        self.markButton.setEnabled(bool(path))
        self.undoButton.setEnabled(any(counts.values()))
        self.saveButton.setEnabled(any(counts.values()))
        self.saveReferenceButton.setEnabled(self.result is not None and not running)
        self._show_outside()

    def counts(self) -> dict[int, int]:
        counts = {code: 0 for code in MASK_CODES}
        if self.samples is not None and self._alive(self.samples):
            for feature in self.samples.getFeatures():
                counts[int(feature[CLASS_FIELD])] = counts.get(int(feature[CLASS_FIELD]), 0) + 1
        return counts

    @staticmethod
    def _alive(layer: QgsVectorLayer) -> bool:
        return QgsProject.instance().mapLayer(layer.id()) is not None

    def output_folder(self) -> Path | None:
        """Where this scene's rounds go: where the reference was saved last, beside the saved samples, beside the
        scene, the folder the dock saved to last, the project's home; None when none of them is writable."""
        source = self.input_path()
        return first_writable(self.saved_to, self.samples_file.parent if self.samples_file else None,
                              folder_holding_product(source) if source else None, PlgSettings.get().output_folder,
                              QgsProject.instance().homePath())

    def chosen_folder(self) -> Path:
        """output_folder(), else a folder the analyst chooses now (once: the rounds then go there)."""
        folder = self.output_folder()
        if folder is None:
            chosen = QFileDialog.getExistingDirectory(
                self, "The scene's folder is read-only: choose a folder for the reference masks")
            folder = first_writable(chosen)
            if folder is None:
                raise OutputError("The reference masks need a writable folder, and none beside the scene, the folder "
                                  "the dock saved to last or the project's home is; choose one.")
            self.saved_to = folder
        return folder

    def sample_layer(self) -> QgsVectorLayer:
        """The memory layer of samples, in the scene's CRS, created (and styled by class) on first use."""
        if self.samples is not None and self._alive(self.samples):
            return self.samples
        self._crs = inference.input_crs(self.input_path())
        layer = QgsVectorLayer("Point", SAMPLE_LAYER_NAME, "memory")
        layer.setCrs(qgis_crs(self._crs))
        layer.dataProvider().addAttributes([field(CLASS_FIELD, int)])
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
            folder = self.chosen_folder()
            product = inference.open_product(source)
            target = folder / f"{product.product_id}_reference_truecolour.vrt"
            if any(Path(layer.source()) == target for layer in QgsProject.instance().mapLayers().values()):
                return  # already under the samples: shown once
            view = inference.build_true_colour_view(product, product.band_path("B04"), str(target))
        except CloudMaskError as exc:
            self.log.log(f"The scene is shown without its true-colour view: {exc}", Qgis.MessageLevel.Warning)
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

    def _show_outside(self) -> None:
        """The samples the last round found outside the scene, by feature, class and place, and one button to drop
        them all."""
        layer = self.samples if self.samples is not None and self._alive(self.samples) else None
        features = [layer.getFeature(fid) for fid in self.outside] if layer is not None else []
        features = [feature for feature in features if feature.isValid()]
        self.outsideLabel.setVisible(bool(features))
        self.dropButton.setVisible(bool(features))
        if not features:
            return
        named = []
        for feature in features[:LISTED_OUTSIDE]:
            point = feature.geometry().centroid().asPoint()
            named.append(f"feature {feature.id()} ({CLASS_NAMES[int(feature[CLASS_FIELD])].lower()}) "
                         f"at x {point.x():.0f}, y {point.y():.0f}")
        more = f"; and {len(features) - LISTED_OUTSIDE} more" if len(features) > LISTED_OUTSIDE else ""
        self.outsideLabel.setText(breakable(f"Outside the scene: {'; '.join(named)}{more}."))
        self.dropButton.setText(f"Drop these {len(features)} samples" if len(features) > 1 else "Drop this sample")

    def drop_outside(self) -> None:
        """Delete the samples the last round found outside the scene; the next round can start at once."""
        if self.samples is not None and self._alive(self.samples) and self.outside:
            self.samples.dataProvider().deleteFeatures(list(self.outside))
            self.samples.triggerRepaint()
            self.statusLabel.setText(f"Dropped {len(self.outside)} sample(s) outside the scene; train again.")
        self.outside = ()
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
        """Write the samples to a GeoPackage (or any OGR format by suffix); returns the written path. The next
        rounds go beside it."""
        options = QgsVectorFileWriter.SaveVectorOptions()
        options.driverName = "GPKG" if path.lower().endswith(".gpkg") else QgsVectorFileWriter.driverForExtension(
            Path(path).suffix)
        options.layerName = "reference_samples"
        error, message, written, _ = QgsVectorFileWriter.writeAsVectorFormatV3(
            self.sample_layer(), path, QgsProject.instance().transformContext(), options)
        if error != QgsVectorFileWriter.WriterError.NoError:
            raise CloudMaskError(f"Could not save the samples to {path}: {message}")
        self.samples_file = Path(written)
        self.log.log(f"Samples saved to {written}.", Qgis.MessageLevel.Success, push=True)
        return written

    def _default_name(self, suffix: str) -> str:
        """A name for a save dialog to start from: the scene's name and `suffix` in the rounds' folder."""
        source = self.input_path()
        try:
            stem = scene_stem(source) if source else "reference"
        except CloudMaskError:
            stem = "reference"
        return str((self.output_folder() or Path.home()) / f"{stem}{suffix}")

    def _save_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the samples", self._default_name("_reference_samples.gpkg"),
                                              "GeoPackage (*.gpkg)")
        if path:
            try:
                self.save_samples(path)
            except CloudMaskError as exc:
                self.log.log(str(exc), Qgis.MessageLevel.Critical, push=True)

    def save_reference(self, path: str) -> tuple[str, str | None]:
        """Copy the latest round's reference to `path` and its confidence beside it (<name>_confidence.tif); the
        map's layers then read the copies, so a saved project keeps them. Returns both paths."""
        result = self.result
        if result is None:
            raise CloudMaskError("Train a round first; then its reference can be saved.")
        target = Path(path) if Path(path).suffix.lower() in (".tif", ".tiff") else Path(f"{path}.tif")
        confidence = target.with_name(f"{target.stem}_confidence.tif") if result.confidence else None
        source = self.input_path()
        check_outputs({"The reference": target, "Its confidence": confidence},
                      {"the scene": source, "the scene's folder": Path(source).parent if Path(source).is_file()
                       and is_product_path(source) else None,
                       "this round's reference": result.output, "this round's confidence": result.confidence})
        for copy, original in ((target, result.output), (confidence, result.confidence)):
            if copy is not None:
                with atomic_output(copy) as temporary:
                    try:
                        shutil.copyfile(original, temporary)
                    except OSError as exc:
                        raise OutputError(f"Could not save {copy}: {exc.strerror or exc}.") from exc
        project = QgsProject.instance()
        for key, copy in (("reference", target), ("confidence", confidence)):
            layer = project.mapLayer(self._result_layers.get(key, ""))
            if layer is not None and copy is not None:
                layer.setDataSource(str(copy), layer.name(), "gdal", QgsDataProvider.ProviderOptions())
        self.saved_to = target.parent
        self.log.log(f"Reference saved to {target}" + (f", its confidence to {confidence}." if confidence else "."),
                     Qgis.MessageLevel.Success, push=True)
        return str(target), str(confidence) if confidence else None

    def _save_reference_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the reference mask", self._default_name("_reference.tif"),
                                              "GeoTIFF (*.tif *.tiff)")
        if path:
            try:
                self.save_reference(path)
            except CloudMaskError as exc:
                self.log.log(str(exc), Qgis.MessageLevel.Critical, push=True)

    # --- a round of training ---------------------------------------------------------------------

    def train(self) -> None:
        """Start one round in the background; messages for bad samples go to the message bar."""
        source = self.input_path()
        try:
            if not source:
                raise CloudMaskError("Choose a product on the Mask tab first; the samples are marked on it.")
            samples = samples_from_layer(self.sample_layer(), CLASS_FIELD, inference.input_crs(source))
            folder = self.chosen_folder()
            number, output, confidence = round_files(folder, scene_stem(source), self.round + 1)
        except CloudMaskError as exc:
            self._failed(str(exc), str(exc))
            return
        self.round = number
        self.outside = ()
        self.task = ReferenceTask(source, samples, output, confidence, number, self.resolutionCombo.currentData())
        self.task.succeeded.connect(self._succeeded)
        self.task.failed.connect(self._failed)
        self.task.stageChanged.connect(lambda stage: self.statusLabel.setText(f"Round {number}: {stage}…"))
        self.task.taskTerminated.connect(self._ended)
        self.statusLabel.setText(f"Round {number}: starting…")
        QgsApplication.taskManager().addTask(self.task)
        self.refresh()

    def _ended(self) -> None:
        self.task = None
        self.refresh()

    def _failed(self, message: str, details: str) -> None:
        error = self.task.error if self.task is not None else None
        self.task = None
        self.outside = error.feature_ids if isinstance(error, SamplesOutside) else ()
        self.statusLabel.setText(breakable(message))
        self.log.log(message, Qgis.MessageLevel.Warning, push=True, details=details)
        self.refresh()
        self.roundFailed.emit(message)

    def _succeeded(self, result: ReferenceResult) -> None:
        self.task = None
        self.result = result
        self._show_layers(result)
        cv = result.cross_validation
        figures = ("no cross-validation (spread the samples over the scene)" if cv is None else
                   f"cross-validated overall accuracy {percent(cv['overall_accuracy'])}, balanced accuracy "
                   f"{percent(cv.get('balanced_accuracy'))}, Cohen's kappa {plain(cv['kappa'], 2)}")
        notes = "".join(f"\n⚠ {warning}" for warning in result.warnings)
        self.statusLabel.setText(breakable(f"Round {self.round}: {figures}.{notes}"))
        self.suggestionList.blockSignals(True)
        self.suggestionList.clear()
        for rank, suggestion in enumerate(result.suggestions, start=1):
            self.suggestionList.addItem(QListWidgetItem(f"{rank}. confidence {percent(suggestion.confidence, 0)}"))
        self.suggestionList.blockSignals(False)
        self.refresh()
        self.roundFinished.emit(result)

    def _show_layers(self, result: ReferenceResult) -> None:
        """This round's reference, confidence and suggestions replace the last round's, under the samples."""
        project = QgsProject.instance()
        for layer_id in self._result_layers.values():
            if project.mapLayer(layer_id) is not None:
                project.removeMapLayer(layer_id)
        added: dict[str, str] = {}
        for key, path, name, style in (
            ("confidence", result.confidence, layer_styles.CONFIDENCE_LAYER_NAME, layer_styles.CONFIDENCE_STYLE),
            ("reference", result.output, layer_styles.REFERENCE_LAYER_NAME, layer_styles.MASK_STYLE),
        ):
            layer = QgsRasterLayer(path, f"{name} (round {self.round})", "gdal")
            layer_styles.apply_style(layer, style)
            project.addMapLayer(layer)
            added[key] = layer.id()
            if key == "confidence":  # shown on request: the reference over the scene is what one reads first
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
        added["suggestions"] = suggestions.id()
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
