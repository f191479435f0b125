"""s2cloudmask:exportpatches: training patches of a product (or many) and its reference, split for fine-tuning."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from .. import inference
from ..inference.defaults import SPLITS
from .base import ProcessingFeedbackAdapter, ReferenceAlgorithm, engine_errors, help_html, raster_file

INPUT_FILTER = ("Sentinel-2 products or a CSV of products and references (*.zip MTD_MSIL1C.xml MTD_MSIL2A.xml "
                "manifest.safe *.csv);;All files (*)")


class ExportPatchesAlgorithm(ReferenceAlgorithm):
    def name(self) -> str:
        return "exportpatches"

    def displayName(self) -> str:  # noqa: N802 (QGIS's name)
        return "Export training patches"

    def tags(self) -> list[str]:
        return ["sentinel-2", "training", "patches", "fine-tuning", "dataset", "split", "kappamask", "reference"]

    def shortDescription(self) -> str:  # noqa: N802 (QGIS's name)
        return "Image and label patches with a manifest, split into train, validation and test by scene."

    def shortHelpString(self) -> str:  # noqa: N802 (QGIS's name)
        return help_html(
            "Cuts a product and its reference mask into patches (all bands as float32 reflectance, the label in "
            "the mask codes) for training or fine-tuning a model, KappaMask style. Whole scenes (tile and date) "
            "go to one split, so no scene leaks across train, validation and test; within that, the split is "
            "stratified by the classes present, each split getting at least MIN_PER_CLASS patches of every class "
            "where the scenes allow. Patches less than half labelled are skipped.",
            [
                ("INPUT", "A Sentinel-2 product, or a CSV with the columns product and reference (one scene per "
                 "line) to export many scenes into one split dataset."),
                ("REFERENCE", "The product's reference mask (codes 0-4, in the product's CRS); not needed with a "
                 "CSV. Its grid and resolution are the patches'."),
                ("PATCH_SIZE", "Patch side in pixels (default 512)."),
                ("SPLIT", "Shares of train, validation and test, e.g. 70,15,15."),
                ("SEED", "Seed of the random order in which scenes are dealt out."),
                ("MIN_PER_CLASS", "Patches of each class each split should get at least."),
                ("OUTPUT_FOLDER", "An empty folder (or an earlier export, which is replaced)."),
            ],
            ["The folder holds train/, validation/, test/ and manifest.json / manifest.csv with each patch's split "
             "and class fractions. Results: PATCHES_TRAIN, PATCHES_VALIDATION, PATCHES_TEST, MANIFEST."],
        )

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 (QGIS's name)
        self.addParameter(QgsProcessingParameterFile(
            "INPUT", "Sentinel-2 product (or CSV of products and references)",
            behavior=QgsProcessingParameterFile.Behavior.File, fileFilter=INPUT_FILTER))
        self.addParameter(QgsProcessingParameterRasterLayer("REFERENCE", "Reference mask", optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            "PATCH_SIZE", "Patch size (pixels)", type=QgsProcessingParameterNumber.Type.Integer, defaultValue=512,
            minValue=16, maxValue=4096))
        self.addParameter(QgsProcessingParameterString("SPLIT", "Split train,validation,test", defaultValue="70,15,15"))
        self.addParameter(QgsProcessingParameterNumber(
            "SEED", "Seed", type=QgsProcessingParameterNumber.Type.Integer, defaultValue=0, minValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            "MIN_PER_CLASS", "Minimum patches of each class per split", type=QgsProcessingParameterNumber.Type.Integer,
            defaultValue=1, minValue=0))
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT_FOLDER", "Patch folder"))
        for name in SPLITS:
            self.addOutput(QgsProcessingOutputNumber(f"PATCHES_{name.upper()}", f"Patches in {name}"))
        self.addOutput(QgsProcessingOutputFile("MANIFEST", "Manifest (JSON)"))

    def paths_read(self, parameters: dict, context: QgsProcessingContext) -> dict[str, str]:
        read = super().paths_read(parameters, context)
        if Path(read.get("INPUT", "")).suffix.lower() == ".csv":
            read.update(inference.source_inputs(inference.read_sources(read["INPUT"])))
        return read

    def companions(self, parameters: dict, context: QgsProcessingContext) -> dict:
        """The folder itself is not replaced, only the splits and manifests in it."""
        return {"OUTPUT_FOLDER": inference.patch_folder_files}

    def process(
        self, parameters: dict, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict:
        source = self.parameterAsFile(parameters, "INPUT", context)
        folder = self.parameterAsString(parameters, "OUTPUT_FOLDER", context)
        with engine_errors():
            if Path(source).suffix.lower() == ".csv":
                sources = inference.read_sources(source)
            else:
                reference = self.parameterAsRasterLayer(parameters, "REFERENCE", context)
                if reference is None:
                    raise QgsProcessingException("Give the product's REFERENCE mask (or a CSV of products and "
                                                 "references as INPUT).")
                sources = [(source, raster_file(reference, "REFERENCE"))]
            result = inference.export_patches(
                sources, folder,
                patch_size=self.parameterAsInt(parameters, "PATCH_SIZE", context),
                split=self.parameterAsString(parameters, "SPLIT", context),
                seed=self.parameterAsInt(parameters, "SEED", context),
                min_per_class=self.parameterAsInt(parameters, "MIN_PER_CLASS", context),
                feedback=ProcessingFeedbackAdapter(feedback),
            )
        for warning in result.warnings:
            feedback.pushWarning(warning)
        feedback.pushInfo("; ".join(f"{name}: {result.patches[name]} patches from {len(result.scenes[name])} scene(s)"
                                    for name in SPLITS))
        values: dict = {"OUTPUT_FOLDER": result.folder, "MANIFEST": result.manifest}
        values.update({f"PATCHES_{name.upper()}": result.patches[name] for name in SPLITS})
        return values
