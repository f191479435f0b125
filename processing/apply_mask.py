"""s2cloudmask:applymask: a product's bands (or a band raster's) with what a mask removes set to no data."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
)

from .. import inference
from ..inference.defaults import (
    CLEAN_BANDS,
    CLEAN_VALUES,
    DEFAULT_CLEAN_RESOLUTION,
    DEFAULT_OFFSET,
    DEFAULT_SCALE,
    RESOLUTIONS,
)
from ..toolbelt.layers import CLEAN_LAYER_NAME, MASK_LAYER_NAME, style_band_stack, style_mask_layer
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
    optional_output,
    raster_file,
    style_output_on_load,
)
from .mask_product import PRODUCT_FILTER

INPUT_FILTER = PRODUCT_FILTER.replace(";;All files", ";;Band rasters (*.tif *.tiff *.vrt *.jp2);;All files")


class ApplyMaskAlgorithm(CleaningAlgorithm):
    def name(self) -> str:
        return "applymask"

    def displayName(self) -> str:  # noqa: N802 (QGIS's name)
        return self.tr("Apply a cloud mask to Sentinel-2 bands")

    def tags(self) -> list[str]:
        return ["sentinel-2", "cloud", "mask", "apply", "clean", "bands", "reflectance", "no data", "l1c", "l2a"]

    def shortDescription(self) -> str:  # noqa: N802 (QGIS's name)
        return self.tr("The product's bands with cloud, thin cloud and shadow set to no data, in one GeoTIFF.")

    def shortHelpString(self) -> str:  # noqa: N802 (QGIS's name)
        return help_html(
            "Writes the bands of a Sentinel-2 product (or of a raster of its bands) as one Cloud-Optimised GeoTIFF "
            "in which the pixels the cloud mask removes are no data: ready for a classifier, an index or a "
            "time series. Reflectance comes from the product's own metadata (the offset of processing baseline "
            "04.00 and later included).",
            [
                ("INPUT", "A product (.SAFE folder, .zip, MTD_MSIL1C.xml / MTD_MSIL2A.xml) or a raster of bands."),
                ("MASK", "A cloud mask of this plugin made from the same input. Left empty for a product, the "
                         "product is masked first (MODEL, DEVICE); a mask of another product is refused."),
                ("CLASSES", "The mask classes to remove: cloud, semi-transparent cloud, cloud shadow (all three "
                            "by default). Where the mask has no data, the output has none either."),
                ("BUFFER", BUFFER_HELP),
                ("BANDS", f"Band ids separated by commas (default: {', '.join(CLEAN_BANDS)}, those the product "
                          "has); for a band raster, band numbers or band names (default: all)."),
                ("RESOLUTION", "Pixel size for a product: 10, 20 or 60 m (default 20, the grid all default bands "
                               "share). A band raster keeps its own pixels."),
                ("EXTENT", "Optional: only this area."),
                ("VALUES", "reflectance: float32, no data NaN. dn: the product's digital numbers as uint16, no "
                           "data 0, each band's scale and offset in its metadata (QGIS and GDAL read reflectance)."),
                ("SCALE / OFFSET", "A band raster's reflectance = DN x SCALE + OFFSET (advanced)."),
                ("OUTPUT", "The cleaned bands, band descriptions = band names, with overviews; shown in true "
                           "colour."),
                ("OUTPUT_MASK", "Optional: keep the mask made when MASK is empty."),
            ],
            ["Results: KEPT_PERCENT and REMOVED_PERCENT (of the pixels with data) and BANDS.", CHOICES_HELP],
        )

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 (QGIS's name)
        self.addParameter(QgsProcessingParameterFile("INPUT", "Sentinel-2 product or band raster",
                                                     behavior=QgsProcessingParameterFile.Behavior.File,
                                                     fileFilter=INPUT_FILTER))
        self.addParameter(QgsProcessingParameterRasterLayer("MASK", MASK_LAYER_NAME, optional=True))
        for parameter in cleaning_parameters():
            self.addParameter(parameter)
        self.addParameter(QgsProcessingParameterEnum("RESOLUTION", "Output resolution (m)",
                                                     options=[str(r) for r in RESOLUTIONS],
                                                     defaultValue=str(DEFAULT_CLEAN_RESOLUTION),
                                                     usesStaticStrings=True))
        self.addParameter(QgsProcessingParameterExtent("EXTENT", "Extent", optional=True))
        self.addParameter(QgsProcessingParameterEnum("VALUES", "Values", options=list(CLEAN_VALUES),
                                                     defaultValue=CLEAN_VALUES[0], usesStaticStrings=True))
        advanced = [
            QgsProcessingParameterNumber("SCALE", "Band raster: scale (reflectance = DN x scale + offset)",
                                         QgsProcessingParameterNumber.Type.Double, DEFAULT_SCALE, optional=True),
            QgsProcessingParameterNumber("OFFSET", "Band raster: offset", QgsProcessingParameterNumber.Type.Double,
                                         DEFAULT_OFFSET, optional=True),
            model_parameter(),
            device_parameter(),
        ]
        for parameter in advanced:
            parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
            self.addParameter(parameter)
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", CLEAN_LAYER_NAME))
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT_MASK", "Cloud mask made on the way",
                                                                  optional=True, createByDefault=False))
        self.addOutput(QgsProcessingOutputNumber("KEPT_PERCENT", "Pixels kept (% of those with data)"))
        self.addOutput(QgsProcessingOutputNumber("REMOVED_PERCENT", "Pixels removed (% of those with data)"))
        self.addOutput(QgsProcessingOutputString("BANDS", "Bands written"))

    def process(
        self, parameters: dict, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict:
        source = self.parameterAsFile(parameters, "INPUT", context)
        mask_layer = self.parameterAsRasterLayer(parameters, "MASK", context)
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        output_mask = optional_output(self.parameterAsOutputLayer(parameters, "OUTPUT_MASK", context))
        with engine_errors():
            result = inference.apply_mask(
                source,
                output,
                mask=raster_file(mask_layer, "MASK") if mask_layer is not None else None,
                classes=classes_value(self, parameters, context),
                buffer=self.parameterAsDouble(parameters, "BUFFER", context),
                bands=bands_value(self, parameters, context),
                resolution=int(self.parameterAsEnumString(parameters, "RESOLUTION", context)),
                extent=self.extent_value(parameters, context),
                values=self.parameterAsEnumString(parameters, "VALUES", context),
                output_mask=output_mask,
                scale=self.parameterAsDouble(parameters, "SCALE", context),
                offset=self.parameterAsDouble(parameters, "OFFSET", context),
                model=model_value(self, parameters, context),
                device=self.parameterAsEnumString(parameters, "DEVICE", context),
                feedback=ProcessingFeedbackAdapter(feedback),
            )
        style_output_on_load(context, result.output, CLEAN_LAYER_NAME, style_band_stack)
        values = {"OUTPUT": result.output, "KEPT_PERCENT": result.kept_percent,
                  "REMOVED_PERCENT": result.removed_percent, "BANDS": ",".join(result.bands)}
        if output_mask:
            values["OUTPUT_MASK"] = output_mask
            style_output_on_load(context, output_mask, MASK_LAYER_NAME, style_mask_layer)
        feedback.pushInfo(f"{len(result.bands)} band(s) {', '.join(result.bands)}; kept {result.kept_percent:.1f} % "
                          f"of the pixels with data, in {result.seconds:.1f} s.")
        return values
