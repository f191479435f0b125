"""s2cloudmask:composite: a cloud-free composite of many products, with their masks made where missing."""

from __future__ import annotations

import os
from pathlib import Path

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingOutputFolder,
    QgsProcessingOutputNumber,
    QgsProcessingParameterCrs,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterString,
)

from .. import inference
from ..inference.batch.runner import batch_outputs, product_inputs
from ..inference.cleaning.folders import masks_folder
from ..inference.defaults import COMPOSITE_METHODS, DEFAULT_CLEAN_RESOLUTION
from ..toolbelt.layers import COMPOSITE_LAYER_NAME, style_band_stack
from .base import (
    BUFFER_HELP,
    CHOICES_HELP,
    CleaningAlgorithm,
    ProcessingFeedbackAdapter,
    bands_value,
    classes_value,
    cleaning_parameters,
    device_parameter,
    engine_errors,
    help_html,
    model_parameter,
    model_value,
    product_list,
    style_output_on_load,
)

COUNT_OUTPUTS = {"PRODUCTS_USED": "Products composited", "PRODUCTS_SKIPPED": "Products left out",
                 "MASKS_REUSED": "Masks reused", "MASKS_MADE": "Masks made"}  # fmt: skip


class CompositeAlgorithm(CleaningAlgorithm):
    def name(self) -> str:
        return "composite"

    def displayName(self) -> str:  # noqa: N802 (QGIS's name)
        return self.tr("Cloud-free composite of Sentinel-2 products")

    def tags(self) -> list[str]:
        return ["sentinel-2", "cloud", "composite", "mosaic", "median", "best available pixel", "bap",
                "time series", "cloud-free", "cog"]

    def shortDescription(self) -> str:  # noqa: N802 (QGIS's name)
        return self.tr("The median (or best-available pixel) of the clear observations of many products.")

    def shortHelpString(self) -> str:  # noqa: N802 (QGIS's name)
        return help_html(
            "Composites many Sentinel-2 products of one level into one Cloud-Optimised GeoTIFF, using only "
            "the pixels their cloud masks call clear. Masks already made (a 'Mask many' output folder) are "
            "reused by product id; the other products are masked first on the batch runner's workers. The "
            "work streams block by block: memory depends on the block size and the number of dates, not on "
            "the area.",
            [
                ("PRODUCTS", "A folder of .SAFE folders / .zip products; you can also type a list file (one "
                             "product per line), a glob such as /data/*T32UPC*.zip, or a STAC item .json."),
                ("MASKS", "A folder of this plugin's masks (<product id>_cloudmask.tif, as 'Mask many' writes "
                          "them). Masks made here are added to it; left empty, <OUTPUT name>_masks beside "
                          "OUTPUT."),
                ("EXTENT / CRS / RESOLUTION", "The output grid. Defaults: all the products' footprints, in the "
                                              "first product's CRS, at 20 m. Products of other UTM zones are "
                                              "reprojected onto it."),
                ("START / END", "Only products sensed on these dates or between them (YYYY-MM-DD)."),
                ("METHOD", "median: per band, the median of a pixel's clear observations. bap: best-available "
                           "pixel, the clear observation farthest from any cloud or shadow (up to 300 m), "
                           "nearest to TARGET_DATE among equals; all bands from that one date."),
                ("TARGET_DATE", "bap: the date preferred (default: the middle of START-END, else of the dates)."),
                ("CLASSES", "The mask classes that make an observation unusable (all three by default)."),
                ("BUFFER", BUFFER_HELP),
                ("BANDS", "Band ids separated by commas (default: the surface bands every product has)."),
                ("OUTPUT", "The composite: the bands (reflectance, no data NaN), then the number of clear "
                           "observations of each pixel, then (bap) the date chosen, as days since 1970-01-01."),
            ],
            ["Level-1C and Level-2A products never mix in one composite. The same composite from a shell: "
             "make composite PRODUCTS=... OUT=... (see the README).", CHOICES_HELP],
        )

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 (QGIS's name)
        self.addParameter(QgsProcessingParameterFile("PRODUCTS", "Products (folder, or list file)",
                                                     behavior=QgsProcessingParameterFile.Behavior.Folder))
        self.addParameter(QgsProcessingParameterFile("MASKS", "Folder of masks already made",
                                                     behavior=QgsProcessingParameterFile.Behavior.Folder, optional=True))
        self.addParameter(QgsProcessingParameterExtent("EXTENT", "Extent", optional=True))
        self.addParameter(QgsProcessingParameterCrs("CRS", "Output CRS (empty: the first product's)", optional=True))
        self.addParameter(QgsProcessingParameterNumber("RESOLUTION", "Output resolution (m)",
                                                       QgsProcessingParameterNumber.Type.Double, DEFAULT_CLEAN_RESOLUTION,
                                                       minValue=10.0, maxValue=1000.0))
        self.addParameter(QgsProcessingParameterString("START", "First date (YYYY-MM-DD)", optional=True))
        self.addParameter(QgsProcessingParameterString("END", "Last date (YYYY-MM-DD)", optional=True))
        self.addParameter(QgsProcessingParameterEnum("METHOD", "Method", options=list(COMPOSITE_METHODS),
                                                     defaultValue="median", usesStaticStrings=True))
        self.addParameter(QgsProcessingParameterString("TARGET_DATE", "Target date for bap (YYYY-MM-DD)",
                                                       optional=True))
        for parameter in cleaning_parameters():
            self.addParameter(parameter)
        workers = QgsProcessingParameterNumber("WORKERS", "Worker processes (0: automatic)",
                                               QgsProcessingParameterNumber.Type.Integer, defaultValue=0, minValue=0)
        for parameter in (model_parameter(), device_parameter(), workers):
            parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
            self.addParameter(parameter)
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", COMPOSITE_LAYER_NAME))
        for name, text in COUNT_OUTPUTS.items():
            self.addOutput(QgsProcessingOutputNumber(name, text))
        self.addOutput(QgsProcessingOutputNumber("COVERED_PERCENT", "Pixels with a clear observation (%)"))
        self.addOutput(QgsProcessingOutputFolder("MASKS_FOLDER", "Folder of the masks used"))

    def paths_read(self, parameters: dict, context: QgsProcessingContext) -> dict[str, str]:
        """Each product; neither the folder holding them nor MASKS (masks are added to it) is itself read."""
        read = super().paths_read(parameters, context)
        for name in ("PRODUCTS", "MASKS"):
            if read.get(name) and Path(read[name]).is_dir():
                del read[name]
        read.update(product_inputs(product_list(self, parameters, context)))
        return read

    def companions(self, parameters: dict, context: QgsProcessingContext) -> dict:
        """What the batch runner writes into the masks folder for the products without a mask."""
        masks = self.parameterAsFile(parameters, "MASKS", context)
        return {"OUTPUT": lambda output: batch_outputs(Path(os.path.abspath(masks_folder(output, masks))),
                                                       product_list(self, parameters, context))}

    def process(
        self, parameters: dict, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict:
        crs = self.parameterAsCrs(parameters, "CRS", context)
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        with engine_errors():
            result = inference.composite(
                self.parameterAsFile(parameters, "PRODUCTS", context),
                output,
                masks=self.parameterAsFile(parameters, "MASKS", context) or None,
                extent=self.extent_value(parameters, context),
                crs=crs.toWkt() if crs.isValid() else None,
                resolution=self.parameterAsDouble(parameters, "RESOLUTION", context),
                start=self.parameterAsString(parameters, "START", context) or None,
                end=self.parameterAsString(parameters, "END", context) or None,
                method=self.parameterAsEnumString(parameters, "METHOD", context),
                target_date=self.parameterAsString(parameters, "TARGET_DATE", context) or None,
                classes=classes_value(self, parameters, context),
                buffer=self.parameterAsDouble(parameters, "BUFFER", context),
                bands=bands_value(self, parameters, context),
                model=model_value(self, parameters, context),
                device=self.parameterAsEnumString(parameters, "DEVICE", context),
                workers=self.parameterAsInt(parameters, "WORKERS", context) or None,
                feedback=ProcessingFeedbackAdapter(feedback),
            )
        for product, why in result.skipped.items():
            feedback.reportError(f"Left out {product}: {why}", fatalError=False)
        feedback.pushInfo(f"{len(result.products)} product(s) on {result.workers}; {result.covered_percent:.1f} % of "
                          f"the pixels have a clear observation ({result.mean_clear_observations:.1f} on average); "
                          f"{result.seconds:.1f} s.")
        style_output_on_load(context, result.output, COMPOSITE_LAYER_NAME, style_band_stack)
        return {"OUTPUT": result.output, "PRODUCTS_USED": len(result.products),
                "PRODUCTS_SKIPPED": len(result.skipped), "MASKS_REUSED": result.masks_reused,
                "MASKS_MADE": result.masks_made, "COVERED_PERCENT": result.covered_percent,
                "MASKS_FOLDER": result.masks_folder or ""}
