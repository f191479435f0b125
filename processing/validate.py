"""s2cloudmask:validate: score any cloud mask against a reference mask (one pair, or many from a CSV)."""

from __future__ import annotations

import json

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
)

from .. import inference
from ..inference.defaults import MASK_TYPE_NAMES, MASK_TYPES
from .base import CHOICES_HELP, ProcessingFeedbackAdapter, ReferenceAlgorithm, engine_errors, help_html, raster_file

# output name -> (variant, key of metrics.scores)
FIGURE_OUTPUTS: dict[str, tuple[str, str, str]] = {
    "OVERALL_ACCURACY": ("four_classes", "overall_accuracy", "Overall accuracy (0-1)"),
    "BALANCED_ACCURACY": ("four_classes", "balanced_accuracy", "Balanced accuracy (0-1)"),
    "KAPPA": ("four_classes", "kappa", "Cohen's kappa"),
    "OVERALL_ACCURACY_THIN_AS_CLOUD": ("semi_transparent_as_cloud", "overall_accuracy",
                                       "Overall accuracy, semi-transparent counted as cloud (0-1)"),
    "KAPPA_THIN_AS_CLOUD": ("semi_transparent_as_cloud", "kappa", "Kappa, semi-transparent counted as cloud"),
}


class ValidateAlgorithm(ReferenceAlgorithm):
    def name(self) -> str:
        return "validate"

    def displayName(self) -> str:  # noqa: N802 (QGIS's name)
        return "Validate a cloud mask against a reference"

    def tags(self) -> list[str]:
        return ["sentinel-2", "validation", "accuracy", "reference", "kappa", "f1", "iou", "fmask", "kappamask", "scl"]

    def shortDescription(self) -> str:  # noqa: N802 (QGIS's name)
        return "Overall and balanced accuracy, kappa, per-class precision, recall, F1 and IoU against a reference."

    def shortHelpString(self) -> str:  # noqa: N802 (QGIS's name)
        return help_html(
            "Scores a cloud mask against a reference mask (from referencemask, or any mask in the plugin's codes) "
            "on the mask's grid, the reference resampled with nearest neighbour. Every figure is given with the "
            "four classes and with semi-transparent cloud counted as cloud, since many references have no "
            "thin-cloud class. The same comparison core as comparescl computes them.",
            [
                ("MASK", "The mask to score (not needed with PAIRS)."),
                ("MASK_TYPE", "How to read its codes: auto (from its tags and name), "
                 + "; ".join(f"{k}: {v}" for k, v in MASK_TYPE_NAMES.items()) + "."),
                ("REFERENCE", "The reference mask, codes 0-4 (not needed with PAIRS)."),
                ("TOLERANCE", "Pixels (of the mask's grid) left out on each side of a class border of the "
                 "reference, as ALCD and Baetens et al. (2019) do; 0 keeps every pixel."),
                ("PAIRS", "Optional batch mode: a CSV with the columns mask, reference and optionally mask_type, "
                 "one pair per line (relative paths from the CSV's folder). The report then has a table per "
                 "scene and the figures of all pixels pooled, and a .csv of the table is written beside it."),
                ("REPORT", "HTML report; a .json with every figure is written beside it."),
            ],
            ["Results: OVERALL_ACCURACY, BALANCED_ACCURACY, KAPPA, OVERALL_ACCURACY_THIN_AS_CLOUD, "
             "KAPPA_THIN_AS_CLOUD (pooled in batch mode), PER_CLASS (JSON), MASK_TYPE_USED.", CHOICES_HELP],
        )

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 (QGIS's name)
        self.addParameter(QgsProcessingParameterRasterLayer("MASK", "Cloud mask", optional=True))
        self.addParameter(QgsProcessingParameterEnum(
            "MASK_TYPE", "Mask type", options=list(MASK_TYPES), defaultValue="auto", usesStaticStrings=True))
        self.addParameter(QgsProcessingParameterRasterLayer("REFERENCE", "Reference mask", optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            "TOLERANCE", "Tolerance around reference class borders (pixels)",
            type=QgsProcessingParameterNumber.Type.Integer, defaultValue=0, minValue=0, maxValue=100))
        self.addParameter(QgsProcessingParameterFile(
            "PAIRS", "Pairs of masks and references (CSV, batch mode)", behavior=QgsProcessingParameterFile.Behavior.File,
            fileFilter="CSV files (*.csv)", optional=True))
        self.addParameter(QgsProcessingParameterFileDestination(
            "REPORT", "Report", fileFilter="HTML files (*.html)", optional=True, createByDefault=False))
        for name, (_, _, text) in FIGURE_OUTPUTS.items():
            self.addOutput(QgsProcessingOutputNumber(name, text))
        self.addOutput(QgsProcessingOutputString("PER_CLASS", "Per-class figures (JSON)"))
        self.addOutput(QgsProcessingOutputString("MASK_TYPE_USED", "How the mask's codes were read"))

    def paths_read(self, parameters: dict, context: QgsProcessingContext) -> dict[str, str]:
        read = super().paths_read(parameters, context)
        if "PAIRS" in read:
            read.update(inference.pair_inputs(inference.read_pairs(read["PAIRS"])))
        return read

    def companions(self, parameters: dict, context: QgsProcessingContext) -> dict:
        batch = bool(self.parameterAsFile(parameters, "PAIRS", context))
        return {"REPORT": lambda report: inference.validation_report_files(report, batch=batch)}

    def process(
        self, parameters: dict, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict:
        pairs_file = self.parameterAsFile(parameters, "PAIRS", context)
        report = self.parameterAsFileOutput(parameters, "REPORT", context) or None
        tolerance = self.parameterAsInt(parameters, "TOLERANCE", context)
        adapter = ProcessingFeedbackAdapter(feedback)
        with engine_errors():
            if report:
                inference.check_validation_report(report, batch=bool(pairs_file), inputs={"PAIRS": pairs_file})
            if pairs_file:
                pairs = inference.read_pairs(pairs_file)
                result = inference.validate_many(pairs, tolerance=tolerance, feedback=adapter)
                figures, mask_type = result.pooled, ", ".join(sorted({s.mask_type for s in result.scenes}))
            else:
                mask_layer = self.parameterAsRasterLayer(parameters, "MASK", context)
                reference_layer = self.parameterAsRasterLayer(parameters, "REFERENCE", context)
                if mask_layer is None or reference_layer is None:
                    raise QgsProcessingException("Give MASK and REFERENCE (or a CSV of pairs as PAIRS).")
                result = inference.validate(raster_file(mask_layer, "MASK"), raster_file(reference_layer, "REFERENCE"),
                                  mask_type=self.parameterAsEnumString(parameters, "MASK_TYPE", context),
                                  tolerance=tolerance, feedback=adapter)
                figures, mask_type = result.variants(), f"{result.mask_type} ({result.mask_type_source})"
            if report:
                inference.write_validation_report(result, report)
        values: dict = {name: figures[variant][key] for name, (variant, key, _) in FIGURE_OUTPUTS.items()}
        values["PER_CLASS"] = json.dumps(figures["four_classes"]["per_class"])
        values["MASK_TYPE_USED"] = mask_type
        if report:
            values["REPORT"] = report
        feedback.pushInfo("Overall accuracy {}, balanced accuracy {}, kappa {}; with semi-transparent cloud as "
                          "cloud: overall accuracy {}. Mask read as {}.".format(
                              *(_text(values[n]) for n in ("OVERALL_ACCURACY", "BALANCED_ACCURACY", "KAPPA",
                                                           "OVERALL_ACCURACY_THIN_AS_CLOUD")), mask_type))
        return values


def _text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
