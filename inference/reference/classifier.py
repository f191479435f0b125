"""The random forest of ALCD: training, cross-validation with spatially grouped folds, per-pixel classes and confidence.

Neighbouring pixels are nearly copies of each other, so a cross-validation
that lets them fall on both sides of a fold reports the accuracy of recall,
not of prediction. Samples are therefore grouped into square blocks of the
scene and whole blocks are held out together (GroupKFold). Confidence is the
forest's vote for the winning class (0-1): the analyst adds samples where it
is low.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..classes import MASK_CODES, NODATA
from ..comparing.metrics import scores
from ..errors import DependencyError

FOREST_SETTINGS: dict[str, Any] = {"n_estimators": 100, "min_samples_leaf": 1, "max_features": "sqrt",
                                   "class_weight": "balanced"}
GROUP_BLOCKS = 8  # the scene is cut into GROUP_BLOCKS x GROUP_BLOCKS blocks for the folds
FOLDS = 5


def sklearn_version() -> str:
    return _sklearn().__version__


def _sklearn():
    """scikit-learn, imported on first use: the plugin loads (and masks) without it."""
    try:
        import sklearn
        import sklearn.ensemble
        import sklearn.model_selection
    except ImportError as exc:
        raise DependencyError(
            "Reference masks need the Python package scikit-learn, which is not installed. In QGIS use "
            "Plugins > Sentinel-2 Cloud Mask > Install dependencies."
        ) from exc
    return sklearn


def spatial_groups(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], blocks: int = GROUP_BLOCKS) -> np.ndarray:
    """Block number of each sample pixel: the scene cut into blocks x blocks squares."""
    side = max(1, math.ceil(max(shape) / blocks))
    return (rows // side) * (math.ceil(shape[1] / side)) + cols // side


def forest(seed: int = 0):
    return _sklearn().ensemble.RandomForestClassifier(random_state=seed, n_jobs=1, **FOREST_SETTINGS)


def train(features: np.ndarray, codes: np.ndarray, seed: int = 0):
    """features: float32 (samples, n); codes: uint8 class codes 1-4."""
    model = forest(seed)
    model.fit(features, codes)
    return model


def cross_validate(features: np.ndarray, codes: np.ndarray, groups: np.ndarray, seed: int = 0) -> dict[str, Any] | None:
    """Scores (metrics.scores) of predictions for samples held out block by block; None with fewer than 2 blocks."""
    folds = min(FOLDS, int(np.unique(groups).size))
    if folds < 2:
        return None
    model_selection = _sklearn().model_selection
    predicted = model_selection.cross_val_predict(
        forest(seed), features, codes, groups=groups, cv=model_selection.GroupKFold(n_splits=folds)
    )
    matrix = np.zeros((len(MASK_CODES), len(MASK_CODES)), np.int64)
    np.add.at(matrix, (predicted.astype(np.int64) - 1, codes.astype(np.int64) - 1), 1)
    return {"folds": folds, "grouping": f"{GROUP_BLOCKS} x {GROUP_BLOCKS} blocks of the scene", **scores(matrix)}


def classify(model, features: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class codes (uint8, 0 where not valid) and confidence (float32 0-1, NaN where not valid) of a block.

    features: (n, rows, cols) float32; valid: bool (rows, cols).
    """
    codes = np.zeros(valid.shape, np.uint8)
    confidence = np.full(valid.shape, np.nan, np.float32)
    if valid.any():
        table = features[:, valid].T
        probabilities = model.predict_proba(table)
        best = probabilities.argmax(axis=1)
        codes[valid] = model.classes_[best].astype(np.uint8)
        confidence[valid] = probabilities[np.arange(best.size), best]
    codes[~valid] = NODATA
    return codes, confidence
