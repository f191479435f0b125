"""Score a model on the held-out test patches with the production code path, pooled over all patches.

Each test patch is masked by the engine (`mask_raster`: the same tiling,
blending and class rules a user gets) and compared with its label by the
comparison core (`compare_masks`); the pixel counts of all patches are added
up before any figure is computed, so large and small patches weigh by their
pixels. Figures are given as they are and with semi-transparent cloud merged
into cloud, since a model without class 3 cannot be right about it.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..classes import CLOUD, SEMI_TRANSPARENT
from ..comparing.compare import compare_masks
from ..comparing.metrics import Comparison
from ..errors import ProductError, TrainingError
from ..feedback import Feedback, SilentFeedback, check_cancelled
from ..masking.engine import mask_raster
from ..masking.model_card import ModelCard
from ..masking.session import SessionCache
from .dataset import model_bands
from .patch_set import PatchSet

FIGURE_KEYS = ("precision", "recall", "f1", "iou")


class _Quiet:
    """Feedback for one patch inside a longer run: cancel passes through, the bar and warnings do not."""

    def __init__(self, outer: Feedback):
        self.outer = outer
        self.warnings: set[str] = set()

    def progress(self, percent: float, stage: str) -> None:
        pass

    def is_cancelled(self) -> bool:
        return self.outer.is_cancelled()

    def warn(self, message: str) -> None:
        self.warnings.add(message)


def merged_counts(counts: np.ndarray) -> np.ndarray:
    """Counts with semi-transparent cloud folded into cloud, on both sides."""
    merged = counts.copy()
    merged[CLOUD] += merged[SEMI_TRANSPARENT]
    merged[SEMI_TRANSPARENT] = 0
    merged[:, CLOUD] += merged[:, SEMI_TRANSPARENT]
    merged[:, SEMI_TRANSPARENT] = 0
    return merged


def summary(comparison: Comparison) -> dict[str, Any]:
    """The figures worth printing side by side: agreement, kappa and per-class scores."""
    return {
        "overall_accuracy": comparison.overall_agreement,
        "kappa": comparison.kappa,
        "pixels": comparison.compared_pixels,
        "per_class": {key: {name: figures[name] for name in (*FIGURE_KEYS, "reference_pixels", "mask_pixels")}
                      for key, figures in comparison.per_class.items()},
        "matrix": comparison.folded_matrix.tolist(),
    }


def score_model(model: str | Path, card: ModelCard, patches: PatchSet, *, device: str = "auto",
                feedback: Feedback | None = None, progress: tuple[float, float] = (0.0, 100.0),
                stage: str = "Scoring on the test split") -> dict[str, Any]:
    """Pooled figures of `model` on the test split of `patches` (never the training or validation patches)."""
    feedback = feedback or SilentFeedback()
    test = patches.split("test")
    if not test:
        raise TrainingError(f"The patch folder {patches.folder} has no test patches; export it with a test share "
                            "in SPLIT (e.g. 70,15,15).")
    bands = model_bands(card, patches, with_cirrus=patches.level == "L1C")
    quiet = _Quiet(feedback)
    pooled: Comparison | None = None
    start, end = progress
    sessions = SessionCache()  # one session for every patch
    with tempfile.TemporaryDirectory(prefix="s2cloudmask-score-") as folder:
        for number, patch in enumerate(test):
            check_cancelled(feedback)
            feedback.progress(start + (end - start) * number / len(test), stage)
            mask = Path(folder) / f"{number}_mask.tif"
            mask_raster(patch.image, mask, bands=bands, scale=1.0, offset=0.0, level=patches.level, model=model,
                        device=device, feedback=quiet, open_session=sessions)
            try:
                comparison = compare_masks(mask, patch.label, Path(folder) / f"{number}_difference.tif",
                                           feedback=quiet)
            except ProductError:  # the patch has no labelled pixel where the image is valid
                quiet.warn(f"Test patch {patch.id} has no labelled pixel with valid image data; it is not scored.")
                continue
            if pooled is None:
                pooled = comparison
            else:
                pooled = replace(pooled, counts=pooled.counts + comparison.counts,
                                 areas_m2=pooled.areas_m2 + comparison.areas_m2)
    if pooled is None:
        raise TrainingError(f"No test patch of {patches.folder} has labelled pixels with valid image data; "
                            "export patches where the reference has labels.")
    merged = replace(pooled, counts=merged_counts(pooled.counts), areas_m2=merged_counts(pooled.areas_m2))
    return {"model": card.label, "patches": len(test), "as_labelled": summary(pooled),
            "semi_transparent_as_cloud": summary(merged), "notes": sorted(quiet.warnings)}
