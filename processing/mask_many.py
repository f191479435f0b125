"""s2cloudmask:maskmany: mask every product of a folder or list with the batch runner, on local workers."""

from __future__ import annotations

import os
from pathlib import Path

from qgis.core import (
    QgsFeature,
    QgsFeatureSink,
    QgsFields,
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsProcessingException,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsWkbTypes,
)

from ..inference.batch.cluster import LOCAL
from ..inference.batch.inputs import find_products, found_by_search
from ..inference.batch.records import COLUMNS, DONE, FAILED, NOT_RUN, SKIPPED, Settings
from ..inference.batch.runner import batch_outputs, product_inputs, run_batch
from ..inference.defaults import DEFAULT_RESOLUTION, MAX_WORKERS, RESOLUTIONS
from ..inference.reading.stac_search import DEFAULT_COLLECTION, DEFAULT_MAX_ITEMS, StacSearch
from ..toolbelt.compat import field
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
            fields.append(field(column, int))
        elif column.endswith("_percent") or column in NUMBER_COLUMNS:
            fields.append(field(column, float))
        else:
            fields.append(field(column, str))
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
                             "a text file that lists one product (or STAC item URL) per line, or a glob such as "
                             "/data/*T32UPC*.zip. Optional when STAC_API is given."),
                ("STAC_API", "Optional: a STAC API to search, such as https://earth-search.aws.element84.com/v1 or "
                             "https://planetarycomputer.microsoft.com/api/stac/v1. What it finds is listed in the "
                             "log before anything runs and kept in OUTPUT_FOLDER/stac-items/."),
                ("COLLECTION", f"The collection searched (default {DEFAULT_COLLECTION})."),
                ("EXTENT", "Optional: the area searched, and the area each product is masked in."),
                ("START", "Optional: the first acquisition date searched, such as 2024-06-01."),
                ("END", "Optional: the last acquisition date searched."),
                ("MAX_CLOUD", "Optional: the largest cloud cover (percent, the item's eo:cloud_cover) searched."),
                ("MAX_ITEMS", f"At most this many items are masked (default {DEFAULT_MAX_ITEMS})."),
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
                                       behavior=QgsProcessingParameterFile.Behavior.Folder, optional=True)
        )
        self.addParameter(QgsProcessingParameterString("STAC_API", "STAC API to search (URL)", optional=True))
        self.addParameter(QgsProcessingParameterString("COLLECTION", "STAC collection", DEFAULT_COLLECTION))
        self.addParameter(QgsProcessingParameterExtent("EXTENT", "Extent (searched, and masked)", optional=True))
        self.addParameter(QgsProcessingParameterString("START", "First date (YYYY-MM-DD)", optional=True))
        self.addParameter(QgsProcessingParameterString("END", "Last date (YYYY-MM-DD)", optional=True))
        self.addParameter(QgsProcessingParameterNumber("MAX_CLOUD", "Largest cloud cover (%)",
                                                       QgsProcessingParameterNumber.Type.Double, optional=True,
                                                       minValue=0, maxValue=100))
        max_items = QgsProcessingParameterNumber("MAX_ITEMS", "Most items from the search",
                                                 QgsProcessingParameterNumber.Type.Integer, DEFAULT_MAX_ITEMS, minValue=1)
        max_items.setFlags(max_items.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
        self.addParameter(max_items)
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
                                               QgsProcessingParameterNumber.Type.Integer, defaultValue=0, minValue=0,
                                               maxValue=MAX_WORKERS)
        workers.setFlags(workers.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
        self.addParameter(workers)
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT_FOLDER", "Output folder"))
        self.addParameter(QgsProcessingParameterFeatureSink("SUMMARY", "Batch summary", QgsProcessing.SourceType.TypeVector))
        for name, status in COUNT_OUTPUTS.items():
            self.addOutput(QgsProcessingOutputNumber(name, f"Products {status}"))
        self.addOutput(QgsProcessingOutputFile("SUMMARY_CSV", "Summary CSV"))

    def extent_and_bbox(self, parameters: dict, context: QgsProcessingContext) -> tuple[tuple | None, tuple | None]:
        """EXTENT as the engine masks it (with its CRS), and as the search's bounds in degrees."""
        if parameters.get("EXTENT") is None:
            return None, None
        rectangle = self.parameterAsExtent(parameters, "EXTENT", context)
        if rectangle.isNull():
            return None, None
        crs = self.parameterAsExtentCrs(parameters, "EXTENT", context)
        degrees = QgsCoordinateTransform(crs, QgsCoordinateReferenceSystem("EPSG:4326"),
                                         context.transformContext()).transformBoundingBox(rectangle)
        bounds = (rectangle.xMinimum(), rectangle.yMinimum(), rectangle.xMaximum(), rectangle.yMaximum())
        return (*bounds, crs.toWkt()), (degrees.xMinimum(), degrees.yMinimum(), degrees.xMaximum(),
                                        degrees.yMaximum())

    def paths_read(self, parameters: dict, context: QgsProcessingContext) -> dict[str, str]:
        """Each product; the folder holding them is not itself read (masks may go beside them), a list file is."""
        read = super().paths_read(parameters, context)
        if read.get("PRODUCTS") and Path(read["PRODUCTS"]).is_dir():
            del read["PRODUCTS"]
        read.update(product_inputs(self._sources(parameters, context)))
        return read

    def companions(self, parameters: dict, context: QgsProcessingContext) -> dict:
        """What the runner writes in OUTPUT_FOLDER (the folder itself may hold anything else)."""
        return {"OUTPUT_FOLDER": lambda out: batch_outputs(Path(os.path.abspath(out)),
                                                           self._sources(parameters, context))}

    def _sources(self, parameters: dict, context: QgsProcessingContext) -> list[str]:
        """The products named; a search's items are found in the run, into OUTPUT_FOLDER/stac-items/."""
        products = self.parameterAsFile(parameters, "PRODUCTS", context)
        return find_products(products) if products else []

    def process(
        self, parameters: dict, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict:
        products = self.parameterAsFile(parameters, "PRODUCTS", context)
        out = self.parameterAsString(parameters, "OUTPUT_FOLDER", context)
        extent, bbox = self.extent_and_bbox(parameters, context)
        settings = Settings(
            model=model_value(self, parameters, context),
            device=self.parameterAsEnumString(parameters, "DEVICE", context),
            resolution=int(self.parameterAsEnumString(parameters, "RESOLUTION", context)),
            compare=self.parameterAsBoolean(parameters, "COMPARE_SCL", context),
            shadow_check=self.parameterAsBool(parameters, "SHADOW_CHECK", context),
            buffer=self.parameterAsDouble(parameters, "BUFFER", context),
            extent=extent,
        )
        workers = self.parameterAsInt(parameters, "WORKERS", context) or None
        api = self.parameterAsString(parameters, "STAC_API", context).strip()
        if not api and not products:
            raise QgsProcessingException("Give PRODUCTS (a folder or list of products) or STAC_API (a STAC API to "
                                         "search).")
        with engine_errors():
            sources = find_products(products) if products else []
            if api:
                max_cloud = parameters.get("MAX_CLOUD")
                search = StacSearch(
                    api, self.parameterAsString(parameters, "COLLECTION", context) or DEFAULT_COLLECTION, bbox,
                    self.parameterAsString(parameters, "START", context) or None,
                    self.parameterAsString(parameters, "END", context) or None,
                    None if max_cloud in (None, "") else self.parameterAsDouble(parameters, "MAX_CLOUD", context),
                    self.parameterAsInt(parameters, "MAX_ITEMS", context))
                sources = found_by_search(search, out, feedback.pushInfo) + sources
            feedback.pushInfo(f"{len(sources)} product(s) in {products}" if not api else
                              f"{len(sources)} product(s) to mask")
            result = run_batch(sources, out, settings, workers=workers, scheduler=LOCAL,
                               feedback=ProcessingFeedbackAdapter(feedback))
        if result.plan is not None:
            feedback.pushInfo(f"Workers: {result.plan.describe()}")
        for row in result.rows:
            if row["status"] == FAILED:
                feedback.reportError(f"{row['product_id']}: {row['error']}", fatalError=False)
        sink, sink_id = self.parameterAsSink(parameters, "SUMMARY", context, summary_fields(), QgsWkbTypes.Type.NoGeometry)
        for row in result.rows:
            feature = QgsFeature(summary_fields())
            feature.setAttributes([row.get(column) for column in COLUMNS])
            sink.addFeature(feature, QgsFeatureSink.Flag.FastInsert)
        unfinished = result.unfinished()
        if unfinished:  # a failed product fails the algorithm, as it fails make batch: scripts see it in $?
            raise QgsProcessingException(unfinished)
        values = {name: result.counts[status] for name, status in COUNT_OUTPUTS.items()}
        values.update(OUTPUT_FOLDER=out, SUMMARY=sink_id, SUMMARY_CSV=str(result.summary_csv))
        return values
