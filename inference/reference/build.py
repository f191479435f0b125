"""A reference mask from an analyst's samples, end to end: features at the samples, cross-validation, training,
the classified scene with its confidence, and suggestions for the next round of samples.

The scene is read twice in row blocks (once for the sample pixels, once to
classify), so memory stays at one block of features however large the grid.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.crs import CRS
from scipy import ndimage

from ..classes import CLASS_NAMES, MASK_CODES
from ..cog import staged_cog
from ..defaults import DEFAULT_REFERENCE_RESOLUTION, DEFAULT_SUGGESTIONS
from ..errors import SampleError
from ..feedback import Feedback, SilentFeedback, check_cancelled
from ..grid import Grid
from ..masking.writer import MaskWriter, mask_tags
from ..outputs import atomic_output, check_raster_outputs
from ..reading.paths import product_container
from .classifier import classify, cross_validate, sklearn_version, spatial_groups, train
from .features import FeatureStack, row_blocks
from .samples import Sample, SamplePixels, check_counts, sample_pixels
from .suggestions import LowestPerCell, Suggestion, pick_spread

MODEL_NAME = "Reference mask (random forest on the analyst's samples)"
CONFIDENCE_NODATA = 255


@dataclass
class ReferenceResult:
    output: str
    confidence: str | None
    grid: Grid
    features: list[str]
    samples_per_class: dict[int, int]  # samples (points or polygons) per class code on valid pixels
    pixels_per_class: dict[int, int]  # training pixels per class code
    cross_validation: dict[str, Any] | None  # metrics.scores of the spatially grouped folds, with "folds"
    class_percentages: dict[int, float]
    suggestions: list[Suggestion]
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def overall_accuracy(self) -> float | None:
        return None if self.cross_validation is None else self.cross_validation["overall_accuracy"]


def _training_table(stack: FeatureStack, pixels: SamplePixels, feedback: Feedback) -> tuple[np.ndarray, np.ndarray]:
    """Features at every sample pixel, and whether that pixel has data, reading only blocks that hold samples."""
    table = np.zeros((len(pixels), len(stack.names)), np.float32)
    valid = np.zeros(len(pixels), bool)
    for window in row_blocks(stack.grid):
        check_cancelled(feedback)
        row0, row1 = int(window.row_off), int(window.row_off + window.height)
        inside = np.nonzero((pixels.rows >= row0) & (pixels.rows < row1))[0]
        if inside.size == 0:
            continue
        features, block_valid = stack.read(window)
        rows, cols = pixels.rows[inside] - row0, pixels.cols[inside]
        table[inside] = features[:, rows, cols].T
        valid[inside] = block_valid[rows, cols]
    return table, valid


def _away_from_no_data(confidence: np.ndarray, valid: np.ndarray, margin: int) -> np.ndarray:
    """Confidence with NaN within `margin` pixels of no data (within the block): there the context features
    see the swath edge, not the scene, and a suggestion would teach the forest about the edge."""
    if margin <= 0 or valid.all():
        return confidence
    interior = ndimage.binary_erosion(valid, iterations=margin, border_value=1)
    return np.where(interior, confidence, np.nan)


def _confidence_profile(grid: Grid) -> dict[str, Any]:
    return {"driver": "GTiff", "dtype": "uint8", "count": 1, "crs": CRS.from_user_input(grid.crs),
            "transform": grid.transform, "width": grid.width, "height": grid.height, "nodata": CONFIDENCE_NODATA,
            "compress": "deflate", "tiled": True, "blockxsize": 256, "blockysize": 256}


def _training_set(stack: FeatureStack, samples: Sequence[Sample], layer: str, feedback: Feedback,
                  warnings: list[str]) -> tuple[SamplePixels, np.ndarray, dict[int, int]]:
    """The sample pixels with data, their features, and the samples per class (checked: enough of each)."""
    pixels = sample_pixels(samples, stack.grid, stack.label, layer)
    table, valid = _training_table(stack, pixels, feedback)
    if not valid.all():
        dropped = np.unique(pixels.sample[~valid]).size
        warnings.append(f"{dropped} sample(s) lie on no-data pixels of {stack.label} and were left out.")
    pixels, table = pixels.subset(valid), table[valid]
    if len(pixels) == 0:
        raise SampleError(f"Every sample of {layer} lies on no-data pixels of {stack.label}; mark points inside the "
                          "image.")
    return pixels, table, check_counts(pixels, layer)


def _reference_tags(stack: FeatureStack, samples_per_class: dict[int, int],
                    cross_validation: dict[str, Any] | None) -> dict[str, str]:
    """The mask's tags, and what makes it a reference: its features, samples and cross-validated accuracy."""
    tags = mask_tags(MODEL_NAME, f"scikit-learn {sklearn_version()}", stack.label, "CPU",
                     "the analyst's samples of semi-transparent cloud" if samples_per_class.get(3) else
                     "absent: no samples of semi-transparent cloud")
    tags.update({"REFERENCE": "yes", "FEATURES": ",".join(stack.names),
                 "SAMPLES": "; ".join(f"{CLASS_NAMES[c]}={n}" for c, n in samples_per_class.items()),
                 "CV_OVERALL_ACCURACY": "" if cross_validation is None
                 else f"{cross_validation['overall_accuracy']:.4f}"})
    return tags


def _classify_scene(stack: FeatureStack, model: Any, output: str | Path, confidence: str | Path | None,
                    tags: dict[str, str], cells: LowestPerCell | None, feedback: Feedback) -> np.ndarray:
    """Classify the scene block by block into the mask (and the confidence raster); pixels per class code."""
    grid = stack.grid
    class_pixels = np.zeros(len(CLASS_NAMES), np.int64)
    windows = row_blocks(grid)
    with contextlib.ExitStack() as outputs:
        mask_path = outputs.enter_context(atomic_output(output))
        confidence_dataset = None
        if confidence is not None:
            confidence_path = outputs.enter_context(atomic_output(confidence))
            staged = outputs.enter_context(staged_cog(confidence_path, "AVERAGE"))
            confidence_dataset = outputs.enter_context(rasterio.open(staged, "w", **_confidence_profile(grid)))
            confidence_dataset.set_band_description(1, "Confidence of the reference mask (percent of the forest's "
                                                       "votes for the class it chose)")
            confidence_dataset.update_tags(**tags, UNITS="percent")
        writer = outputs.enter_context(MaskWriter(mask_path, grid, tags))
        for number, window in enumerate(windows):
            check_cancelled(feedback)
            features, block_valid = stack.read(window)
            codes, block_confidence = classify(model, features, block_valid)
            writer.write(codes)
            class_pixels += np.bincount(codes.ravel(), minlength=len(CLASS_NAMES))
            if confidence_dataset is not None:
                percent = np.where(np.isfinite(block_confidence),
                                   np.round(np.nan_to_num(block_confidence) * 100), CONFIDENCE_NODATA)
                confidence_dataset.write(percent.astype(np.uint8), 1, window=window)
            if cells is not None:
                cells.update(_away_from_no_data(block_confidence, block_valid, stack.context // 2),
                             int(window.row_off))
            feedback.progress(20.0 + 75.0 * (number + 1) / len(windows), "Classifying the scene")
    return class_pixels


def _spread_suggestions(cells: LowestPerCell | None, grid: Grid, count: int) -> list[Suggestion]:
    """The least confident places, spread over the scene, with their map coordinates."""
    if cells is None:
        return []
    chosen = []
    for pick in pick_spread(cells.candidates(), count, cells.side):
        x, y = grid.map_xy(pick.col + 0.5, pick.row + 0.5)
        chosen.append(Suggestion(pick.row, pick.col, pick.confidence, float(x), float(y)))
    return chosen


def build_reference(
    source: str | Path,
    samples: Sequence[Sample],
    output: str | Path,
    *,
    resolution: float = DEFAULT_REFERENCE_RESOLUTION,
    confidence: str | Path | None = None,
    suggestions: int = DEFAULT_SUGGESTIONS,
    probabilities: str | Path | None = None,
    seed: int = 0,
    layer: str = "the sample layer",
    feedback: Feedback | None = None,
) -> ReferenceResult:
    """Train a random forest on `samples` (geometries in the product's CRS) and classify `source` with it.

    `source`: a Sentinel-2 product (.SAFE, .zip, MTD xml) or a raster. `output`
    receives the reference mask (codes 0-4, the plugin's mask format);
    `confidence` (optional) the forest's vote for the winning class in percent
    (uint8, 255 no data); `suggestions` places where it is least sure are returned.
    """
    started = time.perf_counter()
    feedback = feedback or SilentFeedback()
    check_raster_outputs({"OUTPUT": output, "OUTPUT_CONFIDENCE": confidence},
                         {"INPUT": product_container(source), "PROBABILITIES": probabilities})
    warnings: list[str] = []
    with FeatureStack(source, resolution, probabilities) as stack:
        warnings.extend(stack.warnings)
        grid = stack.grid
        feedback.progress(2.0, "Reading the samples")
        pixels, table, samples_per_class = _training_set(stack, samples, layer, feedback, warnings)
        feedback.progress(10.0, "Cross-validating")
        groups = spatial_groups(pixels.rows, pixels.cols, (grid.height, grid.width))
        cross_validation = cross_validate(table, pixels.codes, groups, seed)
        if cross_validation is None:
            warnings.append("All samples lie in one block of the scene, so no spatially grouped cross-validation "
                            "was possible; spread the samples over the scene.")
        check_cancelled(feedback)
        feedback.progress(20.0, "Training the random forest")
        model = train(table, pixels.codes, seed)
        cells = LowestPerCell(grid.shape, suggestions) if suggestions > 0 else None
        class_pixels = _classify_scene(stack, model, output, confidence,
                                       _reference_tags(stack, samples_per_class, cross_validation), cells, feedback)
    valid_pixels = int(class_pixels[list(MASK_CODES)].sum())
    feedback.progress(100.0, "Done")
    return ReferenceResult(
        output=str(output),
        confidence=None if confidence is None else str(confidence),
        grid=grid,
        features=list(stack.names),
        samples_per_class=samples_per_class,
        pixels_per_class={int(c): int((pixels.codes == c).sum()) for c in samples_per_class},
        cross_validation=cross_validation,
        class_percentages={c: 100.0 * class_pixels[c] / valid_pixels if valid_pixels else 0.0 for c in MASK_CODES},
        suggestions=_spread_suggestions(cells, grid, suggestions),
        warnings=warnings,
        seconds=time.perf_counter() - started,
    )
