"""The typed outputs of the two masking algorithms, so they chain in the graphical modeler."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
)

from ..inference.classes import CLASS_NAMES, CLEAR, CLOUD, CLOUD_SHADOW, SEMI_TRANSPARENT

if TYPE_CHECKING:  # the engine needs rasterio; this module must load without it
    from ..inference.masking.engine import MaskResult

PERCENT_OUTPUTS: dict[str, int] = {
    "CLEAR_PERCENT": CLEAR,
    "CLOUD_SHADOW_PERCENT": CLOUD_SHADOW,
    "SEMI_TRANSPARENT_PERCENT": SEMI_TRANSPARENT,
    "CLOUD_PERCENT": CLOUD,
}


def add_mask_outputs(algorithm: QgsProcessingAlgorithm) -> None:
    for name, code in PERCENT_OUTPUTS.items():
        algorithm.addOutput(QgsProcessingOutputNumber(name, f"{CLASS_NAMES[code]} (% of valid pixels)"))
    algorithm.addOutput(QgsProcessingOutputString("DEVICE_USED", "Device that ran the model"))
    algorithm.addOutput(QgsProcessingOutputString("MODEL_USED", "Model name and version"))
    algorithm.addOutput(QgsProcessingOutputString("CLASS3_SOURCE", "Source of the semi-transparent cloud class"))


def mask_result_values(result: MaskResult, feedback: QgsProcessingFeedback) -> dict:
    """The algorithm's result dictionary, with a summary in the log for people reading it."""
    values: dict = {"OUTPUT": result.output}
    if result.probabilities:
        values["OUTPUT_PROBABILITIES"] = result.probabilities
    for name, code in PERCENT_OUTPUTS.items():
        values[name] = float(result.class_percentages.get(code, 0.0))
    values["DEVICE_USED"] = result.device_used
    values["MODEL_USED"] = result.model_used
    values["CLASS3_SOURCE"] = result.class3_source
    summary = ", ".join(f"{CLASS_NAMES[code]} {values[name]:.1f} %" for name, code in PERCENT_OUTPUTS.items())
    feedback.pushInfo(f"{summary}. Model {result.model_used} on {result.device_used}, {result.seconds:.1f} s.")
    feedback.pushInfo(f"Semi-transparent cloud: {result.class3_source}")
    return values
