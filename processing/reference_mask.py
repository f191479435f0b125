"""s2cloudmask:referencemask: a reference mask from an analyst's samples (ALCD's active learning, one round)."""

from __future__ import annotations

import json

from qgis.core import (
    QgsFeature,
    QgsFeatureSink,
    QgsFields,
    QgsGeometry,
    QgsPointXY,
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsWkbTypes,
)

from .. import inference
from ..inference.classes import CLASS_NAMES, MASK_CODES
from ..inference.defaults import DEFAULT_REFERENCE_RESOLUTION, DEFAULT_SUGGESTIONS, RESOLUTIONS
from ..toolbelt.compat import field, field_names
from ..toolbelt.layers import CONFIDENCE_LAYER_NAME, REFERENCE_LAYER_NAME, style_confidence_layer, style_mask_layer
from ..toolbelt.crs import qgis_crs
from ..toolbelt.sample_features import samples_from_features
from .base import (
    CHOICES_HELP,
    ProcessingFeedbackAdapter,
    ReferenceAlgorithm,
    engine_errors,
    help_html,
    optional_output,
    raster_file,
    style_output_on_load,
)

INPUT_FILTER = ("Sentinel-2 products and rasters (*.zip MTD_MSIL1C.xml MTD_MSIL2A.xml manifest.safe *.tif *.tiff "
                "*.vrt *.jp2);;All files (*)")


class ReferenceMaskAlgorithm(ReferenceAlgorithm):
    def name(self) -> str:
        return "referencemask"

    def displayName(self) -> str:  # noqa: N802 (QGIS's name)
        return "Reference mask from samples (active learning)"

    def tags(self) -> list[str]:
        return ["sentinel-2", "reference", "alcd", "active learning", "random forest", "samples", "truth", "label"]

    def shortDescription(self) -> str:  # noqa: N802 (QGIS's name)
        return "Classify a scene from marked points with a random forest; confidence and where to mark next."

    def shortHelpString(self) -> str:  # noqa: N802 (QGIS's name)
        return help_html(
            "Makes a reference cloud mask the way ALCD does (Baetens, Desjardins & Hagolle 2019): a random "
            "forest (scikit-learn) learns from points or polygons you marked with their class, classifies the "
            "whole scene, and shows where it is unsure. Add samples there and run again until the reference is "
            "good. Features: the product's reflectances, NDVI, NDWI, NDSI, the B09/B8A ratio, a cirrus band "
            "(B10 on L1C, the MSK_CLASSI_B00 cirrus layer on L2A), each also as its mean over the surrounding "
            "540 m, and optionally the U-Net's class probabilities.",
            [
                ("INPUT", "A Sentinel-2 product (.SAFE folder, .zip, MTD xml) or a raster (its bands as they are)."),
                ("SAMPLES", "A point or polygon layer of samples, in any CRS."),
                ("CLASS_FIELD", "The field with each sample's class: a code (1 clear, 2 cloud shadow, 3 semi-"
                 "transparent cloud, 4 cloud) or a name (clear, cloud shadow, thin cloud, cloud, ...). At least two "
                 "classes and 10 samples of each."),
                ("RESOLUTION", "Pixel size of the reference in metres: 10, 20 or 60 (default 60, as ALCD)."),
                ("PROBABILITIES", "Optional: the OUTPUT_PROBABILITIES of maskproduct for the same product, as "
                 "extra features."),
                ("SUGGESTION_COUNT", "How many places to suggest for the next samples."),
                ("OUTPUT", "The reference mask GeoTIFF, in the plugin's mask codes (0 no data)."),
                ("OUTPUT_CONFIDENCE", "Optional: the forest's confidence in percent (its votes for the class it "
                 "chose)."),
                ("OUTPUT_SUGGESTIONS", "Optional: points where the confidence is lowest, spread over the scene."),
            ],
            [
                "Results: CV_OVERALL_ACCURACY, CV_BALANCED_ACCURACY and CV_KAPPA from a cross-validation whose "
                "folds hold out whole blocks of the scene (an 8 x 8 grid), so neighbouring samples cannot "
                "inflate it; CV_PER_CLASS (JSON) adds precision, recall, F1 and IoU of each class.",
                CHOICES_HELP,
            ],
        )

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 (QGIS's name)
        self.addParameter(QgsProcessingParameterFile(
            "INPUT", "Sentinel-2 product or raster", behavior=QgsProcessingParameterFile.Behavior.File, fileFilter=INPUT_FILTER))
        self.addParameter(QgsProcessingParameterFeatureSource(
            "SAMPLES", "Samples", [QgsProcessing.SourceType.TypeVectorPoint, QgsProcessing.SourceType.TypeVectorPolygon]))
        self.addParameter(QgsProcessingParameterField("CLASS_FIELD", "Class field", parentLayerParameterName="SAMPLES"))
        self.addParameter(QgsProcessingParameterEnum(
            "RESOLUTION", "Resolution (m)", options=[str(r) for r in RESOLUTIONS],
            defaultValue=str(DEFAULT_REFERENCE_RESOLUTION), usesStaticStrings=True))
        self.addParameter(QgsProcessingParameterRasterLayer(
            "PROBABILITIES", "U-Net class probabilities (optional features)", optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            "SUGGESTION_COUNT", "Number of suggested places", type=QgsProcessingParameterNumber.Type.Integer,
            defaultValue=DEFAULT_SUGGESTIONS, minValue=0, maxValue=1000))
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", REFERENCE_LAYER_NAME))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT_CONFIDENCE", CONFIDENCE_LAYER_NAME, optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterFeatureSink(
            "OUTPUT_SUGGESTIONS", "Suggested places for samples", QgsProcessing.SourceType.TypeVectorPoint, optional=True,
            createByDefault=False))
        for name, text in (("CV_OVERALL_ACCURACY", "Cross-validated overall accuracy (0-1)"),
                           ("CV_BALANCED_ACCURACY", "Cross-validated balanced accuracy (0-1)"),
                           ("CV_KAPPA", "Cross-validated Cohen's kappa")):
            self.addOutput(QgsProcessingOutputNumber(name, text))
        self.addOutput(QgsProcessingOutputString("CV_PER_CLASS", "Cross-validated per-class figures (JSON)"))

    def process(
        self, parameters: dict, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict:
        source_path = self.parameterAsFile(parameters, "INPUT", context)
        samples_source = self.parameterAsSource(parameters, "SAMPLES", context)
        if samples_source is None:
            raise QgsProcessingException(f"SAMPLES {parameters.get('SAMPLES')!r} is not a vector layer QGIS can open.")
        class_field = (field_names(self, parameters, "CLASS_FIELD", context) or [""])[0]
        probabilities_layer = self.parameterAsRasterLayer(parameters, "PROBABILITIES", context)
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        confidence = optional_output(self.parameterAsOutputLayer(parameters, "OUTPUT_CONFIDENCE", context))
        with engine_errors():
            crs = inference.input_crs(source_path)
            samples = samples_from_features(samples_source.getFeatures(), samples_source.sourceCrs(), class_field,
                                            crs, f"the layer {samples_source.sourceName()}")
            result = inference.build_reference(
                source_path, samples, output,
                resolution=int(self.parameterAsEnumString(parameters, "RESOLUTION", context)),
                confidence=confidence,
                suggestions=self.parameterAsInt(parameters, "SUGGESTION_COUNT", context),
                probabilities=raster_file(probabilities_layer, "PROBABILITIES") if probabilities_layer else None,
                layer=f"the layer {samples_source.sourceName()}",
                feedback=ProcessingFeedbackAdapter(feedback),
            )
        for warning in result.warnings:
            feedback.pushWarning(warning)
        style_output_on_load(context, result.output, REFERENCE_LAYER_NAME, style_mask_layer)
        values: dict = {"OUTPUT": result.output}
        if result.confidence:
            style_output_on_load(context, result.confidence, CONFIDENCE_LAYER_NAME, style_confidence_layer)
            values["OUTPUT_CONFIDENCE"] = result.confidence
        if parameters.get("OUTPUT_SUGGESTIONS"):
            values["OUTPUT_SUGGESTIONS"] = self._suggestions(parameters, context, result, crs)
        cv = result.cross_validation or {}
        values.update({"CV_OVERALL_ACCURACY": cv.get("overall_accuracy"),
                       "CV_BALANCED_ACCURACY": cv.get("balanced_accuracy"), "CV_KAPPA": cv.get("kappa"),
                       "CV_PER_CLASS": json.dumps(cv.get("per_class", {}))})
        counts = ", ".join(f"{CLASS_NAMES[c].lower()} {n}" for c, n in result.samples_per_class.items())
        feedback.pushInfo(f"Samples: {counts}. Features: {', '.join(result.features)}.")
        if cv:
            feedback.pushInfo(f"Cross-validated overall accuracy {cv['overall_accuracy']:.3f}, kappa "
                              f"{cv['kappa']:.3f} ({cv['folds']} folds of {cv['grouping']}).")
        feedback.pushInfo("Reference: " + ", ".join(f"{CLASS_NAMES[c]} {result.class_percentages[c]:.1f} %"
                                                    for c in MASK_CODES) + f"; {result.seconds:.1f} s.")
        return values

    def _suggestions(self, parameters: dict, context: QgsProcessingContext, result, crs: str) -> str:
        fields = QgsFields()
        fields.append(field("rank", int))
        fields.append(field("confidence", float))
        sink_crs = qgis_crs(crs)
        sink, destination = self.parameterAsSink(parameters, "OUTPUT_SUGGESTIONS", context, fields,
                                                 QgsWkbTypes.Type.Point, sink_crs)
        for rank, suggestion in enumerate(result.suggestions, start=1):
            feature = QgsFeature(fields)
            feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(suggestion.x, suggestion.y)))
            feature.setAttributes([rank, round(suggestion.confidence, 4)])
            sink.addFeature(feature, QgsFeatureSink.Flag.FastInsert)
        return destination
