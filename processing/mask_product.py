"""s2cloudmask:maskproduct: mask a Sentinel-2 L1C or L2A product."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFile,
    QgsProcessingParameterRasterDestination,
)

from .. import inference
from ..inference.defaults import DEFAULT_RESOLUTION, RESOLUTIONS
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
    optional_output,
    refinement_parameters,
    style_output_on_load,
)
from .results import add_mask_outputs, mask_result_values

PRODUCT_FILTER = ("Sentinel-2 products (*.zip MTD_MSIL1C.xml MTD_MSIL2A.xml manifest.safe);;STAC items (*.json);;"
                  "All files (*)")


class MaskProductAlgorithm(MaskingAlgorithm):
    def name(self) -> str:
        return "maskproduct"

    def displayName(self) -> str:  # noqa: N802 (QGIS's name)
        return self.tr("Mask clouds in a Sentinel-2 product")

    def tags(self) -> list[str]:
        return ["sentinel-2", "cloud", "shadow", "cirrus", "mask", "l1c", "l2a", "safe", "onnx", "u-net"]

    def shortDescription(self) -> str:  # noqa: N802 (QGIS's name)
        return self.tr(
            "Four-class cloud mask (clear, cloud shadow, semi-transparent cloud, cloud) of an L1C or L2A product."
        )

    def shortHelpString(self) -> str:  # noqa: N802 (QGIS's name)
        return help_html(
            "Reads a Sentinel-2 Level-1C or Level-2A product, runs a U-Net tile by tile (on the GPU when one "
            "is available) and writes a four-class cloud mask as a GeoTIFF with a colour table and class names.",
            [
                (
                    "INPUT",
                    "The product: its .SAFE folder, the product .zip, or its MTD_MSIL1C.xml / MTD_MSIL2A.xml. "
                    "The file chooser picks files: for a .SAFE folder, choose the MTD xml or manifest.safe "
                    "inside it, or type or paste the folder's path. A STAC item works too: paste its URL "
                    "(Earth Search, Planetary Computer) or choose its .json file; its bands are read over the "
                    "network, only the blocks under EXTENT.",
                ),
                ("MODEL", "'auto' (the built-in model for the product's level and bands) or an .onnx file path."),
                ("DEVICE", "auto (GPU if available, else CPU), cpu or gpu."),
                (
                    "EXTENT",
                    "Optional: mask only this area (any CRS). Without it the whole tile is masked, which takes "
                    "minutes on a CPU.",
                ),
                (
                    "RESOLUTION",
                    "Pixel size of the output mask in metres: 10, 20 or 60. The model itself works at its own "
                    "resolution (30 m for the built-in models); a product without its 10 m bands still gives "
                    "a mask, at the detail of the bands it has, and says so in the log.",
                ),
                ("SHADOW_CHECK", SHADOW_CHECK_HELP + " The angles come from the product's MTD_TL.xml."),
                ("BUFFER", BUFFER_HELP),
                ("OUTPUT", "The mask GeoTIFF (uint8, no data = 0)."),
                ("OUTPUT_PROBABILITIES", "Optional GeoTIFF of the model's class probabilities."),
            ],
            [
                CLASS_CODES_HELP,
                "Results: CLEAR_PERCENT, CLOUD_SHADOW_PERCENT, SEMI_TRANSPARENT_PERCENT and CLOUD_PERCENT "
                "(percent of valid pixels), DEVICE_USED, MODEL_USED and CLASS3_SOURCE.",
                CHOICES_HELP,
                MODEL_HELP,
            ],
        )

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 (QGIS's name)
        self.addParameter(
            QgsProcessingParameterFile(
                "INPUT",
                "Sentinel-2 product (.SAFE folder, .zip, MTD xml, or STAC item URL / .json)",
                behavior=QgsProcessingParameterFile.Behavior.File,
                fileFilter=PRODUCT_FILTER,
            )
        )
        self.addParameter(model_parameter())
        self.addParameter(device_parameter())
        self.addParameter(QgsProcessingParameterExtent("EXTENT", "Extent", optional=True))
        self.addParameter(
            QgsProcessingParameterEnum(
                "RESOLUTION",
                "Output resolution (m)",
                options=[str(r) for r in RESOLUTIONS],
                defaultValue=str(DEFAULT_RESOLUTION),
                usesStaticStrings=True,
            )
        )
        for parameter in refinement_parameters():
            self.addParameter(parameter)
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", MASK_LAYER_NAME))
        self.addParameter(
            QgsProcessingParameterRasterDestination(
                "OUTPUT_PROBABILITIES", "Class probabilities", optional=True, createByDefault=False
            )
        )
        add_mask_outputs(self)

    def process(
        self, parameters: dict, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict:
        product = self.parameterAsFile(parameters, "INPUT", context)
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        probabilities = optional_output(self.parameterAsOutputLayer(parameters, "OUTPUT_PROBABILITIES", context))
        extent = self.extent_value(parameters, context)
        with engine_errors():
            result = inference.mask_product(
                product,
                output,
                model=model_value(self, parameters, context),
                device=self.parameterAsEnumString(parameters, "DEVICE", context),
                resolution=int(self.parameterAsEnumString(parameters, "RESOLUTION", context)),
                extent=extent,
                probabilities=probabilities,
                feedback=ProcessingFeedbackAdapter(feedback),
                shadow_check=self.parameterAsBool(parameters, "SHADOW_CHECK", context),
                buffer=self.parameterAsDouble(parameters, "BUFFER", context),
            )
        style_output_on_load(context, result.output, MASK_LAYER_NAME, style_mask_layer)
        return mask_result_values(result, feedback)
