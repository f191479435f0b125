"""s2cloudmask:finetune: fine-tune the U-Net on a patch folder, score it on the test split, publish it with its card."""

from __future__ import annotations

import json

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
)

from .. import inference
from .base import CloudMaskAlgorithm, ProcessingFeedbackAdapter, engine_errors, help_html, model_parameter, model_value


def _score(scores: dict, key: str) -> float | None:
    value = scores["as_labelled"][key]
    return None if value is None else float(value)


class FinetuneAlgorithm(CloudMaskAlgorithm):
    def name(self) -> str:
        return "finetune"

    def displayName(self) -> str:  # noqa: N802 (QGIS's name)
        return "Fine-tune the cloud-mask model on your patches"

    def group(self) -> str:
        return "Training"

    def groupId(self) -> str:  # noqa: N802 (QGIS's name)
        return "training"

    def tags(self) -> list[str]:
        return ["sentinel-2", "u-net", "fine-tune", "training", "model card", "semi-transparent cloud"]

    def shortDescription(self) -> str:  # noqa: N802 (QGIS's name)
        return "Fine-tunes the DLR U-Net (or another model) on exported patches and writes an ONNX model with a card."

    def shortHelpString(self) -> str:  # noqa: N802 (QGIS's name)
        return help_html(
            "Starts from the built-in DLR U-Net (or BASE_MODEL), fine-tunes it on the train split of a patch "
            "folder written by exportpatches, stops early when the validation split stops improving, and scores "
            "the base and the fine-tuned model on the test split, which training never sees. When the labels "
            "hold semi-transparent cloud, the model gains a fourth output for it (started as a copy of cloud). "
            "Training runs PyTorch in its own environment, outside QGIS; the dialog offers to create it where it is "
            "missing (also Raster > Sentinel-2 Cloud Mask > Create the fine-tuning environment…). It trains on a "
            "CUDA GPU when PyTorch sees one.",
            [
                ("PATCHES", "The OUTPUT_FOLDER of exportpatches (it holds manifest.json)."),
                ("BASE_MODEL", "'auto' for the built-in U-Net that fits the patches' level and bands, or an .onnx "
                               "with a model card."),
                ("EPOCHS", "The most passes over the train split; training stops earlier when the validation "
                           "loss has not improved for 4 epochs."),
                ("OUTPUT_MODEL", "The fine-tuned model (.onnx). Beside it: its card (.card.json) and the "
                                 "validation report (.validation.html and .validation.json)."),
            ],
            [
                "Use the model with MODEL=<its path> in maskproduct and maskraster, or choose it in the dock. "
                "Results: TEST_ACCURACY_BASE and TEST_ACCURACY (overall accuracy on the test split), TEST_KAPPA_BASE "
                "and TEST_KAPPA, DEVICE_USED (which device trained), EPOCHS_RUN, BEST_EPOCH and HISTORY (the "
                "losses and validation scores of every epoch, JSON).",
            ],
        )

    def createCustomParametersWidget(self, parent=None):  # noqa: N802 (QGIS's name)
        """QGIS's algorithm dialog with a button that creates the fine-tuning environment where it is missing."""
        from ..ui.finetune_dialog import FinetuneDialog  # the GUI only: qgis_process never asks for a dialog

        return FinetuneDialog(self, parent)

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 (QGIS's name)
        self.addParameter(QgsProcessingParameterFile("PATCHES", "Patch folder (from exportpatches)",
                                                     behavior=QgsProcessingParameterFile.Behavior.Folder))
        self.addParameter(model_parameter(
            "BASE_MODEL", "Base model ('auto' for the built-in DLR U-Net, or an .onnx file)",
            "'auto' starts from the built-in DLR U-Net that fits the patches' level and bands; otherwise the "
            "path of an ONNX model with a model card."))
        self.addParameter(QgsProcessingParameterNumber("EPOCHS", "Epochs (at most)",
                                                       type=QgsProcessingParameterNumber.Type.Integer, defaultValue=20,
                                                       minValue=1, maxValue=1000))
        self.addParameter(QgsProcessingParameterFileDestination("OUTPUT_MODEL", "Fine-tuned model",
                                                                fileFilter="ONNX models (*.onnx)"))
        self.addOutput(QgsProcessingOutputFile("CARD", "Model card"))
        self.addOutput(QgsProcessingOutputFile("REPORT", "Validation report (test split)"))
        self.addOutput(QgsProcessingOutputNumber("TEST_ACCURACY_BASE", "Test overall accuracy, base model"))
        self.addOutput(QgsProcessingOutputNumber("TEST_ACCURACY", "Test overall accuracy, fine-tuned model"))
        self.addOutput(QgsProcessingOutputNumber("TEST_KAPPA_BASE", "Test kappa, base model"))
        self.addOutput(QgsProcessingOutputNumber("TEST_KAPPA", "Test kappa, fine-tuned model"))
        self.addOutput(QgsProcessingOutputString("DEVICE_USED", "Device that trained"))
        self.addOutput(QgsProcessingOutputNumber("EPOCHS_RUN", "Epochs run"))
        self.addOutput(QgsProcessingOutputNumber("BEST_EPOCH", "Best epoch (the one exported)"))
        self.addOutput(QgsProcessingOutputString("HISTORY", "Losses and validation scores per epoch (JSON)"))

    def paths_read(self, parameters: dict, context: QgsProcessingContext) -> dict[str, str]:
        """The patch folder is read through its manifest and splits: a model may go beside them."""
        read = super().paths_read(parameters, context)
        if "PATCHES" in read:
            read.update(inference.patch_folder_files(read.pop("PATCHES"), "PATCHES"))
        return read

    def companions(self, parameters: dict, context: QgsProcessingContext) -> dict:
        return {"OUTPUT_MODEL": inference.model_files}

    def process(
        self, parameters: dict, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict:
        patches = self.parameterAsFile(parameters, "PATCHES", context)
        base = model_value(self, parameters, context, "BASE_MODEL")
        epochs = self.parameterAsInt(parameters, "EPOCHS", context)
        output = self.parameterAsFileOutput(parameters, "OUTPUT_MODEL", context)
        with engine_errors():
            result = inference.finetune(patches, output, base_model=base, settings=inference.TrainingSettings(epochs=epochs),
                              feedback=ProcessingFeedbackAdapter(feedback))
        feedback.pushInfo(f"Trained on {result.device_used}: {result.epochs_run} epoch(s), best epoch "
                          f"{result.best_epoch}; classes {', '.join(result.classes)}. Report: {result.report_html}")
        return {
            "OUTPUT_MODEL": result.output, "CARD": result.card, "REPORT": result.report_html,
            "TEST_ACCURACY_BASE": _score(result.base_scores, "overall_accuracy"),
            "TEST_ACCURACY": _score(result.finetuned_scores, "overall_accuracy"),
            "TEST_KAPPA_BASE": _score(result.base_scores, "kappa"),
            "TEST_KAPPA": _score(result.finetuned_scores, "kappa"),
            "DEVICE_USED": result.device_used, "EPOCHS_RUN": result.epochs_run, "BEST_EPOCH": result.best_epoch,
            "HISTORY": json.dumps(result.history),
        }
