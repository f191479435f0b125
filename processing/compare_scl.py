"""s2cloudmask:comparescl: where a cloud mask agrees with Sen2Cor's Scene Classification Layer."""

from __future__ import annotations

import json

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
)

from .. import inference
from ..inference.comparing.difference import DIFFERENCE_CODES, DIFFERENCE_NAMES
from ..toolbelt.layers import DIFFERENCE_LAYER_NAME, style_difference_layer
from .base import (
    CloudMaskAlgorithm,
    ProcessingFeedbackAdapter,
    engine_errors,
    help_html,
    optional_output,
    raster_file,
    style_output_on_load,
)

SCL_FILTER = (
    "SCL rasters and Level-2A products (*SCL*.jp2 *SCL*.tif *.zip MTD_MSIL2A.xml);;"
    "Rasters (*.jp2 *.tif *.tiff *.vrt);;All files (*)"
)
# output name -> key of Comparison.per_class whose F1 score it carries
F1_OUTPUTS: dict[str, str] = {"F1_CLOUD": "cloud", "F1_CLOUD_SHADOW": "cloud_shadow"}


def figure(value: float | None) -> float | None:
    """Agreement figures are None where nothing was there to agree on (no pixel of a class)."""
    return None if value is None else float(value)


class CompareSclAlgorithm(CloudMaskAlgorithm):
    def name(self) -> str:
        return "comparescl"

    def displayName(self) -> str:  # noqa: N802 (QGIS's name)
        return self.tr("Compare a cloud mask with Sen2Cor's SCL")

    def group(self) -> str:
        return self.tr("Comparison")

    def groupId(self) -> str:  # noqa: N802 (QGIS's name)
        return "comparison"

    def tags(self) -> list[str]:
        return ["sentinel-2", "scl", "sen2cor", "scene classification", "agreement", "kappa", "confusion matrix"]

    def shortDescription(self) -> str:  # noqa: N802 (QGIS's name)
        return self.tr("Difference raster, agreement, Cohen's kappa and per-class figures of a mask against SCL.")

    def shortHelpString(self) -> str:  # noqa: N802 (QGIS's name)
        return help_html(
            "Compares a four-class cloud mask (from this plugin or KappaMask) with the Scene Classification "
            "Layer that Sen2Cor writes into every Level-2A product. SCL is resampled with nearest neighbour "
            "onto the mask's grid and its twelve classes are mapped onto the mask's four: 3 cloud shadows → "
            "cloud shadow; 8, 9 cloud medium / high probability → cloud; 10 thin cirrus → semi-transparent "
            "cloud; 4 vegetation, 5 not vegetated → clear; 2 dark area, 6 water, 7 unclassified and 11 snow "
            "→ clear but flagged ambiguous (often a missed shadow, or water and shadow confused); 0 and 1 → "
            "no data.",
            [
                ("MASK", "The cloud mask (codes 0 no data, 1 clear, 2 cloud shadow, 3 semi-transparent, 4 cloud)."),
                (
                    "SCL",
                    "An SCL raster (the product's SCL_20m.jp2 or a GeoTIFF of it), or the Level-2A product "
                    "itself (.SAFE folder, .zip or MTD_MSIL2A.xml), whose SCL is then used. It is a file "
                    "parameter so that the graphical modeler and qgis_process can pass the same product "
                    "path that the masking step read; for a .SAFE folder choose its MTD_MSIL2A.xml or type "
                    "the folder's path.",
                ),
                ("OUTPUT", "The difference GeoTIFF; its legend says in words where the two agree or differ."),
                ("REPORT", "Optional HTML report with the confusion matrix; a .json with the same figures is "
                 "written beside it."),
            ],
            [
                "Difference codes: "
                + "; ".join(f"{code} {DIFFERENCE_NAMES[code].lower()}" for code in DIFFERENCE_CODES)
                + " (0 no data). Codes 4 and 5 are what SCL lets through, 6 and 7 what it throws away.",
                "Results: OVERALL_AGREEMENT (share of compared pixels, 0-1, ambiguous SCL codes counted as "
                "clear), KAPPA (Cohen's kappa), the same two without the ambiguous pixels "
                "(AGREEMENT_EXCLUDING_AMBIGUOUS, KAPPA_EXCLUDING_AMBIGUOUS), F1_CLOUD and F1_CLOUD_SHADOW, "
                "and PER_CLASS, a JSON text with precision, recall, F1 and IoU of every class (keys clear, "
                "cloud_shadow, semi_transparent_cloud, cloud). A figure is empty (null) where the class "
                "occurs on neither side.",
            ],
        )

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 (QGIS's name)
        self.addParameter(QgsProcessingParameterRasterLayer("MASK", "Cloud mask"))
        self.addParameter(
            QgsProcessingParameterFile(
                "SCL",
                "SCL raster or Level-2A product",
                behavior=QgsProcessingParameterFile.Behavior.File,
                fileFilter=SCL_FILTER,
            )
        )
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", DIFFERENCE_LAYER_NAME))
        self.addParameter(
            QgsProcessingParameterFileDestination(
                "REPORT", "Report", fileFilter="HTML files (*.html)", optional=True, createByDefault=False
            )
        )
        self.addOutput(QgsProcessingOutputNumber("OVERALL_AGREEMENT", "Overall agreement (0-1)"))
        self.addOutput(QgsProcessingOutputNumber("KAPPA", "Cohen's kappa"))
        self.addOutput(
            QgsProcessingOutputNumber("AGREEMENT_EXCLUDING_AMBIGUOUS", "Agreement without ambiguous SCL pixels (0-1)")
        )
        self.addOutput(QgsProcessingOutputNumber("KAPPA_EXCLUDING_AMBIGUOUS", "Kappa without ambiguous SCL pixels"))
        self.addOutput(QgsProcessingOutputNumber("F1_CLOUD", "F1 score of cloud"))
        self.addOutput(QgsProcessingOutputNumber("F1_CLOUD_SHADOW", "F1 score of cloud shadow"))
        self.addOutput(QgsProcessingOutputString("PER_CLASS", "Per-class figures (JSON)"))

    def companions(self, parameters: dict, context: QgsProcessingContext) -> dict:
        return {"REPORT": inference.report_files}

    def process(
        self, parameters: dict, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict:
        mask_layer = self.required_raster_layer(parameters, "MASK", context)
        scl = self.parameterAsFile(parameters, "SCL", context)
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        report = optional_output(self.parameterAsFileOutput(parameters, "REPORT", context))
        with engine_errors():
            comparison = inference.compare_with_scl(
                raster_file(mask_layer, "MASK"),
                scl,
                output,
                report=report,
                feedback=ProcessingFeedbackAdapter(feedback),
            )
        style_output_on_load(context, comparison.output, DIFFERENCE_LAYER_NAME, style_difference_layer)
        values: dict = {
            "OUTPUT": comparison.output,
            "OVERALL_AGREEMENT": figure(comparison.overall_agreement),
            "KAPPA": figure(comparison.kappa),
            "AGREEMENT_EXCLUDING_AMBIGUOUS": figure(comparison.agreement_excluding_ambiguous),
            "KAPPA_EXCLUDING_AMBIGUOUS": figure(comparison.kappa_excluding_ambiguous),
            "PER_CLASS": json.dumps(comparison.per_class),
        }
        for name, key in F1_OUTPUTS.items():
            values[name] = figure(comparison.per_class[key]["f1"])
        if comparison.report:
            values["REPORT"] = comparison.report
        feedback.pushInfo(
            "Agreement with SCL {}, Cohen's kappa {} ({} of the compared pixels are ambiguous in SCL).".format(
                _text(values["OVERALL_AGREEMENT"], "{:.1%}"),
                _text(values["KAPPA"], "{:.3f}"),
                _text(comparison.ambiguous_pixels / comparison.compared_pixels, "{:.1%}"),
            )
        )
        return values


def _text(value: float | None, pattern: str) -> str:
    return "n/a" if value is None else pattern.format(value)
