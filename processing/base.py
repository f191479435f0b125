"""What every algorithm of the provider shares: the output guard, the feedback adapter, error translation, styling
on load, help text, the common parameters, and the base classes of the toolbox groups.

The algorithms are thin wrappers over inference/: they read their parameters,
call one engine function and report its result. Everything that would
otherwise be repeated in each of them lives here.
"""

from __future__ import annotations

import contextlib
import html
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from qgis.core import (
    QgsMapLayer,
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingOutputLayerDefinition,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMapLayer,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorLayer,
    QgsProviderRegistry,
    QgsRasterLayer,
)
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from ..__about__ import ICON_PATH
from ..inference.batch.inputs import find_products
from ..inference.defaults import CLEAN_CLASSES, DEFAULT_BUFFER, DEFAULT_SHADOW_CHECK, DEVICES, MAX_BUFFER
from ..inference.errors import CloudMaskError
from ..inference.outputs import check_geotiff_name, check_outputs
from ..inference.reading.paths import is_product_path, product_container
from ..inference.masking.model_card import UKIS_CITATION


class ProcessingFeedbackAdapter:
    """The engine's Feedback protocol on top of a QgsProcessingFeedback (progress bar, log, Cancel button)."""

    def __init__(self, feedback: QgsProcessingFeedback | None) -> None:
        self._feedback = feedback if feedback is not None else QgsProcessingFeedback()
        self._stage = ""

    def progress(self, percent: float, stage: str) -> None:
        if stage and stage != self._stage:
            self._stage = stage
            self._feedback.setProgressText(stage)
        self._feedback.setProgress(max(0.0, min(100.0, float(percent))))

    def is_cancelled(self) -> bool:
        return self._feedback.isCanceled()

    def warn(self, message: str) -> None:
        self._feedback.pushWarning(message)


@contextlib.contextmanager
def engine_errors() -> Iterator[None]:
    """Turn the engine's user-facing errors into QgsProcessingException, message unchanged, no traceback."""
    try:
        yield
    except CloudMaskError as exc:
        raise QgsProcessingException(str(exc)) from None


class StyleOnLoad(QgsProcessingLayerPostProcessorInterface):
    """Applies one of toolbelt.layers' styles when the GUI loads an output layer.

    Processing keeps only a plain pointer to a post-processor, so each instance
    is kept alive here until it has run.
    """

    _pending: set["StyleOnLoad"] = set()

    def __init__(self, style: Callable[[QgsRasterLayer], None]) -> None:
        super().__init__()
        self._style = style

    @classmethod
    def create(cls, style: Callable[[QgsRasterLayer], None]) -> "StyleOnLoad":
        instance = cls(style)
        cls._pending.add(instance)
        return instance

    def postProcessLayer(self, layer, context, feedback) -> None:  # noqa: N802 (QGIS's name)
        if isinstance(layer, QgsRasterLayer):
            self._style(layer)
        StyleOnLoad._pending.discard(self)


def style_output_on_load(
    context: QgsProcessingContext, path: str, name: str, style: Callable[[QgsRasterLayer], None]
) -> None:
    """Give an output that the GUI will load a plain name and the plugin's style (the user's
    "use file name as layer name" setting still wins)."""
    if not context.willLoadLayerOnCompletion(path):
        return
    details = context.layerToLoadOnCompletionDetails(path)
    details.name = name
    details.setPostProcessor(StyleOnLoad.create(style))


def raster_file(layer: QgsRasterLayer, parameter: str) -> str:
    """The file GDAL reads for this layer; the engine reads files, not QGIS providers."""
    if layer.providerType() != "gdal":
        raise QgsProcessingException(
            f"The layer {layer.name()} comes from the '{layer.providerType()}' provider, not from a file; "
            f"save it as a GeoTIFF (Export > Save As) and use that file as {parameter}."
        )
    return layer.dataProvider().dataSourceUri()


MODEL_PARAMETER_HELP = (
    "'auto' picks the pretrained DLR U-Net of ukis-csmask that fits the product level and the bands "
    "present; otherwise the path of an ONNX model with a model card."
)


def optional_output(value: str) -> str | None:
    """An optional destination left empty arrives as "": the engine wants None."""
    return value or None


def model_parameter(name: str = "MODEL", description: str = "Model ('auto' or an .onnx file)",
                    help_text: str = MODEL_PARAMETER_HELP) -> QgsProcessingParameterFile:
    """An .onnx file picker that also takes the word 'auto' (no extension is enforced): MODEL, BASE_MODEL.

    Optional because QGIS 3.22 refuses a file parameter left out even when it has a default; left out or
    empty, it means 'auto'.
    """
    parameter = QgsProcessingParameterFile(
        name, description, behavior=QgsProcessingParameterFile.Behavior.File,
        fileFilter="ONNX models (*.onnx);;All files (*)", defaultValue="auto", optional=True,
    )
    parameter.setHelp(help_text)
    return parameter


def device_parameter() -> QgsProcessingParameterEnum:
    parameter = QgsProcessingParameterEnum(
        "DEVICE", "Device", options=list(DEVICES), defaultValue="auto", usesStaticStrings=True
    )
    parameter.setHelp("auto tries the GPU first and falls back to the CPU; DEVICE_USED tells which one ran.")
    return parameter


SHADOW_CHECK_HELP = (
    "Keep cloud shadow only where a cloud (classes 3 and 4) can cast it for the sun and view angles, over "
    "cloud tops of 0.2-12 km; drop it on open water and where the surface is too bright in the near infrared "
    "to lie in shadow. The mask's CLASS2_SOURCE tag records it. docs/accuracy.md measures it."
)
BUFFER_HELP = "Grow cloud, semi-transparent cloud and cloud shadow by this many metres (0 = no buffer)."


def refinement_parameters(shadow_help: str = SHADOW_CHECK_HELP) -> list:
    """SHADOW_CHECK and BUFFER, shared by both masking algorithms.

    Optional with their defaults, so models and scripts saved before these parameters existed still run.
    """
    check = QgsProcessingParameterBoolean("SHADOW_CHECK", "Check cloud shadows against the sun geometry",
                                          defaultValue=DEFAULT_SHADOW_CHECK, optional=True)
    check.setHelp(shadow_help)
    buffer = QgsProcessingParameterNumber("BUFFER", "Buffer around clouds and shadows (m)",
                                          QgsProcessingParameterNumber.Type.Double, DEFAULT_BUFFER, optional=True,
                                          minValue=0.0, maxValue=MAX_BUFFER)
    buffer.setHelp(BUFFER_HELP)
    return [check, buffer]


def model_value(algorithm: QgsProcessingAlgorithm, parameters: dict, context: QgsProcessingContext,
                name: str = "MODEL") -> str:
    return algorithm.parameterAsString(parameters, name, context).strip() or "auto"


def help_html(summary: str, parameters: list[tuple[str, str]], notes: list[str]) -> str:
    """shortHelpString in the layout of QGIS's own algorithms: a summary, one line per parameter, notes."""
    parts = [f"<p>{summary}</p>", "<h3>Parameters</h3>", "<dl>"]
    for name, text in parameters:
        parts.append(f"<dt><b>{html.escape(name)}</b></dt><dd>{text}</dd>")
    parts.append("</dl>")
    parts.extend(f"<p>{note}</p>" for note in notes)
    return "\n".join(parts)


CLASS_CODES_HELP = (
    "Output codes: 0 no data, 1 clear, 2 cloud shadow, 3 semi-transparent cloud (thin cloud or cirrus), "
    "4 cloud. Codes 1-4 are KappaMask's, so masks from either tool compare directly. The built-in models "
    "know clear, cloud and cloud shadow; class 3 comes from the product's cirrus information (L1C: band B10; "
    "L2A: the cirrus layer of MSK_CLASSI_B00) and is absent when the product has none. CLASS3_SOURCE says which."
)

CHOICES_HELP = (
    "In scripts and qgis_process, give each choice by its value (DEVICE=cpu, RESOLUTION=60, LEVEL=l2a), "
    "not by its number."
)

MODEL_HELP = (
    "The default models are the pretrained U-Nets of the ukis-csmask package (DLR, Apache-2.0): "
    + UKIS_CITATION
    + "."
)


class CloudMaskAlgorithm(QgsProcessingAlgorithm):
    """Provider-wide bits of every algorithm: icon, a fresh instance per run, readable parameter checks, and the
    output guard.

    The output guard: before any work, every path an algorithm writes is checked against every path it reads
    and against each other (inference.outputs.check_outputs): no output may be an input (links resolved, GDAL
    side-cars counted), lie inside an input product, replace a folder that holds an input, or share a path with
    another output; a raster destination must be a GeoTIFF name. It runs in checkParameterValues, so the
    dialog, processing.run and qgis_process refuse before starting, and again in processAlgorithm, which this
    class owns: an algorithm implements `process` instead (defining processAlgorithm is refused at import), so
    no algorithm can skip it.

    The one way to declare paths: the parameters say most of it. Every file, layer and feature-source parameter
    is read (a path inside a .SAFE product stands for the whole product; values that name no existing file, such
    as MODEL=auto, are left out); every destination parameter is written. An algorithm says only what its
    parameters cannot: inputs that a file names (the pairs of a CSV, the products of a folder) by extending
    `paths_read`, and the files its engine writes with a destination (a report's .json, the splits in a patch
    folder) by `companions`. Those names come from the engine function that writes or reads them, so each has
    one home.
    """

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "processAlgorithm" in cls.__dict__:
            raise TypeError(f"{cls.__name__} defines processAlgorithm; define process() instead, so that "
                            "CloudMaskAlgorithm.processAlgorithm checks its outputs against its inputs first.")

    def icon(self) -> QIcon:
        return QIcon(str(ICON_PATH))

    def tr(self, text: str) -> str:
        """Translated in the context pylupdate5 gives `self.tr` calls: the class that makes them."""
        return QCoreApplication.translate(type(self).__name__, text)

    def createInstance(self):  # noqa: N802 (QGIS's name)
        return type(self)()

    def extent_value(self, parameters: dict, context: QgsProcessingContext) -> tuple | None:
        """EXTENT as the engine takes it; without a CRS ("xmin,xmax,ymin,ymax") it is in the input's CRS."""
        if parameters.get("EXTENT") is None:
            return None
        rectangle = self.parameterAsExtent(parameters, "EXTENT", context)
        if rectangle.isNull():
            return None
        bounds = (rectangle.xMinimum(), rectangle.yMinimum(), rectangle.xMaximum(), rectangle.yMaximum())
        crs = self.parameterAsExtentCrs(parameters, "EXTENT", context)
        return (*bounds, crs.toWkt()) if crs.isValid() else bounds

    def checkParameterValues(self, parameters: dict, context: QgsProcessingContext) -> tuple[bool, str]:  # noqa: N802
        """QGIS only says "Incorrect parameter value" for a raster it cannot open; say which file and why."""
        ok, message = super().checkParameterValues(parameters, context)
        if ok:
            try:
                self.check_paths(parameters, context)
            except CloudMaskError as exc:
                return False, str(exc)
            return ok, message
        for definition in self.parameterDefinitions():
            value = parameters.get(definition.name())
            if (
                isinstance(definition, QgsProcessingParameterRasterLayer)
                and isinstance(value, str)
                and value
                and not definition.checkValueIsAcceptable(value, context)
            ):
                return False, unreadable_raster_message(definition.name(), value)
        return ok, message

    def processAlgorithm(  # noqa: N802 (QGIS's name)
        self, parameters: dict, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict:
        with engine_errors():
            self.check_paths(parameters, context)
        return self.process(parameters, context, feedback)

    def process(self, parameters: dict, context: QgsProcessingContext, feedback: QgsProcessingFeedback) -> dict:
        """The algorithm's own work, after the output guard; returns its results."""
        raise NotImplementedError(f"{type(self).__name__} must define process()")

    def required_raster_layer(self, parameters: dict, name: str, context: QgsProcessingContext) -> QgsRasterLayer:
        """A raster layer parameter's layer; a QgsProcessingException naming the parameter where QGIS cannot open it
        (a script passes any text)."""
        layer = self.parameterAsRasterLayer(parameters, name, context)
        if layer is None:
            raise QgsProcessingException(f"{name} {parameters.get(name)!r} is not a raster layer QGIS can open.")
        return layer

    def check_paths(self, parameters: dict, context: QgsProcessingContext) -> None:
        """The output guard (see the class text); an OutputError names the path refused and why."""
        written = self.paths_written(parameters, context)
        check_outputs(written, self.paths_read(parameters, context))
        for definition in self.destinationParameterDefinitions():
            if isinstance(definition, QgsProcessingParameterRasterDestination) and definition.name() in written:
                check_geotiff_name(written[definition.name()], definition.name())

    def paths_read(self, parameters: dict, context: QgsProcessingContext) -> dict[str, str]:
        """Parameter name -> the existing file or folder it reads (a product's .SAFE folder for any path in it)."""
        read: dict[str, str] = {}
        for definition in self.parameterDefinitions():
            name = definition.name()
            if isinstance(definition, QgsProcessingParameterFile):
                paths = [self.parameterAsFile(parameters, name, context)]
            elif isinstance(definition, LAYER_PARAMETERS):
                paths = [layer_file(layer) for layer in self._layers(definition, parameters, context)]
            else:
                continue
            existing = [product_container(path) for path in paths if path and os.path.exists(path)]
            for number, path in enumerate(existing, start=1):
                role = name if len(existing) == 1 else f"{name} {number}"
                read[f"the product ({role})" if is_product_path(path) else role] = str(path)
        return read

    def paths_written(self, parameters: dict, context: QgsProcessingContext) -> dict[str, str]:
        """Role -> the file or folder each destination writes, with its companions (temporary outputs and layers in
        a database left out: they replace nothing a user has). A destination folder with companions is not replaced,
        only what is written in it, so they stand for it."""
        written: dict[str, str] = {}
        companions = self.companions(parameters, context)
        for definition in self.destinationParameterDefinitions():
            name = definition.name()
            path = destination_path(parameters.get(name, definition.defaultValue()), context)
            if not path:
                continue
            if not (isinstance(definition, QgsProcessingParameterFolderDestination) and name in companions):
                written[name] = path
            if name in companions:
                written.update(companions[name](path))
        return written

    def companions(self, parameters: dict, context: QgsProcessingContext) -> dict[str, Callable[[str], dict]]:
        """Destination parameter -> the engine function naming the files written with it (role -> path): a
        report's .json, a model's card, the splits of a patch folder. None by default."""
        return {}

    def _layers(self, definition, parameters: dict, context: QgsProcessingContext) -> list:
        if isinstance(definition, QgsProcessingParameterMultipleLayers):
            return self.parameterAsLayerList(parameters, definition.name(), context) or []
        layer = self.parameterAsLayer(parameters, definition.name(), context)
        return [layer] if layer is not None else []


LAYER_PARAMETERS = (QgsProcessingParameterRasterLayer, QgsProcessingParameterVectorLayer,
                    QgsProcessingParameterFeatureSource, QgsProcessingParameterMapLayer,
                    QgsProcessingParameterMultipleLayers)


def layer_file(layer: QgsMapLayer) -> str | None:
    """The file a layer is read from (None for a database, a web service or a memory layer)."""
    path = QgsProviderRegistry.instance().decodeUri(layer.providerType(), layer.source()).get("path")
    return str(path) if path else None


def destination_path(value, context: QgsProcessingContext) -> str | None:
    """The path a destination parameter's value names; None for temporary outputs and database layers."""
    if isinstance(value, QgsProcessingOutputLayerDefinition):
        value, _ = value.sink.valueAsString(context.expressionContext())
    text = str(value or "").strip()
    if not text or text == QgsProcessing.TEMPORARY_OUTPUT or re.match(r"^[a-z][a-z0-9_]+:(?![/\\])", text, re.I):
        return None  # memory:, ogr:, postgres: ... and empty; a Windows drive (C:/) is a path
    return text


class MaskingAlgorithm(CloudMaskAlgorithm):
    """The algorithms that write a cloud mask share the toolbox group "Cloud masking"."""

    def group(self) -> str:
        return QCoreApplication.translate("MaskingAlgorithm", "Cloud masking")

    def groupId(self) -> str:  # noqa: N802 (QGIS's name)
        return "masking"


class ReferenceAlgorithm(CloudMaskAlgorithm):
    """Reference masks, validation and training patches share the toolbox group "Reference and validation"."""

    def group(self) -> str:
        return QCoreApplication.translate("ReferenceAlgorithm", "Reference and validation")

    def groupId(self) -> str:  # noqa: N802 (QGIS's name)
        return "reference"


class CleaningAlgorithm(CloudMaskAlgorithm):
    """Masks applied to bands and composites share the toolbox group "Clean pixels"."""

    def group(self) -> str:
        return QCoreApplication.translate("CleaningAlgorithm", "Clean pixels")

    def groupId(self) -> str:  # noqa: N802 (QGIS's name)
        return "cleaning"


def classes_parameter() -> QgsProcessingParameterEnum:
    """CLASSES: the mask classes removed, by name; all three unless the user keeps some."""
    parameter = QgsProcessingParameterEnum("CLASSES", "Mask classes to remove", options=list(CLEAN_CLASSES),
                                           allowMultiple=True, defaultValue=list(CLEAN_CLASSES),
                                           usesStaticStrings=True, optional=True)
    parameter.setHelp("Pixels of these classes (and wherever the mask has no data) become no data.")
    return parameter


def cleaning_parameters() -> list:
    """CLASSES, BUFFER and BANDS, as applymask and composite both take them."""
    buffer = QgsProcessingParameterNumber("BUFFER", "Buffer around what is removed (m)",
                                          QgsProcessingParameterNumber.Type.Double, DEFAULT_BUFFER, optional=True,
                                          minValue=0.0, maxValue=MAX_BUFFER)
    buffer.setHelp(BUFFER_HELP)
    return [classes_parameter(), buffer,
            QgsProcessingParameterString("BANDS", "Bands (empty: the surface bands)", optional=True)]


def classes_value(algorithm: QgsProcessingAlgorithm, parameters: dict, context: QgsProcessingContext) -> list[int]:
    names = algorithm.parameterAsEnumStrings(parameters, "CLASSES", context) or list(CLEAN_CLASSES)
    return [CLEAN_CLASSES[name] for name in names]


def product_list(algorithm: QgsProcessingAlgorithm, parameters: dict, context: QgsProcessingContext) -> list[str]:
    """PRODUCTS (a folder, a list file, a glob, STAC items) as the product paths the batch runner takes."""
    return find_products(algorithm.parameterAsFile(parameters, "PRODUCTS", context))


def bands_value(algorithm: QgsProcessingAlgorithm, parameters: dict, context: QgsProcessingContext) -> list[str]:
    """BANDS as a list: "B02, B03 B04" -> ["B02", "B03", "B04"]; empty for the default."""
    text = algorithm.parameterAsString(parameters, "BANDS", context) or ""
    return [part for part in text.replace(",", " ").split() if part]


def unreadable_raster_message(parameter: str, value: str) -> str:
    if not Path(value).exists():
        return f"{parameter}: the file {value} does not exist; check the path or choose another raster."
    return (
        f"{parameter}: {value} is not a raster QGIS can open; choose a GeoTIFF, JPEG 2000 or VRT file "
        "(or a raster layer of the project)."
    )
