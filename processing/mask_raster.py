"""s2cloudmask:maskraster: mask any raster that holds Sentinel-2 bands (a STAC stack, a clip, a VRT)."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingParameterBand,
    QgsProcessingParameterEnum,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
)

from .. import inference
from ..inference.defaults import DEFAULT_LEVEL, DEFAULT_OFFSET, DEFAULT_SCALE, LEVELS
from ..toolbelt.layers import MASK_LAYER_NAME, style_mask_layer
from .base import (
    BUFFER_HELP,
    CHOICES_HELP,
    CLASS_CODES_HELP,
    MODEL_HELP,
    SHADOW_CHECK_HELP,
    MaskingAlgorithm,
    ProcessingFeedbackAdapter,
    device_parameter,
    engine_errors,
    help_html,
    model_parameter,
    model_value,
    raster_file,
    refinement_parameters,
    style_output_on_load,
)
from .results import add_mask_outputs, mask_result_values

# parameter -> (engine band name, label, default band number or None when optional)
BAND_PARAMETERS: dict[str, tuple[str, str, int | None]] = {
    "BAND_BLUE": ("blue", "Blue band (B02)", 1),
    "BAND_GREEN": ("green", "Green band (B03)", 2),
    "BAND_RED": ("red", "Red band (B04)", 3),
    "BAND_NIR": ("nir", "Near-infrared band (B8A or B08)", 4),
    "BAND_SWIR16": ("swir16", "Short-wave infrared 1.6 µm band (B11)", None),
    "BAND_SWIR22": ("swir22", "Short-wave infrared 2.2 µm band (B12)", None),
}


def optional_number(algorithm, parameters: dict, name: str, context: QgsProcessingContext) -> float | None:
    """An optional number parameter's value, None when left empty."""
    if parameters.get(name) in (None, ""):
        return None
    return algorithm.parameterAsDouble(parameters, name, context)


class MaskRasterAlgorithm(MaskingAlgorithm):
    def name(self) -> str:
        return "maskraster"

    def displayName(self) -> str:  # noqa: N802 (QGIS's name)
        return self.tr("Mask clouds in a raster of Sentinel-2 bands")

    def tags(self) -> list[str]:
        return ["sentinel-2", "cloud", "shadow", "mask", "band stack", "stac", "vrt", "onnx", "u-net"]

    def shortDescription(self) -> str:  # noqa: N802 (QGIS's name)
        return self.tr(
            "Four-class cloud mask of any raster layer holding Sentinel-2 bands, with the band mapping given."
        )

    def shortHelpString(self) -> str:  # noqa: N802 (QGIS's name)
        return help_html(
            "Masks clouds in any raster layer that holds Sentinel-2 bands: a band stack from a STAC catalogue, "
            "a clip exported from a product, separate band files merged into a VRT. Say which band of the "
            "layer holds which Sentinel-2 band and how its digital numbers become reflectance.",
            [
                ("INPUT", "A raster layer read by GDAL (a file, a VRT)."),
                ("BAND_BLUE, BAND_GREEN, BAND_RED, BAND_NIR", "Band numbers (1-based) of B02, B03, B04 and B8A."),
                (
                    "BAND_SWIR16, BAND_SWIR22",
                    "Band numbers of B11 and B12; optional. With both, the 6-band model runs; without, the "
                    "4-band model.",
                ),
                (
                    "SCALE, OFFSET",
                    f"Reflectance = DN × SCALE + OFFSET. The defaults ({DEFAULT_SCALE}, {DEFAULT_OFFSET}) fit Level-2A from "
                    "processing baseline 04.00 on (January 2022), where reflectance = (DN - 1000) / 10000, and "
                    "Level-1C from baseline 04.00 likewise. For products processed before baseline 04.00 set "
                    "OFFSET to 0. For data already in reflectance (0-1) use SCALE 1 and OFFSET 0.",
                ),
                ("LEVEL", "l1c (top of atmosphere) or l2a (bottom of atmosphere): picks the matching model."),
                ("MODEL", "'auto' or an .onnx file path."),
                ("DEVICE", "auto (GPU if available, else CPU), cpu or gpu."),
                ("SHADOW_CHECK", SHADOW_CHECK_HELP + " A plain raster carries no angles: the check runs only when "
                 "SUN_AZIMUTH and SUN_ZENITH are given (the view is taken as nadir)."),
                ("SUN_AZIMUTH, SUN_ZENITH", "Optional: the sun's azimuth (degrees clockwise from north) and zenith "
                 "angle (degrees) at the acquisition, e.g. Mean_Sun_Angle of the product's MTD_TL.xml."),
                ("BUFFER", BUFFER_HELP),
                ("OUTPUT", "The mask GeoTIFF on the layer's grid (uint8, no data = 0)."),
            ],
            [
                CLASS_CODES_HELP + " A band stack carries no cirrus information, so class 3 is absent here.",
                CHOICES_HELP,
                MODEL_HELP,
            ],
        )

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 (QGIS's name)
        # An empty default: the dialog then does not preselect the active layer, which after a run is the mask itself.
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", "Raster with Sentinel-2 bands", defaultValue=""))
        for name, (_band, label, default) in BAND_PARAMETERS.items():
            self.addParameter(
                QgsProcessingParameterBand(
                    name, label, defaultValue=default, parentLayerParameterName="INPUT", optional=default is None
                )
            )
        self.addParameter(
            QgsProcessingParameterNumber(
                "SCALE", "Scale (reflectance = DN × SCALE + OFFSET)", QgsProcessingParameterNumber.Type.Double, DEFAULT_SCALE
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber("OFFSET", "Offset", QgsProcessingParameterNumber.Type.Double, DEFAULT_OFFSET)
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                "LEVEL", "Processing level", options=list(LEVELS), defaultValue=DEFAULT_LEVEL, usesStaticStrings=True
            )
        )
        self.addParameter(model_parameter())
        self.addParameter(device_parameter())
        shadow_check, buffer = refinement_parameters()
        self.addParameter(shadow_check)
        for name, label, maximum in (("SUN_AZIMUTH", "Sun azimuth (degrees)", 360.0),
                                     ("SUN_ZENITH", "Sun zenith angle (degrees)", 89.0)):
            self.addParameter(QgsProcessingParameterNumber(name, label, QgsProcessingParameterNumber.Type.Double,
                                                           optional=True, minValue=0.0, maxValue=maximum))
        self.addParameter(buffer)
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", MASK_LAYER_NAME))
        add_mask_outputs(self)

    def checkParameterValues(self, parameters: dict, context: QgsProcessingContext) -> tuple[bool, str]:  # noqa: N802
        """Band parameters left out take their defaults: QGIS 3.22's band check would reject them instead."""
        filled = dict(parameters)
        for name in BAND_PARAMETERS:
            default = self.parameterDefinition(name).defaultValue()
            if filled.get(name) is None and default is not None:
                filled[name] = default
        return super().checkParameterValues(filled, context)

    def process(
        self, parameters: dict, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict:
        layer = self.required_raster_layer(parameters, "INPUT", context)
        bands = {}
        for name, (band, _label, _default) in BAND_PARAMETERS.items():
            number = self.parameterAsInt(parameters, name, context)  # 0 for an optional band left out
            if number > 0:
                bands[band] = number
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        with engine_errors():
            result = inference.mask_raster(
                raster_file(layer, "INPUT"),
                output,
                bands=bands,
                scale=self.parameterAsDouble(parameters, "SCALE", context),
                offset=self.parameterAsDouble(parameters, "OFFSET", context),
                level=self.parameterAsEnumString(parameters, "LEVEL", context),
                model=model_value(self, parameters, context),
                device=self.parameterAsEnumString(parameters, "DEVICE", context),
                feedback=ProcessingFeedbackAdapter(feedback),
                shadow_check=self.parameterAsBool(parameters, "SHADOW_CHECK", context),
                sun_azimuth=optional_number(self, parameters, "SUN_AZIMUTH", context),
                sun_zenith=optional_number(self, parameters, "SUN_ZENITH", context),
                buffer=self.parameterAsDouble(parameters, "BUFFER", context),
            )
        style_output_on_load(context, result.output, MASK_LAYER_NAME, style_mask_layer)
        return mask_result_values(result, feedback)
