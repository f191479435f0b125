"""s2cloudmask:maskmany: mask every product of a folder or list with the batch runner, on local workers."""

from __future__ import annotations

import os
from pathlib import Path

from qgis.core import (
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QVariant

from ..inference.batch.cluster import LOCAL
from ..inference.batch.inputs import find_products
from ..inference.batch.records import COLUMNS, DONE, FAILED, NOT_RUN, SKIPPED, Settings
from ..inference.batch.runner import batch_outputs, product_inputs, run_batch
from ..inference.defaults import DEFAULT_RESOLUTION, MAX_WORKERS, RESOLUTIONS
from .base import (
    BUFFER_HELP,
    CHOICES_HELP,
    CLASS_CODES_HELP,
    SHADOW_CHECK_HELP,
    MaskingAlgorithm,
    ProcessingFeedbackAdapter,
    device_parameter,
    engine_errors,
    help_html,
    model_parameter,
    model_value,
    refinement_parameters,
)

COUNT_OUTPUTS = {"PRODUCTS_DONE": DONE, "PRODUCTS_SKIPPED": SKIPPED, "PRODUCTS_FAILED": FAILED,
                 "PRODUCTS_NOT_RUN": NOT_RUN}  # fmt: skip
NUMBER_COLUMNS = {"seconds", "scl_agreement", "scl_kappa"}


def summary_fields() -> QgsFields:
    """The summary table's fields: the batch summary's columns, numbers as numbers."""
    fields = QgsFields()
    for column in COLUMNS:
        if column == "attempts":
            fields.append(QgsField(column, QVariant.Int))
        elif column.endswith("_percent") or column in NUMBER_COLUMNS:
            fields.append(QgsField(column, QVariant.Double))
        else:
            fields.append(QgsField(column, QVariant.String))
    return fields


class MaskManyAlgorithm(MaskingAlgorithm):
    def name(self) -> str:
        return "maskmany"

    def displayName(self) -> str:  # noqa: N802 (QGIS's name)
        return "Mask many Sentinel-2 products"

    def tags(self) -> list[str]:
        return ["sentinel-2", "cloud", "mask", "batch", "many", "folder", "dask", "time series", "resume"]

    def shortDescription(self) -> str:  # noqa: N802 (QGIS's name)
        return "Cloud masks of every product in a folder or list, on parallel workers, resumable, with a summary."

    def shortHelpString(self) -> str:  # noqa: N802 (QGIS's name)
        return help_html(
            "Masks every Sentinel-2 product of a folder (or a list) on several worker processes of this "
            "machine (dask.distributed) and compares each Level-2A mask with its SCL. Outputs are named by "
            "product id; running it again into the same output folder skips the products already done, so "
            "a cancelled or crashed run resumes. A product that fails (a corrupt file, a missing band) is "
            "listed in the summary with its message and does not stop the others.",
            [
                ("PRODUCTS", "A folder holding .SAFE folders and/or .zip products. You can also type the path of "
                             "a text file that lists one product per line, or a glob such as /data/*T32UPC*.zip."),
                ("MODEL", "'auto' (the built-in model for each product's level and bands) or an .onnx file."),
                ("DEVICE", "auto (GPU if available, else CPU), cpu or gpu."),
                ("RESOLUTION", "Pixel size of the output masks in metres: 10, 20 or 60."),
                ("SHADOW_CHECK", SHADOW_CHECK_HELP + " The angles come from each product's MTD_TL.xml."),
                ("BUFFER", BUFFER_HELP),
                ("COMPARE_SCL", "Also compare each Level-2A mask with the product's SCL (difference raster, "
                                "report, agreement in the summary)."),
                ("WORKERS", "Worker processes; 0 chooses from the cores and memory of this machine."),
                ("OUTPUT_FOLDER", "Where the masks, SCL differences, reports, records/ and summary.csv go."),
                ("SUMMARY", "The summary as a table: one row per product with tile, date, level, class "
                            "percentages, agreement with SCL, seconds, device and error."),
            ],  # fmt: skip
            [
                "The same runner works from a shell on a whole archive or a dask cluster: "
                "make batch PRODUCTS=... OUT=... (see the README).",
                CLASS_CODES_HELP,
                CHOICES_HELP,
            ],
        )

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 (QGIS's name)
        self.addParameter(
            QgsProcessingParameterFile("PRODUCTS", "Products (folder, or list file)",
                                       behavior=QgsProcessingParameterFile.Folder)
        )
        self.addParameter(model_parameter())
        self.addParameter(device_parameter())
        self.addParameter(
            QgsProcessingParameterEnum("RESOLUTION", "Output resolution (m)", options=[str(r) for r in RESOLUTIONS],
                                       defaultValue=str(DEFAULT_RESOLUTION), usesStaticStrings=True)
        )
        for parameter in refinement_parameters():
            self.addParameter(parameter)
        self.addParameter(QgsProcessingParameterBoolean("COMPARE_SCL", "Compare Level-2A masks with SCL",
                                                        defaultValue=True))
        workers = QgsProcessingParameterNumber("WORKERS", "Worker processes (0: automatic)",
                                               QgsProcessingParameterNumber.Integer, defaultValue=0, minValue=0,
                                               maxValue=MAX_WORKERS)
        workers.setFlags(workers.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(workers)
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT_FOLDER", "Output folder"))
        self.addParameter(QgsProcessingParameterFeatureSink("SUMMARY", "Batch summary", QgsProcessing.TypeVector))
        for name, status in COUNT_OUTPUTS.items():
            self.addOutput(QgsProcessingOutputNumber(name, f"Products {status}"))
        self.addOutput(QgsProcessingOutputFile("SUMMARY_CSV", "Summary CSV"))

    def paths_read(self, parameters: dict, context: QgsProcessingContext) -> dict[str, str]:
        """Each product; the folder holding them is not itself read (masks may go beside them), a list file is."""
        read = super().paths_read(parameters, context)
        if read.get("PRODUCTS") and Path(read["PRODUCTS"]).is_dir():
            del read["PRODUCTS"]
        read.update(product_inputs(self._sources(parameters, context)))
        return read

    def paths_written(self, parameters: dict, context: QgsProcessingContext) -> dict[str, str]:
        """What the runner writes in OUTPUT_FOLDER (the folder itself may hold anything else)."""
        written = super().paths_written(parameters, context)
        out = written.pop("OUTPUT_FOLDER", None)
        if out:
            written.update(batch_outputs(Path(os.path.abspath(out)), self._sources(parameters, context)))
        return written

    def _sources(self, parameters: dict, context: QgsProcessingContext) -> list[str]:
        return find_products(self.parameterAsFile(parameters, "PRODUCTS", context))

    def process(
        self, parameters: dict, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict:
        products = self.parameterAsFile(parameters, "PRODUCTS", context)
        out = self.parameterAsString(parameters, "OUTPUT_FOLDER", context)
        settings = Settings(
            model=model_value(self, parameters, context),
            device=self.parameterAsEnumString(parameters, "DEVICE", context),
            resolution=int(self.parameterAsEnumString(parameters, "RESOLUTION", context)),
            compare=self.parameterAsBoolean(parameters, "COMPARE_SCL", context),
            shadow_check=self.parameterAsBool(parameters, "SHADOW_CHECK", context),
            buffer=self.parameterAsDouble(parameters, "BUFFER", context),
        )
        workers = self.parameterAsInt(parameters, "WORKERS", context) or None
        with engine_errors():
            sources = find_products(products)
            feedback.pushInfo(f"{len(sources)} product(s) in {products}")
            result = run_batch(sources, out, settings, workers=workers, scheduler=LOCAL,
                               feedback=ProcessingFeedbackAdapter(feedback))
        if result.plan is not None:
            feedback.pushInfo(f"Workers: {result.plan.describe()}")
        for row in result.rows:
            if row["status"] == FAILED:
                feedback.reportError(f"{row['product_id']}: {row['error']}", fatalError=False)
        sink, sink_id = self.parameterAsSink(parameters, "SUMMARY", context, summary_fields(), QgsWkbTypes.NoGeometry)
        for row in result.rows:
            feature = QgsFeature(summary_fields())
            feature.setAttributes([row.get(column) for column in COLUMNS])
            sink.addFeature(feature, QgsFeatureSink.FastInsert)
        unfinished = result.unfinished()
        if unfinished:  # a failed product fails the algorithm, as it fails make batch: scripts see it in $?
            raise QgsProcessingException(unfinished)
        values = {name: result.counts[status] for name, status in COUNT_OUTPUTS.items()}
        values.update(OUTPUT_FOLDER=out, SUMMARY=sink_id, SUMMARY_CSV=str(result.summary_csv))
        return values
